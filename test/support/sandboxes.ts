import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { NetworkLatency } from '../../sandbox/common/serve.js';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { generateEstate, type Estate, type EstateOptions } from '../../sandbox/dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from '../../sandbox/defender/index.js';
import { sandboxReadyLine } from '../../sandbox/ready.js';
import { preloadDiscovered } from '../../sandbox/discovered.js';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/index.js';
import { validateConfig, type LoadedConfig } from '../../src/config/load.js';
import { sandboxConfig } from '../../src/cli/sandbox-config.js';
import type { SandboxReady } from '../../src/cli/sandbox-process.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';

/** Both sandboxes started in this process over TLS, with the estate they serve. */
export interface Sandboxes {
  readonly estate: Estate;
  readonly servicenow: ServiceNowSandbox;
  readonly defender: DefenderSandbox;
  /** The ready line `snowline sandbox` would print for them. */
  readonly ready: SandboxReady;
  /** A validated Snowline configuration pointing at them, as `--write-config` writes it, with the flows changed. */
  config(storeUrl: string, flows?: Record<string, unknown>): LoadedConfig;
  /** Calls a `/_sandbox` control operation of one sandbox. */
  control(side: 'servicenow' | 'defender', method: string, path: string, body?: unknown): Promise<any>;
  close(): Promise<void>;
}

/**
 * Starts both sandboxes on loopback with one CA, the ServiceNow side seeded with the estate's
 * users. `discovered: true` also pre-loads devices as ServiceNow Discovery's (`ready.discovered`),
 * as `snowline sandbox` and the demo do; off by default so tests count only what Snowline writes.
 */
export async function startSandboxes(
  options: EstateOptions & { now?: Date; discovered?: boolean; latency?: NetworkLatency } = {},
): Promise<Sandboxes> {
  const estate = generateEstate(options);
  const tls = await generateSandboxTls();
  const latency = options.latency ? { latency: options.latency } : {};
  const servicenow = await startServiceNowSandbox({
    tls,
    seed: estate.servicenow,
    ...(options.now ? { now: options.now } : {}),
    ...latency,
  });
  const defender = await startDefenderSandbox({
    tls,
    estate,
    ...(options.now ? { now: options.now } : {}),
    ...latency,
  });
  const agent = new Agent({ connect: { ca: readFileSync(tls.caFile) } });
  const discovered = options.discovered ? preloadDiscovered(servicenow, estate) : [];
  const ready = sandboxReadyLine(servicenow, defender, estate, tls.caFile, discovered) as SandboxReady;
  return {
    estate,
    servicenow,
    defender,
    ready,
    config(storeUrl, flows) {
      const { loaded } = sandboxConfig(ready, { storeUrl, integrationId: 'sandbox', withConsole: true });
      if (!flows) return loaded;
      const raw = structuredClone(loaded.config) as any;
      raw.integrations[0].flows = flows;
      return validateConfig(raw, 'sandbox test configuration');
    },
    async control(side, method, path, body) {
      const base = side === 'servicenow' ? servicenow.url : defender.url;
      const response = await request(`${base}${path}`, {
        method: method as 'GET',
        dispatcher: agent,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await response.body.text();
      if (response.statusCode >= 400) throw new Error(`${method} ${path} → ${response.statusCode}: ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    async close() {
      await agent.close();
      await Promise.all([servicenow.close(), defender.close()]);
    },
  };
}

/** Write requests each sandbox has answered or held so far. */
export async function writeCounts(sandboxes: Sandboxes): Promise<{ servicenow: number; defender: number }> {
  const [servicenow, defender] = await Promise.all([
    sandboxes.control('servicenow', 'GET', '/_sandbox/stats'),
    sandboxes.control('defender', 'GET', '/_sandbox/stats'),
  ]);
  return { servicenow: servicenow.writes, defender: defender.writes };
}

/** A person the ServiceNow sandbox creates: a local user who signs in with basic auth, as in the UI. */
export interface SandboxPerson {
  readonly user_name: string;
  readonly password: string;
  readonly roles: readonly string[];
  readonly email?: string;
}

/**
 * Creates `person` in the ServiceNow sandbox and signs in as them against the instance
 * `servicenow` (a configuration's `servicenow` section): a person's changes are then theirs, not
 * the integration user's, which is what echo and conflict checks rely on. Close the connection
 * when done.
 */
export async function signInPerson(
  sandboxes: Sandboxes,
  servicenow: LoadedConfig['config']['integrations'][number]['servicenow'],
  person: SandboxPerson,
): Promise<ServiceNowConnection> {
  await sandboxes.control('servicenow', 'POST', '/_sandbox/users', person);
  return connectServiceNow(
    { ...servicenow, auth: { type: 'basic', username: person.user_name, password: person.password } },
    { clock: systemClock, counters: new RequestCounters() },
  );
}

/** A ticket and governance assignment as Defender for Cloud's own ServiceNow integration leaves them. */
export interface DefenderIntegrationTicket {
  readonly table: 'incident' | 'problem' | 'change_request';
  readonly sysId: string;
  readonly number: string;
  readonly assignmentKey: string;
}

/**
 * Makes what Defender for Cloud's own ServiceNow integration makes for one assessment (Assign
 * owner → Type ServiceNow; azure-docs `articles/defender-for-cloud/create-ticket-servicenow.md`):
 * a ticket in the ServiceNow sandbox without Snowline's correlation id, and a governance
 * assignment in the Defender sandbox under a key of its own, with owner, due date and
 * `additionalData.{ticketNumber, ticketLink, ticketStatus}`. `ticketLink` defaults to the bare
 * instance URL, the form of the spec's example (`https://snow.com`), so the ticket must be found
 * by its number.
 */
export async function seedDefenderIntegrationTicket(
  sandboxes: Sandboxes,
  reader: ServiceNowConnection,
  assessmentId: string,
  options: { table?: DefenderIntegrationTicket['table']; ticketLink?: string; owner?: string } = {},
): Promise<DefenderIntegrationTicket> {
  const table = options.table ?? 'incident';
  const seeded = await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
    [table]: [
      { short_description: `Defender for Cloud recommendation on ${assessmentId.split('/').at(-1)}` },
    ],
  });
  const sysId = seeded.result[table][0] as string;
  const record = await reader.client.get(table, sysId, ['number']);
  const number = String(record?.number ?? '');
  const assignment = await sandboxes.control(
    'defender',
    'POST',
    '/_sandbox/servicenow-integration/assignments',
    {
      assessmentId,
      properties: {
        owner: options.owner ?? 'ana@contoso.com',
        remediationDueDate: '2030-01-31T00:00:00Z',
        isGracePeriod: true,
        additionalData: {
          ticketNumber: Number(number.replace(/\D/g, '')),
          ticketLink: options.ticketLink ?? sandboxes.servicenow.url,
          ticketStatus: 'New',
        },
      },
    },
  );
  return { table, sysId, number, assignmentKey: assignment.name as string };
}
