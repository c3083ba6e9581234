import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import {
  aimedAt,
  RESOURCE_GRAPH_DEVICE,
  RESOURCE_GRAPH_SENSOR,
  resourceGraphDeviceRow,
  resourceGraphSensorRow,
  serviceNowRows,
} from './injection-support.js';
import { SCENARIO_TIMEOUT_MS, syncInProcess } from './support.js';

/**
 * Injection end to end (issue #25), for the keys Defender gives its records, as ot-inventory
 * looks them up on the instance: a device's or sensor's old source key (`<integration>:device:<id>`,
 * the row's `name`) in `sys_object_source.id`, before the row moves to the Azure resource id
 * (native-keys.ts), and a sensor's key (its Azure resource id) in `cmdb_ci_nids.correlation_id`,
 * where an admin validated it (sensorValidation servicenow). Azure names a device by a GUID and
 * gives it an ARM id; Snowline does not rely on that: rows made of query syntax are set through
 * the Defender sandbox's Resource Graph, go through the real flow against the ServiceNow sandbox,
 * whose parser reads `^^` as the instance does, and each key finds exactly its own record or none.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-inj-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A device, or a sensor, made by the same row index: distinct addresses for each. */
const address = (i: number) => ({
  ip: `10.250.${Math.floor(i / 200)}.${(i % 200) + 1}`,
  mac: `02:49:4e:4a:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
});

describe("devices' old source keys made of query syntax, moved in sys_object_source", () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 30, seed: 86 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'moves exactly the rows under each device’s own old key, and leaves the victim’s alone',
    async () => {
      const loaded = sandboxes.config(join(dir, 'keys.sqlite'), {
        otInventory: { source: 'resourceGraph', sensorValidation: 'auto', batchSize: 25 },
      });
      const dataSource = 'Snowline';
      const legacy = (deviceId: string) => `sandbox:device:${deviceId}`;
      // A CI Snowline 0.1 wrote for a device Defender no longer reports: every hostile key aims at its row.
      const victimKey = legacy('victim-1');
      /** Device ids whose old key has no row: nothing is found, the device gets its own CI. */
      const hostile = aimedAt('id', victimKey);
      /** Device ids whose old key has a row (query syntax, comma, unicode, the victim's key's prefix and extension): that row moves. */
      const intended = [
        'o^brien-1',
        `intended^NQid=${victimKey}`,
        `intended^ORid=${victimKey}`,
        'zoë ñandú-1',
        'acme,1',
        'victim',
        'victim-1x',
      ];
      // Hostile ids first: one that broke its IN list would hide the intended keys listed after it.
      const rows = [...hostile, ...intended].map((deviceId, i) =>
        resourceGraphDeviceRow(sandboxes, { deviceId, name: `inj-native-${i}`, ...address(i) }),
      );
      const nativeKey = new Map(rows.map((r) => [r.name as string, r.id as string]));
      /** Rows whose id is no Azure resource id: the victim's own key, and a script. Reported, never keyed. */
      const notAzure = [victimKey, 'javascript:gs.getUserID()'].map((id, i) =>
        resourceGraphDeviceRow(sandboxes, {
          deviceId: `not-azure-${i}`,
          id,
          name: `inj-not-azure-${i}`,
          ...address(rows.length + i),
        }),
      );
      await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
        type: RESOURCE_GRAPH_DEVICE,
        records: [...rows, ...notAzure],
      });

      const cis = (
        await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
          cmdb_ci_ot_plc: ['victim-1', ...intended].map((d) => ({ name: `old ${d}` })),
        })
      ).result.cmdb_ci_ot_plc as string[];
      const [victimCi, ...intendedCis] = cis;
      const ciOf = new Map(intended.map((d, i) => [d, intendedCis[i]!]));
      const sources = (
        await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
          sys_object_source: ['victim-1', ...intended].map((d, i) => ({
            name: dataSource,
            id: legacy(d),
            target_table: 'cmdb_ci_ot_plc',
            target_sys_id: cis[i],
          })),
        })
      ).result.sys_object_source as string[];
      const [victimRow, ...intendedRows] = sources;
      // The integration user may update sys_object_source (as an admin may): the moves are made.
      await sandboxes.control('servicenow', 'POST', '/_sandbox/users', {
        user_name: 'snowline.oauth.app',
        password: 'unused-by-oauth',
        roles: ['admin'],
      });
      const fields = ['sys_id', 'name', 'id', 'target_sys_id', 'sys_mod_count'];
      const victimBefore = (
        await serviceNowRows(loaded, 'cmdb_ci', ['sys_id', 'name', 'sys_mod_count'])
      ).find((r) => r.sys_id === victimCi);

      for (const run of [1, 2]) {
        const summary = (await syncInProcess(loaded, ['ot-inventory']))['ot-inventory']!;
        expect(summary.outcome, `run ${run}: ${JSON.stringify(summary)}`).toBe('ok');
        const after = await serviceNowRows(loaded, 'sys_object_source', fields);
        const byId = (id: string) => after.filter((r) => r.id === id);

        // The victim: its row as it was, the only one on its CI, and the CI untouched.
        expect(
          after.filter((r) => r.target_sys_id === victimCi),
          `run ${run}: rows on the victim CI`,
        ).toEqual([
          { sys_id: victimRow, name: dataSource, id: victimKey, target_sys_id: victimCi, sys_mod_count: '0' },
        ]);
        expect(
          (await serviceNowRows(loaded, 'cmdb_ci', ['sys_id', 'name', 'sys_mod_count'])).find(
            (r) => r.sys_id === victimCi,
          ),
          `run ${run}: the victim CI`,
        ).toEqual(victimBefore);

        // Each intended device: its own row moved to its Azure resource id, on its own CI; none left under the old key.
        for (const [i, d] of intended.entries()) {
          expect(
            { device: d, rows: byId(nativeKey.get(d)!).map((r) => [r.sys_id, r.target_sys_id]) },
            `run ${run}`,
          ).toEqual({ device: d, rows: [[intendedRows[i], ciOf.get(d)]] });
          expect(byId(legacy(d)), `run ${run}: ${JSON.stringify(d)} under its old key`).toEqual([]);
        }
        // Each hostile device: one row under its Azure resource id, on a CI of its own.
        const taken = new Set([victimCi, ...intendedCis]);
        for (const d of hostile) {
          const own = byId(nativeKey.get(d)!);
          expect({ device: d, rows: own.length }, `run ${run}`).toEqual({ device: d, rows: 1 });
          expect(taken.has(own[0]!.target_sys_id), `run ${run}: CI of ${JSON.stringify(d)}`).toBe(false);
          taken.add(own[0]!.target_sys_id);
        }
      }

      // No CI for the rows whose id is no Azure resource id.
      const names = new Set((await serviceNowRows(loaded, 'cmdb_ci', ['name'])).map((r) => r.name));
      expect(notAzure.map((_, i) => names.has(`inj-not-azure-${i}`))).toEqual([false, false]);

      // The ledger says one move per intended device, and none other; each row that is no Azure resource is reported.
      const store = await openStore(loaded.config.store.url);
      try {
        const ledger = await queryLedger(store.db, { integrationId: 'sandbox', flow: 'ot-inventory' });
        const moves = ledger.filter((e) => e.reason.startsWith('source key moved from')).map((e) => e.reason);
        for (const row of notAzure)
          expect(
            ledger.filter(
              (e) =>
                e.action === 'error' &&
                e.entity_key === row.id &&
                e.reason.includes('not an Azure resource id'),
            ).length,
            `${String(row.id)} reported`,
          ).toBeGreaterThan(0);
        expect(moves.sort()).toEqual(
          intended
            .map(
              (d) =>
                `source key moved from ${legacy(d)} to ${nativeKey.get(d)}, the Azure resource id ServiceNow's Defender for IoT connector keys it by`,
            )
            .sort(),
        );
      } finally {
        await store.close();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});

