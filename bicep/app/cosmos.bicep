// Cosmos DB (NoSQL API) archive of execution history and audit records: serverless,
// Entra ID only (keys disabled), one container per record kind partitioned by customer,
// each item expiring after the seven-year retention.

@description('Name of the Cosmos DB account.')
param accountName string

@description('Region of the account (serverless accounts have a single region).')
param location string

@description('Tags applied to the account.')
param tags object

@description('Name of the database holding the archive containers.')
param databaseName string = 'tsched'

@description('Seconds an archived item lives: 7 x 366 days (RETENTION_DAYS in scheduler/domain/audit.py), never short of seven calendar years.')
param retentionSeconds int = 221356800

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for containerName in [
    'history'
    'audit'
  ]: {
    parent: database
    name: containerName
    properties: {
      resource: {
        id: containerName
        partitionKey: {
          paths: [
            '/customerId'
          ]
          kind: 'Hash'
          version: 2
        }
        defaultTtl: retentionSeconds
      }
    }
  }
]

output accountName string = account.name
output databaseName string = database.name
output endpoint string = account.properties.documentEndpoint
