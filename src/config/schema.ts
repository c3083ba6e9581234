import { Cron } from 'croner';
import { z } from 'zod';
import { vulnerabilitySourceProblems } from '../domain/vulnerabilities/source-match.js';
import {
  DEFAULT_CLOSED_STATES,
  DEFAULT_TICKET_TABLE,
  TICKET_TABLES,
  type TicketTable,
} from '../domain/tickets/tables.js';

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

/** `every: 60s` as `snowline serve` reads it: a whole number of seconds (s), minutes (m) or hours (h). */
export const EVERY_PATTERN = /^([1-9][0-9]{0,5})\s*(s|m|h)$/;

/**
 * When `snowline serve` runs a flow: a croner expression (5 or 6 fields, e.g. `*\/15 * * * *`),
 * or `{ every: 60s }`. A flow without one runs only when triggered (API, dashboard, CLI) or
 * when a deferred run is due.
 */
const schedule = z
  .union(
    [
      z
        .string()
        .min(1)
        .refine((value) => cronProblem(value) === undefined, {
          error: (issue) =>
            `is not a cron expression: ${cronProblem(String(issue.input))}; use 5 or 6 fields like "*/15 * * * *", or { every: 60s }`,
        }),
      z.strictObject({
        every: z
          .string()
          .regex(EVERY_PATTERN, {
            error: 'must be a number with s, m or h, e.g. 60s, 15m or 1h',
          })
          .meta({
            description: 'Run every this long (s, m or h), starting at the first second after serve starts.',
            examples: ['60s'],
          }),
      }),
    ],
    { error: 'must be a cron expression like "*/15 * * * *" or { every: 60s }' },
  )
  .optional()
  .meta({
    description:
      'When `snowline serve` runs this flow: a cron expression (croner, 5 or 6 fields, UTC) or { every: 60s | 15m | 1h }. Without one the flow runs only when triggered or when a deferred run is due.',
    examples: ['*/15 * * * *', { every: '60s' }],
  });

