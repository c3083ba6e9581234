import { validateConfig } from '../../src/config/load.js';
import type { IntegrationConfig } from '../../src/config/schema.js';
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

/**
 * The validated integration `plant-a` with these flows, basic auth to the ServiceNow instance at
 * `url` (as `credentials`, or placeholders when no sandbox is up yet), its CA when given, and a
 * managed identity for Defender: what the in-process flow tests run against.
 */
export function flowTestIntegration(
  flows: Record<string, unknown>,
  options: { url: string; caFile?: string; credentials?: { user: string; password: string } },
): IntegrationConfig {
  return validateConfig(
    {
      integrations: [
        {
          id: 'plant-a',
          servicenow: {
            instanceUrl: options.url,
            auth: {
              type: 'basic',
              username: options.credentials?.user ?? 'u',
              password: options.credentials?.password ?? 'pw-123456',
            },
            ...(options.caFile ? { tls: { caFile: options.caFile } } : {}),
          },
          defender: { tenantId: 't', auth: { type: 'managedIdentity' } },
          flows,
        },
      ],
    },
    'test',
  ).config.integrations[0]!;
}
