import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { sandboxConfig } from '../../src/cli/sandbox-config.js';
import { validateConfig } from '../../src/config/load.js';
import type { IntegrationConfig } from '../../src/config/schema.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore } from '../../src/store/store.js';
import { expectedClass } from '../support/connector-classes.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { syncOnce } from '../support/sync.js';

/**
 * An instance populated by the release before the connector-exact class map (commit c5f37d4,
 * the last of Snowline 0.1's kernel round), taken over by this one: the old release is cloned
 * from this repository's history, built, and run as its own process against the sandboxes;
 * then this release runs on the same store and instance. It must converge without a duplicate:
 * CIs change class through IRE where the instance allows it (a Server that runs Windows Server
 * up to cmdb_ci_win_server: same Hardware rule), a reclassification IRE refuses (an HMI or an OPC
 * server that runs Windows: OT rule → Hardware rule) is reported once and the CI keeps its class,
 * and a third run writes nothing.
 */
const RELEASE = 'c5f37d4';
const dir = mkdtempSync(join(tmpdir(), 'snowline-upgrade-'));
const old = join(dir, 'old');
let sandboxes: Sandboxes;
afterAll(async () => {
  await sandboxes?.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(command: string, args: string[], cwd: string, timeout = 300_000) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout });
  expect(result.status, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

const hasHistory =
  existsSync('dist/cli.js') &&
  spawnSync('git', ['cat-file', '-e', `${RELEASE}^{commit}`], { encoding: 'utf8' }).status === 0;

describe.skipIf(!hasHistory)(`upgrade from ${RELEASE}`, () => {
  beforeAll(async () => {
    run('git', ['clone', '--quiet', '--no-checkout', resolve('.'), old], dir);
    run('git', ['checkout', '--quiet', RELEASE], old);
    run('cp', ['-al', resolve('node_modules'), join(old, 'node_modules')], dir);
    run('npm', ['run', 'build', '--silent'], old);
    sandboxes = await startSandboxes({ devices: 150, seed: 26 });
  }, 600_000);

  it('converges without a duplicate, reclassifying where IRE allows and reporting where it refuses', async () => {
    const storeUrl = join(dir, 'store.sqlite');
    const raw = oldConfig(sandboxes, storeUrl, { source: 'console', sensorValidation: 'auto' });
    const oldSummary = await syncWithOldRelease(raw);
    // The old release wrote its devices (sites and sensors with text in reference fields are
    // refused by a strict instance, as they would be by a real one).
    expect(oldSummary.created).toBeGreaterThan(50);
    const classesBefore = await classes(sandboxes);

    const loaded = validateConfig(raw, 'upgrade test');
    const first = (await syncOnce(loaded, storeUrl)).summary.jobs['ot-inventory']!;
    expect(first.outcome).toBe('ok');
    const second = (await syncOnce(loaded, storeUrl)).summary.jobs['ot-inventory']!;
    const third = (await syncOnce(loaded, storeUrl)).summary.jobs['ot-inventory']!;
    expect(third, 'a third run writes nothing').toMatchObject({
      outcome: 'ok',
      created: 0,
      updated: 0,
      errors: 0,
    });
    expect(second.created).toBe(0);

    // No duplicate: one CI per source key, one source key per device, every device kept.
    const sources = await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=sys_object_source');
    const rows = (sources.tables ?? sources).sys_object_source as { id: string }[];
    const ids = rows.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const after = await classes(sandboxes);
    expect(Object.keys(after).sort()).toEqual(Object.keys(classesBefore).sort());

    // Where the identification rules are the same, IRE moved the CI: a Server (cmdb_ci_server)
    // that runs Windows Server, Linux, AIX… becomes the class of its OS row (Hardware rule, upgrade).
    const moved = Object.entries(classesBefore).filter(([, c]) => c === 'cmdb_ci_server');
    expect(moved.length).toBeGreaterThan(0);
    for (const [key] of moved) {
      const device = sandboxes.estate.devices.find((d) => `sandbox:device:${d.id}` === key)!;
      const os = device.operatingSystem ?? '';
      expect([key, os, after[key]]).toEqual([key, os, expectedClass(device.type, device.operatingSystem)]);
    }
    expect(moved.some(([key]) => after[key] === 'cmdb_ci_win_server')).toBe(true);
    // Where IRE refused, the CI kept its class and the first run said why, once.
    const store = await openStore(storeUrl);
    try {
      const refused = (
        await queryLedger(store.db, { integrationId: 'sandbox', action: 'error', entity: 'device' })
      ).filter((e) => e.reason.startsWith('IRE refused to reclassify'));
      expect(refused.length).toBeGreaterThan(0);
      expect(new Set(refused.map((e) => e.entity_key)).size).toBe(refused.length);
      for (const e of refused)
        expect(after[`sandbox:device:${e.entity_key}`]).toBe(classesBefore[`sandbox:device:${e.entity_key}`]);
    } finally {
      await store.close();
    }
  }, 600_000);

  // attribute-mapping-sgc-msft-d4iot-azure.md: the connector keys a device and a sensor by their
  // Azure resource id ("snk in sys_object_source"); Snowline 0.1 keyed them `sandbox:device:<id>`.
  // An admin integration user may update sys_object_source: the rows move. With the CMDB roles
  // only, the instance refuses (403): IRE finds each CI by its identifiers and adds the new key.
  it.each([
    ['an admin integration user', true],
    ['an integration user with the CMDB roles only', false],
  ])(
    'moves a Resource Graph inventory onto Azure resource ids as source keys, without a duplicate, for %s',
    async (_who, admin) => {
      const fresh = await startSandboxes({ devices: 150, seed: 22 });
      try {
        const storeUrl = join(dir, `store-rg-${admin}.sqlite`);
        const raw = oldConfig(fresh, storeUrl, { source: 'resourceGraph', sensorValidation: 'auto' });
        expect((await syncWithOldRelease(raw)).created).toBeGreaterThan(50);
        const loaded = validateConfig(raw, 'upgrade test');
        const rows = (table: string, fields: string[]) =>
          tableRows(loaded.config.integrations[0]!.servicenow, table, fields);
        const oldRows = await rows('sys_object_source', ['id', 'target_sys_id']);
        const before = oldRows.filter((r) => r.id!.startsWith('sandbox:device:'));
        const sensorsBefore = oldRows.filter((r) => r.id!.startsWith('sandbox:sensor:'));
        expect(before.length).toBeGreaterThan(50);
        if (admin)
          await fresh.control('servicenow', 'POST', '/_sandbox/users', {
            user_name: 'snowline.oauth.app',
            password: 'unused-by-oauth',
            roles: ['admin'],
          });

        const runs = [];
        for (let i = 0; i < 3; i++)
          runs.push((await syncOnce(loaded, storeUrl)).summary.jobs['ot-inventory']!);
        expect(runs[0]!.outcome).toBe('ok');
        expect(runs[1]!.created).toBe(0);
        expect(runs[2], 'a third run writes nothing').toMatchObject({
          outcome: 'ok',
          created: 0,
          updated: 0,
          errors: 0,
        });

        // One key per device and one device per CI: each device's CI is under its Azure resource
        // id once the row moved (admin), or still under the old key where the instance refused the
        // move; new devices (those Snowline 0.1 could not write: text in a reference) under the
        // Azure id. Every CI the old release wrote is still the device's one CI.
        const after = await rows('sys_object_source', ['id', 'target_sys_id']);
        const deviceOf = (id: string) =>
          /\/deviceGroups\/[^/]+\/devices\/([^/]+)$/.exec(id)?.[1] ?? /^sandbox:device:(.+)$/.exec(id)?.[1];
        const devices = after.filter((r) => deviceOf(r.id!) !== undefined);
        expect(new Set(devices.map((r) => deviceOf(r.id!))).size).toBe(devices.length);
        expect(new Set(devices.map((r) => r.target_sys_id)).size).toBe(devices.length);
        const cis = new Set(devices.map((r) => r.target_sys_id));
        for (const old of before) expect(cis.has(old.target_sys_id)).toBe(true);
        const left = devices.filter((r) => r.id!.startsWith('sandbox:device:'));
        expect(left.length).toBe(admin ? 0 : before.length);
        expect(sensorsBefore.length).toBeGreaterThan(0);
        expect(after.filter((r) => r.id!.startsWith('sandbox:sensor:')).length).toBe(
          admin ? 0 : sensorsBefore.length,
        );
        // The first run said what it did: one move per device; or each run, once, why it could not.
        const store = await openStore(storeUrl);
        const ledger = await queryLedger(store.db, { integrationId: 'sandbox' }).finally(() => store.close());
        const moved = ledger.filter((e) => e.reason.startsWith('source key moved from sandbox:device:'));
        const kept = ledger.filter((e) => e.entity === 'source-key');
        expect([moved.length, kept.length]).toEqual(admin ? [before.length, 0] : [0, runs.length]);
        for (const e of kept)
          expect(e.reason).toMatch(
            new RegExp(`^${before.length + sensorsBefore.length} record\\(s\\) stay under`),
          );

        // The OT entity carries the key its CI is under as its discovery source id, but where IRE
        // refused to reclassify the device (the payload is not applied: reported, sent again when
        // the device changes).
        const reclassifying = new Set(
          ledger.filter((e) => e.reason.startsWith('IRE refused to reclassify')).map((e) => e.entity_key),
        );
        expect(reclassifying.size).toBeGreaterThan(0);
        const entities = new Map(
          (await rows('cmdb_ot_entity', ['ot_device', 'ot_correlation_id'])).map((e) => [
            e.ot_device,
            e.ot_correlation_id,
          ]),
        );
        expect(entities.size).toBe(devices.length);
        for (const row of devices)
          if (!reclassifying.has(deviceOf(row.id!)!)) expect(entities.get(row.target_sys_id)).toBe(row.id);
      } finally {
        await fresh.close();
      }
    },
    600_000,
  );
});

/** Each device CI's class, by its source key (sys_object_source.id → target table). */
async function classes(sandboxes: Sandboxes): Promise<Record<string, string>> {
  const dump = await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=sys_object_source');
  const rows = (dump.tables ?? dump).sys_object_source as { id: string; target_table: string }[];
  return Object.fromEntries(rows.filter((r) => r.id.includes(':device:')).map((r) => [r.id, r.target_table]));
}

/** The configuration the old release reads (what `snowline sandbox --write-config` wrote), with `otInventory`. */
function oldConfig(sandboxes: Sandboxes, storeUrl: string, otInventory: Record<string, unknown>) {
  const raw = parse(
    sandboxConfig(sandboxes.ready, { storeUrl, integrationId: 'sandbox', withConsole: true }).text,
  );
  raw.integrations[0].flows = { otInventory };
  return raw;
}

/** Runs ot-inventory once with the old release, in its own process; resolves with its summary. */
async function syncWithOldRelease(raw: unknown): Promise<Record<string, number>> {
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(raw));
  // Its own process, awaited without blocking: the sandboxes answer from this one.
  const before = await new Promise<{ stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        join(old, 'dist/cli.js'),
        '--config',
        configPath,
        '--log-level',
        'silent',
        'sync',
        '--job',
        'ot-inventory',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', fail);
    child.once('exit', () => done({ stdout, stderr }));
  });
  const summary = JSON.parse(before.stdout || '{}').jobs?.['ot-inventory'];
  expect(summary, before.stdout + before.stderr).toBeDefined();
  return summary;
}

/** Every row of a table on the instance, by the Table API. */
async function tableRows(
  config: IntegrationConfig['servicenow'],
  table: string,
  fields: string[],
): Promise<Record<string, string | undefined>[]> {
  const { client, close } = connectServiceNow(config, {
    clock: systemClock,
    counters: new RequestCounters(),
  });
  try {
    const rows = await client.listAll(table, { fields, pageSize: 1000 });
    return rows.map((r) => Object.fromEntries(fields.map((f) => [f, stringValue(r[f])])));
  } finally {
    await close();
  }
}
