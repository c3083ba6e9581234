import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { reliabilityDevices, resetSandboxes, SCENARIO_TIMEOUT_MS, syncInProcess } from './support.js';

/**
 * Bad input from Defender: a sensor that sends, after its real devices, records fast-check
 * generates — not objects, missing or mistyped ids and fields, duplicate ids, huge strings,
 * unicode, and names made of ServiceNow query syntax (`^`, `^NQ`, `^OR`). Each malformed record
 * is reported on its own, the run completes, and no value reaches ServiceNow as a query
 * condition: the real devices' CIs stay exactly as a clean run left them.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Strings that mean something in an encoded query, alone or around other text. */
const queryFragments = [
  '^',
  '^NQ',
  '^NQsys_idISNOTEMPTY',
  '^ORsys_id!=0',
  'name!=x^NQname=y',
  'sys_class_name=cmdb_ci_ot_plc',
  'javascript:gs.getUserID()',
  '%',
  '=',
  ',',
];

const hostileText = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.constantFrom(...queryFragments),
  fc
    .tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...queryFragments), fc.string({ maxLength: 8 }))
    .map(([a, q, b]) => `${a}${q}${b}`),
  // Huge: far beyond any ServiceNow field length.
  fc.string({ minLength: 1, maxLength: 4 }).map((s) => s.repeat(20_000).slice(0, 60_000)),
);

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
  .tuple(
    fc.array(malformedRecord, { minLength: 1, maxLength: 8 }),
    fc.uniqueArray(hostileRecord, { minLength: 1, maxLength: 6, selector: (r) => r.name }),
    fc.boolean(),
  )
  .map(([malformed, hostile, duplicate]) => {
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
    return { malformed, wellFormed, duplicates };
  });

/**
 * How many generated inputs the property tries, and from which seed: 50 from a fixed seed in
 * `npm test` (the same inputs on every CI run), 500 from a fresh seed at soak size, printed so
 * that a failure can be replayed with `SNOWLINE_BAD_INPUT_SEED`.
 */
function propertyRuns(): { numRuns: number; seed: number } {
  const soak = reliabilityDevices() > 500;
  const fixed = process.env.SNOWLINE_BAD_INPUT_SEED;
  const seed = fixed ? Number(fixed) : soak ? Math.floor(Math.random() * 2 ** 31) : 12;
  if (soak || fixed) process.stdout.write(`bad-input: fast-check seed ${seed} (SNOWLINE_BAD_INPUT_SEED)\n`);
  return { numRuns: soak ? 500 : 50, seed };
}

describe('ot-inventory given malformed and hostile Defender records', () => {
  let sandboxes: Sandboxes;
  let sensorName: string;
  /** How many devices the sensor reports before the generated records: their positions start here. */
  let realDevices: number;
  let baseline: Record<string, string>[];
  const flows = { otInventory: { source: 'sensor', sensorValidation: 'auto', batchSize: 50 } };

  beforeAll(async () => {
    // A small estate whatever the size: each of the many runs resets and re-syncs it.
    sandboxes = await startSandboxes({ devices: 10, seed: 51 });
    const sensor = sandboxes.estate.sensors.find((s) => s.connected)!;
    sensorName = sensor.name;
    realDevices = sandboxes.estate.devices.filter((d) => d.sensorId === sensor.id).length;
    const storeUrl = join(dir, 'baseline.sqlite');
    const jobs = await syncInProcess(sandboxes.config(storeUrl, flows), ['ot-inventory']);
    expect(jobs['ot-inventory']).toMatchObject({ outcome: 'ok', errors: 0 });
    baseline = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=cmdb_ci')).tables.cmdb_ci;
  });
  afterAll(async () => sandboxes?.close());

  it(
    'reports each malformed record by its position, writes each well-formed one exactly once under its exact name, and nothing else',
    async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(generatedRecords, async ({ malformed, wellFormed, duplicates }) => {
          run++;
          await resetSandboxes(sandboxes);
          // Malformed records first, so that their positions in the sensor's answer are known.
          const records = [...malformed, ...wellFormed, ...duplicates];
          await sandboxes.control('defender', 'POST', `/_sandbox/sensors/${sensorName}/raw-devices`, {
            records,
          });
          const storeUrl = join(dir, `run-${run}.sqlite`);
          const summary = (await syncInProcess(sandboxes.config(storeUrl, flows), ['ot-inventory']))[
            'ot-inventory'
          ]!;

          // The run completes.
          expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

          // Each malformed record is its own error event, found by its position in the answer.
          const store = await openStore(storeUrl);
          const reported = await store.db
            .selectFrom('ledger_event')
            .select(['entity_key', 'reason'])
            .where('action', '=', 'error')
            .execute();
          await store.close();
          const positions = reported.map((r) => {
            const m = /^malformed device record skipped \(sensor [^,]+, record (\d+)\)/.exec(r.reason ?? '');
            expect(m, r.reason ?? '').not.toBeNull();
            return Number(m![1]);
          });
          expect(positions.sort((x, y) => x - y)).toEqual(malformed.map((_, i) => realDevices + i));
          expect(summary.errors).toBe(malformed.length);

          const after = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=cmdb_ci')).tables
            .cmdb_ci as Record<string, string>[];
          // No value became a query condition: every CI of a real device is exactly as a clean run left it.
          const afterByKey = new Map(after.map((row) => [row._key, row]));
          for (const row of baseline) expect(afterByKey.get(row._key)).toEqual(row);

          // Each well-formed record is one CI under its exact name; the duplicate id is that same
          // CI (one of its two names, the sensor's later record winning), never a second.
          const added = after.filter((row) => !baseline.some((b) => b._key === row._key));
          const expectedNames = wellFormed.map((r, i) =>
            i === 0 && duplicates[0] ? [r.name, duplicates[0].name] : [r.name],
          );
          for (const names of expectedNames) {
            const copies = added.filter((row) => names.includes(row.name!));
            expect(copies.length, `CIs named ${JSON.stringify(names.map((n) => n.slice(0, 40)))}`).toBe(1);
          }
          // Nothing else: every added CI is one of the well-formed records' (a device, or its NIC / IP).
          const named = new Set(expectedNames.flat());
          const ips = new Set(wellFormed.flatMap((r) => r.ipAddresses));
          for (const row of added)
            expect(
              named.has(row.name!) || ips.has(row.name!) || ips.has(row.ip_address!),
              JSON.stringify(row).slice(0, 300),
            ).toBe(true);
        }),
        propertyRuns(),
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});
