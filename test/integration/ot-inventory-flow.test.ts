import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/index.js';
import { validateConfig } from '../../src/config/load.js';
import { InputError } from '../../src/errors.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { OtConnection, OtDevice, OtSensor, OtSite } from '../../src/domain/ot/records.js';
import { planActionKey } from '../../src/domain/plan.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { referenceValue, stringValue } from '../../src/servicenow/values.js';
import { ledgerActionKeys, queryLedger } from '../../src/store/models/ledger.js';
import { startRun } from '../../src/store/models/runs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { otInventoryFlow, type OtInventoryConfig } from '../../src/sync/ot-inventory/flow.js';
import type { OtInventorySource } from '../../src/sync/ot-inventory/source.js';

/** ot-inventory against the ServiceNow sandbox, fed by an in-memory Defender source. */
const dir = mkdtempSync(join(tmpdir(), 'snowline-oti-'));
const start = new Date('2026-11-01T00:00:00Z');
let sandbox: ServiceNowSandbox;
let store: Store;
let control: Agent;

const sites: OtSite[] = [{ key: 'Rotterdam', name: 'Rotterdam' }];
const sensors: OtSensor[] = [
  {
    key: 'line-1',
    name: 'line-1',
    site: 'Rotterdam',
    zone: 'Line 1',
    purdueLevel: 1,
    connected: true,
    learningMode: false,
    ip: '10.1.0.2',
    mac: '02:00:00:00:01:02',
  },
  {
    key: 'line-2',
    name: 'line-2',
    site: 'Rotterdam',
    zone: 'Line 2',
    purdueLevel: 2,
    connected: true,
    learningMode: true,
  },
];
let devices: OtDevice[];
const connections: OtConnection[] = [
  { key: '1-2', sourceDeviceKey: '1', destinationDeviceKey: '2', ports: [502], protocols: ['Modbus'] },
];

function makeDevices(): OtDevice[] {
  const types = ['PLC', 'HMI', 'Engineering Station', 'Switch', 'Mystery Box'];
  return Array.from({ length: 8 }, (_, i) => ({
    key: String(i + 1),
    name: `dev-${i + 1}`,
    deviceType: types[i % types.length]!,
    vendor: 'Acme',
    serialNumber: `SN-${i + 1}`,
    firmwareVersion: '1.0',
    nics: [{ mac: `02:00:00:00:00:${String(i + 1).padStart(2, '0')}`, ip: `10.1.0.${10 + i}` }],
    modules: i === 0 ? [{ rack: '0', slot: '1', model: 'CPU' }] : [],
    protocols: ['Modbus'],
    purdueLayer: 'Process Control',
    sensorKeys: [i < 6 ? 'line-1' : 'line-2'],
  }));
}

const source: OtInventorySource = {
  kind: 'sensor',
  hasConnections: true,
  incremental: false,
  sites: async () => ({ items: sites, problems: [] }),
  sensors: async () => ({ items: sensors, problems: [] }),
  async *devices() {
    yield {
      items: devices.slice(0, 5),
      problems: [{ source: 'memory devices', index: 5, key: '99', error: new InputError('name is missing') }],
    };
    yield { items: devices.slice(5), problems: [] };
  },
  async *connections() {
    yield { items: connections, problems: [] };
  },
};

const otConfig = (otInventory: Record<string, unknown> = {}): OtInventoryConfig =>
  validateConfig(
    {
      integrations: [
        {
          id: 'plant-a',
          servicenow: {
            instanceUrl: 'https://x.service-now.com',
            auth: { type: 'basic', username: 'u', password: 'pw-123456' },
          },
          defender: { tenantId: 't', auth: { type: 'managedIdentity' } },
          flows: {
            otInventory: {
              source: 'sensor',
              sensorValidation: 'auto',
              batchSize: 7,
              retireAfterDays: 30,
              ...otInventory,
            },
          },
        },
      ],
    },
    'test',
  ).config.integrations[0]!.flows.otInventory!;

