/**
 * The smallest valid configuration input: one integration with basic auth to ServiceNow and a
 * managed identity for Defender. Tests copy it and change what they exercise.
 */
export function minimalConfigInput() {
  return {
    integrations: [
      {
        id: 'plant-a',
        servicenow: {
          instanceUrl: 'https://acme.service-now.com',
          auth: { type: 'basic', username: 'svc', password: 'pw-123456' },
        },
        defender: { tenantId: 't', auth: { type: 'managedIdentity' } },
      },
    ],
  };
}
