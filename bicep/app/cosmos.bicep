// Cosmos DB (NoSQL API) archive of execution history and audit records: serverless,
// Entra ID only (keys disabled). Two containers, as scheduler/adapters/cosmos/containers.py
// defines them (tests/functions/test_cosmos_bicep.py checks they agree):
// - history: one item per attempt, partitioned by customer; a composite index serves the
//   history latest first by (finishedAt, rowId);
// - audit: sealed records partitioned by customer ('customer:<id>'; records without one
//   by month, 'system:<YYYY-MM>') and the blocks that seal them ('blocks:<n>').
// Every item carries its own ttl (the retention counted from when it happened); the
// container default is the backstop. The app's identity can read and write items but not
// create containers: they exist only because this template creates them.

@description('Name of the Cosmos DB account.')
param accountName string

@description('Region of the account (serverless accounts have a single region).')
param location string

@description('Tags applied to the account.')
param tags object

@description('Name of the database holding the archive containers.')
param databaseName string = 'tsched'

@description('Days an archived item lives: 7 x 366 by default (RETENTION_DAYS in scheduler/domain/audit.py), never short of seven calendar years; the same value as the ARCHIVE_RETENTION_DAYS app setting.')
@minValue(1)
param retentionDays int = 2562

var containerDefinitions = [
  {
    name: 'history'
    partitionKeyPath: '/customerId'
    compositeIndexes: [
      [
        {
          path: '/finishedAt'
          order: 'descending'
        }
        {
          path: '/rowId'
          order: 'descending'
        }
      ]
    ]
  }
  {
    name: 'audit'
    partitionKeyPath: '/partitionKey'
    compositeIndexes: []
  }
]

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
  for definition in containerDefinitions: {
    parent: database
    name: definition.name
    properties: {
      resource: {
        id: definition.name
        partitionKey: {
          paths: [
            definition.partitionKeyPath
          ]
          kind: 'Hash'
          version: 2
        }
        indexingPolicy: {
          indexingMode: 'consistent'
          automatic: true
          includedPaths: [
            {
              path: '/*'
            }
          ]
          excludedPaths: [
            {
              path: '/"_etag"/?'
            }
          ]
          compositeIndexes: definition.compositeIndexes
        }
        defaultTtl: retentionDays * 86400
      }
    }
  }
]

output accountName string = account.name
output databaseName string = database.name
output endpoint string = account.properties.documentEndpoint
