// The alerts operations staff act on, and the workbook of the operations page's charts,
// over the metrics the app sends to Application Insights (customMetrics, named in
// scheduler/metrics.py). docs/runbook.md has an entry per alert, under its name.

@description('Name of the Application Insights component the app reports to.')
param applicationInsightsName string

@description('Region of the alert rules and the workbook.')
param location string

@description('Tags applied to every resource here.')
param tags object

@description('Email address told when an alert fires; empty tells nobody by email.')
param alertEmail string = ''

@description('Resource ids of further action groups to notify (paging, ticketing).')
param actionGroupIds array = []

@description('Share of the last 15 minutes\' outcomes that may fail or die before the failure-rate alert fires.')
param failureRateThreshold string = '0.05'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-tsched-operations'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'tsched-ops'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = concat([actionGroup.id], actionGroupIds)

// name: [severity, window, query]; each query returns rows only while the alert holds.
var alerts = {
  'tsched-dispatch-lag': {
    description: 'A due operation has waited more than 60 s for a worker.'
    severity: 1
    window: 'PT5M'
    query: 'customMetrics | where name == "tsched.dispatch.lag" | summarize lag = max(value) | where lag > 60'
  }
  'tsched-failure-rate': {
    description: 'More than the threshold of the last 15 minutes\' outcomes failed or died.'
    severity: 2
    window: 'PT15M'
    query: 'customMetrics | where name == "tsched.operations.outcomes" | extend outcome = tostring(customDimensions.outcome) | summarize bad = sumif(value, outcome in ("failed", "dead")), all = sum(value) | where all > 0 and bad / all > ${failureRateThreshold}'
  }
  'tsched-dead-operation': {
    description: 'An operation ran out of retries and waits for a person to re-drive or cancel it.'
    severity: 2
    window: 'PT5M'
    query: 'customMetrics | where name == "tsched.operations.stopped" and tostring(customDimensions.status) == "dead" | summarize dead = max(value) | where dead > 0'
  }
  'tsched-outbox-age': {
    description: 'An event has waited more than 5 minutes to be published to Kafka (Event Hubs).'
    severity: 2
    window: 'PT5M'
    query: 'customMetrics | where name == "tsched.outbox.age" | summarize age = max(value) | where age > 300'
  }
  'tsched-api-5xx': {
    description: 'The API answered with a 5xx status in the last 5 minutes.'
    severity: 2
    window: 'PT5M'
    query: 'customMetrics | where name == "tsched.api.request.duration" | where toint(customDimensions["http.response.status_code"]) >= 500 | summarize answered = sum(valueCount) | where answered > 0'
  }
  'tsched-dispatch-stopped': {
    description: 'No claim has run for 10 minutes: the dispatch orchestration is not running.'
    severity: 1
    window: 'PT10M'
    query: 'customMetrics | where name == "tsched.claim.duration" | summarize claims = sum(valueCount) | where isnull(claims) or claims == 0'
  }
}

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for alert in items(alerts): {
  name: alert.key
  location: location
  tags: tags
  properties: {
    displayName: alert.key
    description: '${alert.value.description} Runbook: docs/runbook.md#${alert.key}'
    severity: alert.value.severity
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT1M'
    windowSize: alert.value.window
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: alert.value.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actions
    }
  }
}]

// The operations page's charts over the last day, for staff who live in the portal.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'tsched-operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'tsched operations'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: string({
      version: 'Notebook/1.0'
      items: [
        {
          type: 3
          name: 'dispatch-lag'
          content: {
            version: 'KqlItem/1.0'
            title: 'Dispatch lag (s), the oldest due operation\'s wait'
            query: 'customMetrics | where name == "tsched.dispatch.lag" | summarize max(value) by bin(timestamp, 1m) | render timechart'
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'timechart'
          }
        }
        {
          type: 3
          name: 'lateness'
          content: {
            version: 'KqlItem/1.0'
            title: 'Payment lateness (s), mean per minute'
            query: 'customMetrics | where name == "tsched.operation.lateness" | summarize lateness = sum(value) / sum(valueCount) by bin(timestamp, 1m) | render timechart'
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'timechart'
          }
        }
        {
          type: 3
          name: 'outcomes'
          content: {
            version: 'KqlItem/1.0'
            title: 'Outcomes per 5 minutes'
            query: 'customMetrics | where name == "tsched.operations.outcomes" | summarize sum(value) by tostring(customDimensions.outcome), bin(timestamp, 5m) | render columnchart'
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'barchart'
          }
        }
        {
          type: 3
          name: 'outbox'
          content: {
            version: 'KqlItem/1.0'
            title: 'Events waiting for Kafka, and the oldest one\'s age (s)'
            query: 'customMetrics | where name in ("tsched.outbox.backlog", "tsched.outbox.age") | summarize max(value) by name, bin(timestamp, 1m) | render timechart'
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'timechart'
          }
        }
        {
          type: 3
          name: 'api'
          content: {
            version: 'KqlItem/1.0'
            title: 'API requests per minute by status'
            query: 'customMetrics | where name == "tsched.api.request.duration" | summarize sum(valueCount) by tostring(customDimensions["http.response.status_code"]), bin(timestamp, 1m) | render timechart'
            queryType: 0
            resourceType: 'microsoft.insights/components'
            visualization: 'timechart'
          }
        }
      ]
    })
  }
}

output actionGroupId string = actionGroup.id
output alertNames array = [for alert in items(alerts): alert.key]
