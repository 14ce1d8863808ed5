// Service Bus namespace (Entra ID only) with the two queues tsched uses:
// - schedule-commands: commands from bank systems into tsched;
// - operations-dead: operations whose retries are exhausted, out to operations staff.

@description('Name of the namespace.')
param namespaceName string

@description('Region of the namespace.')
param location string

@description('Tags applied to the namespace.')
param tags object

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource scheduleCommands 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'schedule-commands'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    // Can only be chosen when the queue is created: a sender's retry of the same
    // MessageId within ten minutes is dropped by the broker.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
  }
}

// No time-to-live: an exhausted operation waits for a person, however long it takes.
resource operationsDead 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'operations-dead'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
  }
}

output namespaceName string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (suffix per cloud).
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output scheduleCommandsQueueName string = scheduleCommands.name
output operationsDeadQueueName string = operationsDead.name
