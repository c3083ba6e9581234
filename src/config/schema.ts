import { z } from 'zod';

/**
 * The configuration schema. Every key carries a description and, where it helps, an example
 * that error messages quote. Secret fields are marked `secret: true` in their metadata: the
 * loader collects their values so that logs, errors and `config show` never print them.
 */

/** Marks a string as a secret. Use `${ENV_VAR}` in the file rather than the value itself. */
export function secret(description: string, example = '${SNOWLINE_SECRET}') {
  return z
    .string({ error: 'must be a string (quote it, or use ${ENV_VAR})' })
    .min(1, { error: 'must not be empty' })
    .meta({ secret: true, description, examples: [example] });
}

/** An absolute http(s) URL. Plain http is accepted only where the remote side allows it (tokens need https). */
function httpUrl(description: string, example: string) {
  return z
    .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
    .meta({ description, examples: [example] });
}

function name(description: string, example: string) {
  return z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .meta({ description, examples: [example] });
}

const tls = z
  .strictObject({
    caFile: z
      .string()
      .min(1)
      .optional()
      .meta({
        description:
          'PEM file with extra certificate authorities to trust (e.g. a corporate CA, or the sandbox CA). Verification itself can not be switched off.',
        examples: ['/etc/snowline/ca.pem'],
      }),
  })
  .meta({ description: 'TLS settings. Certificates are always verified.' });

const serviceNowAuth = z.discriminatedUnion(
  'type',
  [
    z
      .strictObject({
        type: z.literal('basic'),
        username: name('Integration user name.', 'svc_snowline'),
        password: secret('Integration user password.', '${SERVICENOW_PASSWORD}'),
      })
      .meta({ description: 'Basic authentication as the integration user.' }),
    z
      .strictObject({
        type: z.literal('oauth'),
        grant: z
          .enum(['client_credentials', 'password'])
          .default('client_credentials')
          .meta({ description: 'OAuth grant: client_credentials (recommended) or password.' }),
        clientId: name('OAuth client id of the application registry entry.', '3f2a…'),
        clientSecret: secret('OAuth client secret.', '${SERVICENOW_CLIENT_SECRET}'),
        username: name('User for the password grant.', 'svc_snowline').optional(),
        password: secret('Password for the password grant.', '${SERVICENOW_PASSWORD}').optional(),
      })
      .meta({ description: 'OAuth 2.0 through /oauth_token.do; tokens are refreshed before they expire.' }),
  ],
  { error: 'auth.type must be "basic" or "oauth"' },
);

const serviceNow = z
  .strictObject({
    instanceUrl: httpUrl('Base URL of the ServiceNow instance.', 'https://acme.service-now.com'),
    auth: serviceNowAuth,
    tls: tls.default({}),
    limits: z
      .strictObject({
        requestsPerHour: z
          .number()
          .int()
          .positive()
          .optional()
          .meta({
            description:
              "Client-side budget matching the instance's REST rate-limit rule (requests per hour).",
            examples: [20000],
          }),
        maxInFlight: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(4)
          .meta({ description: 'Requests in flight at once to this instance.', examples: [4] }),
        maxWaitSeconds: z
          .number()
          .min(0)
          .max(600)
          .default(60)
          .meta({
            description: 'Longest Retry-After Snowline waits in-process; a longer one defers the run.',
            examples: [60],
          }),
      })
      .default({ maxInFlight: 4, maxWaitSeconds: 60 }),
  })
  .meta({ description: 'The ServiceNow instance this integration writes to.' });

const defenderAuth = z.discriminatedUnion(
  'type',
  [
    z
      .strictObject({
        type: z.literal('clientSecret'),
        clientId: name(
          'Application (client) id of the Entra app registration.',
          '00000000-0000-0000-0000-000000000000',
        ),
        clientSecret: secret('Client secret of the app registration.', '${AZURE_CLIENT_SECRET}'),
      })
      .meta({ description: 'Entra ID app registration with a client secret.' }),
    z
      .strictObject({
        type: z.literal('managedIdentity'),
        clientId: name(
          'Client id of a user-assigned managed identity.',
          '00000000-0000-0000-0000-000000000000',
        ).optional(),
      })
      .meta({ description: 'Managed identity (or any DefaultAzureCredential source).' }),
    z
      .strictObject({
        type: z.literal('token'),
        token: secret('A bearer token for ARM (sandbox and short tests only).', '${AZURE_TOKEN}'),
      })
      .meta({ description: 'A static ARM bearer token.' }),
  ],
  { error: 'auth.type must be "clientSecret", "managedIdentity" or "token"' },
);