function cronProblem(expression: string): string | undefined {
  // croner also takes an ISO date as a one-off time; a schedule must repeat.
  const fields = expression.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6) return `it has ${fields} field(s), not 5 or 6`;
  try {
    new Cron(expression, { paused: true, mode: '5-or-6-parts' }).stop();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const otInventory = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Run this flow.', examples: [true] }),
    schedule,
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
    schedule,
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

/** The configurable closed states of one ticket table, defaulting to the registry's. */
const closedStateList = (table: TicketTable) =>
  z
    .array(
      z
        .string()
        .regex(/^-?\d+$/, { error: 'must be a state value such as "6" (the stored value, not the label)' }),
    )
    .default([...DEFAULT_CLOSED_STATES[table]])
    .meta({
      description: `${table} states in which a ticket counts as Resolved, Closed or Canceled.`,
      examples: [[...DEFAULT_CLOSED_STATES[table]]],
    });

const ticketSync = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Run this flow.', examples: [true] }),
    intervalSeconds: z
      .number()
      .int()
      .min(10, { error: 'must be at least 10 seconds' })
      .default(60)
      .meta({
        description:
          'Polling interval of the scheduler (`snowline serve` / worker). Polling stays on as the backstop of the webhook.',
        examples: [60],
      }),
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(120)
      .meta({
        description:
          'Each poll re-reads tickets updated up to this long before the watermark (sys_updated_on has one-second resolution and commits are not instantaneous); re-read changes are recognised by sys_mod_count and cost no write.',
        examples: [120],
      }),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .meta({ description: 'Tickets per Table API page when polling.', examples: [1000] }),
    closedStates: z
      .strictObject(
        Object.fromEntries(TICKET_TABLES.map((table) => [table, closedStateList(table)])) as Record<
          TicketTable,
          ReturnType<typeof closedStateList>
        >,
      )
      .default(
        Object.fromEntries(
          TICKET_TABLES.map((table) => [table, [...DEFAULT_CLOSED_STATES[table]]]),
        ) as Record<TicketTable, string[]>,
      )
      .meta({
        description:
          'Per table, the states (stored values) in which a ticket counts as Resolved, Closed or Canceled, for every flow of the integration: ticket-sync deletes its governance assignments (as Defender for Cloud does), cloud-tickets treats it as closed, the dashboard and API stop counting it open.',
      }),
    reopen: z
      .enum(['recreate', 'leave'])
      .default('recreate')
      .meta({
        description:
          "A ticket reopened in ServiceNow (out of a closed state): recreate = put its governance assignments back (same key, due date and grace period, the ticket's owner and status); leave = do nothing.",
        examples: ['recreate'],
      }),
    conflict: z
      .strictObject({
        state: z
          .enum(['servicenow', 'defender'])
          .default('servicenow')
          .meta({
            description:
              'The ticket closed in ServiceNow while a person changed its assignment in Defender since Snowline last wrote it: servicenow = delete it anyway; defender = keep it (recorded as a conflict).',
            examples: ['servicenow'],
          }),
        owner: z
          .enum(['servicenow', 'defender'])
          .default('servicenow')
          .meta({
            description:
              "assigned_to changed in ServiceNow and the assignment owner changed in Defender since Snowline last wrote it: servicenow = the ticket's user email wins; defender = the Defender owner stays.",
            examples: ['servicenow'],
          }),
        health: z
          .enum(['defender', 'servicenow'])
          .default('defender')
          .meta({
            description:
              'A ticket reopened in ServiceNow whose recommendation Defender reports Healthy or Not applicable: defender = no assignment is recreated; servicenow = recreate it anyway.',
            examples: ['defender'],
          }),
      })
      .default({ state: 'servicenow', owner: 'servicenow', health: 'defender' })
      .meta({ description: 'Who wins when both sides changed (every decision is a ledger event).' }),
    webhook: z
      .strictObject({
        secret: secret(
          'Shared secret of the ServiceNow business rule: it signs each POST as base64(HMAC-SHA256(secret, timestamp + "." + body)). Use a distinct, random secret (32+ characters) per integration.',
          '${SNOWLINE_WEBHOOK_SECRET}',
        ).optional(),
      })
      .default({})
      .meta({
        description:
          'Push mode: `POST /api/v1/webhooks/servicenow` of `snowline serve`, called by the business rule in docs/ticket-sync.md. Without a secret the webhook refuses every request of this integration.',
      }),
  })
  .meta({
    description:
      'Flow ticket-sync: ServiceNow → Defender. Tickets Snowline opened that are Resolved / Closed / Canceled lose their governance assignments; a new assigned_to becomes the assignment owner; ticketStatus mirrors the state.',
  });