describe('sensor keys made of query syntax, looked up among validated sensors', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 30, seed: 87 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'feeds devices only from sensors whose own key an admin validated',
    async () => {
      const loaded = sandboxes.config(join(dir, 'sensors.sqlite'), {
        otInventory: { source: 'resourceGraph', sensorValidation: 'servicenow', batchSize: 25 },
      });
      const { subscriptionId, location, name: site } = sandboxes.estate.sites[0]!;
      const armId = (name: string) =>
        `/subscriptions/${subscriptionId}/providers/Microsoft.IoTSecurity/locations/${location}/sites/${site}/sensors/${name}`;
      // A sensor an admin validated that Defender no longer reports: every hostile key aims at it.
      const victimKey = armId('victim-sensor');
      /**
       * Sensor keys (their `id`, an Azure resource id with query syntax after it) no validated
       * sensor carries: their devices are not written. The script is no Azure resource id: the
       * sensor is reported and feeds nothing.
       */
      const hostile = aimedAt('correlation_id', victimKey).map((h) =>
        h.startsWith('javascript:') ? h : `${armId('nobody')}${h}`,
      );
      /** Sensor keys made of query syntax that an admin validated, exactly: their devices are written. */
      const intended = [`${armId('o^brien')}^NQcorrelation_id=${victimKey}`, `${armId('zoë')},${victimKey}`];
      const sensors = [...hostile, ...intended].map((id, i) => ({ id, name: `inj-sensor-${i}` }));
      await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
        type: RESOURCE_GRAPH_SENSOR,
        records: sensors.map((s) => resourceGraphSensorRow(sandboxes, s)),
      });
      await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
        type: RESOURCE_GRAPH_DEVICE,
        records: sensors.map((s, i) =>
          resourceGraphDeviceRow(sandboxes, {
            deviceId: `inj-sensor-device-${i}`,
            name: `inj-sensor-device-${i}`,
            sensor: s.name,
            ...address(i),
          }),
        ),
      });
      const seeded = (
        await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
          cmdb_ci_nids: [victimKey, ...intended].map((correlation_id, i) => ({
            name: i === 0 ? 'victim-sensor' : `validated ${i}`,
            correlation_id,
            validated: 'true',
          })),
        })
      ).result.cmdb_ci_nids as string[];
      const nidsFields = ['sys_id', 'name', 'correlation_id', 'validated', 'sys_mod_count'];
      const victimBefore = (await serviceNowRows(loaded, 'cmdb_ci_nids', nidsFields)).find(
        (r) => r.sys_id === seeded[0],
      );

      const summary = (await syncInProcess(loaded, ['ot-inventory']))['ot-inventory']!;
      expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

      const names = new Set((await serviceNowRows(loaded, 'cmdb_ci_ot_plc', ['name'])).map((r) => r.name));
      for (const [i, s] of sensors.entries())
        expect({ sensor: s.id, written: names.has(`inj-sensor-device-${i}`) }).toEqual({
          sensor: s.id,
          written: intended.includes(s.id),
        });
      const store = await openStore(loaded.config.store.url);
      try {
        const reported = (
          await queryLedger(store.db, { integrationId: 'sandbox', action: 'error', entity: 'sensor' })
        ).filter((e) => e.reason.includes('not an Azure resource id'));
        expect(reported.map((e) => e.entity_key)).toEqual(['javascript:gs.getUserID()']);
      } finally {
        await store.close();
      }
      const nids = await serviceNowRows(loaded, 'cmdb_ci_nids', nidsFields);
      expect(
        nids.find((r) => r.sys_id === seeded[0]),
        'the victim sensor',
      ).toEqual(victimBefore);
      // No sensor record is written under the victim's key but the victim's own.
      expect(nids.filter((r) => r.correlation_id === victimKey).map((r) => r.sys_id)).toEqual([seeded[0]]);
      // Nothing is detected by the victim sensor.
      const detected = await serviceNowRows(loaded, 'cmdb_rel_ci', ['parent']);
      expect(detected.filter((r) => r.parent === seeded[0])).toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