const sensor = z
  .strictObject({
    name: name('Sensor name as shown in Defender for IoT.', 'plant-a-line-1'),
    url: httpUrl('Base URL of the OT sensor.', 'https://10.20.0.5'),
    token: secret('Sensor API token (System settings > Integrations > Access tokens).', '${SENSOR_A_TOKEN}'),
    site: name('Site of this sensor (the sensor API does not report it).', 'Plant A').optional(),
    zone: name('Zone of this sensor (the sensor API does not report it).', 'Line 1').optional(),
    purdueLevel: z
      .number()
      .min(0)
      .max(5)
      .optional()
      .meta({ description: 'Default Purdue level of devices this sensor sees.', examples: [1] }),
  })
  .meta({ description: 'An OT sensor read through its on-premises API.' });

const defender = z
  .strictObject({
    tenantId: name('Entra ID tenant id.', '72f988bf-86f1-41af-91ab-2d7cd011db47'),
    armUrl: httpUrl('Azure Resource Manager endpoint.', 'https://management.azure.com').default(
      'https://management.azure.com',
    ),
    authorityHost: httpUrl('Entra ID authority host.', 'https://login.microsoftonline.com').default(
      'https://login.microsoftonline.com',
    ),
    auth: defenderAuth,
    subscriptions: z
      .array(name('Subscription id.', '20ff7fc3-e762-44dd-bd96-b71116dcdc23'))
      .default([])
      .meta({
        description: 'Subscriptions whose Defender for Cloud recommendations and IoT resources are read.',
      }),
    sensors: z.array(sensor).default([]).meta({ description: 'OT sensors read directly.' }),
    console: z
      .strictObject({
        url: httpUrl('Base URL of the on-premises management console.', 'https://10.1.0.10'),
        token: secret('Management console API token.', '${CONSOLE_TOKEN}'),
      })
      .optional()
      .meta({ description: 'On-premises management console (integration API v3).' }),
    tls: tls.default({}),
  })
  .meta({
    description: 'The Microsoft side: Defender for Cloud (ARM), Resource Graph and Defender for IoT.',
  });

const otInventory = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Run this flow.', examples: [true] }),
    source: z.enum(['sensor', 'console', 'resourceGraph']).meta({
      description:
        'Where devices come from: the OT sensor API (defender.sensors), the management console integration API v3 (defender.console, incremental), or Azure Resource Graph (defender.subscriptions).',
      examples: ['console'],
    }),
    sensorValidation: z
      .enum(['servicenow', 'list', 'auto'])
      .default('servicenow')
      .meta({
        description:
          'Which sensors feed devices: servicenow = only sensors an admin marked validated on cmdb_ci_nids (as the Service Graph Connector does); list = the sensors named in `sensors`; auto = connected sensors not in learning mode.',
        examples: ['servicenow'],
      }),
    sensors: z
      .array(z.string().min(1))
      .default([])
      .meta({
        description: 'Sensor names that feed devices when sensorValidation is list.',
        examples: [['line-1']],
      }),
    dataSource: z
      .string()
      .min(1)
      .default('Snowline')
      .meta({
        description:
          'The cmdb_ci.discovery_source choice Snowline writes as; it must exist on the instance (IRE rejects unknown sources).',
        examples: ['Snowline'],
      }),
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .meta({
        description: 'IRE items per request (a device and its NICs, IPs and modules stay together).',
        examples: [100],
      }),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(2)
      .meta({ description: 'IRE requests in flight at once.', examples: [2] }),
    retireAfterDays: z
      .number()
      .min(0)
      .default(30)
      .meta({
        description:
          'A device not reported for this many days is retired (install status Retired), never deleted.',
        examples: [30],
      }),
    connections: z
      .boolean()
      .default(true)
      .meta({ description: 'Write network connections where the source has them.', examples: [true] }),
    classMap: z
      .record(
        z.string(),
        z.strictObject({
          className: z
            .string()
            .regex(/^[a-z][a-z0-9_]*$/, { error: 'must be a table name like cmdb_ci_ot_plc' }),
          otAssetType: z.string().optional(),
        }),
      )
      .default({})
      .meta({
        description: 'Device type → CMDB class overrides of the built-in map (docs/ot-inventory.md).',
        examples: [{ 'Engineering Station': { className: 'cmdb_ci_ot_ews', otAssetType: 'EWS' } }],
      }),
    purdueLayers: z
      .record(z.string(), z.number().min(0).max(5))
      .default({})
      .meta({
        description:
          'Defender Purdue layer → level overrides (defaults: Process Control 1, Supervisory 2, Enterprise 4).',
        examples: [{ Enterprise: 3.5 }],
      }),
  })
  .meta({
    description: 'Flow ot-inventory: Defender for IoT sensors, sites, devices and connections → the OT CMDB.',
  });

