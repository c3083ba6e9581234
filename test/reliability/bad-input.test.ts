import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import {
  errorEvents,
  hostileText,
  propertyRuns,
  reportedPositions,
  rowWithBadProperties,
} from './bad-input-support.js';
import { resetSandboxes, SCENARIO_TIMEOUT_MS, seeingSensor, syncInProcess } from './support.js';

/**
 * Bad input from Defender, for each ot-inventory source — a sensor's device list, Resource
 * Graph's device rows, the console's v3 devices: after the real devices, records fast-check
 * generates — not objects, missing or mistyped ids and fields, duplicate ids, huge strings,
 * unicode, and names made of ServiceNow query syntax (`^`, `^NQ`, `^OR`). Each malformed record
 * is reported on its own, the run completes, and no value reaches ServiceNow as a query
 * condition: the real devices' CIs stay exactly as a clean run left them.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An id the sensor API can not have sent (the parser needs an integer or a string of digits). */
const badId = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/^\s*\d+\s*$/.test(s)),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);

/** Records that must be reported and skipped, each on its own. */
const malformedRecord = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
  hostileText.map((name) => ({ name, type: 'PLC' })),
  fc.record({ id: badId, name: hostileText }),
  fc.record({
    id: fc.integer({ min: 2_000_000, max: 2_999_999 }),
    name: fc.oneof(fc.integer(), fc.array(fc.string())),
  }),
  fc.record({ id: fc.integer({ min: 2_000_000, max: 2_999_999 }), vendor: fc.integer(), name: hostileText }),
  fc.record({
    id: fc.integer({ min: 2_000_000, max: 2_999_999 }),
    ipAddresses: fc.string(),
    name: hostileText,
  }),
);

/** Records that are well formed but hostile in every value: written as they are, or reported. */
const hostileRecord = fc.record({
  name: hostileText,
  vendor: hostileText,
  type: fc.constantFrom('PLC', 'HMI', 'Unknown', '^NQ'),
  operatingSystem: fc.option(hostileText, { nil: null }),
});