beforeAll(async () => {
  sandbox = await startServiceNowSandbox({ tls: await generateSandboxTls(), now: start });
  control = new Agent({ connect: { ca: readFileSync(sandbox.caFile!) } });
  store = await openStore(join(dir, 'oti.sqlite'));
  await store.migrate();
  devices = makeDevices();
});
afterAll(async () => {
  await Promise.all(opened.map((close) => close()));
  await store?.close();
  await control?.close();
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function writes(): Promise<number> {
  const response = await request(`${sandbox.url}/_sandbox/stats`, { dispatcher: control });
  return ((await response.body.json()) as { writes: number }).writes;
}

/** Calls a control operation of the shared ServiceNow sandbox. */
async function controlCall(path: string, body: unknown = {}): Promise<any> {
  const response = await request(`${sandbox.url}${path}`, {
    method: 'POST',
    dispatcher: control,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return response.body.json();
}

/** Inserts records as the instance's administrators would (the integration user may not). */
async function seed(records: Record<string, Record<string, string>[]>): Promise<Record<string, string[]>> {
  const response = await request(`${sandbox.url}/_sandbox/seed`, {
    method: 'POST',
    dispatcher: control,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(records),
  });
  return ((await response.body.json()) as { result: Record<string, string[]> }).result;
}

async function sync(
  clock: ManualClock,
  options: {
    dryRun?: boolean;
    config?: OtInventoryConfig;
    store?: Store;
    source?: OtInventorySource;
    /** Another sandbox than the shared one. */
    instance?: ServiceNowSandbox;
    /** A part of a run split across workers (plan, sensor:<name>, sweep). */
    part?: string;
  } = {},
) {
  const instance = options.instance ?? sandbox;
  const target = options.store ?? store;
  const counters = new RequestCounters();
  const { client, close } = connectServiceNow(
    validateConfig(
      {
        integrations: [
          {
            id: 'plant-a',
            servicenow: {
              instanceUrl: instance.url,
              auth: {
                type: 'basic',
                username: instance.credentials.user,
                password: instance.credentials.password,
              },
              tls: { caFile: instance.caFile! },
            },
            defender: { tenantId: 't', auth: { type: 'managedIdentity' } },
          },
        ],
      },
      'test',
    ).config.integrations[0]!.servicenow,
    { clock, counters },
  );
  opened.push(close);
  const runId = await startRun(target.db, clock, {
    integrationId: 'plant-a',
    trigger: 'cli',
    dryRun: options.dryRun ?? false,
  });
  {
    const result = await otInventoryFlow.execute(
      {
        integrationId: 'plant-a',
        config: options.config ?? otConfig(),
        store: target,
        clock,
        logger: createLogger({ level: 'silent' }),
        counters,
        runId,
        dryRun: options.dryRun ?? false,
        ...(options.part ? { part: options.part } : {}),
      },
      { source: options.source ?? source, servicenow: client },
    );
    return { ...result, runId, client, counters };
  }
}
const opened: (() => Promise<void>)[] = [];
/** When the freshness test first reported every device and the connection as seen. */
let firstSeen: Date;

describe('ot-inventory flow against the ServiceNow sandbox', () => {
  const clock = new ManualClock(start);

  it('writes sites, sensors, devices with their OT details, NICs, IPs, modules, Detects and connections', async () => {
    const dry = await sync(clock, { dryRun: true });
    expect(await writes()).toBe(0);
    const { summary, client, runId } = await sync(clock);
    // line-2 is learning, so under sensorValidation auto its two devices do not feed the CMDB.
    expect(summary).toMatchObject({
      outcome: 'ok',
      // site, sensors, devices, connection, the vendor's core_company (manufacturer is a reference)
      // and its module's hardware model (model_id is a reference)
      created: 1 + 2 + 6 + 1 + 1 + 1,
      errors: 1,
      problems: 1,
      skipped: 2,
    });
    expect(dry.plan.find((a) => a.action === 'skip')?.reason).toMatch(
      /2 device\(s\) of sensor line-2 skipped/,
    );
    // The dry run's plan is what the real run did.
    const planned = dry.plan
      .filter((a) => a.action !== 'error')
      .map(planActionKey)
      .sort();
    const done = (await ledgerActionKeys(store.db, 'plant-a', runId))
      .filter((k) => !k.includes('\u241ferror\u241f'))
      .sort();
    expect(done).toEqual(planned);

    const plc = (
      await client.listAll('cmdb_ci_ot_plc', { query: encodeQuery({ where: [where('name', '=', 'dev-1')] }) })
    )[0]!;
    expect(plc).toMatchObject({ serial_number: 'SN-1', firmware_version: '1.0', install_status: '1' });
    const entity = (
      await client.listAll('cmdb_ot_entity', {
        query: encodeQuery({ where: [where('ot_device', '=', plc.sys_id)] }),
      })
    )[0]!;
    expect(entity).toMatchObject({
      purdue_level: '1.0',
      zone: 'Line 1',
      ot_correlation_id: 'plant-a:device:1',
    });
    expect((await client.listAll('cmdb_ci_ot_ews')).map((r) => r.name)).toEqual(['dev-3']);
    // The module's model is a cmdb_model record of its vendor (slots[].model → model_id).
    const modules = await client.listAll('cmdb_ci_ot_control_module', {
      fields: ['model_id', 'model_number', 'vendor'],
    });
    expect(modules.length).toBeGreaterThan(0);
    const models = await client.listAll('cmdb_model', {
      fields: ['sys_id', 'name', 'manufacturer', 'sys_class_name'],
    });
    for (const m of modules) {
      const model = models.find((r) => r.sys_id === referenceValue(m.model_id));
      expect(model, JSON.stringify(m)).toMatchObject({ name: stringValue(m.model_number) });
      expect(referenceValue(model!.manufacturer)).toBe(referenceValue(m.vendor));
    }
    expect(
      await client.listAll('cmdb_ci', { query: encodeQuery({ where: [where('name', '=', 'dev-7')] }) }),
    ).toEqual([]);
    expect((await client.listAll('cmdb_ci_ot')).map((r) => stringValue(r.sys_class_name)).sort()).toEqual(
      expect.arrayContaining([
        'cmdb_ci_ot',
        'cmdb_ci_ot_control_module',
        'cmdb_ci_ot_ews',
        'cmdb_ci_ot_hmi',
        'cmdb_ci_ot_plc',
      ]),
    );
    const nic = (
      await client.listAll('cmdb_ci_network_adapter', {
        query: encodeQuery({ where: [where('mac_address', '=', '02:00:00:00:00:01')] }),
      })
    )[0]!;
    // NICs are lookup entries: the adapter row points at its device (cmdb_ci), which IRE matches by MAC.
    expect(referenceValue(nic.cmdb_ci)).toBe(plc.sys_id);
    const ip = (
      await client.listAll('cmdb_ci_ip_address', {
        query: encodeQuery({ where: [where('ip_address', '=', '10.1.0.10')] }),
      })
    )[0]!;
    const relations = await client.listAll('cmdb_rel_ci', {
      query: encodeQuery({ where: [where('child', '=', ip.sys_id)] }),
    });
    expect(relations.map((r) => referenceValue(r.parent))).toEqual([plc.sys_id]);
    const sensor = (
      await client.listAll('cmdb_ci_nids', { query: encodeQuery({ where: [where('name', '=', 'line-2')] }) })
    )[0]!;
    expect(sensor).toMatchObject({ correlation_id: 'plant-a:sensor:line-2' });
    // Life cycle stage and status are references, sent as the sys_ids of the records named
    // Operational / Learning (attribute-mapping-sgc-msft-d4iot-azure.md, properties.learningMode).
    const status = await client.get(
      'life_cycle_stage_status',
      referenceValue(sensor.life_cycle_stage_status)!,
    );
    expect(status).toMatchObject({ name: 'Learning' });
    const stage = await client.get('life_cycle_stage', referenceValue(sensor.life_cycle_stage)!);
    expect(stage).toMatchObject({ name: 'Operational' });
    const detected = await client.listAll('cmdb_rel_ci', {
      query: encodeQuery({
        where: [where('child', '=', plc.sys_id), where('type.name', '=', 'Detects::Detected by')],
      }),
    });
    expect(detected).toHaveLength(1);
    expect(await client.listAll('sn_ot_device_network_connection')).toHaveLength(1);
  });

  it('sends nothing when nothing changed', async () => {
    const before = await writes();
    const { summary, counters } = await sync(clock);
    expect(await writes()).toBe(before);
    expect(summary).toMatchObject({ created: 0, updated: 0, unchanged: 1 + 2 + 6 + 1 });
    // Reads only: the reference tables (OT device types, life cycle, companies) are read each run.
    expect(Object.keys(counters.snapshot()).filter((k) => !k.startsWith('servicenow GET'))).toEqual([]);
  });

  it('sends exactly one update for one changed device', async () => {
    devices = devices.map((d) => (d.key === '4' ? { ...d, firmwareVersion: '2.0' } : d));
    const before = await writes();
    const { summary, client } = await sync(clock);
    expect(summary).toMatchObject({ created: 0, updated: 1 });
    expect((await writes()) - before).toBe(1);
    expect(
      (
        await client.listAll('cmdb_ci_ip_switch', {
          query: encodeQuery({ where: [where('name', '=', 'dev-4')] }),
        })
      )[0],
    ).toMatchObject({ firmware_version: '2.0' });
  });

  it('retires a device after the grace period, never deletes it, and revives it when it returns', async () => {
    const removed = devices.find((d) => d.key === '5')!;
    devices = devices.filter((d) => d.key !== '5');
    clock.advance(10 * 24 * 3600_000);
    expect((await sync(clock)).summary.retired).toBe(0);
    clock.advance(25 * 24 * 3600_000);
    const retired = await sync(clock);
    expect(retired.summary.retired).toBe(1);
    const ci = (
      await retired.client.listAll('cmdb_ci_ot', {
        query: encodeQuery({ where: [where('name', '=', 'dev-5')] }),
      })
    )[0]!;
    expect(ci).toMatchObject({ install_status: '7' });
    devices = [...devices, removed];
    const revived = await sync(clock);
    expect(revived.summary).toMatchObject({ updated: 1, retired: 0 });
    expect((await revived.client.get('cmdb_ci_ot', ci.sys_id))!.install_status).toBe('1');
  });

  it('adopts a CI another source wrote first (same MAC), never duplicating it', async () => {
    // Discovery found the PLC first: its CI and network adapter exist, under Discovery's name.
    const { client } = await sync(clock);
    const found = await client.create('cmdb_ci_ot_plc', {
      name: 'plc-0042.plant.local',
      discovery_source: 'ServiceNow',
    });
    await client.create('cmdb_ci_network_adapter', {
      name: '02:00:00:00:00:42',
      mac_address: '02:00:00:00:00:42',
      cmdb_ci: found.sys_id,
    });
    devices = [
      ...devices,
      {
        key: '42',
        name: 'dev-42',
        deviceType: 'PLC',
        nics: [{ mac: '02:00:00:00:00:42', ip: '10.1.0.42' }],
        modules: [],
        protocols: [],
        sensorKeys: ['line-1'],
      },
    ];
    const dry = await sync(clock, { dryRun: true });
    const planned = dry.plan.find((a) => a.entity === 'device' && a.key === '42')!;
    expect(planned).toMatchObject({ action: 'update', target: { id: found.sys_id } });
    expect(planned.reason).toMatch(/^adopted: IRE matched an existing cmdb_ci_ot_plc/);
    const { summary } = await sync(clock);
    expect(summary).toMatchObject({ created: 0, updated: 1 });
    const plcs = await client.listAll('cmdb_ci', {
      query: encodeQuery({ where: [where('name', 'IN', ['dev-42', 'plc-0042.plant.local'])] }),
    });
    expect(plcs.map((r) => r.sys_id)).toEqual([found.sys_id]);
    devices = devices.filter((d) => d.key !== '42');
  });

  it('reports once a reclassification IRE refuses (OT class to a computer class), leaving the task to a person', async () => {
    // dev-2 is an HMI (cmdb_ci_ot_hmi); Defender now reports Windows 10 on it: by the connector's OS
    // rows it is a Computer, whose identification rule differs from the OT rule's, so IRE refuses
    // the switch and opens a reclassification task (c_CIReclassification.md).
    const tasks = () => sandbox.control.instance.store.count('reclassification_task');
    const tasksBefore = tasks();
    devices = devices.map((d) => (d.key === '2' ? { ...d, operatingSystem: 'Windows 10' } : d));
    const { summary, client, runId } = await sync(clock);
    // The source's malformed record is an error every run; the refusal is the second.
    expect(summary).toMatchObject({ errors: 2, updated: 0 });
    const [error] = await queryLedger(store.db, {
      integrationId: 'plant-a',
      runId,
      action: 'error',
      entity: 'device',
      key: '2',
    });
    expect(error!.reason).toMatch(
      /^IRE refused to reclassify the device \(CI Reclassification not allowed from class: \[cmdb_ci_ot_hmi\] to \[cmdb_ci_computer\]\)/,
    );
    expect(tasks()).toBe(tasksBefore + 1);
    // Not sent again while nothing changes: no second task, no write.
    const before = await writes();
    const quiet = await sync(clock);
    expect(quiet.summary).toMatchObject({ errors: 1, updated: 0 });
    expect(await writes()).toBe(before);
    expect(tasks()).toBe(tasksBefore + 1);
    expect(await client.listAll('cmdb_ci_ot_hmi', { query: 'name=dev-2' })).toHaveLength(1);
    devices = devices.map((d) => (d.key === '2' ? { ...d, operatingSystem: undefined } : d));
    expect((await sync(clock)).summary).toMatchObject({ errors: 1, updated: 1 });
  });

  it('moves most recent discovery after freshnessHours and not before, one item per device', async () => {
    const seen = (at: Date) => {
      devices = devices.map((d) => ({ ...d, lastSeen: at }));
      connections[0] = { ...connections[0]!, lastSeen: at };
    };
    const fed = 6;
    const first = clock.now();
    firstSeen = first;
    seen(first);
    const stamped = await sync(clock);
    expect(stamped.summary).toMatchObject({ refreshed: fed, created: 0 });
    const dev1 = async (client: typeof stamped.client) =>
      (await client.listAll('cmdb_ci', { query: encodeQuery({ where: [where('name', '=', 'dev-1')] }) }))[0]!;
    expect(stringValue((await dev1(stamped.client)).last_discovered)).toBe(
      first.toISOString().slice(0, 19).replace('T', ' '),
    );

    // Defender saw them again an hour later: inside the window, nothing is written.
    clock.advance(3600_000);
    seen(clock.now());
    const before = await writes();
    const quiet = await sync(clock);
    expect(quiet.summary).toMatchObject({ refreshed: 0, updated: 0 });
    expect(await writes()).toBe(before);

    // A day after the last stamp: one item per device, packed (batchSize 7), and the new time lands.
    clock.advance(24 * 3600_000);
    const later = clock.now();
    seen(later);
    const refreshed = await sync(clock);
    expect(refreshed.summary).toMatchObject({ refreshed: fed, updated: fed, ireItems: fed, ireRequests: 1 });
    expect(stringValue((await dev1(refreshed.client)).last_discovered)).toBe(
      later.toISOString().slice(0, 19).replace('T', ' '),
    );
    expect(refreshed.plan).toEqual([]);
    const reasons = (await ledgerActionKeys(store.db, 'plant-a', refreshed.runId)).length;
    expect(reasons).toBeGreaterThanOrEqual(fed);
  });

  it("keeps a connection's last communication at Defender's last seen, refreshed every refreshDays", async () => {
    const connection = async () =>
      (await (await sync(clock)).client.listAll('sn_ot_device_network_connection'))[0]!;
    // The previous test first stamped it with Defender's last seen of that day (not the run's time);
    // Defender's later sightings do not rewrite it within refreshDays (7).
    clock.advance(3 * 24 * 3600_000);
    const row = await connection();
    expect(stringValue(row.last_communication)).toBe(firstSeen.toISOString().slice(0, 19).replace('T', ' '));
    // Defender keeps reporting it: after refreshDays (7) the time follows Defender's, not the run's.
    clock.advance(5 * 24 * 3600_000);
    const reported = new Date(clock.now().getTime() - 3600_000);
    connections[0] = { ...connections[0]!, lastSeen: reported };
    const refreshed = await connection();
    expect(stringValue(refreshed.last_communication)).toBe(
      reported.toISOString().slice(0, 19).replace('T', ' '),
    );
  });
});

describe('ot-inventory site mappings', () => {
  const clock = new ManualClock(start);
  let siteStore: Store;
  beforeAll(async () => {
    siteStore = await openStore(join(dir, 'sites.sqlite'));
    await siteStore.migrate();
  });
  afterAll(async () => siteStore?.close());

  const plantSites: OtSite[] = [
    { key: 'Delft', name: 'Delft' },
    { key: 'Gouda', name: 'Gouda' },
  ];
  const plantSensors: OtSensor[] = [
    {
      key: 'delft-1',
      name: 'delft-1',
      site: 'Delft',
      zone: 'Packaging',
      connected: true,
      learningMode: false,
    },
    { key: 'gouda-1', name: 'gouda-1', site: 'Gouda', zone: 'Dairy', connected: true, learningMode: false },
  ];
  const plantDevices: OtDevice[] = ['delft-1', 'gouda-1'].map((sensor, i) => ({
    key: `site-${i}`,
    name: `site-dev-${i}`,
    deviceType: 'PLC',
    nics: [{ mac: `02:00:00:00:0a:0${i}`, ip: `10.9.0.${i + 1}` }],
    modules: [],
    protocols: [],
    sensorKeys: [sensor],
  }));
  const plantSource: OtInventorySource = {
    kind: 'sensor',
    hasConnections: false,
    incremental: false,
    sites: async () => ({ items: plantSites, problems: [] }),
    sensors: async () => ({ items: plantSensors, problems: [] }),
    async *devices() {
      yield { items: plantDevices, problems: [] };
    },
  };

  it("puts a mapped site's devices on the admin's ISA entity with its location and group, and creates the others", async () => {
    const { client } = await sync(clock, { dryRun: true, store: siteStore, source: plantSource });
    // What the instance's admins own: the site, a location and the plant's OT group.
    const seeded = await seed({
      cmdb_ci_ot_isa_entity: [{ name: 'Delft Plant' }],
      cmn_location: [{ name: 'Delft, NL' }],
      sys_user_group: [{ name: 'OT Delft' }],
    });
    const entity = { sys_id: seeded.cmdb_ci_ot_isa_entity![0]! };
    const location = { sys_id: seeded.cmn_location![0]! };
    const group = { sys_id: seeded.sys_user_group![0]! };
    const config = otConfig({
      siteMappings: {
        Delft: { isaEntity: 'Delft Plant', location: location.sys_id, supportGroup: 'OT Delft' },
        Leiden: { isaEntity: 'No Such Plant' },
      },
    });
    const { summary, runId } = await sync(clock, { store: siteStore, source: plantSource, config });
    expect(summary.outcome).toBe('ok');
    const isa = await client.listAll('cmdb_ci_ot_isa_entity', {
      query: encodeQuery({ where: [where('name', 'IN', ['Delft', 'Gouda', 'Delft Plant'])] }),
      fields: ['name'],
    });
    // No ISA entity is created for the mapped site; the unmapped one is created as before.
    expect(isa.map((r) => r.name).sort()).toEqual(['Delft Plant', 'Gouda']);
    const ci = (
      await client.listAll('cmdb_ci', { query: encodeQuery({ where: [where('name', '=', 'site-dev-0')] }) })
    )[0]!;
    expect(referenceValue(ci.location)).toBe(location.sys_id);
    expect(referenceValue(ci.support_group)).toBe(group.sys_id);
    const ot = (
      await client.listAll('cmdb_ot_entity', {
        query: encodeQuery({ where: [where('ot_device', '=', ci.sys_id)] }),
      })
    )[0]!;
    expect(referenceValue(ot.isa_entity_site)).toBe(entity.sys_id);
    const sensor = (
      await client.listAll('cmdb_ci_nids', { query: encodeQuery({ where: [where('name', '=', 'delft-1')] }) })
    )[0]!;
    expect(referenceValue(sensor.isa_entity_site)).toBe(entity.sys_id);
    // A mapping naming a record that does not exist is reported, not sent as text.
    const errors = await queryLedger(siteStore.db, { integrationId: 'plant-a', runId, action: 'error' });
    expect(errors.map((e) => e.reason)).toEqual([
      'site Leiden: no cmdb_ci_ot_isa_entity record named "No Such Plant" (siteMappings.isaEntity)',
    ]);
  });
});

describe('ot-inventory on an instance without a class the map names', () => {
  it('writes those devices as the nearest class the instance has, and says so once per run', async () => {
    const lean = await startServiceNowSandbox({
      tls: await generateSandboxTls(),
      now: start,
      // As when the plugin bringing the EWS class is not installed.
      config: { absentClasses: ['cmdb_ci_ot_ews'] },
    });
    const leanStore = await openStore(join(dir, 'lean.sqlite'));
    await leanStore.migrate();
    try {
      const { summary, client, runId } = await sync(new ManualClock(start), {
        store: leanStore,
        instance: lean,
      });
      expect(summary.outcome).toBe('ok');
      const ews = await client.listAll('cmdb_ci', {
        query: encodeQuery({ where: [where('name', '=', 'dev-3')] }),
        fields: ['sys_class_name'],
      });
      expect(ews.map((r) => r.sys_class_name)).toEqual(['cmdb_ci_ot_supervisory']);
      const skips = await queryLedger(leanStore.db, { integrationId: 'plant-a', runId, action: 'skip' });
      expect(skips.map((e) => e.reason)).toContain(
        'the instance has no CI class cmdb_ci_ot_ews (its plugin is not installed?): its devices are written as cmdb_ci_ot_supervisory, its nearest ancestor',
      );
    } finally {
      await leanStore.close();
      await lean.close();
    }
  });
});

describe('ot-inventory connections over 120 days of the instance purging old ones', () => {
  it('keeps a connection Defender still reports, and lets the instance purge one it stopped reporting', async () => {
    const day = 24 * 3600_000;
    const begin = new Date('2027-03-01T00:00:00Z');
    const clock = new ManualClock(begin);
    const longStore = await openStore(join(dir, 'long.sqlite'));
    await longStore.migrate();
    const plc = (key: string, ip: string): OtDevice => ({
      key,
      name: `long-${key}`,
      deviceType: 'PLC',
      nics: [{ mac: `02:00:00:00:0b:${key.padStart(2, '0')}`, ip }],
      modules: [],
      protocols: [],
      sensorKeys: ['long-1'],
    });
    const ends = [plc('1', '10.8.0.1'), plc('2', '10.8.0.2'), plc('3', '10.8.0.3')];
    let reported: OtConnection[] = [];
    const longSource: OtInventorySource = {
      kind: 'sensor',
      hasConnections: true,
      incremental: false,
      sites: async () => ({ items: [], problems: [] }),
      sensors: async () => ({
        items: [{ key: 'long-1', name: 'long-1', zone: 'Long', connected: true, learningMode: false }],
        problems: [],
      }),
      async *devices() {
        yield { items: ends, problems: [] };
      },
      async *connections() {
        yield { items: reported, problems: [] };
      },
    };
    const connectionTo = async (ip: string) =>
      (
        await sandbox.control.instance.store.findBy('sn_ot_device_network_connection', 'destination_ip', ip)
      )[0];
    try {
      // Day 0: Defender reports both; then only the first, for 120 days of runs every 3 days,
      // with the instance's Table Cleanup running after each on the instance's own clock.
      for (let d = 0; d <= 120; d += 3) {
        const now = clock.now();
        await controlCall('/_sandbox/clock', { now: now.toISOString() });
        const seen = new Date(now.getTime() - 3600_000);
        reported = [
          {
            key: 'keep',
            sourceDeviceKey: '1',
            destinationDeviceKey: '2',
            ports: [502],
            protocols: ['Modbus'],
            lastSeen: seen,
          },
          ...(d === 0
            ? [
                {
                  key: 'stop',
                  sourceDeviceKey: '1',
                  destinationDeviceKey: '3',
                  ports: [502],
                  protocols: ['Modbus'],
                  lastSeen: seen,
                },
              ]
            : []),
        ];
        const { summary } = await sync(clock, { store: longStore, source: longSource });
        expect(summary.outcome).toBe('ok');
        await controlCall('/_sandbox/jobs/table-cleanup');
        if (d === 87) expect(await connectionTo('10.8.0.3')).toBeDefined();
        clock.advance(3 * day);
      }
      const kept = await connectionTo('10.8.0.2');
      expect(kept, 'a connection Defender keeps reporting survives the purge').toBeDefined();
      // Its last communication is Defender's, refreshed at most every refreshDays (7).
      const age =
        clock.now().getTime() - Date.parse(`${kept!.values.last_communication!.replace(' ', 'T')}Z`);
      expect(age).toBeLessThanOrEqual(7 * day + 3 * day);
      expect(
        await connectionTo('10.8.0.3'),
        'one Defender stopped reporting is purged after 90 days',
      ).toBeUndefined();
    } finally {
      await longStore.close();
    }
  });
});

describe('ot-inventory split per sensor (scale-out parts)', () => {
  /** The shared in-memory source as a part for one sensor reads it: that sensor and its devices alone. */
  function sensorSource(sensor: string): OtInventorySource {
    const mine = <T extends { sensorKeys: readonly string[] }>(items: readonly T[]) =>
      items.filter((d) => d.sensorKeys.includes(sensor));
    return {
      ...source,
      sensors: async () => ({ items: sensors.filter((s) => s.key === sensor), problems: [] }),
      async *devices() {
        yield { items: mine(makeDevices()).filter((d) => partDevices.has(d.key)), problems: [] };
      },
      async *connections() {
        const keys = new Set(mine(makeDevices()).map((d) => d.key));
        yield { items: connections.filter((c) => keys.has(c.sourceDeviceKey)), problems: [] };
      },
    };
  }
  let partDevices = new Set(makeDevices().map((d) => d.key));

  it('writes sites and sensors in the plan, each sensor its own devices, and retires in the sweep only', async () => {
    const instance = await startServiceNowSandbox({ tls: await generateSandboxTls(), now: start });
    const partStore = await openStore(join(dir, 'parts.sqlite'));
    await partStore.migrate();
    const clock = new ManualClock(start);
    const runParts = async () => {
      const ran: Record<string, Awaited<ReturnType<typeof sync>>['summary']> = {};
      for (const part of ['plan', 'sensor:line-1', 'sensor:line-2', 'sweep'])
        ran[part] = (
          await sync(clock, {
            store: partStore,
            instance,
            part,
            source: part.startsWith('sensor:') ? sensorSource(part.slice('sensor:'.length)) : source,
          })
        ).summary;
      return ran;
    };
    try {
      const first = await runParts();
      // The plan: the site and both sensors; no device.
      expect(first.plan).toMatchObject({ outcome: 'ok', created: 3 });
      // Each sensor its own devices: line-1 its 6, its connection, the vendor's company and the
      // module's hardware model; line-2 is learning, so its 2 are skipped, as in a whole run.
      expect(first['sensor:line-1']).toMatchObject({ outcome: 'ok', created: 9 });
      expect(first['sensor:line-2']).toMatchObject({ outcome: 'ok', created: 0, skipped: 2 });
      expect(first.sweep).toMatchObject({ outcome: 'ok', created: 0, retired: 0 });
      const { client } = await sync(clock, { store: partStore, instance, part: 'sweep' });
      // line-1's devices, each once (dev-4, a switch, is a network gear CI; dev-1 has a module CI).
      const cis = await client.listAll('cmdb_ci', {
        query: encodeQuery({ where: [where('name', 'STARTSWITH', 'dev-')] }),
        fields: ['name'],
      });
      expect(cis.map((r) => r.name).sort()).toEqual([
        'dev-1',
        'dev-1 module 0/1',
        'dev-2',
        'dev-3',
        'dev-4',
        'dev-5',
        'dev-6',
      ]);
      // Device 5 (line-1) stops being reported: its part does not retire it, the sweep does once
      // the grace period is over.
      partDevices = new Set([...partDevices].filter((k) => k !== '5'));
      clock.advance(35 * 24 * 3600_000);
      const later = await runParts();
      expect(later['sensor:line-1']).toMatchObject({ outcome: 'ok', retired: 0 });
      expect(later.sweep).toMatchObject({ outcome: 'ok', retired: 1 });
      const ci = await client.listAll('cmdb_ci', {
        query: encodeQuery({ where: [where('name', '=', 'dev-5')] }),
        fields: ['install_status'],
      });
      expect(ci).toEqual([{ install_status: '7' }]);
    } finally {
      await partStore.close();
      await instance.close();
    }
  });
});