const flows = z
  .strictObject({
    otInventory: otInventory.optional(),
    otVulnerabilities: otVulnerabilities.optional(),
    ticketSync: ticketSync.optional(),
    cloudTickets: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .meta({ description: 'Run this flow.', examples: [true] }),
        schedule,
        managementGroups: z
          .array(z.string().min(1))
          .default([])
          .meta({
            description:
              'Management group ids whose assessments are read through Resource Graph (`securityresources`, metadata inline) instead of ARM per subscription; empty = defender.subscriptions through ARM.',
            examples: [['contoso-prod']],
          }),
        rules: z
          .array(
            z
              .strictObject({
                name: z
                  .string()
                  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/, {
                    error: 'must be 1-40 letters, digits, _ . or -, starting with a letter or digit',
                  })
                  .meta({
                    description:
                      'Stable name of the rule; it is part of every ticket key, so renaming a rule opens new tickets.',
                    examples: ['high-critical'],
                  }),
                when: z
                  .strictObject({
                    severities: z
                      .array(z.enum(['Low', 'Medium', 'High', 'Critical']))
                      .optional()
                      .meta({ description: 'Recommendation severities.', examples: [['High', 'Critical']] }),
                    recommendations: z
                      .array(z.string().min(1))
                      .optional()
                      .meta({
                        description: 'Assessment keys (GUIDs) or display names (case-insensitive).',
                        examples: [['4fb67663-9ab9-475d-b026-8c544cced439']],
                      }),
                    subscriptions: z
                      .array(z.string().min(1))
                      .optional()
                      .meta({
                        description: 'Subscription ids.',
                        examples: [['20ff7fc3-e762-44dd-bd96-b71116dcdc23']],
                      }),
                    resourceTypes: z
                      .array(z.string().min(1))
                      .optional()
                      .meta({
                        description:
                          'Azure resource types (case-insensitive); `subscription` for subscription-level recommendations.',
                        examples: [['Microsoft.Compute/virtualMachines']],
                      }),
                    categories: z
                      .array(z.string().min(1))
                      .optional()
                      .meta({
                        description: 'Recommendation categories (case-insensitive).',
                        examples: [['Compute', 'Data']],
                      }),
                  })
                  .default({})
                  .meta({
                    description: 'Conditions, all of which must hold; an absent condition matches anything.',
                  }),
                table: z
                  .enum(TICKET_TABLES)
                  .default(DEFAULT_TICKET_TABLE)
                  .meta({
                    description: 'The ticket table.',
                    examples: [DEFAULT_TICKET_TABLE],
                  }),
                assignmentGroup: z
                  .string()
                  .min(1)
                  .optional()
                  .meta({
                    description: 'sys_user_group name for assignment_group.',
                    examples: ['Cloud Security'],
                  }),
                caller: z
                  .string()
                  .min(1)
                  .optional()
                  .meta({
                    description: 'Email of the incident caller (caller_id).',
                    examples: ['secops@contoso.com'],
                  }),
                owner: z
                  .discriminatedUnion('type', [
                    z
                      .strictObject({
                        type: z.literal('tag'),
                        value: z
                          .string()
                          .min(1)
                          .meta({ description: 'Tag key.', examples: ['owner'] }),
                      })
                      .meta({
                        description:
                          "The owner's email is the value of this tag on the resource (Defender's ByTag).",
                      }),
                    z
                      .strictObject({
                        type: z.literal('email'),
                        value: z
                          .string()
                          .min(3)
                          .meta({ description: 'Email.', examples: ['secops@contoso.com'] }),
                      })
                      .meta({ description: "A fixed owner email (Defender's Manually)." }),
                  ])
                  .optional()
                  .meta({
                    description:
                      'Owner of the governance assignment, and assigned_to when it resolves to one user.',
                  }),
                dueDays: z
                  .number()
                  .int()
                  .min(0)
                  .max(3650)
                  .default(30)
                  .meta({
                    description: 'remediationDueDate is the ticket creation plus this many days.',
                    examples: [14],
                  }),
                gracePeriod: z
                  .boolean()
                  .default(false)
                  .meta({
                    description:
                      'isGracePeriod of the governance assignments (secure score unaffected until due).',
                    examples: [true],
                  }),
                grouping: z
                  .enum(['none', 'recommendation', 'resource', 'owner'])
                  .default('none')
                  .meta({
                    description:
                      'none = one ticket per assessment; recommendation = one per recommendation per subscription; resource = one per resource; owner = one per owner per subscription.',
                    examples: ['recommendation'],
                  }),
              })
              .meta({
                description:
                  'A ticket rule: the first rule whose conditions match an Unhealthy assessment decides.',
              }),
          )
          .default([])
          .meta({
            description: 'Ticket rules, first match wins; an assessment no rule matches gets no ticket.',
          }),
        governanceRules: z
          .strictObject({
            adopt: z
              .boolean()
              .default(false)
              .meta({
                description:
                  'Also apply the enabled Defender governance rules of ruleType ServiceNow found at the read scopes (after the rules above, by rulePriority), so Snowline opens the tickets Defender would.',
                examples: [true],
              }),
            table: z
              .enum(TICKET_TABLES)
              .default(DEFAULT_TICKET_TABLE)
              .meta({
                description:
                  'Ticket table of adopted governance rules: their ticket type has no public schema (docs/cloud-tickets.md).',
                examples: [DEFAULT_TICKET_TABLE],
              }),
          })
          .default({ adopt: false, table: DEFAULT_TICKET_TABLE })
          .meta({ description: 'Adopting Defender governance rules of ruleType ServiceNow.' }),
        impactUrgency: z
          .strictObject({
            Critical: z.strictObject({
              impact: z.number().int().min(1).max(3),
              urgency: z.number().int().min(1).max(3),
            }),
            High: z.strictObject({
              impact: z.number().int().min(1).max(3),
              urgency: z.number().int().min(1).max(3),
            }),
            Medium: z.strictObject({
              impact: z.number().int().min(1).max(3),
              urgency: z.number().int().min(1).max(3),
            }),
            Low: z.strictObject({
              impact: z.number().int().min(1).max(3),
              urgency: z.number().int().min(1).max(3),
            }),
          })
          .default({
            Critical: { impact: 1, urgency: 1 },
            High: { impact: 1, urgency: 2 },
            Medium: { impact: 2, urgency: 2 },
            Low: { impact: 3, urgency: 3 },
          })
          .meta({
            description:
              'Severity → ticket impact and urgency (1 High … 3 Low); the instance derives priority.',
          }),
        close: z
          .strictObject({
            incidentCloseCode: z
              .string()
              .min(1)
              .default('Solution provided')
              .meta({
                description:
                  'Incident close_code when Snowline resolves it (state 6); must be a choice of the instance.',
                examples: ['Solution provided'],
              }),
            problemResolutionCode: z
              .enum(['fix_applied', 'risk_accepted', 'canceled'])
              .default('fix_applied')
              .meta({
                description: 'Problem resolution_code when Snowline resolves it (state 106).',
                examples: ['fix_applied'],
              }),
            notes: z
              .string()
              .min(1)
              .default(
                'Defender for Cloud reports every resource of this ticket Healthy or Not applicable; resolved by Snowline.',
              )
              .meta({
                description:
                  'close_notes (and problem cause/fix notes) written when Snowline resolves a ticket.',
              }),
          })
          .default({
            incidentCloseCode: 'Solution provided',
            problemResolutionCode: 'fix_applied',
            notes:
              'Defender for Cloud reports every resource of this ticket Healthy or Not applicable; resolved by Snowline.',
          })
          .meta({
            description:
              'How tickets are closed when their assessments are Healthy (change requests are Canceled with the notes).',
          }),
        reopen: z
          .enum(['reopen', 'new'])
          .default('reopen')
          .meta({
            description:
              'When an assessment of a ticket Snowline resolved turns Unhealthy again: reopen = move a Resolved incident back to In Progress and a Resolved problem back to Root Cause Analysis (a new ticket when it can not be reopened); new = always a new ticket.',
            examples: ['reopen'],
          }),
        coolOffDays: z
          .number()
          .min(0)
          .default(30)
          .meta({
            description:
              'A ticket a person closed while its assessments were Unhealthy suppresses a new one until an assessment turns Healthy and Unhealthy again, or this many days pass.',
            examples: [30],
          }),
        directoryCacheMinutes: z
          .number()
          .min(0)
          .default(60)
          .meta({
            description: 'How long user and group look-ups (email → sys_user) are cached.',
            examples: [60],
          }),
        batchSize: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(50)
          .meta({
            description:
              "New tickets created per Batch API call (each still carries its correlation_id); keep a call well under the instance's 30 s batch timeout.",
            examples: [50],
          }),
      })
      .optional()
      .meta({
        description:
          'Flow cloud-tickets: Unhealthy Defender for Cloud recommendations → incident / problem / change_request, linked to governance assignments.',
      }),
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
      })
      .default({ url: './.snowline/snowline.sqlite', commitBatch: { records: 500, intervalMs: 1000 } }),
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
