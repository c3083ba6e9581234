import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { referenceValue, stringValue } from '../../src/servicenow/values.js';
import { openStore } from '../../src/store/store.js';
import type { Estate } from '../../sandbox/dataset/index.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { ciNameOf } from '../support/estate.js';
import { vrReferenceNames } from '../support/vr.js';
import { syncOnce } from '../support/sync.js';

/**
 * ot-vulnerabilities end to end: ot-inventory then ot-vulnerabilities through the runner, with
 * the real Defender sources and ServiceNow client against both sandboxes; the open detections
 * and vulnerable items compared with the device-CVE pairs the generated estate holds.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-otv-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface WriteCounts {
  /** Outer write requests (a Batch call is one). */
  readonly writes: number;
  /** Writes run inside Batch calls. */
  readonly inner: number;
}

async function serviceNowWrites(sandboxes: Sandboxes): Promise<WriteCounts> {
  const stats = await sandboxes.control('servicenow', 'GET', '/_sandbox/stats');
  return { writes: stats.writes, inner: stats.batchInner.writes };
}

/** Open detections and vulnerable items as `<device name>|<CVE>`, and the closed items with their substate label. */
async function vulnerabilityResponse(sandboxes: Sandboxes, loaded: LoadedConfig) {
  const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
    clock: systemClock,
    counters: new RequestCounters(),
  });
  try {
    const { ciNames: names, cveIds: cves } = await vrReferenceNames(client);
    const choices = await client.listAll('sys_choice', {
      query: 'nameINsn_vul_detection,sn_vul_vulnerable_item',
      fields: ['name', 'element', 'value', 'label'],
    });
    const label = (table: string, element: string, value: unknown) =>
      stringValue(
        choices.find((c) => c.name === table && c.element === element && c.value === stringValue(value))
          ?.label,
      );
    const pair = (r: Record<string, unknown>) =>
      `${names.get(referenceValue(r.cmdb_ci) ?? '')}|${cves.get(referenceValue(r.vulnerability) ?? '')}`;
    const detections = await client.listAll('sn_vul_detection', {
      fields: ['cmdb_ci', 'vulnerability', 'source', 'status', 'detection_key'],
      pageSize: 1000,
    });
    const items = await client.listAll('sn_vul_vulnerable_item', {
      fields: ['cmdb_ci', 'vulnerability', 'state', 'substate', 'reopen_count'],
      pageSize: 1000,
    });
    const keys = detections.map((d) => `${pair(d)}|${stringValue(d.source)}`);
    return {
      openDetections: detections
        .filter((d) => label('sn_vul_detection', 'status', d.status) === 'Open')
        .map(pair)
        .sort(),
      openItems: items
        .filter((i) => label('sn_vul_vulnerable_item', 'state', i.state) === 'Open')
        .map(pair)
        .sort(),
      closedItems: items
        .filter((i) => label('sn_vul_vulnerable_item', 'state', i.state) === 'Closed')
        .map((i) => `${pair(i)}|${label('sn_vul_vulnerable_item', 'substate', i.substate)}`)
        .sort(),
      reopenCount: new Map(items.map((i) => [pair(i), stringValue(i.reopen_count)])),
      detectionKeys: detections.map((d) => stringValue(d.detection_key) ?? ''),
      /** One detection per (CI, CVE, source): the number of keys seen twice. */
      duplicates: keys.length - new Set(keys).size,
    };
  } finally {
    await close();
  }
}

/**
 * The Resource Graph vulnerability records of the Defender sandbox, read as ServiceNow's own VR
 * integration reads them (POST …/providers/Microsoft.ResourceGraph/resources, api-version
 * 2021-03-01: support-for-msft-defender-iot-azure.md), as `<device CI name>|<CVE>` of the devices
 * given (those with CIs): what the detections must equal. Read from the sandbox, not from Snowline.
 */
