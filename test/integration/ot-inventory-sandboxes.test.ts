import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { referenceValue, stringValue } from '../../src/servicenow/values.js';
import { openStore } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { SUBTYPE_CLASS, expectedClass } from '../support/connector-classes.js';
import { ciNameOf } from '../support/estate.js';
import { syncOnce } from '../support/sync.js';

/**
 * ot-inventory end to end: the real Defender sources and ServiceNow client against both
 * sandboxes, the CMDB compared with what the generated estate says it should hold.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-oti-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serviceNowWrites(sandboxes: Sandboxes): Promise<number> {
  return (await sandboxes.control('servicenow', 'GET', '/_sandbox/stats')).writes;
}

describe.each(['console', 'sensor', 'resourceGraph'] as const)(
  'ot-inventory from the %s source against both sandboxes',
  (source) => {
    let sandboxes: Sandboxes;
    let loaded: LoadedConfig;
    const storeUrl = join(dir, `${source}.sqlite`);

    beforeAll(async () => {
      sandboxes = await startSandboxes({ devices: 160, seed: 7 });
      loaded = sandboxes.config(storeUrl, {
        otInventory: { source, sensorValidation: 'auto', batchSize: 50 },
      });
    });
    afterAll(async () => sandboxes?.close());

    it('puts every device of a fed sensor in the right class with its OT details, NICs, IPs and Detects relation', async () => {
      const { summary } = await syncOnce(loaded, storeUrl);
      const result = summary.jobs['ot-inventory']!;
      expect(result, String(result.error)).toMatchObject({ outcome: 'ok' });

      const { estate } = sandboxes;
      // The sensor API can not say a sensor is learning or disconnected; the console can.
      const fedSensors = estate.sensors.filter((s) =>
        source === 'sensor' ? s.connected : s.connected && !s.learningMode,
      );
      const fedIds = new Set(fedSensors.map((s) => s.id));
      const expected = estate.devices.filter((d) => fedIds.has(d.sensorId));
      expect(expected.length).toBeGreaterThan(50);

      const counters = new RequestCounters();
      const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters,
      });
      try {
        const devices = await client.listAll('cmdb_ci_hardware', {
          fields: ['sys_id', 'name', 'sys_class_name', 'serial_number', 'install_status'],
          pageSize: 500,
        });
        const byName = new Map(devices.map((d) => [String(d.name), d]));
        // The sensor API reports a device's own serial only for devices without modules; the
        // console never does; Resource Graph always does (hardware.serialNumber).
        const serialOf = (d: (typeof expected)[number]) =>
          source === 'resourceGraph' || (source === 'sensor' && d.modules.length === 0)
            ? d.serialNumber
            : undefined;
        // The subtype as the source names it: the sensor API's `type` (the console's
        // `u_device_type.u_name` alike), Resource Graph's `deviceSubTypeDisplayName`.
        const subTypeOf = (d: (typeof expected)[number]) =>
          source === 'resourceGraph' ? d.subTypeDisplayName : d.type;
        const classOf = (d: (typeof expected)[number]) => expectedClass(subTypeOf(d), d.operatingSystem);
        // Every row of the connector's table is exercised from this source.
        expect(new Set(expected.map((d) => d.subTypeDisplayName))).toEqual(
          new Set([...Object.keys(SUBTYPE_CLASS), 'OPC Server', 'SCADA Server']),
        );
        const expectedDump = expected.map((d) => `${classOf(d)}|${ciNameOf(d)}|${serialOf(d)}`).sort();
        const actualDump = expected.map((d) => {
          const ci = byName.get(ciNameOf(d));
          return `${stringValue(ci?.sys_class_name)}|${stringValue(ci?.name)}|${stringValue(ci?.serial_number)}`;
        });
        expect(actualDump.sort()).toEqual(expectedDump);
        // Devices of sensors that do not feed are not in the CMDB.
        const unfed = estate.devices.filter((d) => !fedIds.has(d.sensorId));
        for (const d of unfed) expect(byName.has(ciNameOf(d))).toBe(false);

        const zones = new Map(estate.zones.map((z) => [z.id, z.name]));
        const entities = await client.listAll('cmdb_ot_entity', {
          fields: ['ot_device', 'zone', 'ot_correlation_id'],
          pageSize: 500,
        });
        const entityOf = new Map(entities.map((e) => [referenceValue(e.ot_device), e]));
        const ips = await client.listAll('cmdb_ci_ip_address', {
          fields: ['sys_id', 'ip_address'],
          pageSize: 1000,
        });
        const ipSysId = new Map(ips.map((ip) => [String(ip.ip_address), ip.sys_id]));
        const relations = await client.listAll('cmdb_rel_ci', {
          fields: ['parent', 'child', 'type.name'],
          pageSize: 2000,
        });
        const owns = new Set(
          relations
            .filter((r) => r['type.name'] === 'Owns::Owned by')
            .map((r) => `${referenceValue(r.parent)}>${referenceValue(r.child)}`),
        );
        const detects = new Set(
          relations
            .filter((r) => r['type.name'] === 'Detects::Detected by')
            .map((r) => referenceValue(r.child)),
        );
        for (const d of expected) {
          const ci = byName.get(ciNameOf(d))!;
          expect(stringValue(entityOf.get(ci.sys_id)?.zone)).toBe(zones.get(d.zoneId));
          for (const nic of d.nics) expect(owns.has(`${ci.sys_id}>${ipSysId.get(nic.ip)}`)).toBe(true);
          expect(detects.has(ci.sys_id)).toBe(true);
        }
        // Resource Graph has no connections; the other two sources do.
        const connections = await client.count('sn_ot_device_network_connection');
        if (source === 'resourceGraph') expect(connections).toBe(0);
        else expect(connections).toBeGreaterThan(0);
      } finally {
        await close();
      }
    });

    it('makes no write request on a second, unchanged run', async () => {
      const before = await serviceNowWrites(sandboxes);
      const { summary } = await syncOnce(loaded, storeUrl);
      expect(summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok', created: 0, updated: 0 });
      // Reads only: the reference tables (OT device types, life cycle, companies) are read each run.
      expect(await serviceNowWrites(sandboxes)).toBe(before);
    });

    it('sends exactly one update when one device changes in Defender', async () => {
      const fed = sandboxes.estate.sensors.find((s) => s.connected && !s.learningMode)!;
      const device = sandboxes.estate.devices.find((d) => d.sensorId === fed.id)!;
      await sandboxes.control('defender', 'PATCH', `/_sandbox/devices/${device.id}`, {
        vendor: 'Renamed Vendor GmbH',
      });
      const before = await serviceNowWrites(sandboxes);
      const { summary } = await syncOnce(loaded, storeUrl);
      // The IRE update, and the new vendor's company (manufacturer is a reference to core_company).
      expect(summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok', created: 1, updated: 1 });
      expect((await serviceNowWrites(sandboxes)) - before).toBe(2);
      const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      try {
        const companies = await client.listAll('core_company', { query: 'name=Renamed Vendor GmbH' });
        expect(companies).toHaveLength(1);
        const ci = await client.listAll('cmdb_ci', {
          query: `name=${ciNameOf(device)}`,
          fields: ['manufacturer'],
        });
        expect(referenceValue(ci[0]?.manufacturer)).toBe(companies[0]!.sys_id);
      } finally {
        await close();
      }
    });
  },
);

describe.skipIf(!existsSync('dist/cli.js'))('ot-inventory crash safety', () => {
  let sandboxes: Sandboxes;
  const tables = [
    'cmdb_ci',
    'cmdb_rel_ci',
    'cmdb_ot_entity',
    'cmdb_key_value_v2',
    'sys_object_source',
    'sn_ot_device_network_connection',
  ];

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 120, seed: 11 });
  });
  afterAll(async () => sandboxes?.close());

  function writeConfig(name: string): string {
    const path = join(dir, `${name}.yaml`);
    const loaded = sandboxes.config(join(dir, `${name}.sqlite`), {
      otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 40 },
    });
    writeFileSync(path, stringify(loaded.config));
    return path;
  }

  /** Runs `snowline sync` as its own process; with `killAfterWrite`, kills it -9 once that write is committed and held. */
  async function cliSync(configPath: string, killAfterWrite?: number): Promise<number | null> {
    const child = spawn(
      process.execPath,
      ['dist/cli.js', '--config', configPath, '--log-level', 'silent', 'sync', '--json'],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    if (killAfterWrite !== undefined) {
      for (let i = 0; i < 600; i++) {
        if ((await serviceNowWrites(sandboxes)) >= killAfterWrite) break;
        await sleep(50);
      }
      child.kill('SIGKILL');
    }
    return exited;
  }

  async function dump() {
    return sandboxes.control('servicenow', 'GET', `/_sandbox/dump?tables=${tables.join(',')}`);
  }

  async function reset() {
    await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
    await sandboxes.control('defender', 'POST', '/_sandbox/reset');
  }

  it('leaves no duplicate CI and the same CMDB after kills at chosen write numbers and re-runs', async () => {
    expect(await cliSync(writeConfig('clean'))).toBe(0);
    const clean = await dump();
    const cleanWrites = await serviceNowWrites(sandboxes);
    expect(cleanWrites).toBeGreaterThan(3);

    // Kill points from the clean run's write numbers: the first write, one in the middle, the last.
    for (const killAt of [1, Math.ceil(cleanWrites / 2), cleanWrites]) {
      await reset();
      const config = writeConfig(`crash-${killAt}`);
      // The held write is committed but never answered: the kill lands between the IRE commit and the ledger.
      await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { holdWrite: killAt });
      await cliSync(config, killAt);
      await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
      expect(await cliSync(config)).toBe(0);
      const after = await dump();
      expect(after).toEqual(clean);
      const sources = (
        await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=sys_object_source')
      ).tables.sys_object_source as Record<string, unknown>[];
      const ids = sources.map((s) => `${String(s.name)}|${String(s.id)}`);
      expect(new Set(ids).size).toBe(ids.length);
    }
  }, 300_000);
});

