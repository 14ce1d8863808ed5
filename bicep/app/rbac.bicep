// Every data-plane permission of the function app's managed identity, each at the
// narrowest scope that works. Azure SQL access is granted in T-SQL (see sql.bicep).

@description('Principal (object) id of the function app\'s managed identity.')
param principalId string

@description('Name of the Functions host storage account.')
param hostStorageAccountName string

@description('Name of the exports storage account.')
param exportsStorageAccountName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Name of the Cosmos DB account.')
param cosmosAccountName string

@description('Name of the Cosmos DB database holding the archive containers.')
param cosmosDatabaseName string

@description('Name of the Service Bus namespace.')
param serviceBusNamespaceName string

@description('Name of the queue tsched receives schedule commands from.')
param scheduleCommandsQueueName string

@description('Name of the queue tsched sends the outcomes of schedule commands to.')
param scheduleCommandOutcomesQueueName string

@description('Name of the queue tsched sends exhausted operations to.')
param operationsDeadQueueName string

@description('Name of the Event Hubs namespace the outbox relay publishes to over Kafka.')
param eventHubsNamespaceName string

@description('Name of the event hub (Kafka topic) the events go to.')
param eventHubName string

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975' // Azure Event Hubs Data Sender
}
// Cosmos DB Built-in Data Contributor: a Cosmos DB data-plane role, not an Azure role.
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource hostStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: hostStorageAccountName
}

resource exportsStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: exportsStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName

  resource scheduleCommands 'queues' existing = {
    name: scheduleCommandsQueueName
  }

  resource scheduleCommandOutcomes 'queues' existing = {
    name: scheduleCommandOutcomesQueueName
  }

  resource operationsDead 'queues' existing = {
    name: operationsDeadQueueName
  }
}

resource eventHubs 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName

  resource events 'eventhubs' existing = {
    name: eventHubName
  }
}

// Storage Blob Data Owner: the host's blobs (leases, timer state) and the deployment package.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor: Durable Functions control and work-item queues.
resource hostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor: Durable Functions instance and history tables.
resource hostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor: write and read exports, and get user delegation keys
// (generateUserDelegationKey, an action of this role, at account scope as it needs) to
// sign their download links; nothing else on that account.
resource exportsBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(exportsStorage.id, principalId, roles.storageBlobDataContributor)
  scope: exportsStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher: send telemetry to Application Insights with Entra ID.
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Service Bus Data Receiver, on the commands queue only.
resource commandsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus::scheduleCommands.id, principalId, roles.serviceBusDataReceiver)
  scope: serviceBus::scheduleCommands
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Service Bus Data Sender, on the command outcomes queue.
resource outcomesSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus::scheduleCommandOutcomes.id, principalId, roles.serviceBusDataSender)
  scope: serviceBus::scheduleCommandOutcomes
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Service Bus Data Sender, on the exhausted-operations queue.
resource operationsDeadSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus::operationsDead.id, principalId, roles.serviceBusDataSender)
  scope: serviceBus::operationsDead
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Event Hubs Data Sender, on the events' event hub only: the outbox relay's Kafka
// producer, logged in with the identity's OAUTHBEARER tokens.
resource eventsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubs::events.id, principalId, roles.eventHubsDataSender)
  scope: eventHubs::events
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Cosmos DB Built-in Data Contributor on the archive database (history and audit).
resource cosmosDataWriter 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmosAccount
  name: guid(cosmosAccount.id, cosmosDatabaseName, principalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmosAccount.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: principalId
    scope: '${cosmosAccount.id}/dbs/${cosmosDatabaseName}'
  }
}
