import { z } from 'zod';
import { vulnerabilitySourceProblems } from '../domain/vulnerabilities/source-match.js';
import { cloudTicketsSection } from '../sync/cloud-tickets/config.js';
import { otAlertsSection } from '../sync/ot-alerts/config.js';
import { otInventorySection } from '../sync/ot-inventory/config.js';
import { otVulnerabilitiesSection } from '../sync/ot-vulnerabilities/config.js';
import { ticketSyncSection } from '../sync/ticket-sync/config.js';
import { proxy, secret } from './common.js';

/**
 * The configuration schema. Every key carries a description and, where it helps, an example
 * that error messages quote. Secret fields are marked `secret: true` in their metadata: the
 * loader collects their values so that logs, errors and `config show` never print them.
 */

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

/** TLS trust of one on-premises appliance: its own CA file and, optionally, its certificate's pin. */
function applianceTls(what: string, key: string) {
  return z
    .strictObject({
      caFile: z
        .string()
        .min(1)
        .optional()
        .meta({
          description: `PEM file of the CA (or the self-signed certificate) that signs ${what}'s certificate; replaces defender.tls.caFile for it.`,
          examples: ['/etc/snowline/sensor-line-1.pem'],
        }),
      pinSha256: z
        .string()
        .regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, {
          error:
            'must be a SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256)',
        })
        .optional()
        .meta({
          description: `SHA-256 fingerprint of ${what}'s certificate; any other certificate is refused even if trusted (${key}).`,
          examples: ['AB:CD:…'],
        }),
    })
    .optional()
    .meta({ description: `TLS trust of ${what}. Certificates are always verified.` });
}

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
    proxy: proxy('the ServiceNow instance'),
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
    proxy: proxy('this sensor'),
    tls: applianceTls('this sensor', 'defender.sensors[].tls'),
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
        proxy: proxy('the management console'),
        tls: applianceTls('the management console', 'defender.console.tls'),
      })
      .optional()
      .meta({ description: 'On-premises management console (integration API v3).' }),
    tls: tls.default({}),
    proxy: proxy('Azure (ARM, Resource Graph and Entra ID)'),
  })
  .meta({
    description: 'The Microsoft side: Defender for Cloud (ARM), Resource Graph and Defender for IoT.',
  });

const flows = z
  .strictObject({
    otInventory: otInventorySection.optional(),
    otVulnerabilities: otVulnerabilitiesSection.optional(),
    ticketSync: ticketSyncSection.optional(),
    cloudTickets: cloudTicketsSection.optional(),
    otAlerts: otAlertsSection.optional(),
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
        commitBatch: z
          .strictObject({
            records: z
              .number()
              .int()
              .min(1)
              .max(10_000)
              .default(500)
              .meta({
                description: 'Records (ledger events, entity states, links) per commit.',
                examples: [500],
              }),
            intervalMs: z
              .number()
              .int()
              .min(0)
              .max(60_000)
              .default(1000)
              .meta({
                description:
                  'A commit also happens this long after the first queued record, so a slow run keeps its ledger current.',
                examples: [1000],
              }),
          })
          .default({ records: 500, intervalMs: 1000 })
          .meta({
            description:
              'How flows commit what they record: in batches, each one fenced transaction. A crash loses at most the last batch of records, never a remote write (every write is idempotent on replay).',
          }),
        retention: z
          .strictObject({
            days: z
              .number()
              .int()
              .min(1)
              .max(36_500)
              .default(180)
              .meta({
                description:
                  'Ledger events and finished runs older than this many days are pruned (by `snowline serve` once a day, and by `snowline store prune`). Entity state, links and watermarks are never pruned.',
                examples: [180],
              }),
          })
          .default({ days: 180 })
          .meta({ description: 'How long the ledger and the run history are kept.' }),
      })
      .default({
        url: './.snowline/snowline.sqlite',
        commitBatch: { records: 500, intervalMs: 1000 },
        retention: { days: 180 },
      }),
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
        tls: z
          .strictObject({
            certFile: z
              .string()
              .min(1)
              .meta({
                description: 'PEM certificate (chain) `snowline serve` presents.',
                examples: ['/etc/snowline/tls/cert.pem'],
              }),
            keyFile: z
              .string()
              .min(1)
              .meta({
                description: 'PEM private key of the certificate.',
                examples: ['/etc/snowline/tls/key.pem'],
              }),
          })
          .optional()
          .meta({ description: 'Serve HTTPS with this certificate; plain HTTP without it.' }),
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024)
          .meta({
            description: 'Largest request body accepted; a larger one gets 413 and is not read.',
            examples: [1048576],
          }),
      })
      .default({ host: '127.0.0.1', port: 8420, tokens: [], bodyLimitBytes: 1024 * 1024 }),
    queue: z
      .strictObject({
        concurrency: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(2)
          .meta({ description: 'Flow-run jobs one `snowline worker` process runs at once.', examples: [2] }),
        leaseSeconds: z
          .number()
          .int()
          .min(2)
          .default(60)
          .meta({
            description:
              'A worker renews the lease of the partition it runs every third of this; a crashed worker’s partition is taken over once its lease is this old.',
            examples: [60],
          }),
        expireSeconds: z
          .number()
          .int()
          .min(5)
          .default(3600)
          .meta({
            description:
              'pg-boss fails (and retries) a job still active after this long, so it must exceed the longest flow run; it also bounds how long a crashed worker’s job waits to be taken over.',
            examples: [3600],
          }),
        retryLimit: z
          .number()
          .int()
          .min(0)
          .default(5)
          .meta({
            description: 'Retries of a failed flow-run job before it goes to the dead-letter queue.',
            examples: [5],
          }),
        retryDelaySeconds: z
          .number()
          .int()
          .min(1)
          .default(30)
          .meta({
            description: 'First retry delay of a failed job; doubled each retry (pg-boss backoff).',
            examples: [30],
          }),
        maintenanceIntervalSeconds: z
          .number()
          .int()
          .min(1)
          .default(30)
          .meta({
            description: 'How often pg-boss looks for expired jobs (and archives finished ones).',
            examples: [30],
          }),
        pollingIntervalSeconds: z
          .number()
          .min(0.5)
          .default(2)
          .meta({ description: 'How often an idle worker asks for a job.', examples: [2] }),
      })
      .default({
        concurrency: 2,
        leaseSeconds: 60,
        expireSeconds: 3600,
        retryLimit: 5,
        retryDelaySeconds: 30,
        maintenanceIntervalSeconds: 30,
        pollingIntervalSeconds: 2,
      })
      .meta({
        description:
          'Scale-out on PostgreSQL: how `snowline worker` processes take flow-run jobs from the pg-boss queue (ignored with a SQLite store).',
      }),
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
    config.integrations.forEach((item, index) => {
      for (const problem of vulnerabilitySourceProblems(item.flows))
        ctx.addIssue({
          code: 'custom',
          path: ['integrations', index, ...problem.path],
          message: problem.message,
          ...(problem.example ? { params: { example: problem.example } } : {}),
        });
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
