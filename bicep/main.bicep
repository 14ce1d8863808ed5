// tsched on Azure: one resource group per azd environment, one module per concern.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer Flex Consumption.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Display name of the Entra ID group administering Azure SQL.')
param sqlAdminLogin string

@description('Object id of that group.')
param sqlAdminObjectId string

// The events go to the Event Hubs namespace provisioned below, not to a Kafka outside
// this template: a value here fails the deployment rather than be ignored. Declared only
// because main.parameters.json still passes KAFKA_BOOTSTRAP_SERVERS; remove both together.
@description('No longer used and must stay empty: the events go to the Kafka endpoint of the Event Hubs namespace this template provisions.')
@allowed([
  ''
])
param kafkaBootstrapServers string = ''

@description('Kafka topic of the events: the name of the event hub provisioned for them.')
@minLength(1)
@maxLength(249)
param kafkaTopic string = 'tsched.events'

@description('Base URL (https) of the core-banking payments API; empty uses the embedded ledger, for demonstrations only.')
param coreBankingUrl string = ''

@description('Days the Cosmos DB archive keeps an attempt or audit record, from when it happened: 7 x 366 by default.')
@minValue(1)
param archiveRetentionDays int = 2562

@description('Email address told when an operations alert fires (docs/runbook.md); empty tells nobody by email.')
param alertEmail string = ''

@description('Resource ids of further action groups the operations alerts notify.')
param alertActionGroupIds array = []

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-tsched-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-tsched-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-tsched-${resourceToken}'
    applicationInsightsName: 'appi-tsched-${resourceToken}'
    location: location
    tags: tags
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: tags
    alertEmail: alertEmail
    actionGroupIds: alertActionGroupIds
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    hostAccountName: 'stfn${resourceToken}'
    exportsAccountName: 'stex${resourceToken}'
    deploymentContainerName: deploymentContainerName
    location: location
    tags: tags
  }
}

module sql 'app/sql.bicep' = {
  name: 'sql'
  scope: rg
  params: {
    serverName: 'sql-tsched-${resourceToken}'
    location: location
    tags: tags
    adminLogin: sqlAdminLogin
    adminObjectId: sqlAdminObjectId
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    accountName: 'cosmos-tsched-${resourceToken}'
    location: location
    tags: tags
    retentionDays: archiveRetentionDays
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    namespaceName: 'sb-tsched-${resourceToken}'
    location: location
    tags: tags
  }
}

module eventHubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    namespaceName: 'evhns-tsched-${resourceToken}'
    location: location
    tags: tags
    eventHubName: kafkaTopic
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    hostStorageAccountName: storage.outputs.hostAccountName
    exportsStorageAccountName: storage.outputs.exportsAccountName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosAccountName: cosmos.outputs.accountName
    cosmosDatabaseName: cosmos.outputs.databaseName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    scheduleCommandsQueueName: serviceBus.outputs.scheduleCommandsQueueName
    scheduleCommandOutcomesQueueName: serviceBus.outputs.scheduleCommandOutcomesQueueName
    operationsDeadQueueName: serviceBus.outputs.operationsDeadQueueName
    eventHubsNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.eventHubName
  }
}

module functions 'app/functions.bicep' = {
  name: 'functions'
  scope: rg
  // The host reaches its storage with the identity as it starts: grant first.
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    planName: 'plan-tsched-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: storage.outputs.hostAccountName
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    sqlServerFqdn: sql.outputs.fullyQualifiedDomainName
    sqlDatabaseName: sql.outputs.databaseName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    archiveRetentionDays: archiveRetentionDays
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    exportsBlobUrl: storage.outputs.exportsBlobEndpoint
    kafkaBootstrapServers: eventHubs.outputs.kafkaBootstrapServers
    kafkaTopic: eventHubs.outputs.eventHubName
    coreBankingUrl: coreBankingUrl
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functions.outputs.name
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output AZURE_SQL_SERVER string = sql.outputs.fullyQualifiedDomainName
// What the predeploy hook (scripts/azure/predeploy.sh) needs to migrate the database and
// grant the identity above its access: the server's name for its firewall, and the URL.
output AZURE_SQL_SERVER_NAME string = sql.outputs.name
output AZURE_SQL_DATABASE string = sql.outputs.databaseName
output AZURE_SQL_DATABASE_URL string = sql.outputs.databaseUrl