async function graphVulnerabilityPairs(
  sandboxes: Sandboxes,
  devices: Estate['devices'],
  names?: Set<string>,
): Promise<string[]> {
  const byUuid = new Map(devices.map((d) => [d.uuid, d]));
  const pairs: string[] = [];
  const dispatcher = new Agent({ connect: { ca: readFileSync(sandboxes.ready.caFile!) } });
  let skipToken: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const response = await request(
      `${sandboxes.defender.url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`,
      {
        method: 'POST',
        dispatcher,
        headers: {
          authorization: `Bearer ${sandboxes.ready.defender.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          subscriptions: sandboxes.ready.defender.subscriptions,
          query:
            "iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/vulnerabilities' | project id, name, properties",
          options: { $top: 1000, ...(skipToken ? { $skipToken: skipToken } : {}) },
        }),
      },
    );
    const body = (await response.body.json()) as {
      data: { name: string; properties: { deviceId: string; vulnerabilityId: string } }[];
      $skipToken?: string;
    };
    for (const row of body.data) {
      const device = byUuid.get(row.properties.deviceId);
      if (!device) continue;
      pairs.push(`${ciNameOf(device)}|${row.properties.vulnerabilityId}`);
      names?.add(row.name);
    }
    skipToken = body.$skipToken;
    if (!skipToken) break;
  }
  await dispatcher.close();
  return pairs.sort();
}

describe.each([
  { source: 'console', inventory: 'console', rollup: true },
  { source: 'sensor', inventory: 'sensor', rollup: true },
  // The default of a cloud-connected plant: CVEs from Resource Graph, devices recognised among the
  // sensors' by sensor and MAC; on an instance that does not roll Table API detections up.
  { source: 'resourceGraph', inventory: 'sensor', rollup: false },
] as const)(
  'ot-vulnerabilities from the $source source (inventory $inventory, rollup $rollup) against both sandboxes',
  ({ source, inventory, rollup }) => {
    let sandboxes: Sandboxes;
    let loaded: LoadedConfig;
    let expected: string[];
    const storeUrl = join(dir, `${source}.sqlite`);
    /** A fed device with several CVEs (one is removed), and one with a single CVE (it is left with none). */
    let several: { id: number; name: string; cve: string };
    /** The Resource Graph `name` of each vulnerability record of the fed devices. */
    const graphNames = new Set<string>();
    let single: { id: number; name: string; cve: string };

    beforeAll(async () => {
      sandboxes = await startSandboxes({ devices: 150, seed: 13 });
      if (!rollup) await sandboxes.control('servicenow', 'POST', '/_sandbox/config', { vrRollup: false });
      loaded = sandboxes.config(storeUrl, {
        otInventory: { source: inventory, sensorValidation: 'auto', batchSize: 50 },
        otVulnerabilities: { source, batchSize: 50 },
      });
      const { estate } = sandboxes;
      const devices = fedDevices(estate, inventory);
      expected = pairsOf(devices);
      if (source === 'resourceGraph') {
        const graph = await graphVulnerabilityPairs(sandboxes, devices, graphNames);
        expect(graph).toEqual(expected);
        expected = graph;
      }
      const withSeveral = devices.find((d) => d.cves.length >= 2)!;
      const withOne = devices.find((d) => d.cves.length === 1)!;
      several = { id: withSeveral.id, name: ciNameOf(withSeveral), cve: withSeveral.cves[0]! };
      single = { id: withOne.id, name: ciNameOf(withOne), cve: withOne.cves[0]! };
    });
    afterAll(async () => sandboxes?.close());

    it('opens one detection and one vulnerable item per device-CVE pair of the imported devices', async () => {
      const { summary } = await syncOnce(loaded, storeUrl);
      expect(summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok' });
      const result = summary.jobs['ot-vulnerabilities']!;
      expect(result, String(result.error)).toMatchObject({
        outcome: 'ok',
        opened: expected.length,
        closed: 0,
        truncated: 0,
      });
      expect(expected.length).toBeGreaterThan(100);

      const vr = await vulnerabilityResponse(sandboxes, loaded);
      expect(vr.openDetections).toEqual(expected);
      expect(vr.openItems).toEqual(expected);
      // Resource Graph `name` → detection_key, as ServiceNow's Azure VR integration maps it.
      if (source === 'resourceGraph') expect(new Set(vr.detectionKeys)).toEqual(graphNames);
      expect(vr.closedItems).toEqual([]);
      expect(vr.duplicates).toBe(0);

      const disconnected = sandboxes.estate.sensors.filter((s) => !s.connected).length;
      if (source === 'sensor') {
        // A sensor that does not answer is a problem of the run; the others are read.
        expect(result.problems).toBe(disconnected);
      } else if (source === 'resourceGraph') {
        // Devices of sensors that did not answer ot-inventory are not recognised: their CVEs wait.
        const unfed = sandboxes.estate.devices.filter(
          (d) =>
            d.cves.length > 0 && sandboxes.estate.sensors.some((s) => s.id === d.sensorId && !s.connected),
        );
        expect(result.pending).toBe(unfed.reduce((n, d) => n + d.cves.length, 0));
      } else {
        // Devices of sensors that do not feed have no CI: their CVEs wait, nothing is written for them.
        const unfed = sandboxes.estate.devices.filter(
          (d) =>
            d.cves.length > 0 &&
            sandboxes.estate.sensors.some((s) => s.id === d.sensorId && (!s.connected || s.learningMode)),
        );
        expect(result.pending).toBe(unfed.reduce((n, d) => n + d.cves.length, 0));
      }
    });

    it('makes no write request on a second, unchanged run', async () => {
      const before = await serviceNowWrites(sandboxes);
      const { summary } = await syncOnce(loaded, storeUrl);
      expect(summary.jobs['ot-vulnerabilities']).toMatchObject({
        outcome: 'ok',
        created: 0,
        updated: 0,
        opened: 0,
        closed: 0,
        reopened: 0,
        // The sensor source reads every CVE again (and finds it unchanged); the console lists
        // only devices updated since the last run: none.
        unchanged: source === 'console' ? 0 : expected.length,
      });
      expect(await serviceNowWrites(sandboxes)).toEqual(before);
    });

    it('closes exactly the removed CVEs as Fixed after the next run, and reopens them when they come back', async () => {
      await sandboxes.control('defender', 'DELETE', `/_sandbox/devices/${several.id}/cves/${several.cve}`);
      await sandboxes.control('defender', 'DELETE', `/_sandbox/devices/${single.id}/cves/${single.cve}`);
      const removed = [`${several.name}|${several.cve}`, `${single.name}|${single.cve}`].sort();

      const before = await serviceNowWrites(sandboxes);
      const closing = await syncOnce(loaded, storeUrl);
      expect(closing.summary.jobs['ot-vulnerabilities']).toMatchObject({
        outcome: 'ok',
        closed: 2,
        created: 0,
        // The items: closed by Snowline where the instance does not roll up, else by the rollup.
        updated: rollup ? 0 : 2,
        reopened: 0,
      });
      // Two detection updates (and two item updates without rollup), in one Batch call per chunk
      // of devices they fall in.
      const after = await serviceNowWrites(sandboxes);
      expect(after.inner - before.inner).toBe(rollup ? 2 : 4);
      expect(after.writes - before.writes).toBeLessThanOrEqual(rollup ? 2 : 4);
      const closed = await vulnerabilityResponse(sandboxes, loaded);
      expect(closed.closedItems).toEqual(removed.map((p) => `${p}|Fixed`));
      expect(closed.openItems).toEqual(expected.filter((p) => !removed.includes(p)));
      expect(closed.openDetections).toEqual(expected.filter((p) => !removed.includes(p)));

      for (const device of [several, single])
        await sandboxes.control('defender', 'POST', `/_sandbox/devices/${device.id}/cves`, {
          cveId: device.cve,
        });
      const reopening = await syncOnce(loaded, storeUrl);
      expect(reopening.summary.jobs['ot-vulnerabilities']).toMatchObject({
        outcome: 'ok',
        reopened: 2,
        closed: 0,
        created: 0,
      });
      const reopened = await vulnerabilityResponse(sandboxes, loaded);
      expect(reopened.openDetections).toEqual(expected);
      expect(reopened.openItems).toEqual(expected);
      expect(reopened.closedItems).toEqual([]);
      expect(reopened.duplicates).toBe(0);
      for (const pair of removed) expect(reopened.reopenCount.get(pair)).toBe('1');

      const settled = await serviceNowWrites(sandboxes);
      const { summary } = await syncOnce(loaded, storeUrl);
      expect(summary.jobs['ot-vulnerabilities']).toMatchObject({
        created: 0,
        updated: 0,
        closed: 0,
        reopened: 0,
      });
      expect(await serviceNowWrites(sandboxes)).toEqual(settled);
    });

    it.runIf(source === 'sensor')(
      'leaves the detections of a sensor that does not answer as they are, and reads the others',
      async () => {
        const sensor = sandboxes.estate.sensors.find(
          (s) =>
            s.connected && sandboxes.estate.devices.some((d) => d.sensorId === s.id && d.cves.length > 0),
        )!;
        await sandboxes.control('defender', 'POST', `/_sandbox/sensors/${sensor.name}`, { connected: false });
        try {
          const before = await serviceNowWrites(sandboxes);
          const { summary } = await syncOnce(loaded, storeUrl);
          const result = summary.jobs['ot-vulnerabilities']!;
          const disconnected = sandboxes.estate.sensors.filter((s) => !s.connected).length;
          expect(result).toMatchObject({ outcome: 'ok', closed: 0, created: 0, updated: 0 });
          expect(result.problems).toBe(disconnected + 1);
          const store = await openStore(storeUrl);
          const event = await store.db
            .selectFrom('ledger_event')
            .select('reason')
            .where('run_id', '=', summary.runId)
            .where('flow', '=', 'ot-vulnerabilities')
            .where('entity_key', '=', `sensor:${sensor.name}`)
            .executeTakeFirst()
            .finally(() => store.close());
          expect(event?.reason).toMatch(
            /could not be read; the detections of its devices are left as they are/,
          );
          // Its devices' detections are not closed, and the other sensors' CVEs were compared.
          expect(result.unchanged).toBe(
            expected.length -
              sandboxes.estate.devices
                .filter((d) => d.sensorId === sensor.id)
                .reduce((n, d) => n + d.cves.length, 0),
          );
          // ot-vulnerabilities wrote nothing (its writes are Batch calls); ot-inventory records the
          // sensor's new state, Disconnected in Resource Graph, in one IRE request.
          const after = await serviceNowWrites(sandboxes);
          expect(after.inner).toBe(before.inner);
          expect(after.writes - before.writes).toBe(1);
          expect((await vulnerabilityResponse(sandboxes, loaded)).openDetections).toEqual(expected);
        } finally {
          await sandboxes.control('defender', 'POST', `/_sandbox/sensors/${sensor.name}`, {
            connected: true,
          });
        }
      },
    );
  },
);

// The vendor's sn_msftd4iotazvr.require_ci_match set to false "allows the creation of unclassed
// hardware CIs if a CI match isn't found" (support-for-msft-defender-iot-azure.md).
describe('ot-vulnerabilities with requireCiMatch: false', () => {
  let sandboxes: Sandboxes;
  const storeUrl = join(dir, 'unclassed.sqlite');

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 80, seed: 23 });
  });
  afterAll(async () => sandboxes?.close());

  it('writes the CVEs of devices without a CI on unclassed hardware CIs, once', async () => {
    const loaded = sandboxes.config(storeUrl, {
      otInventory: { source: 'sensor', sensorValidation: 'auto', batchSize: 50 },
      otVulnerabilities: { source: 'resourceGraph', batchSize: 50, requireCiMatch: false },
    });
    const { estate } = sandboxes;
    // A sensor that does not answer: ot-inventory writes no CI for its devices.
    const down = estate.sensors.find(
      (s) => s.connected && estate.devices.some((d) => d.sensorId === s.id && d.cves.length > 0),
    )!;
    await sandboxes.control('defender', 'POST', `/_sandbox/sensors/${down.name}`, { connected: false });
    const unfed = estate.devices.filter(
      (d) =>
        d.cves.length > 0 &&
        (d.sensorId === down.id || !estate.sensors.some((s) => s.id === d.sensorId && s.connected)),
    );
    const { summary } = await syncOnce(loaded, storeUrl);
    const result = summary.jobs['ot-vulnerabilities']!;
    expect(result).toMatchObject({ outcome: 'ok', pending: 0, errors: 0 });

    // Every vulnerability record Resource Graph holds has its open detection: on the device's CI,
    // or on the unclassed hardware CI made for a device no connected sensor reports.
    const everything = await graphVulnerabilityPairs(
      sandboxes,
      estate.devices.map((d) => ({ ...d, name: ciNameOf(d) })),
    );
    const vr = await vulnerabilityResponse(sandboxes, loaded);
    expect(vr.openDetections).toEqual(everything);
    expect(vr.duplicates).toBe(0);
    const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      const unclassed = await client.listAll('cmdb_ci_hardware', {
        query: 'sys_class_name=cmdb_ci_hardware',
        fields: ['name'],
      });
      expect(unclassed.map((r) => stringValue(r.name)).sort()).toEqual(unfed.map((d) => ciNameOf(d)).sort());
    } finally {
      await close();
    }

    const before = await serviceNowWrites(sandboxes);
    const again = await syncOnce(loaded, storeUrl);
    expect(again.summary.jobs['ot-vulnerabilities']).toMatchObject({ created: 0, updated: 0, closed: 0 });
    expect(await serviceNowWrites(sandboxes)).toEqual(before);
  });
});

describe.skipIf(!existsSync('dist/cli.js'))(
  'ot-vulnerabilities crash safety (snowline sync killed -9)',
  () => {
    let sandboxes: Sandboxes;
    const tables = 'sn_vul_nvd_entry,sn_vul_detection,sn_vul_vulnerable_item';

    beforeAll(async () => {
      sandboxes = await startSandboxes({ devices: 100, seed: 17 });
    });
    afterAll(async () => sandboxes?.close());

    function writeConfig(name: string): string {
      const path = join(dir, `${name}.yaml`);
      const loaded = sandboxes.config(join(dir, `${name}.sqlite`), {
        otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 40 },
        otVulnerabilities: { source: 'console', batchSize: 40 },
      });
      writeFileSync(path, stringify(loaded.config));
      return path;
    }

    /**
     * Runs `snowline sync` as its own process and returns its exit code and `--json` summary; with
     * `killWhenHeld`, kills it -9 once the held write is committed (and says whether it was).
     */
    async function cliSync(
      configPath: string,
      job: string,
      killWhenHeld = false,
    ): Promise<{ code: number | null; summary?: any; held?: boolean }> {
      const child = spawn(
        process.execPath,
        ['dist/cli.js', '--config', configPath, '--log-level', 'silent', 'sync', '--job', job, '--json'],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      let stdout = '';
      child.stdout!.on('data', (chunk) => (stdout += String(chunk)));
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      let held: boolean | undefined;
      if (killWhenHeld) {
        held = false;
        for (let i = 0; i < 600 && !held; i++) {
          held = (await sandboxes.control('servicenow', 'GET', '/_sandbox/faults')).held > 0;
          if (!held) await sleep(25);
        }
        child.kill('SIGKILL');
      }
      const code = await exited;
      return {
        code,
        ...(code === 0 ? { summary: JSON.parse(stdout) } : {}),
        ...(killWhenHeld ? { held } : {}),
      };
    }

    /** What must be the same after any crash and re-run: entries, detections (by CI, CVE, source) with their status, items with state and substate. */
    async function state() {
      const dump = (await sandboxes.control('servicenow', 'GET', `/_sandbox/dump?tables=${tables}`)).tables;
      const detections = (dump.sn_vul_detection as Record<string, string>[]).map(
        (d) => `${d._key}|${d.status}`,
      );
      return {
        entries: (dump.sn_vul_nvd_entry as Record<string, string>[]).map((e) => e._key),
        detections,
        detectionKeys: (dump.sn_vul_detection as Record<string, string>[]).map((d) => d._key),
        items: (dump.sn_vul_vulnerable_item as Record<string, string>[]).map(
          (i) => `${i._key}|${i.state}|${i.substate}`,
        ),
      };
    }

    async function reset() {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
      await sandboxes.control('defender', 'POST', '/_sandbox/reset');
    }

    it('leaves no duplicate detection and the same Vulnerability Response after kills at chosen writes and re-runs', async () => {
      const cleanConfig = writeConfig('clean');
      expect((await cliSync(cleanConfig, 'ot-inventory')).code).toBe(0);
      const before = (await serviceNowWrites(sandboxes)).writes;
      expect((await cliSync(cleanConfig, 'ot-vulnerabilities')).code).toBe(0);
      const vulnerabilityWrites = (await serviceNowWrites(sandboxes)).writes - before;
      const clean = await state();
      expect(vulnerabilityWrites).toBeGreaterThan(3);
      expect(clean.detections.length).toBeGreaterThan(100);

      // Kill points among ot-vulnerabilities' Batch calls: the first (NVD entries), one in the middle, the last.
      for (const killAt of [1, Math.ceil(vulnerabilityWrites / 2), vulnerabilityWrites]) {
        await reset();
        const config = writeConfig(`crash-${killAt}`);
        expect((await cliSync(config, 'ot-inventory')).code).toBe(0);
        // The held call is committed but never answered: the kill lands between the commit and the ledger.
        await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { holdWrite: killAt });
        const crashed = await cliSync(config, 'ot-vulnerabilities', true);
        expect(crashed).toMatchObject({ held: true, code: null });
        await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
        const rerun = await cliSync(config, 'all');
        expect(rerun.code).toBe(0);
        // No create was refused as a duplicate: what the crashed run committed was found and taken over.
        expect(rerun.summary.jobs['ot-vulnerabilities']).toMatchObject({ outcome: 'ok', errors: 0 });
        const after = await state();
        expect(new Set(after.detectionKeys).size, `duplicate detection after a kill at write ${killAt}`).toBe(
          after.detectionKeys.length,
        );
        expect(after).toEqual(clean);
      }
    }, 300_000);
  },
);

describe('ot-vulnerabilities under a rate budget smaller than the work', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 120, seed: 5 });
  });
  afterAll(async () => sandboxes?.close());

  it('defers on a long Retry-After with what it wrote counted, and resumes with nothing lost or repeated', async () => {
    const { estate } = sandboxes;
    const expected = consoleFedPairs(estate);

    // The instance allows 3 Batch calls an hour: far less than the work (IRE, which ot-inventory
    // uses, is not limited), and its Retry-After is longer than the 60 s Snowline waits in-process.
    await sandboxes.control('servicenow', 'POST', '/_sandbox/rate-limits', {
      rules: [{ name: 'batch hourly', limit: 3, windowSeconds: 3600, apis: ['batch'] }],
    });
    const storeUrl = join(dir, 'budget.sqlite');
    const loaded = sandboxes.config(storeUrl, SMALL_BATCHES);
    const first = await syncOnce(loaded, storeUrl);
    expect(first.summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok' });
    const deferred = first.summary.jobs['ot-vulnerabilities']!;
    expect(deferred).toMatchObject({ outcome: 'deferred', retryAt: expect.any(String) });

    const store = await openStore(storeUrl);
    try {
      // What the deferred run wrote before the limit is in its summary, as in the ledger.
      const written = await store.db
        .selectFrom('ledger_event')
        .select(['entity', 'action'])
        .where('flow', '=', 'ot-vulnerabilities')
        .where('action', '=', 'create')
        .execute();
      expect(written.length).toBeGreaterThan(0);
      expect(deferred.created).toBe(written.length);
      expect((deferred as unknown as { opened: number }).opened).toBe(
        written.filter((e) => e.entity === 'detection').length,
      );
      expect(deferred.requests.servicenow).toBeGreaterThan(0);
      const resume = await store.db
        .selectFrom('deferred_work')
        .selectAll()
        .where('kind', '=', 'run-resume')
        .execute();
      expect(resume).toMatchObject([{ flow: 'ot-vulnerabilities', not_before: deferred.retryAt }]);
    } finally {
      await store.close();
    }

    // An hour later the window has reset.
    await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', { advanceSeconds: 3600 });
    await sandboxes.control('servicenow', 'POST', '/_sandbox/rate-limits', { rules: [] });
    const second = await syncOnce(loaded, storeUrl);
    const resumed = second.summary.jobs['ot-vulnerabilities']!;
    expect(resumed).toMatchObject({ outcome: 'ok', errors: 0 });

    const vr = await vulnerabilityResponse(sandboxes, loaded);
    expect(vr.openDetections).toEqual(expected);
    expect(vr.openItems).toEqual(expected);
    expect(vr.duplicates).toBe(0);
    const after = await openStore(storeUrl);
    try {
      expect(
        await after.db.selectFrom('deferred_work').selectAll().where('kind', '=', 'run-resume').execute(),
      ).toEqual([]);
      // Nothing repeated: every entry and detection was created exactly once across the two runs.
      const creates = await after.db
        .selectFrom('ledger_event')
        .select(['entity', 'entity_key'])
        .where('flow', '=', 'ot-vulnerabilities')
        .where('action', '=', 'create')
        .execute();
      const keys = creates.map((c) => `${c.entity}/${c.entity_key}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBe(deferred.created + resumed.created);
      expect(creates.filter((c) => c.entity === 'detection')).toHaveLength(expected.length);
    } finally {
      await after.close();
    }
  });
});

