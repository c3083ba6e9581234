import { flowTestIntegration } from '../support/config.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/index.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { DefenderCloseAction, OtAlert } from '../../src/domain/ot-alerts/alerts.js';
import type { OtDevice, OtSensor } from '../../src/domain/ot/records.js';
import { InputError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { createHttpTransport } from '../../src/runtime/http/transport.js';
import type { ServiceNowClient } from '../../src/servicenow/client.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { stringValue, type SnRecord } from '../../src/servicenow/values.js';
import { getEntityStates } from '../../src/store/models/entity-state.js';
import { startRun } from '../../src/store/models/runs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { otAlertsFlow } from '../../src/sync/ot-alerts/flow.js';
import type { AlertSource, SourcedAlert } from '../../src/sync/ot-alerts/sources.js';
import { otInventoryFlow } from '../../src/sync/ot-inventory/flow.js';
import type { OtInventorySource } from '../../src/sync/ot-inventory/source.js';

/**
 * ot-alerts against the ServiceNow sandbox: device CIs come from a real ot-inventory run, alerts
 * from an in-memory Defender source that records what it was asked to close (the two-sandbox test
 * is test/integration/ot-alerts-sandboxes.test.ts).
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-ota-'));
const start = new Date('2026-11-01T00:00:00Z');
const clock = new ManualClock(start);
let sandbox: ServiceNowSandbox;
let store: Store;
let control: Agent;
let client: ServiceNowClient;
const opened: (() => Promise<void>)[] = [];

const sensors: OtSensor[] = [
  { key: 'line-1', name: 'line-1', site: 'Rotterdam', zone: 'Line 1', connected: true, learningMode: false },
];
const device = (n: number): OtDevice => ({
  key: `line-1/${n}`,
  name: `plc-${n}`,
  deviceType: 'PLC',
  vendor: 'Acme',
  serialNumber: `SN-${n}`,
  nics: [{ mac: `02:00:00:00:00:0${n}`, ip: `10.1.0.${n}` }],
  modules: [],
  protocols: ['Modbus'],
  sensorKeys: ['line-1'],
});
const inventorySource: OtInventorySource = {
  kind: 'sensor',
  hasConnections: false,
  incremental: false,
  sites: async () => ({ items: [{ key: 'Rotterdam', name: 'Rotterdam' }], problems: [] }),
  sensors: async () => ({ items: sensors, problems: [] }),
  async *devices() {
    yield { items: [1, 2].map(device), problems: [] };
  },
};

/** What Defender holds in this test: alerts by key, and what Snowline closed. */
const defender = new Map<string, OtAlert>();
const closes: { key: string; action: DefenderCloseAction }[] = [];
let malformed = false;

function raise(id: number, deviceId: number, minutesAfterStart: number, over: Partial<OtAlert> = {}): void {
  defender.set(`line-1/${id}`, {
    key: `line-1/${id}`,
    source: 'sensor',
    title: 'Unauthorized PLC Programming',
    severity: 'Major',
    engine: 'Policy Violation',
    alertType: 'Unauthorized PLC Programming',
    raisedAt: new Date(start.getTime() + minutesAfterStart * 60_000).toISOString(),
    open: true,
    sensor: 'line-1',
    site: 'Rotterdam',
    zone: 'Line 1',
    protocol: 'Modbus',
    sourceAddress: `10.1.0.${deviceId}`,
    destinationAddress: '10.1.0.200',
    sourceDeviceId: String(deviceId),
    remediationSteps: ['Check who programmed the PLC'],
    ...over,
  });
}

const sourced = (a: OtAlert): SourcedAlert => ({
  alert: a,
  deviceKey: `line-1/${a.sourceDeviceId}`,
  writeRef: a.key,
});

/** An in-memory source with a documented write (as Resource Graph + ARM or the console have). */
function memorySource(writable = true): AlertSource {
  return {
    kind: 'sensor',
    async *newAlerts(since) {
      yield {
        items: [...defender.values()]
          .filter((a) => a.open && Date.parse(a.raisedAt) >= since.getTime())
          .map(sourced),
        problems: malformed
          ? [
              {
                source: 'memory alerts',
                index: 9,
                key: 'line-1/999',
                error: new InputError('time is not a time'),
              },
            ]
          : [],
      };
    },
    async current(keys) {
      return new Map(
        [...keys.keys()].filter((k) => defender.has(k)).map((k) => [k, sourced(defender.get(k)!)]),
      );
    },
    ...(writable
      ? {
          close: async (writeRef: string, action: DefenderCloseAction) => {
            const a = defender.get(writeRef)!;
            if (!a.open) return 'alreadyClosed' as const;
            defender.set(writeRef, { ...a, open: false });
            closes.push({ key: writeRef, action });
            return 'closed' as const;
          },
        }
      : {}),
    describeClose: (action) => (action === 'learn' ? 'learn' : 'close'),
  };
}

const integration = (flows: Record<string, unknown>, url = 'https://x.service-now.com', caFile?: string) =>
  flowTestIntegration(flows, {
    url,
    ...(caFile ? { caFile } : {}),
    ...(sandbox ? { credentials: sandbox.credentials } : {}),
  });

const alertsConfig = {
  source: 'sensor',
  rules: [
    { name: 'quiet', when: { severities: ['Warning'] }, ticket: false },
    { name: 'malware', when: { engines: ['Malware'] }, table: 'sn_si_incident', grouping: 'device' },
    {
      name: 'protocol',
      when: { engines: ['Protocol Violation'] },
      table: 'sn_ot_incident',
      grouping: 'device',
    },
    { name: 'ot', grouping: 'device+alertType', windowMinutes: 60 },
  ],
  reopenAfterMinutes: 30,
  closeActions: { default: 'close', byCloseCode: { 'Known error': 'learn' } },
};

beforeAll(async () => {
  sandbox = await startServiceNowSandbox({ tls: await generateSandboxTls(), now: start });
  control = new Agent({ connect: { ca: readFileSync(sandbox.caFile!) } });
  store = await openStore(join(dir, 'ota.sqlite'));
  await store.migrate();
  client = connect(new RequestCounters()).client;
  const counters = new RequestCounters();
  const { summary } = await otInventoryFlow.execute(
    {
      integrationId: 'plant-a',
      config: integration({
        otInventory: { source: 'sensor', sensorValidation: 'auto', retireAfterDays: 30, connections: false },
      }).flows.otInventory!,
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      counters,
      runId: null,
      dryRun: false,
    },
    { source: inventorySource, servicenow: connect(counters).client },
  );
  expect(summary.errors).toBe(0);
});
afterAll(async () => {
  await Promise.all(opened.map((close) => close()));
  await store?.close();
  await control?.close();
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

function connect(counters: RequestCounters) {
  const config = integration({}, sandbox.url, sandbox.caFile!).servicenow;
  const connection = connectServiceNow(config, {
    clock,
    counters,
    transport: createHttpTransport({ caFile: config.tls.caFile }),
  });
  opened.push(connection.close);
  return connection;
}

async function writes(): Promise<number> {
  const response = await request(`${sandbox.url}/_sandbox/stats`, { dispatcher: control });
  return ((await response.body.json()) as { writes: number }).writes;
}

async function sync(options: { dryRun?: boolean; writable?: boolean } = {}) {
  const counters = new RequestCounters();
  const runId = await startRun(store.db, clock, {
    integrationId: 'plant-a',
    trigger: 'cli',
    dryRun: options.dryRun ?? false,
  });
  const result = await otAlertsFlow.execute(
    {
      integrationId: 'plant-a',
      config: integration({ otInventory: { source: 'sensor' }, otAlerts: alertsConfig }).flows.otAlerts!,
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      counters,
      runId,
      dryRun: options.dryRun ?? false,
    },
    {
      source: memorySource(options.writable ?? true),
      servicenow: connect(counters).client,
      inventorySource: 'sensor',
    },
  );
  const events = await store.db
    .selectFrom('ledger_event')
    .select(['action', 'entity', 'entity_key', 'reason', 'side'])
    .where('run_id', '=', runId)
    .orderBy('id')
    .execute();
  return { ...result, counters, events };
}

async function tickets(): Promise<SnRecord[]> {
  return client.listAll('incident', {
    query: encodeQuery({
      where: [where('correlation_id', 'STARTSWITH', 'snowline:plant-a:oa:')],
      orderBy: ['number'],
    }),
    fields: [
      'sys_id',
      'number',
      'state',
      'cmdb_ci',
      'short_description',
      'description',
      'impact',
      'urgency',
      'correlation_id',
      'work_notes',
    ],
  });
}

async function ciOf(deviceKey: string): Promise<string> {
  const states = await getEntityStates(
    store.db,
    { integrationId: 'plant-a', flow: 'ot-inventory', entity: 'device' },
    [deviceKey],
  );
  return states.get(deviceKey)!.remote_sys_id!;
}

describe('flow ot-alerts against the ServiceNow sandbox', () => {
  it('plans with reasons in a dry run and writes nothing', async () => {
    for (let n = 1; n <= 5; n++) raise(n, 1, n); // a burst of one type on plc-1
    raise(6, 2, 3); // the same type on plc-2
    raise(7, 1, 4, {
      severity: 'Warning',
      title: 'Device is suspected to be disconnected',
      alertType: 'Device is suspected to be disconnected',
    });
    malformed = true;
    const before = await writes();
    const { summary, plan } = await sync({ dryRun: true });
    expect(await writes()).toBe(before);
    const creates = plan.filter((a) => a.entity === 'ticket' && a.action === 'create');
    expect(creates).toHaveLength(2);
    expect(creates[0]!.reason).toMatch(
      /alert\(s\) covered by rule ot \(grouped by device\+alertType\): first alert\(s\) of the group/,
    );
    expect(plan.find((a) => a.entity === 'alert' && a.action === 'skip')?.reason).toContain(
      'rule quiet opens no ticket',
    );
    expect(plan.find((a) => a.action === 'error')?.reason).toContain(
      'malformed alert record, skipped: time is not a time',
    );
    expect(summary).toMatchObject({ created: 2, errors: 1, alerts: 7, silenced: 1, problems: 1 });
  });

  it('opens one ticket per device and type for a burst, linked to the CI, and a re-run writes nothing', async () => {
    malformed = false;
    const { summary } = await sync();
    expect(summary).toMatchObject({ created: 2, errors: 0, alerts: 7, silenced: 1 });
    const rows = await tickets();
    expect(rows).toHaveLength(2);
    const plc1 = rows.find((r) => stringValue(r.short_description)?.includes('plc-1'))!;
    expect(stringValue(plc1.short_description)).toBe(
      '[Defender for IoT] Major: Unauthorized PLC Programming ×5 (plc-1)',
    );
    expect(stringValue(plc1.cmdb_ci)).toBe(await ciOf('line-1/1'));
    expect(stringValue(plc1.description)).toContain('Protocol: Modbus');
    expect(stringValue(plc1.description)).toContain('1. Check who programmed the PLC');
    expect([stringValue(plc1.impact), stringValue(plc1.urgency)]).toEqual(['2', '2']);

    const before = await writes();
    const again = await sync();
    expect(await writes()).toBe(before);
    expect(again.summary).toMatchObject({ created: 0, updated: 0, resolved: 0, errors: 0, alerts: 0 });
    expect(again.events.filter((e) => e.action !== 'skip')).toEqual([]);
  });

  it('adds a later alert of the burst as a work note, and one after the window as a new ticket', async () => {
    raise(8, 1, 30);
    const joined = await sync();
    expect(joined.summary).toMatchObject({ created: 0, updated: 1, joined: 1 });
    expect(joined.events.find((e) => e.action === 'update')?.reason).toMatch(
      /1 new alert\(s\): INC\d+ is open and its last alert is 25 min earlier \(window 60 min\)/,
    );
    raise(9, 1, 200);
    const next = await sync();
    expect(next.summary).toMatchObject({ created: 1 });
    expect(next.events.find((e) => e.action === 'create')?.reason).toContain('past the 60 min window');
    expect(await tickets()).toHaveLength(3);
  });

  it('closes the alerts of a ticket resolved in ServiceNow in Defender, by close code, once', async () => {
    const plc2 = (await tickets()).find((r) => stringValue(r.short_description)?.includes('plc-2'))!;
    await client.update('incident', plc2.sys_id, {
      state: '6',
      close_code: 'Known error',
      close_notes: 'fixed',
    });
    const { summary, events } = await sync();
    expect(closes).toEqual([{ key: 'line-1/6', action: 'learn' }]);
    expect(summary).toMatchObject({ closedInDefender: 1, errors: 0 });
    expect(events.find((e) => e.entity === 'alert' && e.action === 'resolve')).toMatchObject({
      side: 'defender',
      reason: expect.stringContaining('(close code Known error): learn'),
    });
    const again = await sync();
    expect(closes).toHaveLength(1);
    expect(again.summary).toMatchObject({ closedInDefender: 0, updated: 0 });
  });

  it('notes alerts closed in Defender first and resolves the ticket when all are', async () => {
    const burst = (await tickets()).find((r) => stringValue(r.short_description)?.includes('×5'))!;
    for (const n of [1, 2, 3]) defender.set(`line-1/${n}`, { ...defender.get(`line-1/${n}`)!, open: false });
    const noted = await sync();
    expect(noted.summary).toMatchObject({ updated: 1, resolved: 0, closedFirstInDefender: 3 });
    for (const n of [4, 5, 8]) defender.set(`line-1/${n}`, { ...defender.get(`line-1/${n}`)!, open: false });
    const resolved = await sync();
    expect(resolved.summary).toMatchObject({ resolved: 1, closedFirstInDefender: 3 });
    const after = await client.get('incident', burst.sys_id, ['state', 'close_code']);
    expect(stringValue(after!.state)).toBe('6');
    expect(closes).toHaveLength(1); // Snowline's own resolve is no reason to write to Defender (no echo)
    const again = await sync();
    expect(again.summary).toMatchObject({ resolved: 0, updated: 0, closedInDefender: 0 });
  });

  it('holds a new alert within reopenAfterMinutes of the close, then opens the next ticket', async () => {
    const third = (await tickets()).find((r) => stringValue(r.state) === '1')!;
    clock.set(new Date(start.getTime() + 205 * 60_000));
    await client.update('incident', third.sys_id, {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'done',
    });
    expect((await sync()).summary).toMatchObject({ closedInDefender: 1 });
    raise(10, 1, 215);
    const held = await sync();
    expect(held.summary).toMatchObject({ held: 1, created: 0 });
    expect(held.events.find((e) => e.action === 'update')?.reason).toMatch(
      /INC\d+ was closed 10 min before this alert \(reopenAfterMinutes 30\): noted on it, no new ticket/,
    );
    raise(11, 1, 240);
    const next = await sync();
    expect(next.summary).toMatchObject({ created: 1, held: 0 });
    expect(next.events.find((e) => e.action === 'create')?.reason).toContain(
      'was closed 35 min before this alert',
    );
  });

  it('with a read-only source, records that the alerts stay open in Defender', async () => {
    const fourth = (await tickets()).find((r) => stringValue(r.state) === '1')!;
    await client.update('incident', fourth.sys_id, {
      state: '7',
      close_code: 'Solution provided',
      close_notes: 'done',
    });
    const { summary, events } = await sync({ writable: false });
    expect(summary).toMatchObject({ keptOpenInDefender: 1, closedInDefender: 0 });
    expect(events.find((e) => e.entity === 'alert')?.reason).toMatch(
      /stays open in Defender: the sensor source has no documented alert write/,
    );
    expect(defender.get('line-1/11')!.open).toBe(true);
  });
  it('opens OT and security incidents by rule and resolves each per its table when Defender closed their alerts', async () => {
    clock.set(new Date(start.getTime() + 410 * 60_000));
    raise(20, 2, 400, {
      engine: 'Malware',
      title: 'Malware detected',
      alertType: 'Malware detected',
      severity: 'Critical',
    });
    raise(21, 1, 400, {
      engine: 'Protocol Violation',
      title: 'Illegal Modbus Operation',
      alertType: 'Illegal Modbus Operation',
    });
    const opened = await sync();
    expect(opened.summary).toMatchObject({ created: 2, errors: 0 });
    const sir = await client.listAll('sn_si_incident', {
      query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', 'snowline:plant-a:oa:')] }),
      fields: ['sys_id', 'number', 'state', 'cmdb_ci', 'impact'],
    });
    const otinc = await client.listAll('sn_ot_incident', {
      query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', 'snowline:plant-a:oa:')] }),
      fields: ['sys_id', 'number', 'state', 'cmdb_ci'],
    });
    expect(sir.map((r) => stringValue(r.number))).toEqual([expect.stringMatching(/^SIR/)]);
    expect(otinc.map((r) => stringValue(r.number))).toEqual([expect.stringMatching(/^OTINC/)]);
    expect(stringValue(sir[0]!.cmdb_ci)).toBe(await ciOf('line-1/2'));
    expect(stringValue(sir[0]!.impact)).toBe('1');
    for (const n of [20, 21]) defender.set(`line-1/${n}`, { ...defender.get(`line-1/${n}`)!, open: false });
    const resolved = await sync();
    expect(resolved.summary).toMatchObject({ resolved: 2, errors: 0 });
    expect(stringValue((await client.get('sn_si_incident', sir[0]!.sys_id, ['state']))!.state)).toBe('3');
    expect(stringValue((await client.get('sn_ot_incident', otinc[0]!.sys_id, ['state']))!.state)).toBe('6');
  });
});
