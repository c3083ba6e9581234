import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { validateConfig, type LoadedConfig } from '../config/load.js';
import type { SandboxReady } from './sandbox-process.js';
import { DEFAULT_TICKET_TABLE } from '../domain/tickets/tables.js';

/** Options for {@link sandboxConfig}. */
export interface SandboxConfigOptions {
  readonly storeUrl: string;
  /** API token for `snowline serve`; a random one when omitted. */
  readonly apiToken?: string;
  readonly integrationId?: string;
  /** Secret of the ServiceNow webhook (flows.ticketSync.webhook.secret); a random one when omitted. */
  readonly webhookSecret?: string;
  /**
   * Also configure the sandbox's management console (`defender.console`), for those who still
   * run one and for tests of that source. Off by default: Microsoft retired it on 2025-01-01.
   */
  readonly withConsole?: boolean;
}

/**
 * A Snowline configuration pointing at running sandboxes: the ServiceNow sandbox through OAuth
 * client credentials, the Defender sandbox with its ARM token and every sensor (the retired
 * management console only when asked), all over TLS with the sandbox CA trusted. Validated before it is returned, so a
 * written file always loads.
 */
export function sandboxConfig(
  ready: SandboxReady,
  options: SandboxConfigOptions,
): { text: string; loaded: LoadedConfig } {
  const tls = ready.caFile ? { caFile: ready.caFile } : {};
  const config = {
    store: { url: options.storeUrl },
    log: { level: 'info' },
    api: {
      host: '127.0.0.1',
      port: 8420,
      tokens: [options.apiToken ?? randomBytes(24).toString('base64url')],
    },
    integrations: [
      {
        id: options.integrationId ?? 'sandbox',
        name: 'Local sandboxes',
        servicenow: {
          instanceUrl: ready.servicenow.url,
          auth: {
            type: 'oauth',
            grant: 'client_credentials',
            clientId: ready.servicenow.clientId,
            clientSecret: ready.servicenow.clientSecret,
          },
          tls,
        },
        defender: {
          tenantId: ready.defender.tenantId,
          armUrl: ready.defender.url,
          authorityHost: ready.defender.url,
          auth: { type: 'token', token: ready.defender.token },
          subscriptions: ready.defender.subscriptions,
          sensors: ready.defender.sensors.map((s) => ({
            name: s.name,
            url: s.url,
            token: s.token,
            ...(s.site ? { site: s.site } : {}),
            ...(s.zone ? { zone: s.zone } : {}),
            ...(s.purdueLevel !== undefined ? { purdueLevel: s.purdueLevel } : {}),
          })),
          // No management console unless asked: Microsoft retired it on 2025-01-01 (config/warnings.ts).
          ...(options.withConsole
            ? { console: { url: ready.defender.console.url, token: ready.defender.console.token } }
            : {}),
          tls,
        },
        flows: {
          // The sensors carry the connections Resource Graph lacks; the sandbox has no admin to
          // validate sensors in ServiceNow, so connected, non-learning ones feed.
          otInventory: { source: 'sensor', sensorValidation: 'auto' },
          // CVEs from Resource Graph, as ServiceNow's own VR integration reads them; each device is
          // recognised among the sensors' by sensor and MAC (domain/ot/identity.ts).
          otVulnerabilities: { source: 'resourceGraph' },
          // High and Critical recommendations become incidents, one per recommendation and
          // subscription, owned by whoever the resource's `owner` tag names.
          cloudTickets: {
            rules: [
              {
                name: 'high-critical',
                when: { severities: ['High', 'Critical'] },
                table: DEFAULT_TICKET_TABLE,
                grouping: 'recommendation',
                owner: { type: 'tag', value: 'owner' },
              },
            ],
          },
          // Tickets closed or reassigned in ServiceNow reach Defender on the next poll, or at once
          // through the webhook of `snowline serve` (the sandbox sends it once registered).
          ticketSync: { webhook: { secret: options.webhookSecret ?? randomBytes(32).toString('base64url') } },
          // OT alerts of the cloud-connected sensors from Resource Graph, a burst of one type on one
          // device as one incident; resolving it closes its alerts in Defender through ARM (learns
          // them when the close code is "Known error"); the device is recognised among the sensors'.
          otAlerts: {
            source: 'resourceGraph',
            lookbackDays: 30,
            rules: [{ name: 'ot-alerts', table: DEFAULT_TICKET_TABLE, grouping: 'device+alertType' }],
            closeActions: { default: 'close', byCloseCode: { 'Known error': 'learn' } },
          },
        },
      },
    ],
  };
  const header =
    '# Written by `snowline sandbox --write-config` for the local sandboxes. Not for production.\n';
  return {
    text: header + stringify(config, { lineWidth: 0 }),
    loaded: validateConfig(config, 'sandbox configuration'),
  };
}
