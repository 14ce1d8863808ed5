// The Flex Consumption plan and function app, and the app settings, all assembled here.
//
// Each tsched setting has the name it has in scheduler/config.py and in
// local.settings.sample.json; tests/functions/test_app_settings.py checks the three agree.
// FUNCTIONS_WORKER_RUNTIME and the Python version are not app settings on Flex
// Consumption: they are functionAppConfig.runtime.

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Region of the plan and app; it must offer Flex Consumption.')
param location string

@description('Tags applied to the plan and app.')
param tags object

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Name of the Functions host storage account.')
param hostStorageAccountName string

@description('Container of the host account the app package is deployed to.')
param deploymentContainerName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Fully qualified domain name of the Azure SQL server.')
param sqlServerFqdn string

@description('Name of the Azure SQL database.')
param sqlDatabaseName string

@description('Cosmos DB account endpoint of the history and audit archive.')
param cosmosEndpoint string

@description('Cosmos DB database holding the archive containers.')
param cosmosDatabaseName string

@description('Calendar months of history and audit records Azure SQL keeps; older ones the archive has confirmed are purged from SQL.')
@minValue(1)
@maxValue(120)
param archiveHotMonths int = 13

@description('NCRONTAB schedule of the archive timer, six fields, in UTC.')
param archiveSchedule string = '0 * * * * *'

@description('Days an archived item lives in Cosmos DB, from when it happened (7 x 366 by default).')
@minValue(1)
param archiveRetentionDays int = 2562

@description('Fully qualified Service Bus namespace.')
param serviceBusNamespace string

@description('NCRONTAB schedule of the timer sending exhausted operations to the operations-dead queue, six fields, in UTC.')
param deadOperationsSchedule string = '*/30 * * * * *'

@description('Blob service URL of the exports account.')
param exportsBlobUrl string

@description('History downloads of more attempts than this are answered with a link to a copy in the exports account (at most 10,000, what a response may hold).')
@minValue(1)
@maxValue(10000)
param exportLinkThresholdRows int = 10000

@description('Seconds a download link works; at most a day, after which the exports container deletes the copy.')
@minValue(1)
@maxValue(86400)
param exportLinkSeconds int = 900

@description('Kafka endpoint of the Event Hubs namespace the events go to (<namespace>.servicebus.windows.net:9093).')
param kafkaBootstrapServers string

@description('Kafka topic of the events: the name of the event hub in that namespace.')
param kafkaTopic string

@description('Base URL (https) of the core-banking payments API; empty uses the embedded ledger.')
param coreBankingUrl string = ''

@description('Application ID URI of the API app registration: the audience its tokens carry.')
param apiAudience string = 'api://tsched'

@description('Most bytes a request body to the API may hold; larger ones are answered 413 unread.')
@minValue(1)
param apiMaxBodyBytes int = 65536

@description('NCRONTAB schedule of the dispatch timer, six fields, in UTC.')
param dispatchSchedule string = '*/5 * * * * *'

@description('Connections to Azure SQL each instance keeps open (a burst may open as many again): low, as every instance holds its own.')
@minValue(1)
param databasePoolSize int = 4

@description('Most operations one dispatch run claims.')
@minValue(1)
param dispatchBatchSize int = 500

@description('Most claimed operations one execute activity runs.')
@minValue(1)
param dispatchChunkSize int = 100

@description('Seconds a claimed operation stays leased.')
@minValue(1)
param leaseSeconds int = 60

@description('ISO 8601 durations before the due time at which reminders fire.')
param reminderOffsets string = 'P3D,P1D,PT1H'

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to; with databasePoolSize it bounds the connections Azure SQL sees (instances x 2 x pool size).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

resource hostStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: hostStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The managed identity's Entra ID token is added on connect (DATABASE_CREDENTIAL).
var databaseUrl = 'mssql+pyodbc://@${sqlServerFqdn}:1433/${sqlDatabaseName}?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes&TrustServerCertificate=no'

// The API accepts bearer tokens of this tenant's Entra ID (loginEndpoint ends in '/').
var entraTenant = '${environment().authentication.loginEndpoint}${tenant().tenantId}'

// SERVICEBUS__* is the schedule_commands trigger's identity-based connection (SERVICEBUS).
var appSettings = {
  AzureWebJobsStorage__accountName: hostStorage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_SCRIPT_FILE_NAME: 'main.py'
  DATABASE_URL: databaseUrl
  DATABASE_CREDENTIAL: 'managedidentity'
  DATABASE_POOL_SIZE: string(databasePoolSize)
  AZURE_CLIENT_ID: identityClientId
  KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrapServers
  KAFKA_TOPIC: kafkaTopic
  KAFKA_SECURITY: 'eventhubs'
  DISPATCH_SCHEDULE: dispatchSchedule
  DISPATCH_BATCH_SIZE: string(dispatchBatchSize)
  DISPATCH_CHUNK_SIZE: string(dispatchChunkSize)
  LEASE_SECONDS: string(leaseSeconds)
  REMINDER_OFFSETS: reminderOffsets
  COSMOS_ENDPOINT: cosmosEndpoint
  COSMOS_DATABASE: cosmosDatabaseName
  ARCHIVE_HOT_MONTHS: string(archiveHotMonths)
  ARCHIVE_SCHEDULE: archiveSchedule
  ARCHIVE_RETENTION_DAYS: string(archiveRetentionDays)
  SERVICEBUS_NAMESPACE: serviceBusNamespace
  DEAD_OPERATIONS_SCHEDULE: deadOperationsSchedule
  METRICS_PORT: ''
  TRACES_FILE: ''
  SERVICEBUS__fullyQualifiedNamespace: serviceBusNamespace
  SERVICEBUS__credential: 'managedidentity'
  SERVICEBUS__clientId: identityClientId
  BLOB_ACCOUNT_URL: exportsBlobUrl
  EXPORT_LINK_THRESHOLD_ROWS: string(exportLinkThresholdRows)
  EXPORT_LINK_SECONDS: string(exportLinkSeconds)
  CORE_BANKING_URL: coreBankingUrl
  API_JWKS_URL: '${entraTenant}/discovery/v2.0/keys'
  API_ISSUER: '${entraTenant}/v2.0'
  API_AUDIENCE: apiAudience
  API_MAX_BODY_BYTES: string(apiMaxBodyBytes)
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: appSettings
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
