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

describe('ot-inventory given malformed and hostile Defender records', () => {
  let sandboxes: Sandboxes;
  let sensorName: string;
  let baseline: Record<string, string>[];
  const flows = { otInventory: { source: 'sensor', sensorValidation: 'auto', batchSize: 50 } };

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: reliabilityDevices(), seed: 51 });
    sensorName = sandboxes.estate.sensors.find((s) => s.connected)!.name;
    const storeUrl = join(dir, 'baseline.sqlite');
    const jobs = await syncInProcess(sandboxes.config(storeUrl, flows), ['ot-inventory']);
    expect(jobs['ot-inventory']).toMatchObject({ outcome: 'ok', errors: 0 });
    baseline = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=cmdb_ci')).tables.cmdb_ci;
  });
  afterAll(async () => sandboxes?.close());

  it(
    'reports each malformed record, writes the rest as they are, and changes no other CI',
    async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(generatedRecords, async ({ malformed, wellFormed, duplicates }) => {
          run++;
          await resetSandboxes(sandboxes);
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

          // Each malformed record is reported on its own, in the summary and the ledger.
          const store = await openStore(storeUrl);
          const reported = await store.db
            .selectFrom('ledger_event')
            .select(['entity_key', 'reason'])
            .where('action', '=', 'error')
            .execute();
          await store.close();
          expect(reported.length, JSON.stringify(reported)).toBeGreaterThanOrEqual(malformed.length);
          expect(summary.errors).toBe(reported.length);
          for (const r of reported) expect(r.reason).toMatch(/malformed .* record skipped/);

          const after = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=cmdb_ci')).tables
            .cmdb_ci as Record<string, string>[];
          // No value became a query condition: every CI of a real device is exactly as a clean run left it.
          const afterByKey = new Map(after.map((row) => [row._key, row]));
          for (const row of baseline) expect(afterByKey.get(row._key)).toEqual(row);

          // Each well-formed record is in the CMDB under its exact name (or reported); a duplicate id is one CI.
          const names = new Set(after.map((row) => row.name));
          const written = wellFormed.filter(
            (r) => names.has(r.name) || (duplicates[0]?.id === r.id && names.has(duplicates[0].name)),
          );
          expect(written.length + reported.length - malformed.length).toBeGreaterThanOrEqual(
            wellFormed.length,
          );
          if (duplicates[0]) {
            const copies = [wellFormed[0]!.name, duplicates[0].name].filter((n) => names.has(n));
            expect(copies.length).toBeLessThanOrEqual(1);
          }
          expect(after.length).toBeLessThanOrEqual(baseline.length + wellFormed.length * 3);
        }),
        { numRuns: reliabilityDevices() > 500 ? 25 : 5, seed: 12, endOnFailure: true },
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});
