import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../../sandbox/common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../../../sandbox/common/tls.js';
import { systemClock } from '../../domain/clock.js';
import { RateLimitedError, UpstreamError } from '../../errors.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import type { SourcePage } from '../common.js';
import { createDefenderSources, type DefenderSources } from '../index.js';

const fixture = (path: string): unknown =>
  JSON.parse(
    readFileSync(new URL(`../../../test/fixtures/contracts/defender-iot/${path}`, import.meta.url), 'utf8'),
  );

/**
 * A loopback fake of one sensor's API v1, mounted under a base path (as behind a proxy, or in
 * the sandbox), answering the contract's documented examples.
 */
const TOKEN = 'raw-sensor-token';
let tls: SandboxTls;
let server: RunningServer;
let faults: Array<'reset' | number | { status: number; retryAfter: string }> = [];
let seen: Array<{ path: string; query: string; authorization: string | undefined }> = [];
let devices: unknown[] = [];

beforeAll(async () => {
  tls = await generateSandboxTls();
  const app = new Hono();
  app.get('/sensors/plant-a/api/v1/*', (c) => {
    const url = new URL(c.req.url);
    seen.push({ path: url.pathname, query: url.search, authorization: c.req.header('authorization') });
    if (c.req.header('authorization') !== TOKEN) return c.json({ error: 'Failure – error' }, 403);
    const fault = faults.shift();
    if (fault === 'reset') {
      (c.env as { incoming: { socket: { destroy(): void } } }).incoming.socket.destroy();
      return new Response(null);
    }
    if (typeof fault === 'number') return c.text('Failure – error', fault as 500);
    if (fault)
      return c.json({ error: 'busy' }, { status: 429, headers: { 'Retry-After': fault.retryAfter } });
    const rest = url.pathname.slice('/sensors/plant-a'.length);
    if (rest === '/api/v1/devices') return c.json(devices);
    if (rest === '/api/v1/devices/connections')
      return c.json(fixture('sensor-inventory-apis/api-v1-devices-connections.json'));
    if (rest === '/api/v1/devices/cves')
      return c.json(fixture('sensor-inventory-apis/api-v1-devices-cves.json'));
    if (rest === '/api/v1/alerts') return c.json(fixture('sensor-alert-apis/api-v1-alerts.json'));
    return c.json({ error: 'not found' }, 404);
  });
  server = await listen(app, { tls });
});

let sources: DefenderSources;
let counters: RequestCounters;
beforeEach(async () => {
  await sources?.close();
  faults = [];
  seen = [];
  devices = fixture('management-inventory-apis/api-v1-devices.json') as unknown[];
  counters = new RequestCounters();
  sources = createDefenderSources(
    {
      tenantId: 't',
      armUrl: 'https://management.azure.com',
      authorityHost: 'https://login.microsoftonline.com',
      auth: { type: 'token', token: 'arm' },
      subscriptions: [],
      sensors: [
        {
          name: 'plant-a',
          url: `${server.url}/sensors/plant-a/`,
          token: TOKEN,
          site: 'Plant A',
          zone: 'Line 1',
          purdueLevel: 1,
        },
      ],
      tls: { caFile: tls.caFile },
    },
    {
      clock: systemClock,
      counters,
      limits: { maxWaitMs: 5_000, backoff: { baseMs: 5, maxMs: 20, maxAttempts: 4 } },
    },
  );
});
afterAll(async () => {
  await sources?.close();
  await server?.close();
});

async function all<T>(pages: AsyncIterable<SourcePage<T>>) {
  const items: T[] = [];
  const problems: SourcePage<T>['problems'] = [];
  let count = 0;
  for await (const page of pages) {
    count++;
    items.push(...page.items);
    problems.push(...page.problems);
  }
  return { items, problems, pages: count };
}

