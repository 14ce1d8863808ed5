// Azure SQL logical server with Entra ID-only authentication (no SQL logins, no
// password anywhere) and the tsched database, serverless General Purpose.
//
// Granting the app's managed identity access is T-SQL, which ARM cannot run: the deploy
// step (azd's predeploy hook, scripts/azure/predeploy.sh) runs it as the deploying
// principal, an administrator, after the migrations: CREATE USER [<identity name>] FROM
// EXTERNAL PROVIDER once, then db_datareader and db_datawriter (scripts/azure/
// sql_access.py; docs/deploy.md).

@description('Name of the logical server.')
param serverName string

@description('Name of the database.')
param databaseName string = 'tsched'

@description('Region of the server and database.')
param location string

@description('Tags applied to the server and database.')
param tags object

@description('Display name of the Entra ID principal administering the server, ideally a group.')
param adminLogin string

@description('Object id of that principal.')
param adminObjectId string

@description('Kind of that principal.')
@allowed([
  'Group'
  'User'
  'Application'
])
param adminPrincipalType string = 'Group'

@description('Most vCores the serverless database scales to.')
@allowed([
  1
  2
  4
  6
  8
])
param maxVCores int = 2

resource server 'Microsoft.Sql/servers@2023-08-01' = {
  name: serverName
  location: location
  tags: tags
  properties: {
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: adminLogin
      sid: adminObjectId
      principalType: adminPrincipalType
      tenantId: tenant().tenantId
    }
  }

  // Flex Consumption instances have no fixed outbound addresses without a virtual
  // network, so the server admits Azure-internal traffic; Entra ID still gates it.
  resource allowAzureServices 'firewallRules' = {
    name: 'AllowAllWindowsAzureIps'
    properties: {
      startIpAddress: '0.0.0.0'
      endIpAddress: '0.0.0.0'
    }
  }

  resource database 'databases' = {
    name: databaseName
    location: location
    tags: tags
    sku: {
      name: 'GP_S_Gen5'
      tier: 'GeneralPurpose'
      family: 'Gen5'
      capacity: maxVCores
    }
    properties: {
      // The dispatch timer queries every few seconds, so the database would never
      // pause; disabling auto-pause also rules out a resume delay on the money path.
      autoPauseDelay: -1
      minCapacity: json('0.5')
      requestedBackupStorageRedundancy: 'Geo'
      zoneRedundant: false
    }
  }
}

output name string = server.name
output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName
output databaseName string = server::database.name

// The SQLAlchemy URL of the database, the app's DATABASE_URL: no credentials in it, the
// Entra ID token is added on connect. functions.bicep builds the same URL (var
// databaseUrl); tests/functions/test_deploy.py checks that the two agree.
output databaseUrl string = 'mssql+pyodbc://@${server.properties.fullyQualifiedDomainName}:1433/${server::database.name}?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes&TrustServerCertificate=no'
