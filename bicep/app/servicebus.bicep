// Service Bus namespace (Entra ID only) with the three queues tsched uses:
// - schedule-commands: commands from bank systems into tsched;
// - schedule-command-outcomes: what became of each command, back to its sender;
// - operations-dead: operations whose retries are exhausted, out to operations staff.
// tsched sends each outcome and each dead operation again under the same MessageId
// after a crash or a redelivery: duplicate detection drops the second.

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

// An outcome's MessageId is its command's; senders match it by CorrelationId.
resource scheduleCommandOutcomes 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'schedule-command-outcomes'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
  }
}

// No time-to-live: an exhausted operation waits for a person, however long it takes.
// A dead operation's MessageId is its event id; a sender that crashed before marking
// it sent resends it on its next round, seconds later.
resource operationsDead 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'operations-dead'
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
  }
}

output namespaceName string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (suffix per cloud).
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output scheduleCommandsQueueName string = scheduleCommands.name
output scheduleCommandOutcomesQueueName string = scheduleCommandOutcomes.name
output operationsDeadQueueName string = operationsDead.name