describe('SensorClient', () => {
  it('reads devices with the raw token (no Bearer) under the configured base path', async () => {
    const sensor = sources.sensors[0]!;
    expect([sensor.name, sensor.site, sensor.zone, sensor.purdueLevel]).toEqual([
      'plant-a',
      'Plant A',
      'Line 1',
      1,
    ]);
    const { items, problems } = await all(sensor.devices());
    expect(problems).toEqual([]);
    expect(seen).toEqual([{ path: '/sensors/plant-a/api/v1/devices', query: '', authorization: TOKEN }]);
    expect(items).toEqual([
      expect.objectContaining({
        id: 79,
        name: '10.4.14.102',
        type: 'PLC',
        vendor: undefined,
        ipAddresses: ['10.4.14.102'],
        macAddresses: [],
        authorized: true,
        scanner: false,
        // The example spells `addresses` where the table says `ipAddresses`.
        protocols: [{ id: 62, name: 'Omron FINS', addresses: [] }],
      }),
    ]);
    expect(items[0]!.firmware[0]).toMatchObject({
      model: 'AAAAAAAAAA',
      firmwareVersion: '20.55',
      serial: undefined,
      rack: undefined,
    });
  });

  it('yields pages, reports a malformed device and keeps the rest', async () => {
    devices = Array.from({ length: 1200 }, (_, i) => ({
      id: i,
      name: `d${i}`,
      type: 'PLC',
      ipAddresses: [`10.0.${i >> 8}.${i & 255}`],
    }));
    devices[600] = { name: 'no id' };
    const { items, problems, pages } = await all(sources.sensors[0]!.devices({ authorized: true }));
    expect(pages).toBe(3);
    expect(items).toHaveLength(1199);
    expect(new Set(items.map((d) => d.id)).size).toBe(1199);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.error.message).toMatch(/sensor plant-a \/api\/v1\/devices: record 100 \(no id\).*id/);
    expect(seen[0]!.query).toBe('?authorized=true');
  });

  it('reads connections with epoch-ms times, CVEs with numeric scores and alerts in both casings', async () => {
    const sensor = sources.sensors[0]!;
    const connections = await all(sensor.connections({ discoveredAfter: new Date(1_500_000_000_000) }));
    expect(connections.items[0]).toEqual({
      firstDeviceId: 171,
      secondDeviceId: 22,
      lastSeen: new Date(1511281457933),
      discovered: new Date(1511872830000),
      ports: [502],
      protocols: [
        { name: 'modbus', commands: ['Read Coils'] },
        { name: 'ams', commands: ['AMS Write'] },
        { name: 'http', commands: [] },
      ],
    });
    expect(seen.at(-1)!.query).toBe('?discoveredAfter=1500000000000');
    const cves = await all(sensor.cves({ top: 5 }));
    expect(cves.items[0]).toMatchObject({
      cveId: 'CVE-2007-0099',
      ipAddress: '10.35.1.51',
      score: 9.3,
      attackVector: 'NETWORK',
    });
    expect(seen.at(-1)!.query).toBe('?top=5');
    const alerts = await all(sensor.alerts());
    expect(alerts.problems).toEqual([]);
    expect(alerts.items.length).toBeGreaterThan(0);
    for (const alert of alerts.items) expect(typeof alert.id).toBe('number');
    expect(alerts.items.some((a) => a.additionalInformation !== undefined)).toBe(true);
  });

  it('retries a 500 and a reset, waits a short 429, and the list is complete', async () => {
    faults = [500, 'reset', { status: 429, retryAfter: '1' }];
    const { items } = await all(sources.sensors[0]!.devices());
    expect(items).toHaveLength(1);
    expect(counters.snapshot()).toEqual({
      'sensor GET 200': 1,
      'sensor GET 429': 1,
      'sensor GET 500': 1,
      'sensor GET error': 1,
    });
  });

  it('defers on a long 429 and names the token key on 403', async () => {
    faults = [{ status: 429, retryAfter: '3600' }];
    await expect(all(sources.sensors[0]!.devices())).rejects.toBeInstanceOf(RateLimitedError);

    const bad = createDefenderSources(
      {
        tenantId: 't',
        armUrl: 'https://management.azure.com',
        authorityHost: 'https://login.microsoftonline.com',
        auth: { type: 'token', token: 'arm' },
        subscriptions: [],
        sensors: [{ name: 'plant-a', url: `${server.url}/sensors/plant-a`, token: 'wrong' }],
        tls: { caFile: tls.caFile },
      },
      { clock: systemClock, counters: new RequestCounters() },
    );
    const error = await all(bad.sensors[0]!.devices()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ service: 'sensor', status: 403 });
    expect((error as Error).message).toBe(
      'sensor plant-a answered 403 to GET /api/v1/devices: Failure – error (the API token was refused: check defender.sensors[0].token)',
    );
    expect((error as Error).message).not.toContain('wrong');
    await bad.close();
  });
});