describe('ot-inventory under a rate budget smaller than the work', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 120, seed: 5 });
  });
  afterAll(async () => sandboxes?.close());

  it('defers on a long Retry-After, persists the deferral, and resumes with nothing lost or repeated', async () => {
    const flows = { otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 20 } };
    // A clean run on a fresh instance gives the state to reach.
    const clean = sandboxes.config(join(dir, 'budget-clean.sqlite'), flows);
    expect(
      (await syncOnce(clean, join(dir, 'budget-clean.sqlite'))).summary.jobs['ot-inventory']!.outcome,
    ).toBe('ok');
    const tables = 'cmdb_ci,cmdb_rel_ci,cmdb_ot_entity,sys_object_source,sn_ot_device_network_connection';
    const expected = await sandboxes.control('servicenow', 'GET', `/_sandbox/dump?tables=${tables}`);
    await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
    await sandboxes.control('defender', 'POST', '/_sandbox/reset');

    // The instance allows 4 IRE requests an hour: far less than the work, and its Retry-After is
    // longer than the 60 s Snowline waits in-process.
    await sandboxes.control('servicenow', 'POST', '/_sandbox/rate-limits', {
      rules: [{ name: 'ire hourly', limit: 4, windowSeconds: 3600, apis: ['ire'] }],
    });
    const storeUrl = join(dir, 'budget.sqlite');
    const limited = sandboxes.config(storeUrl, flows);
    const first = await syncOnce(limited, storeUrl);
    const deferred = first.summary.jobs['ot-inventory']!;
    expect(deferred).toMatchObject({ outcome: 'deferred', retryAt: expect.any(String) });
    const store = await openStore(storeUrl);
    const pending = await store.db.selectFrom('deferred_work').selectAll().execute();
    expect(pending).toMatchObject([
      { flow: 'ot-inventory', kind: 'run-resume', not_before: deferred.retryAt },
    ]);
    await store.close();

    // An hour later the window has reset.
    await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', { advanceSeconds: 3600 });
    await sandboxes.control('servicenow', 'POST', '/_sandbox/rate-limits', { rules: [] });
    const second = await syncOnce(limited, storeUrl);
    expect(second.summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok' });

    expect(await sandboxes.control('servicenow', 'GET', `/_sandbox/dump?tables=${tables}`)).toEqual(expected);
    const after = await openStore(storeUrl);
    try {
      expect(await after.db.selectFrom('deferred_work').selectAll().execute()).toEqual([]);
      // Nothing repeated: every entity was created exactly once across the two runs.
      const creates = await after.db
        .selectFrom('ledger_event')
        .select(['entity', 'entity_key'])
        .where('action', '=', 'create')
        .execute();
      const keys = creates.map((c) => `${c.entity}/${c.entity_key}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBe(
        first.summary.jobs['ot-inventory']!.created + second.summary.jobs['ot-inventory']!.created,
      );
    } finally {
      await after.close();
    }
  });
});
