import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig, type LoadedConfig } from '../../src/config/load.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { leaks, secretsOf } from '../support/secrets.js';
import { cliSync, reliabilityDevices, SCENARIO_TIMEOUT_MS, writeConfigFile } from './support.js';

/**
 * Secrets and TLS, through the built CLI as a user runs it: every secret of the configuration is
 * a canary that must never appear in what Snowline prints (at debug level), in its errors, or in
 * its store (ledger, entity state, runs). TLS trust, side by side, is `tls.test.ts`.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-sec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every file of the store (SQLite database, WAL and journal), as text. */
function storeText(storeUrl: string): string {
  const base = storeUrl.split('/').pop()!;
  const folder = storeUrl.slice(0, storeUrl.length - base.length);
  return readdirSync(folder)
    .filter((f) => f.startsWith(base))
    .map((f) => readFileSync(join(folder, f)).toString('latin1'))
    .join('\n');
}

describe.skipIf(!existsSync('dist/cli.js'))('secrets and TLS', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: Math.min(reliabilityDevices(), 60), seed: 61 });
  });
  afterAll(async () => sandboxes?.close());

  function variant(
    name: string,
    change: (raw: any) => void,
  ): { loaded: LoadedConfig; path: string; storeUrl: string } {
    const storeUrl = join(dir, `${name}.sqlite`);
    const raw = structuredClone(sandboxes.config(storeUrl).config) as any;
    change(raw);
    const loaded = validateConfig(raw, `${name} configuration`);
    return { loaded, path: writeConfigFile(loaded, dir, name), storeUrl };
  }

  it(
    'never prints or stores a working secret, even at debug level, across every flow',
    async () => {
      const { loaded, path, storeUrl } = variant('working', () => {});
      const secrets = secretsOf(loaded.config);
      // Client secret, ARM token, console token, every sensor token and the API token.
      expect(secrets.length).toBeGreaterThanOrEqual(4 + sandboxes.estate.sensors.length);
      const run = await cliSync(sandboxes, path, 'ot-inventory', { logLevel: 'debug' });
      const all = await cliSync(sandboxes, path, 'all', { logLevel: 'debug' });
      expect(run.code, run.stderr.slice(-2000)).toBe(0);
      expect(all.code, all.stderr.slice(-2000)).toBe(0);
      expect(
        run.stderr.length,
        'debug logging printed nothing: the check would prove nothing',
      ).toBeGreaterThan(0);
      expect(leaks(secrets, run.stdout, run.stderr, all.stdout, all.stderr, storeText(storeUrl))).toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'keeps rejected canary secrets out of its errors, logs and store',
    async () => {
      const canary = (what: string) => `CANARY-${what}-7f3b9c2e51d4a8`;
      const { loaded, path, storeUrl } = variant('canaries', (raw) => {
        const integration = raw.integrations[0];
        integration.servicenow.auth = {
          type: 'basic',
          username: 'snowline.integration',
          password: canary('sn-password'),
        };
        integration.defender.auth = { type: 'token', token: canary('arm-token') };
        integration.defender.console.token = canary('console-token');
        integration.defender.sensors = integration.defender.sensors.map((s: { name: string }, i: number) => ({
          ...s,
          token: canary(`sensor-${i}`),
        }));
        raw.api.tokens = [canary('api-token')];
        if (integration.flows.ticketSync)
          integration.flows.ticketSync.webhook = { secret: canary('webhook-secret') };
      });
      const secrets = secretsOf(loaded.config);
      expect(secrets.every((s) => s.startsWith('CANARY-'))).toBe(true);
      const runs = [
        await cliSync(sandboxes, path, 'ot-inventory', { logLevel: 'debug' }),
        await cliSync(sandboxes, path, 'cloud-tickets', { logLevel: 'debug' }),
      ];
      for (const run of runs) {
        // The run failed, and said why: the credentials were refused.
        const output = `${run.stdout}\n${run.stderr}`;
        expect(output).toMatch(/401|unauthori[sz]ed|authenticat|credential|token/i);
        expect(leaks(secrets, run.stdout, run.stderr)).toEqual([]);
      }
      expect(leaks(secrets, storeText(storeUrl))).toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