const otVulnerabilities = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Run this flow.', examples: [true] }),
    source: z.enum(['console', 'sensor', 'resourceGraph']).meta({
      description:
        'Where CVEs per device come from: the management console integration API v3 `devicecves` (defender.console, incremental), the OT sensor API `/api/v1/devices/cves` (defender.sensors, keyed by IP), or Azure Resource Graph (UNVERIFIED: Microsoft documents no per-device CVE table; see docs/ot-vulnerabilities.md).',
      examples: ['console'],
    }),
    sourceName: z
      .string()
      .min(1)
      .max(100)
      .default('Microsoft Defender for IoT')
      .meta({
        description:
          'The `source` written on every detection. One detection exists per (CI, CVE, source): keep it stable, changing it starts a second set of detections.',
        examples: ['Microsoft Defender for IoT'],
      }),
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .meta({
        description:
          "Requests per Batch API call (NVD entries and detections); keep a call well under the instance's 30 s batch timeout.",
        examples: [100],
      }),
    sensorTop: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(1000)
      .meta({
        description:
          'The `top` asked of the sensor API per IP (its default is 100). A device that returns exactly this many CVEs may be truncated: the summary counts it, and CVEs missing from its list are not closed.',
        examples: [1000],
      }),
    refreshLastFoundDays: z
      .number()
      .min(1)
      .default(7)
      .meta({
        description:
          "A CVE still reported, but whose detection was not written for this many days, gets its last found refreshed. Keep it well below the instance's auto-close window (90 days by default), or CVEs Defender still reports go Stale.",
        examples: [7],
      }),
    writeVulnerableItems: z
      .boolean()
      .default(false)
      .meta({
        description:
          'Also write sn_vul_vulnerable_item (create, close as Fixed or CI Decommissioned, reopen), for instances that do not roll detections up into items. Off: the platform owns the item.',
        examples: [false],
      }),
  })
  .meta({
    description:
      'Flow ot-vulnerabilities: Defender for IoT CVEs per device → Vulnerability Response (NVD entries and detections; the platform rolls detections up into vulnerable items).',
  });

const flows = z
  .strictObject({
    otInventory: otInventory.optional(),
    otVulnerabilities: otVulnerabilities.optional(),
  })
  .default({})
  .meta({ description: 'Which flows run for this integration, and how.' });

const integration = z
  .strictObject({
    id: z
      .string({ error: 'must be a string' })
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
        error: 'must be lowercase letters, digits and dashes (at most 63), starting with a letter or digit',
      })
      .meta({
        description: 'Stable id of this integration; it namespaces every key Snowline writes.',
        examples: ['plant-a'],
      }),
    name: z
      .string()
      .optional()
      .meta({ description: 'Display name.', examples: ['Plant A ↔ ServiceNow prod'] }),
    servicenow: serviceNow,
    defender,
    flows,
  })
  .meta({ description: 'One ServiceNow instance paired with one Defender tenant.' });

/** The whole configuration file. */
export const ConfigSchema = z
  .strictObject({
    store: z
      .strictObject({
        url: z
          .string({ error: 'must be a string' })
          .min(1, { error: 'must not be empty' })
          .default('./.snowline/snowline.sqlite')
          .meta({
            description:
              'State store: a SQLite file path (default) or a postgres:// URL (for several workers). A password in the URL is treated as a secret.',
            examples: ['postgres://snowline:${PGPASSWORD}@db:5432/snowline', './.snowline/snowline.sqlite'],
          }),
      })
      .default({ url: './.snowline/snowline.sqlite' }),
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info')
          .meta({ description: 'Log level (logs go to stderr).', examples: ['info'] }),
      })
      .default({ level: 'info' }),
    api: z
      .strictObject({
        host: z
          .string()
          .default('127.0.0.1')
          .meta({ description: 'Address `snowline serve` listens on.', examples: ['127.0.0.1'] }),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(8420)
          .meta({ description: 'Port `snowline serve` listens on.', examples: [8420] }),
        tokens: z
          .array(secret('An API bearer token.', '${SNOWLINE_API_TOKEN}'))
          .default([])
          .meta({ description: 'Bearer tokens accepted by the HTTP API and the dashboard sign-in.' }),
      })
      .default({ host: '127.0.0.1', port: 8420, tokens: [] }),
    integrations: z
      .array(integration)
      .min(1, { error: 'needs at least one integration' })
      .meta({ description: 'Integrations: each pairs a ServiceNow instance with a Defender tenant.' }),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.integrations.forEach((item, index) => {
      if (seen.has(item.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['integrations', index, 'id'],
          message: `duplicate integration id "${item.id}": ids must be unique`,
        });
      }
      seen.add(item.id);
    });
    if (/^postgres(ql)?:/i.test(config.store.url)) {
      try {
        new URL(config.store.url);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['store', 'url'], message: 'is not a valid postgres:// URL' });
      }
    }
  });

/** The validated, effective configuration (defaults applied). Treat it as read-only. */
export type SnowlineConfig = Readonly<z.output<typeof ConfigSchema>>;
/** One integration of the configuration. */
export type IntegrationConfig = SnowlineConfig['integrations'][number];
