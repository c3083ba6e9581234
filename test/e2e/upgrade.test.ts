import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { sandboxConfig } from '../../src/cli/sandbox-config.js';
import { validateConfig } from '../../src/config/load.js';
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
    const flows = { otInventory: { source: 'console', sensorValidation: 'auto' } };
    // The configuration the old release reads: what `snowline sandbox --write-config` wrote.
    const raw = parse(
      sandboxConfig(sandboxes.ready, { storeUrl, integrationId: 'sandbox', withConsole: true }).text,
    );
    raw.integrations[0].flows = flows;
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
    // The old release wrote its devices (sites and sensors with text in reference fields are
    // refused by a strict instance, as they would be by a real one).
    const oldSummary = JSON.parse(before.stdout).jobs['ot-inventory'];
    expect(oldSummary.created, before.stdout + before.stderr).toBeGreaterThan(50);
    const classesBefore = await classes();

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
    const after = await classes();
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
});

/** Each device CI's class, by its source key (sys_object_source.id → target table). */
async function classes(): Promise<Record<string, string>> {
  const dump = await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=sys_object_source');
  const rows = (dump.tables ?? dump).sys_object_source as { id: string; target_table: string }[];
  return Object.fromEntries(rows.filter((r) => r.id.includes(':device:')).map((r) => [r.id, r.target_table]));
}