const generatedRecords = fc
  .tuple(fc.uniqueArray(hostileRecord, { minLength: 1, maxLength: 6, selector: (r) => r.name }), fc.boolean())
  .map(([hostile, duplicate]) => {
    // Ids and addresses outside the estate's, so that the generated devices can not be confused with real ones.
    const wellFormed = hostile.map((r, i) => ({
      ...r,
      // A name the CMDB identifies by must be unique, or two records would rightly become one CI.
      name: `${r.name}#${i}`,
      id: 1_000_000 + i,
      ipAddresses: [`10.254.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      macAddresses: null,
    }));
    // A duplicate id: the same device sent twice with another name.
    const duplicates =
      duplicate && wellFormed[0] ? [{ ...wellFormed[0], name: `${wellFormed[0].name} (again)` }] : [];
    return { wellFormed, duplicates };
  });

/** What one run with generated records must have done; every CI name is compared exactly. */
interface Expected {
  readonly storeUrl: string;
  readonly summary: { outcome: string; errors: number };
  /** How the reason of a malformed record's event starts; its source and position (`, record N)`) follow. */
  readonly reasonPrefix: string;
  /** Positions of the malformed records in the source's answer. */
  readonly malformedPositions: readonly number[];
  /** Each well-formed record's CI name, or the names one of its duplicates may leave. */
  readonly names: readonly (readonly string[])[];
  readonly ips: ReadonlySet<string>;
  /** The CMDB after a clean run. */
  readonly baseline: readonly Record<string, string>[];
}

/**
 * Checks one run: it completed; each malformed record is its own error event, found by its
 * position in the source's answer; every CI of a real device is as a clean run left it (no value
 * became a query condition); each well-formed record is one CI under its exact name; nothing else.
 */
async function expectReportedAndWrittenExactly(sandboxes: Sandboxes, e: Expected): Promise<void> {
  expect(e.summary.outcome, JSON.stringify(e.summary)).toBe('ok');

  const positions = reportedPositions(await errorEvents(e.storeUrl), e.reasonPrefix);
  expect(positions).toEqual(e.malformedPositions);
  expect(e.summary.errors).toBe(e.malformedPositions.length);

  const after = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=cmdb_ci')).tables
    .cmdb_ci as Record<string, string>[];
  const afterByKey = new Map(after.map((row) => [row._key, row]));
  for (const row of e.baseline) expect(afterByKey.get(row._key)).toEqual(row);

  const added = after.filter((row) => !e.baseline.some((b) => b._key === row._key));
  for (const names of e.names) {
    const copies = added.filter((row) => names.includes(row.name!));
    expect(copies.length, `CIs named ${JSON.stringify(names.map((n) => n.slice(0, 40)))}`).toBe(1);
  }
  // Nothing else: every added CI is one of the well-formed records' (a device, or its NIC / IP).
  const named = new Set(e.names.flat());
  for (const row of added)
    expect(
      named.has(row.name!) || e.ips.has(row.name!) || e.ips.has(row.ip_address!),
      JSON.stringify(row).slice(0, 300),
    ).toBe(true);
}

const DEVICE_TYPE = 'microsoft.iotsecurity/locations/devicegroups/devices';

/** Device rows of `iotsecurityresources` that must be reported and skipped, each on its own. */
const malformedRow = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
  // No id, or an id that is not a string.
  hostileText.map((name) => ({ name, properties: { deviceName: name } })),
  fc.record({
    id: fc.oneof(fc.constant(null), fc.integer(), fc.array(fc.string(), { maxLength: 2 })),
    name: hostileText,
    properties: fc.constant({}),
  }),
  // No name (the device id), or a name that is not a string.
  fc.record({
    id: hostileText,
    name: fc.oneof(fc.constant(null), fc.integer(), fc.boolean()),
    properties: fc.constant({}),
  }),
  // No properties, or properties that are not an object.
  rowWithBadProperties,
  // One property of a type the schema refuses.
  fc
    .tuple(
      hostileText,
      fc.constantFrom<[string, unknown]>(
        ['deviceName', 42],
        ['nics', 'not a list'],
        ['slots', 7],
        ['hardware', 'not an object'],
        ['sensor', 3],
        ['firstSeen', 'not a time'],
        ['riskScore', 'high'],
      ),
    )
    .map(([name, [field, value]]) => ({ id: `/bad/${name}`, name, properties: { [field]: value } })),
);

type Generated = typeof generatedRecords extends fc.Arbitrary<infer T> ? T : never;
type WellFormed = Generated['wellFormed'][number];

/**
 * The bad-input property of one ot-inventory source other than the sensor API: the sensor
 * generator's well-formed records in the source's own shape (`shape`), and `malformed` records
 * of that shape, injected by `inject` after the estate's real devices.
 */
function sourceProperty(o: {
  source: 'sensor' | 'resourceGraph' | 'console';
  label: string;
  /** How many devices the source answers before the injected records: their positions start here. */
  realDevices: (sandboxes: Sandboxes) => number;
  ciSeed: number;
  malformed: fc.Arbitrary<unknown>;
  /** The source as the malformed record's event names it. */
  reasonSource: string;
  shape: (sandboxes: Sandboxes, record: WellFormed) => unknown;
  inject: (sandboxes: Sandboxes, records: unknown[]) => Promise<void>;
}): void {
  describe(`ot-inventory from ${o.label} given malformed and hostile device records`, () => {
    let sandboxes: Sandboxes;
    let baseline: Record<string, string>[];
    const flows = { otInventory: { source: o.source, sensorValidation: 'auto', batchSize: 50 } };

    beforeAll(async () => {
      // A small estate whatever the size: each of the many runs resets and re-syncs it.
      sandboxes = await startSandboxes({ devices: 10, seed: 51 });
      const storeUrl = join(dir, `${o.source}-baseline.sqlite`);
      const jobs = await syncInProcess(sandboxes.config(storeUrl, flows), ['ot-inventory']);
      expect(jobs['ot-inventory']).toMatchObject({ outcome: 'ok', errors: 0 });
      baseline = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=cmdb_ci')).tables
        .cmdb_ci;
    });
    afterAll(async () => sandboxes?.close());

    it(
      'reports each malformed record by its position, writes each well-formed one exactly once under its exact name, and nothing else',
      async () => {
        let run = 0;
        await fc.assert(
          fc.asyncProperty(
            generatedRecords,
            fc.array(o.malformed, { minLength: 1, maxLength: 8 }),
            async ({ wellFormed, duplicates }, malformed) => {
              run++;
              await resetSandboxes(sandboxes);
              const shape = (r: WellFormed) => o.shape(sandboxes, r);
              await o.inject(sandboxes, [...malformed, ...wellFormed.map(shape), ...duplicates.map(shape)]);
              const storeUrl = join(dir, `${o.source}-run-${run}.sqlite`);
              const summary = (await syncInProcess(sandboxes.config(storeUrl, flows), ['ot-inventory']))[
                'ot-inventory'
              ]!;
              await expectReportedAndWrittenExactly(sandboxes, {
                storeUrl,
                summary,
                reasonPrefix: `malformed device record skipped (${o.reasonSource}`,
                // The real devices come first, all on one page.
                malformedPositions: malformed.map((_, i) => o.realDevices(sandboxes) + i),
                names: wellFormed.map((r, i) =>
                  i === 0 && duplicates[0] ? [r.name, duplicates[0].name] : [r.name],
                ),
                ips: new Set(wellFormed.flatMap((r) => r.ipAddresses)),
                baseline,
              });
            },
          ),
          propertyRuns(o.ciSeed, `ot-inventory from ${o.label}`),
        );
      },
      SCENARIO_TIMEOUT_MS,
    );
  });
}

sourceProperty({
  source: 'sensor',
  label: 'a sensor',
  ciSeed: 12,
  realDevices: (sandboxes) =>
    sandboxes.estate.devices.filter((d) => d.sensorId === seeingSensor(sandboxes).id).length,
  malformed: malformedRecord,
  reasonSource: 'sensor ',
  shape: (_, r) => r,
  inject: (sandboxes, records) =>
    sandboxes.control('defender', 'POST', `/_sandbox/sensors/${seeingSensor(sandboxes).name}/raw-devices`, {
      records,
    }),
});

sourceProperty({
  source: 'resourceGraph',
  realDevices: (sandboxes) => sandboxes.estate.devices.length,
  label: 'Resource Graph',
  ciSeed: 13,
  malformed: malformedRow,
  reasonSource: 'resourcegraph IoT devices',
  shape: (sandboxes, r) => {
    const sensor = seeingSensor(sandboxes);
    const subscriptionId = sensor.site.subscriptionId;
    return {
      id: `/subscriptions/${subscriptionId}/providers/Microsoft.IoTSecurity/locations/europe/deviceGroups/bad-input/devices/bad-input-${r.id}`,
      name: `bad-input-${r.id}`,
      type: DEVICE_TYPE,
      subscriptionId,
      location: 'europe',
      properties: {
        deviceDataSource: 'OtSensor',
        deviceName: r.name,
        deviceSubTypeDisplayName: r.type,
        hardware: { vendor: r.vendor },
        operatingSystem: r.operatingSystem === null ? null : { distribution: r.operatingSystem },
        sensor: { name: sensor.name, zone: sensor.zone, site: sensor.site.displayName },
        nics: r.ipAddresses.map((ipv4Address) => ({ ipv4Address })),
      },
    };
  },
  inject: (sandboxes, records) =>
    sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
      type: DEVICE_TYPE,
      records,
    }),
});

/** Console v3 device records that must be reported and skipped, each on its own. */
const malformedConsoleDevice = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
  hostileText.map((name) => ({ u_name: name })),
  fc.record({ u_id: badId, u_name: hostileText }),
  fc
    .tuple(
      hostileText,
      fc.constantFrom<[string, unknown]>(
        ['u_name', 42],
        ['u_ip_address_objects', 'not a list'],
        ['u_ip_address_objects', [{ u_guessed_mac_addresses: [] }]],
        ['u_device_type', 7],
        ['u_sensor_ids', 'not a list'],
        ['u_last_update', 'yesterday'],
        ['u_firmwares', {}],
      ),
      fc.integer({ min: 2_000_000, max: 2_999_999 }),
    )
    .map(([name, [field, value], id]) => ({ u_id: id, u_name: name, [field]: value })),
);

sourceProperty({
  source: 'console',
  label: 'the console',
  realDevices: (sandboxes) => sandboxes.estate.devices.length,
  ciSeed: 14,
  malformed: malformedConsoleDevice,
  reasonSource: 'management console /external/v3/integration/devices',
  shape: (sandboxes, r) => ({
    u_id: r.id,
    u_name: r.name,
    u_vendor: r.vendor,
    u_operating_system: r.operatingSystem,
    u_device_type: { u_name: r.type },
    u_ip_address_objects: r.ipAddresses.map((ip) => ({ u_ip_address: ip })),
    u_sensor_ids: [{ u_sensor_id: seeingSensor(sandboxes).id }],
  }),
  inject: (sandboxes, records) =>
    sandboxes.control('defender', 'POST', '/_sandbox/console/raw-records', { list: 'devices', records }),
});