describe('ot-vulnerabilities through failed Batch API calls', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 80, seed: 17 });
  });
  afterAll(async () => sandboxes?.close());

  it('re-sends Batch calls answered 500, even one the instance applied, and completes in one run with no duplicate', async () => {
    const { estate } = sandboxes;
    const expected = consoleFedPairs(estate);
    const storeUrl = join(dir, 'batch-500.sqlite');
    const loaded = sandboxes.config(storeUrl, SMALL_BATCHES);
    const inventory = await syncOnce(loaded, storeUrl, ['ot-inventory']);
    expect(inventory.summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok' });

    // A third of the Batch calls refused with a 500 before they run, and the second one that runs
    // (inserts of NVD entries or detections) applied in full, then answered 500: re-sending its
    // inserts blindly would create each of them twice.
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {
      seed: 11,
      error500Rate: 0.3,
      apis: ['batch'],
      holdWrite: 2,
      holdStatus: 500,
    });
    const { summary } = await syncOnce(loaded, storeUrl, ['ot-vulnerabilities']);
    const faults = await sandboxes.control('servicenow', 'GET', '/_sandbox/faults');
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});

    const result = summary.jobs['ot-vulnerabilities']!;
    expect(result, String(result.error)).toMatchObject({ outcome: 'ok', errors: 0, opened: expected.length });
    expect(faults.injected.error500, 'no 500 was injected: the test proves nothing').toBeGreaterThan(0);
    expect(faults.writesSeen).toBeGreaterThan(2);
    // One retry per refused call, and one for the call applied then answered 500.
    expect(result.retries).toBe(faults.injected.error500 + 1);

    const vr = await vulnerabilityResponse(sandboxes, loaded);
    expect(vr.duplicates).toBe(0);
    expect(vr.openDetections).toEqual(expected);
    expect(vr.openItems).toEqual(expected);
  });
});

/** Console source with batches of 20, so that a few hundred detections take many Batch calls. */
const SMALL_BATCHES = {
  otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 20 },
  otVulnerabilities: { source: 'console', batchSize: 20 },
};

/**
 * The devices whose CVEs reach Vulnerability Response: the sensor API can not say a sensor is
 * learning (its devices feed) and a disconnected sensor does not answer; the console says both,
 * and only connected, non-learning sensors feed.
 */
function fedDevices(estate: Estate, source: 'console' | 'sensor'): Estate['devices'] {
  const fed = new Set(
    estate.sensors
      .filter((s) => (source === 'sensor' ? s.connected : s.connected && !s.learningMode))
      .map((s) => s.id),
  );
  return estate.devices.filter((d) => fed.has(d.sensorId));
}

/** `device|CVE` of every CVE of these devices, sorted: the pairs detections and items should hold. */
function pairsOf(devices: Estate['devices']): string[] {
  return devices.flatMap((d) => d.cves.map((cve) => `${ciNameOf(d)}|${cve}`)).sort();
}

/** The pairs of the console source's fed devices. */
function consoleFedPairs(estate: Estate): string[] {
  return pairsOf(fedDevices(estate, 'console'));
}
