// Two storage accounts, both reachable only with Entra ID (shared keys off):
// - host: AzureWebJobsStorage (timers, Durable Functions queues and tables) and the
//   Flex Consumption deployment package container;
// - exports: large customer exports (BLOB_ACCOUNT_URL), kept apart from the host
//   account so their access and retention are not those of the runtime's scratch space.
//   Each export is a copy of history made for one download through a link that lasts
//   minutes (EXPORT_LINK_SECONDS, at most a day): a lifecycle rule deletes it a day
//   after it was written, fetched or not.

@description('Name of the Functions host storage account.')
param hostAccountName string

@description('Name of the exports storage account.')
param exportsAccountName string

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Region of both accounts.')
param location string

@description('Tags applied to both accounts.')
param tags object

@description('Replication of both accounts; zone-redundant unless the region lacks zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string = 'Standard_ZRS'

var accountProperties = {
  accessTier: 'Hot'
  allowBlobPublicAccess: false
  allowCrossTenantReplication: false
  allowSharedKeyAccess: false
  defaultToOAuthAuthentication: true
  minimumTlsVersion: 'TLS1_2'
  publicNetworkAccess: 'Enabled'
  supportsHttpsTrafficOnly: true
  networkAcls: {
    bypass: 'AzureServices'
    defaultAction: 'Allow'
  }
}

resource host 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: hostAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: accountProperties

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

resource exports 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: exportsAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: accountProperties

  resource blobService 'blobServices' = {
    name: 'default'
    properties: {
      // Off for blobs: a deleted export is a copy of customer data that must go, not
      // stay recoverable for a week; asking again makes a new one.
      deleteRetentionPolicy: {
        enabled: false
      }
      containerDeleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }

    resource exportsContainer 'containers' = {
      name: 'exports'
      properties: {
        publicAccess: 'None'
      }
    }
  }

  // Deletes every blob of the exports container once it is more than a day old. The
  // service runs lifecycle rules about once a day, so an export goes between one and
  // two days after it was written. (Blocks staged by a download that failed before its
  // commit are no blob: the service discards them after a week.)
  resource exportsLifecycle 'managementPolicies' = {
    name: 'default'
    properties: {
      policy: {
        rules: [
          {
            name: 'delete-exports-after-a-day'
            enabled: true
            type: 'Lifecycle'
            definition: {
              filters: {
                blobTypes: [
                  'blockBlob'
                ]
                prefixMatch: [
                  'exports/'
                ]
              }
              actions: {
                baseBlob: {
                  delete: {
                    daysAfterCreationGreaterThan: 1
                  }
                }
              }
            }
          }
        ]
      }
    }
  }
}

output hostAccountName string = host.name
output hostBlobEndpoint string = host.properties.primaryEndpoints.blob
output exportsAccountName string = exports.name
output exportsBlobEndpoint string = exports.properties.primaryEndpoints.blob
