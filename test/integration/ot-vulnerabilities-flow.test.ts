import { flowTestIntegration } from '../support/config.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/index.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { OtDevice, OtSensor } from '../../src/domain/ot/records.js';
import { planActionKey } from '../../src/domain/plan.js';
import { days } from '../../src/domain/time.js';
import type { DeviceCves } from '../../src/domain/vulnerabilities/records.js';
import { InputError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { createHttpTransport } from '../../src/runtime/http/transport.js';
import type { ServiceNowClient } from '../../src/servicenow/client.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { referenceValue, stringValue, type SnRecord } from '../../src/servicenow/values.js';
import { getEntityStates } from '../../src/store/models/entity-state.js';
import { ledgerActionKeys } from '../../src/store/models/ledger.js';
import { startRun } from '../../src/store/models/runs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { otInventoryFlow } from '../../src/sync/ot-inventory/flow.js';
import type { OtInventorySource } from '../../src/sync/ot-inventory/source.js';
import { otVulnerabilitiesFlow } from '../../src/sync/ot-vulnerabilities/flow.js';
import type { VulnerabilitySource } from '../../src/sync/ot-vulnerabilities/source.js';

/**
 * ot-vulnerabilities against the ServiceNow sandbox: device CIs come from a real ot-inventory
 * run, CVEs from an in-memory Defender source; the sandbox rolls detections up into items.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-otv-'));
const start = new Date('2026-11-01T00:00:00Z');
const clock = new ManualClock(start);
let sandbox: ServiceNowSandbox;
let store: Store;
let control: Agent;
let client: ServiceNowClient;
const opened: (() => Promise<void>)[] = [];

const sensors: OtSensor[] = [
  { key: 'line-1', name: 'line-1', site: 'Rotterdam', zone: 'Line 1', connected: true, learningMode: false },
  // Learning: its devices get no CI until it is out of learning mode.
  { key: 'line-2', name: 'line-2', site: 'Rotterdam', zone: 'Line 2', connected: true, learningMode: true },
];
const device = (n: number, sensor = 'line-1'): OtDevice => ({
  key: `dev-${n}`,
  name: `plc-${n}`,
  deviceType: 'PLC',
  vendor: 'Acme',
  serialNumber: `SN-${n}`,
  nics: [{ mac: `02:00:00:00:00:${String(n).padStart(2, '0')}`, ip: `10.1.0.${n}` }],
  modules: [],
  protocols: ['Modbus'],
  sensorKeys: [sensor],
});
let inventory: OtDevice[] = [1, 2, 3, 4].map((n) => device(n)).concat(device(5, 'line-2'));

const cve = (id: string, score: number) => ({
  id,
  score,
  description: `${id} in the Acme firmware`,
  attackVector: 'NETWORK',
});
const A = cve('CVE-2024-0001', 9.8);
const B = cve('CVE-2024-0002', 5.3);
const C = cve('CVE-2024-0003', 7.1);
const D = cve('CVE-2024-0004', 3.1);
let reported: DeviceCves[] = [
  { deviceKey: 'dev-1', cves: [A, B], ipAddress: '10.1.0.1' },
  { deviceKey: 'dev-2', cves: [A] },
  { deviceKey: 'dev-3', cves: [C] },
  { deviceKey: 'dev-4', cves: [] },
  { deviceKey: 'dev-5', cves: [D] },
];

/** A full-read source (like the sensor API), two pages, with one malformed record. */
const fullSource: VulnerabilitySource = {
  kind: 'sensor',
  incremental: false,
  async *deviceCves() {
    yield {
      items: reported.slice(0, 2),
      problems: [
        { source: 'memory cves', index: 2, key: 'dev-99', error: new InputError('cves is not an array') },
      ],
    };
    yield { items: reported.slice(2), problems: [] };
  },
};
/** An incremental source (like the console's devicecves) that has nothing new to say. */
const quietIncrementalSource: VulnerabilitySource = {
  kind: 'console',
  incremental: true,
  async *deviceCves() {
    yield { items: [], problems: [] };
  },
};

const inventorySource: OtInventorySource = {
  kind: 'sensor',
  hasConnections: false,
  incremental: false,
  sites: async () => ({ items: [{ key: 'Rotterdam', name: 'Rotterdam' }], problems: [] }),
  sensors: async () => ({ items: sensors, problems: [] }),
  async *devices() {
    yield { items: inventory, problems: [] };
  },
};

const integration = (flows: Record<string, unknown>, url = 'https://x.service-now.com', caFile?: string) =>
  flowTestIntegration(flows, {
    url,
    ...(caFile ? { caFile } : {}),
    ...(sandbox ? { credentials: sandbox.credentials } : {}),
  });

beforeAll(async () => {
  sandbox = await startServiceNowSandbox({ tls: await generateSandboxTls(), now: start });
  control = new Agent({ connect: { ca: readFileSync(sandbox.caFile!) } });
  store = await openStore(join(dir, 'otv.sqlite'));
  await store.migrate();
  client = connect(new RequestCounters()).client;
  await syncInventory();
});
afterAll(async () => {
  await Promise.all(opened.map((close) => close()));
  await store?.close();
  await control?.close();
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Batch calls and detection reads in flight: now, and the most at once. */
interface InFlight {
  now: { batch: number; detectionRead: number };
  most: { batch: number; detectionRead: number };
}

/**
 * A client of the sandbox; with `inFlight`, it counts the Batch calls and detection reads in flight. With `dies`, a request that gets no answer ends the run as a kill -9
 * would, there and then: the client does not see a lost connection it could recover from (it would
 * search for a Batch call's inserts and re-send the rest), so the next run has to.
 */
function connect(counters: RequestCounters, options: { dies?: boolean; inFlight?: InFlight } = {}) {
  const config = integration({}, sandbox.url, sandbox.caFile!).servicenow;
  const transport = createHttpTransport({ caFile: config.tls.caFile });
  const watched = options.inFlight;
  const connection = connectServiceNow(config, {
    clock,
    counters,
    transport: options.dies
      ? {
          send: (request) =>
            transport.send(request).catch(() => {
              throw new Error('the run was killed while its write was in flight');
            }),
          close: () => transport.close(),
        }
      : watched
        ? {
            send: async (request) => {
              const kind = request.url.includes('/api/now/v1/batch')
                ? 'batch'
                : request.url.includes('/api/now/table/sn_vul_detection')
                  ? 'detectionRead'
                  : undefined;
              if (!kind) return transport.send(request);
              watched.now[kind] += 1;
              watched.most[kind] = Math.max(watched.most[kind], watched.now[kind]);
              try {
                return await transport.send(request);
              } finally {
                watched.now[kind] -= 1;
              }
            },
            close: () => transport.close(),
          }
        : transport,
  });
  opened.push(connection.close);
  return connection;
}

async function sandboxCall(path: string, body?: unknown): Promise<unknown> {
  const response = await request(`${sandbox.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    dispatcher: control,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return response.body.json();
}

const writes = async () => ((await sandboxCall('/_sandbox/stats')) as { writes: number }).writes;

async function syncInventory(): Promise<void> {
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
}

async function sync(
  options: {
    dryRun?: boolean;
    source?: VulnerabilitySource;
    writeVulnerableItems?: boolean;
    detectionSource?: string;
    dies?: boolean;
    batchSize?: number;
    concurrency?: number;
    inFlight?: InFlight;
  } = {},
) {
  const counters = new RequestCounters();
  const runId = await startRun(store.db, clock, {
    integrationId: 'plant-a',
    trigger: 'cli',
    dryRun: options.dryRun ?? false,
  });
  const result = await otVulnerabilitiesFlow.execute(
    {
      integrationId: 'plant-a',
      config: integration({
        otInventory: { source: 'sensor' },
        otVulnerabilities: {
          source: 'sensor',
          batchSize: options.batchSize ?? 3,
          ...(options.concurrency ? { concurrency: options.concurrency } : {}),
          writeVulnerableItems: options.writeVulnerableItems ?? false,
          ...(options.detectionSource ? { detectionSource: options.detectionSource } : {}),
        },
      }).flows.otVulnerabilities!,
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      counters,
      runId,
      dryRun: options.dryRun ?? false,
    },
    {
      source: options.source ?? fullSource,
      servicenow: connect(counters, {
        dies: options.dies ?? false,
        ...(options.inFlight ? { inFlight: options.inFlight } : {}),
      }).client,
    },
  );
  return { ...result, runId, counters, decisions: await decisionsOf(runId) };
}

/** A real run's decisions as its ledger records them (a real run keeps no plan in memory). */
async function decisionsOf(runId: string) {
  const rows = await store.db
    .selectFrom('ledger_event')
    .select(['action', 'entity', 'entity_key', 'reason'])
    .where('run_id', '=', runId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ action: r.action, entity: r.entity, key: r.entity_key, reason: r.reason }));
}

/** The CI sys_id ot-inventory recorded for a device. */
async function ciOf(deviceKey: string): Promise<string> {
  const states = await getEntityStates(
    store.db,
    { integrationId: 'plant-a', flow: 'ot-inventory', entity: 'device' },
    [deviceKey],
  );
  return states.get(deviceKey)!.remote_sys_id!;
}

async function entrySysId(cveId: string): Promise<string> {
  const rows = await client.listAll('sn_vul_nvd_entry', {
    query: encodeQuery({ where: [where('id', '=', cveId)] }),
  });
  expect(rows).toHaveLength(1);
  return rows[0]!.sys_id;
}

async function detectionsOf(deviceKey: string, cveId: string): Promise<SnRecord[]> {
  return client.listAll('sn_vul_detection', {
    query: encodeQuery({
      where: [
        where('cmdb_ci', '=', await ciOf(deviceKey)),
        where('vulnerability', '=', await entrySysId(cveId)),
      ],
    }),
  });
}

async function itemOf(deviceKey: string, cveId: string): Promise<SnRecord> {
  const rows = await client.listAll('sn_vul_vulnerable_item', {
    query: encodeQuery({
      where: [
        where('cmdb_ci', '=', await ciOf(deviceKey)),
        where('vulnerability', '=', await entrySysId(cveId)),
      ],
    }),
  });
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** A choice value by label, as the instance defines it (the test hard-codes no code either). */
async function choice(table: string, element: string, label: string): Promise<string> {
  const rows = await client.listAll('sys_choice', {
    query: encodeQuery({ where: [where('name', '=', table), where('element', '=', element)] }),
  });
  return stringValue(rows.find((r) => r.label === label)?.value)!;
}

/** The (device, CVE) pairs that have an open detection, from ServiceNow. */
async function openPairs(): Promise<string[]> {
  const open = await choice('sn_vul_detection', 'status', 'Open');
  const ciToDevice = new Map<string, string>();
  for (let n = 1; n <= 50; n++) {
    const states = await getEntityStates(
      store.db,
      { integrationId: 'plant-a', flow: 'ot-inventory', entity: 'device' },
      [`dev-${n}`],
    );
    const ci = states.get(`dev-${n}`)?.remote_sys_id;
    if (ci) ciToDevice.set(ci, `dev-${n}`);
  }
  const entries = new Map(
    (await client.listAll('sn_vul_nvd_entry')).map((e) => [e.sys_id, stringValue(e.id)]),
  );
  const rows = await client.listAll('sn_vul_detection', {
    query: encodeQuery({ where: [where('status', '=', open)] }),
  });
  return rows
    .map(
      (r) => `${ciToDevice.get(referenceValue(r.cmdb_ci)!)}/${entries.get(referenceValue(r.vulnerability)!)}`,
    )
    .sort();
}

describe('ot-vulnerabilities flow against the ServiceNow sandbox', () => {
  it('writes NVD entries and one open detection per device-CVE pair; the platform rolls up one item each', async () => {
    const beforeDry = await writes();
    const dry = await sync({ dryRun: true });
    expect(await writes()).toBe(beforeDry);
    expect(dry.summary).toMatchObject({ created: 3 + 4, opened: 4 });

    const { summary, runId } = await sync();
    expect(summary).toMatchObject({
      outcome: 'ok',
      created: 3 + 4,
      opened: 4,
      closed: 0,
      pending: 1,
      problems: 1,
      errors: 1,
    });
    // The ledger of the real run is the dry run's plan.
    const planned = dry.plan.map(planActionKey).sort();
    expect((await ledgerActionKeys(store.db, 'plant-a', runId)).sort()).toEqual(planned);

    expect(await openPairs()).toEqual([
      'dev-1/CVE-2024-0001',
      'dev-1/CVE-2024-0002',
      'dev-2/CVE-2024-0001',
      'dev-3/CVE-2024-0003',
    ]);
    const [detection] = await detectionsOf('dev-1', 'CVE-2024-0001');
    expect(detection).toMatchObject({
      source: 'Snowline',
      times_found: '1',
      ip_address: '10.1.0.1',
      first_found: '2026-11-01 00:00:00',
      last_found: '2026-11-01 00:00:00',
    });
    expect(stringValue(detection!.detection_key)).toMatch(/^plant-a:[0-9a-f]{32}:CVE-2024-0001:/);
    expect((await client.listAll('sn_vul_nvd_entry', { query: 'id=CVE-2024-0001' }))[0]).toMatchObject({
      summary: 'CVE-2024-0001 in the Acme firmware',
      // As ServiceNow's Defender for IoT (Azure) VR integration maps it (support-for-msft-defender-iot-azure.md):
      // score → score, source NVD; severity the stored choice value ("1- Critical": create-severity-map.md).
      score: '9.8',
      severity: '1',
      source: 'NVD',
    });
    expect(await client.listAll('sn_vul_vulnerable_item')).toHaveLength(4);
    expect((await itemOf('dev-2', 'CVE-2024-0001')).state).toBe(
      await choice('sn_vul_vulnerable_item', 'state', 'Open'),
    );
    // dev-5 has no CI yet: its CVE waits, nothing is written for it.
    expect(await client.listAll('sn_vul_nvd_entry', { query: 'id=CVE-2024-0004' })).toEqual([]);
  });

  it('writes nothing on a second unchanged run (and reads only the choices)', async () => {
    const before = await writes();
    const { summary, counters } = await sync();
    expect(await writes()).toBe(before);
    expect(summary).toMatchObject({
      created: 0,
      updated: 0,
      closed: 0,
      reopened: 0,
      unchanged: 4,
      pending: 1,
    });
    expect(counters.snapshot()).toEqual({ 'servicenow GET 200': 1 });
  });

  it('closes exactly the removed CVE as Fixed after the next run, and reopens it when it comes back', async () => {
    reported = reported.map((d) => (d.deviceKey === 'dev-1' ? { ...d, cves: [A] } : d));
    const closed = await sync();
    expect(closed.summary).toMatchObject({ closed: 1, created: 0, updated: 0, reopened: 0 });
    const fixed = await itemOf('dev-1', 'CVE-2024-0002');
    expect(fixed).toMatchObject({
      state: await choice('sn_vul_vulnerable_item', 'state', 'Closed'),
      substate: await choice('sn_vul_vulnerable_item', 'substate', 'Fixed'),
    });
    expect(await openPairs()).toEqual(['dev-1/CVE-2024-0001', 'dev-2/CVE-2024-0001', 'dev-3/CVE-2024-0003']);

    reported = reported.map((d) => (d.deviceKey === 'dev-1' ? { ...d, cves: [A, B] } : d));
    const before = await writes();
    const back = await sync();
    expect(back.summary).toMatchObject({ reopened: 1, closed: 0, created: 0 });
    expect((await writes()) - before).toBe(1);
    const reopened = await itemOf('dev-1', 'CVE-2024-0002');
    expect(reopened).toMatchObject({
      state: await choice('sn_vul_vulnerable_item', 'state', 'Open'),
      reopen_count: '1',
    });
    expect(await detectionsOf('dev-1', 'CVE-2024-0002')).toHaveLength(1);
    expect((await detectionsOf('dev-1', 'CVE-2024-0002'))[0]!.times_found).toBe('2');
  });

  it('does not close CVEs missing from a list that may be truncated, and says so', async () => {
    const full = reported;
    reported = reported.map((d) => (d.deviceKey === 'dev-1' ? { ...d, cves: [A], truncated: true } : d));
    const before = await writes();
    const { summary, decisions } = await sync();
    expect(await writes()).toBe(before);
    expect(summary).toMatchObject({ truncated: 1, closed: 0 });
    expect(decisions.find((a) => a.key === 'truncated')?.reason).toMatch(/1 device\(s\).*dev-1.*not closed/);
    expect(await openPairs()).toContain('dev-1/CVE-2024-0002');
    reported = full;
    expect((await sync()).summary).toMatchObject({ truncated: 0, created: 0, updated: 0, closed: 0 });
  });

  it('leaves a Deferred item alone', async () => {
    const item = await itemOf('dev-2', 'CVE-2024-0001');
    const deferred = await choice('sn_vul_vulnerable_item', 'state', 'Deferred');
    await client.update('sn_vul_vulnerable_item', item.sys_id, { state: deferred });
    reported = reported.map((d) => (d.deviceKey === 'dev-2' ? { ...d, cves: [] } : d));
    const before = await writes();
    const { summary, decisions } = await sync();
    expect(await writes()).toBe(before);
    expect(summary).toMatchObject({ skipped: 1, closed: 0 });
    expect(decisions.find((a) => a.action === 'skip' && a.entity === 'detection')).toMatchObject({
      key: 'CVE-2024-0001@dev-2',
      reason: expect.stringMatching(/Deferred/),
    });
    expect((await client.get('sn_vul_vulnerable_item', item.sys_id))!.state).toBe(deferred);
    expect(await openPairs()).toContain('dev-2/CVE-2024-0001');
  });

  it('lets the platform mark a CVE unseen for 91 days Stale, and reopens it when Defender reports it again', async () => {
    await sandboxCall('/_sandbox/clock', { advanceSeconds: 91 * 24 * 3600 });
    const job = (await sandboxCall('/_sandbox/jobs/vr-auto-close', {})) as { detectionsStaled: number };
    // The Deferred item's detection is skipped by the job; the three others go Stale.
    expect(job.detectionsStaled).toBe(3);
    const stale = await itemOf('dev-3', 'CVE-2024-0003');
    expect(stale).toMatchObject({
      state: await choice('sn_vul_vulnerable_item', 'state', 'Closed'),
      substate: await choice('sn_vul_vulnerable_item', 'substate', 'Stale'),
    });

    clock.advance(days(91));
    const { summary } = await sync();
    expect(summary).toMatchObject({ reopened: 3, created: 0, closed: 0, skipped: 0 });
    expect((await itemOf('dev-3', 'CVE-2024-0003')).state).toBe(
      await choice('sn_vul_vulnerable_item', 'state', 'Open'),
    );
    expect(stringValue((await detectionsOf('dev-3', 'CVE-2024-0003'))[0]!.last_found)).toBe(
      '2027-01-31 00:00:00',
    );
  });

  it('writes a pending CVE once ot-inventory has written the device CI, even from an incremental source', async () => {
    expect(await client.listAll('sn_vul_nvd_entry', { query: 'id=CVE-2024-0004' })).toEqual([]);
    sensors[1] = { ...sensors[1]!, learningMode: false };
    await syncInventory();
    // The console source reports nothing new; dev-5's CVE comes from the pending work.
    const { summary } = await sync({ source: quietIncrementalSource });
    expect(summary).toMatchObject({ opened: 1, pending: 0 });
    expect(await openPairs()).toContain('dev-5/CVE-2024-0004');
    const again = await sync({ source: quietIncrementalSource });
    expect(again.summary).toMatchObject({ opened: 0, pending: 0, created: 0 });
  });

  it('closes the detections of a retired device', async () => {
    inventory = inventory.filter((d) => d.key !== 'dev-3');
    reported = reported.filter((d) => d.deviceKey !== 'dev-3');
    clock.advance(days(31));
    await sandboxCall('/_sandbox/clock', { advanceSeconds: 31 * 24 * 3600 });
    await syncInventory();
    const { summary, decisions } = await sync();
    expect(summary.closed).toBe(1);
    expect(decisions.find((a) => a.action === 'resolve')).toMatchObject({
      key: 'CVE-2024-0003@dev-3',
      reason: expect.stringMatching(/retired \(CI decommissioned\)/),
    });
    expect(await openPairs()).not.toContain('dev-3/CVE-2024-0003');
    expect((await itemOf('dev-3', 'CVE-2024-0003')).state).toBe(
      await choice('sn_vul_vulnerable_item', 'state', 'Closed'),
    );
  });

  it("with writeVulnerableItems, gives a new detection its item and closes a retired device's item as CI Decommissioned", async () => {
    inventory = [...inventory, device(11)];
    await syncInventory();
    const x = cve('CVE-2025-9001', 8.1);
    reported = [...reported, { deviceKey: 'dev-11', cves: [x] }];
    const dry = await sync({ dryRun: true, writeVulnerableItems: true });
    const { summary, runId } = await sync({ writeVulnerableItems: true });
    expect((await ledgerActionKeys(store.db, 'plant-a', runId)).sort()).toEqual(
      dry.plan.map(planActionKey).sort(),
    );
    expect(summary).toMatchObject({ created: 3, opened: 1 });
    const item = await itemOf('dev-11', x.id);
    // Written by Snowline, not by the sandbox's rollup (which sets external_id).
    expect(item).toMatchObject({
      external_id: '',
      source: 'Snowline',
      state: await choice('sn_vul_vulnerable_item', 'state', 'Open'),
    });
    expect(referenceValue((await detectionsOf('dev-11', x.id))[0]!.vulnerable_item)).toBe(item.sys_id);

    inventory = inventory.filter((d) => d.key !== 'dev-11');
    reported = reported.filter((d) => d.deviceKey !== 'dev-11');
    clock.advance(days(31));
    await sandboxCall('/_sandbox/clock', { advanceSeconds: 31 * 24 * 3600 });
    await syncInventory();
    const retired = await sync({ writeVulnerableItems: true });
    expect(retired.summary.closed).toBe(1);
    // A real run keeps no plan: its decisions are in the ledger.
    expect(retired.plan).toEqual([]);
    expect(retired.decisions.filter((a) => a.entity === 'vulnerableItem')).toMatchObject([
      { action: 'resolve', key: `${x.id}@dev-11` },
    ]);
    expect(await client.get('sn_vul_vulnerable_item', item.sys_id)).toMatchObject({
      state: await choice('sn_vul_vulnerable_item', 'state', 'Closed'),
      substate: await choice('sn_vul_vulnerable_item', 'substate', 'CI Decommissioned'),
    });
  });

  it.each([
    // With batchSize 3, four new CVEs take writes 1–2 (NVD entries) and 3–4 (detections).
    // The re-run finds what the crashed run committed: it creates only the rest, and takes over
    // (updates) the detections it did not get to record.
    [1, 'after the first NVD batch is committed', { created: 1 + 4, updated: 0 }],
    [3, 'after the first detection batch is committed', { created: 1, updated: 3 }],
    [4, 'after the last detection batch is committed', { created: 0, updated: 1 }],
  ])(
    'never duplicates a detection when killed at write %i (%s) and run again',
    async (writeNumber, _when, counts) => {
      const n = 5 + writeNumber;
      inventory = [...inventory, device(n)];
      await syncInventory();
      const cves = [1, 2, 3, 4].map((i) => cve(`CVE-2025-${n}00${i}`, 6));
      reported = [...reported, { deviceKey: `dev-${n}`, cves }];

      await sandboxCall('/_sandbox/faults', { holdWrite: writeNumber });
      // One Batch call at a time, so that the held write is the run's last committed one and the
      // counts below are exact (kills among calls in flight together: ot-vulnerabilities-sandboxes).
      const crashed = sync({ dies: true, concurrency: 1 });
      const failure = crashed.then(
        () => undefined,
        (error: unknown) => error,
      );
      // Wait until the chosen write is committed and its answer held, then drop the connection.
      for (let i = 0; i < 200; i++) {
        if (((await sandboxCall('/_sandbox/faults')) as { held: number }).held > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await sandboxCall('/_sandbox/faults', {});
      expect(await failure).toBeInstanceOf(Error);

      const rerun = await sync();
      expect(rerun.summary).toMatchObject({ ...counts, errors: 1 }); // the malformed source record only
      for (const c of cves) expect(await detectionsOf(`dev-${n}`, c.id)).toHaveLength(1);
      expect((await openPairs()).filter((p) => p.startsWith(`dev-${n}/`))).toHaveLength(4);
      const settled = await sync();
      expect(settled.summary).toMatchObject({ created: 0, updated: 0, closed: 0, reopened: 0 });
    },
  );

  // The vendor integration creates an entry only when the NVD has none (Claroty's mapping page
  // says so: data-mapping-otvr-integration-claroty-ctd.md); the instance's NVD import owns it.
  it('fills only the empty fields of an NVD entry the instance already had', async () => {
    inventory = [...inventory, device(30)];
    await syncInventory();
    await client.create('sn_vul_nvd_entry', { id: 'CVE-2024-3000', summary: 'NVD import text' });
    reported = [
      ...reported,
      { deviceKey: 'dev-30', cves: [{ id: 'CVE-2024-3000', score: 9.1, description: 'Defender text' }] },
    ];
    const { summary, decisions } = await sync();
    expect(summary.errors).toBe(1); // the malformed source record only
    const [entry] = await client.listAll('sn_vul_nvd_entry', { query: 'id=CVE-2024-3000' });
    expect(entry).toMatchObject({ summary: 'NVD import text', score: '9.1', severity: '1' });
    expect(decisions).toContainEqual(
      expect.objectContaining({
        entity: 'vulnerability',
        key: 'CVE-2024-3000',
        reason: expect.stringMatching(/lacks score, severity, which Defender gives/),
      }),
    );
    // Recorded as found, not created: Defender's later text does not overwrite the NVD's.
    reported = reported.map((d) =>
      d.deviceKey === 'dev-30'
        ? { ...d, cves: [{ id: 'CVE-2024-3000', score: 9.1, description: 'New text' }] }
        : d,
    );
    await sync();
    expect((await client.listAll('sn_vul_nvd_entry', { query: 'id=CVE-2024-3000' }))[0]).toMatchObject({
      summary: 'NVD import text',
    });
  });

  it('keeps `concurrency` Batch calls in flight at once, and 1 sends them one after another', async () => {
    const watch = (): InFlight => ({
      now: { batch: 0, detectionRead: 0 },
      most: { batch: 0, detectionRead: 0 },
    });
    // Six new devices with two CVEs each that the instance already has entries for: twelve
    // detections to search for and to create, one per Batch call.
    inventory = [...inventory, ...[41, 42, 43, 44, 45, 46].map((n) => device(n))];
    await syncInventory();
    const added = (cves: (typeof A)[]) =>
      [41, 42, 43, 44, 45, 46].map((n) => ({ deviceKey: `dev-${n}`, cves, ipAddress: `10.1.0.${n}` }));
    const before = reported;
    reported = [...before, ...added([A, C])];
    const three = watch();
    const { summary } = await sync({ batchSize: 1, concurrency: 3, inFlight: three });
    expect(summary.opened).toBe(12);
    expect(three.most.batch).toBe(3);
    expect(await openPairs()).toEqual(
      expect.arrayContaining(
        [41, 42, 43, 44, 45, 46].flatMap((n) => [`dev-${n}/${A.id}`, `dev-${n}/${C.id}`]),
      ),
    );
    // One at a time: the same work the other way (the CVEs close, one Batch call each).
    reported = [...before, ...added([])];
    const one = watch();
    const closing = await sync({ batchSize: 1, concurrency: 1, inFlight: one });
    expect(closing.summary.closed).toBe(12);
    expect(one.most).toEqual({ batch: 1, detectionRead: 1 });
    expect((await openPairs()).filter((p) => /^dev-4[1-6]\//.test(p))).toEqual([]);
  });

  it('refuses to run under another detection source than its detections were written with', async () => {
    await expect(sync({ detectionSource: 'Microsoft Azure Defender for IoT' })).rejects.toThrow(
      /detectionSource: is "Microsoft Azure Defender for IoT" but this integration's detections were written with source "Snowline"/,
    );
  });
});

describe('ot-vulnerabilities split per sensor (plan, one part per sensor, sweep)', () => {
  // Both sensors out of learning mode; devices keyed `<sensor>/<id>`, as the sensor sources key them.
  const splitSensors: OtSensor[] = sensors.map((s) => ({ ...s, learningMode: false }));
  const splitDevice = (sensor: string, n: number): OtDevice => ({
    ...device(60 + n, sensor),
    key: `${sensor}/${n}`,
    name: `split-${sensor}-${n}`,
    serialNumber: `SPLIT-${sensor}-${n}`,
    nics: [{ mac: `02:00:00:00:01:${String(n).padStart(2, '0')}`, ip: `10.2.0.${n}` }],
  });
  const devices = [splitDevice('line-1', 1), splitDevice('line-1', 2), splitDevice('line-2', 3)];
  const E = cve('CVE-2025-1001', 8.1);
  const F = cve('CVE-2025-1002', 4.4);
  const G = cve('CVE-2025-1003', 6.5);
  /** What each sensor reports; `down` sensors answer with an error, as an unreachable sensor does. */
  let perSensor: Record<string, DeviceCves[]> = {};
  let down = new Set<string>();
  const sensorSource = (sensor: string): VulnerabilitySource => ({
    kind: 'sensor',
    incremental: false,
    async *deviceCves() {
      if (down.has(sensor)) {
        yield {
          items: [],
          problems: [
            {
              source: `sensor ${sensor} cves`,
              index: 0,
              key: `sensor:${sensor}`,
              unread: 'unavailable',
              error: new InputError(`sensor ${sensor} could not be read`),
            },
          ],
          unread: [`${sensor}/`],
        };
        return;
      }
      yield { items: perSensor[sensor] ?? [], problems: [] };
    },
  });
  let partStore: Store;
  const partClock = new ManualClock(start);

  beforeAll(async () => {
    partStore = await openStore(join(dir, 'otv-parts.sqlite'));
    await partStore.migrate();
    const counters = new RequestCounters();
    const { summary } = await otInventoryFlow.execute(
      {
        integrationId: 'plant-a',
        config: integration({
          otInventory: { source: 'sensor', sensorValidation: 'auto', connections: false },
        }).flows.otInventory!,
        store: partStore,
        clock: partClock,
        logger: createLogger({ level: 'silent' }),
        counters,
        runId: null,
        dryRun: false,
      },
      {
        source: {
          ...inventorySource,
          sensors: async () => ({ items: splitSensors, problems: [] }),
          async *devices() {
            yield { items: devices, problems: [] };
          },
        },
        servicenow: connect(counters).client,
      },
    );
    expect(summary.errors).toBe(0);
  });
  afterAll(async () => {
    await partStore.close();
  });

  /**
   * Runs the plan, each sensor's part and the sweep, as the workers would, one after another;
   * `whole` runs the flow whole instead (one process, both sensors).
   */
  async function runParts(parts: readonly string[] = ['plan', 'sensor:line-1', 'sensor:line-2', 'sweep']) {
    const ran: Record<string, { opened: number; closed: number; problems: number; outcome: string }> = {};
    for (const part of parts) {
      const counters = new RequestCounters();
      const sensor = part.startsWith('sensor:') ? part.slice('sensor:'.length) : undefined;
      const { summary } = await otVulnerabilitiesFlow.execute(
        {
          integrationId: 'plant-a',
          config: integration({
            otInventory: { source: 'sensor' },
            otVulnerabilities: { source: 'sensor', batchSize: 3 },
          }).flows.otVulnerabilities!,
          store: partStore,
          clock: partClock,
          logger: createLogger({ level: 'silent' }),
          counters,
          runId: await startRun(partStore.db, partClock, {
            integrationId: 'plant-a',
            trigger: 'cli',
            dryRun: false,
          }),
          dryRun: false,
          ...(part === 'whole' ? {} : { part }),
        },
        {
          // The plan and the sweep read no sensor: a source that fails if asked says so.
          source: sensor
            ? sensorSource(sensor)
            : part === 'whole'
              ? {
                  kind: 'sensor',
                  incremental: false,
                  async *deviceCves() {
                    for (const name of ['line-1', 'line-2']) yield* sensorSource(name).deviceCves({});
                  },
                }
              : {
                  kind: 'sensor',
                  incremental: false,
                  deviceCves: () => {
                    throw new Error(`the ${part} part read the sensors`);
                  },
                },
          servicenow: connect(counters).client,
          sensors: ['line-1', 'line-2'],
        },
      );
      ran[part] = summary as unknown as (typeof ran)[string];
    }
    return ran;
  }

  /** The open detections of the split test's devices, as `<device>/<CVE>`. */
  async function openSplitPairs(): Promise<string[]> {
    const open = await choice('sn_vul_detection', 'status', 'Open');
    const states = await getEntityStates(
      partStore.db,
      { integrationId: 'plant-a', flow: 'ot-inventory', entity: 'device' },
      devices.map((d) => d.key),
    );
    const deviceOf = new Map([...states].map(([key, s]) => [s.remote_sys_id!, key]));
    const entries = new Map(
      (await client.listAll('sn_vul_nvd_entry')).map((e) => [e.sys_id, stringValue(e.id)]),
    );
    const rows = await client.listAll('sn_vul_detection', {
      query: encodeQuery({
        where: [where('status', '=', open), where('cmdb_ci', 'IN', [...deviceOf.keys()])],
      }),
    });
    return rows
      .map(
        (r) => `${deviceOf.get(referenceValue(r.cmdb_ci)!)}/${entries.get(referenceValue(r.vulnerability)!)}`,
      )
      .sort();
  }

  it("opens each sensor's CVEs in its part, and closes in the sweep what a sensor's last full read no longer lists, never a sensor that was down", async () => {
    perSensor = {
      'line-1': [
        { deviceKey: 'line-1/1', cves: [E] },
        { deviceKey: 'line-1/2', cves: [G] },
      ],
      'line-2': [{ deviceKey: 'line-2/3', cves: [E] }],
    };
    // First run whole (one process): no part has read a sensor in full yet.
    expect((await runParts(['whole'])).whole).toMatchObject({ outcome: 'ok', opened: 3, closed: 0 });
    partClock.advance(days(1));
    // Then split, line-2 down: device 1 reports F too; line-2's device keeps its detection, as its
    // sensor has never been read whole by a part.
    perSensor['line-1']![0] = { deviceKey: 'line-1/1', cves: [E, F] };
    down = new Set(['line-2']);
    const first = await runParts();
    expect(first.plan).toMatchObject({ outcome: 'ok', opened: 0 });
    expect(first['sensor:line-1']).toMatchObject({ outcome: 'ok', opened: 1, closed: 0 });
    expect(first['sensor:line-2']).toMatchObject({ outcome: 'ok', problems: 1, opened: 0, closed: 0 });
    expect(first.sweep).toMatchObject({ outcome: 'ok', opened: 0, closed: 0 });
    expect(await openSplitPairs()).toEqual([
      'line-1/1/CVE-2025-1001',
      'line-1/1/CVE-2025-1002',
      'line-1/2/CVE-2025-1003',
      'line-2/3/CVE-2025-1001',
    ]);
    // The NVD entry both sensors' devices share was created once.
    expect(await entrySysId('CVE-2025-1001')).toBeTruthy();

    // A day later: line-1 no longer lists device 2 and device 1 lost F; line-2 is still down.
    partClock.advance(days(1));
    perSensor = { 'line-1': [{ deviceKey: 'line-1/1', cves: [E] }], 'line-2': [] };
    const second = await runParts();
    // The part closes what its own device lists dropped; the device gone from its sensor is the sweep's.
    expect(second['sensor:line-1']).toMatchObject({ outcome: 'ok', closed: 1 });
    expect(second['sensor:line-2']).toMatchObject({ outcome: 'ok', problems: 1, closed: 0 });
    expect(second.sweep).toMatchObject({ outcome: 'ok', closed: 1 });
    // line-2's device keeps its detection: its sensor was not read.
    expect(await openSplitPairs()).toEqual(['line-1/1/CVE-2025-1001', 'line-2/3/CVE-2025-1001']);

    // line-2 answers again, without device 3: the sweep closes its detection now.
    partClock.advance(days(1));
    down = new Set();
    const third = await runParts();
    expect(third['sensor:line-2']).toMatchObject({ outcome: 'ok', closed: 0 });
    expect(third.sweep).toMatchObject({ outcome: 'ok', closed: 1 });
    expect(await openSplitPairs()).toEqual(['line-1/1/CVE-2025-1001']);
  });
});
