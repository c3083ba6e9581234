import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig, type LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { syncOnce } from '../support/sync.js';

/**
 * Outbound proxies through a real HTTP CONNECT proxy on loopback. The sandboxes are named
 * `sandbox.invalid`, which no resolver answers and only the proxy maps to 127.0.0.1: a run that
 * succeeds reached them through the proxy, every request of it.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-proxy-'));
let sandboxes: Sandboxes;
let proxy: ConnectProxy;

beforeAll(async () => {
  sandboxes = await startSandboxes({ devices: 30, seed: 9 });
  proxy = await startConnectProxy({ resolve: (host) => (host === 'sandbox.invalid' ? '127.0.0.1' : host) });
});
afterAll(async () => {
  await proxy?.close();
  await sandboxes?.close();
  rmSync(dir, { recursive: true, force: true });
});

const portOf = (url: string) => new URL(url).port;

/** The sandbox configuration with every endpoint named `sandbox.invalid`, changed by `edit`. */
function configThrough(name: string, edit: (raw: any) => void): LoadedConfig {
  const base = sandboxes.config(join(dir, `${name}.sqlite`)).config;
  const raw = JSON.parse(JSON.stringify(base).replaceAll('https://127.0.0.1:', 'https://sandbox.invalid:'));
  edit(raw);
  return validateConfig(raw, `proxy test ${name}`);
}

describe('outbound proxies', () => {
  it('reaches ServiceNow, ARM, Entra, the sensors and the console only through the configured proxy', async () => {
    const loaded = configThrough('configured', (raw) => {
      const integration = raw.integrations[0];
      integration.servicenow.proxy = proxy.url;
      integration.defender.proxy = proxy.url;
      for (const sensor of integration.defender.sensors) sensor.proxy = proxy.url;
      if (integration.defender.console) integration.defender.console.proxy = proxy.url;
    });
    proxy.tunnels.length = 0;
    const { summary } = await syncOnce(loaded);
    for (const [flow, job] of Object.entries(summary.jobs))
      expect({ flow, outcome: job?.outcome }).toEqual({ flow, outcome: 'ok' });
    expect(summary.jobs['ot-inventory']?.created).toBeGreaterThan(0);
    expect(summary.jobs['cloud-tickets']?.created).toBeGreaterThan(0);
    const tunnels = new Set(proxy.tunnels);
    expect(tunnels).toEqual(
      new Set([
        `sandbox.invalid:${portOf(sandboxes.servicenow.url)}`,
        `sandbox.invalid:${portOf(sandboxes.defender.url)}`,
      ]),
    );
  });

  it('takes HTTPS_PROXY from the environment, and NO_PROXY keeps the sensors off it', async () => {
    const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTPS_PROXY = proxy.url;
    process.env.NO_PROXY = 'localhost';
    try {
      const loaded = configThrough('environment', (raw) => {
        const integration = raw.integrations[0];
        // The sensors by a name the resolver knows, and NO_PROXY lists: they are reached directly.
        for (const sensor of integration.defender.sensors)
          sensor.url = sensor.url.replace('https://sandbox.invalid:', 'https://localhost:');
        integration.flows = {
          otInventory: { source: 'sensor', sensorValidation: 'auto' },
          cloudTickets: integration.flows.cloudTickets,
        };
      });
      proxy.tunnels.length = 0;
      const { summary } = await syncOnce(loaded);
      expect(summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok' });
      expect(summary.jobs['ot-inventory']!.created).toBeGreaterThan(0);
      expect(summary.jobs['cloud-tickets']).toMatchObject({ outcome: 'ok' });
      expect(proxy.tunnels).toContain(`sandbox.invalid:${portOf(sandboxes.servicenow.url)}`);
      expect(proxy.tunnels).toContain(`sandbox.invalid:${portOf(sandboxes.defender.url)}`);
      expect(proxy.tunnels.filter((t) => t.startsWith('localhost:'))).toEqual([]);
    } finally {
      for (const [key, value] of Object.entries(saved))
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
    }
  });

  it('authenticates to a proxy that asks for it, and a wrong password is refused by the proxy', async () => {
    const guarded = await startConnectProxy({
      resolve: (host) => (host === 'sandbox.invalid' ? '127.0.0.1' : host),
      credentials: { username: 'snowline', password: 'proxy-pass' },
    });
    try {
      const read = async (password: string) => {
        const loaded = configThrough(`auth-${password}`, (raw) => {
          raw.integrations[0].servicenow.proxy = { url: guarded.url, username: 'snowline', password };
        });
        const connection = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
          clock: systemClock,
          counters: new RequestCounters(),
        });
        try {
          return await connection.client.listAll('sys_user', { fields: ['sys_id'], query: 'active=true' });
        } finally {
          await connection.close();
        }
      };
      expect((await read('proxy-pass')).length).toBeGreaterThan(0);
      await expect(read('wrong')).rejects.toThrow();
      expect(guarded.tunnels.length).toBeGreaterThan(0);
    } finally {
      await guarded.close();
    }
  });
});
