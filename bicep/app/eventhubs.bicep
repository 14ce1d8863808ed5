// Event Hubs namespace (Entra ID only) whose Kafka endpoint the outbox relay publishes
// to, and the event hub that is its topic (named as KAFKA_TOPIC). The relay logs in with
// OAUTHBEARER tokens of the app's identity (KAFKA_SECURITY=eventhubs), which holds
// Azure Event Hubs Data Sender on the event hub (rbac.bicep).
//
// Kafka needs the Standard tier or above; on Standard the partition count is fixed when
// the event hub is created. An event's key is its schedule id, so a schedule's events
// share a partition.

@description('Name of the namespace.')
param namespaceName string

@description('Region of the namespace.')
param location string

@description('Tags applied to the namespace.')
param tags object

@description('Name of the event hub the events go to: the Kafka topic (KAFKA_TOPIC).')
param eventHubName string

@description('Partitions of the event hub; fixed once it is created on the Standard tier.')
@minValue(1)
@maxValue(32)
param partitionCount int = 4

@description('Days an event stays readable in the event hub (Standard tier: at most 7).')
@minValue(1)
@maxValue(7)
param retentionDays int = 7

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    kafkaEnabled: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource events 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

output namespaceName string = namespace.name
output eventHubName string = events.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (suffix per cloud);
// the Kafka endpoint is the same host on port 9093.
output kafkaBootstrapServers string = '${split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]}:9093'
