// The user-assigned managed identity the function app runs as. Every data-plane
// permission is granted to it (rbac.bicep, sql.bicep's note); nothing uses keys.

@description('Name of the managed identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
