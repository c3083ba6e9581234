import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../../sandbox/common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../../../sandbox/common/tls.js';
import { systemClock } from '../../domain/clock.js';
import { RateLimitedError } from '../../errors.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { RequestLimiter } from '../../runtime/http/limiter.js';
import { ResilientHttpClient } from '../../runtime/http/resilient-client.js';
import { createHttpTransport, type HttpTransport } from '../../runtime/http/transport.js';
import type { SourcePage } from '../common.js';
import { ConsoleClient } from './console-client.js';

const fixture = (path: string): any =>
  JSON.parse(
    readFileSync(new URL(`../../../test/fixtures/contracts/defender-iot/${path}`, import.meta.url), 'utf8'),
  );

/** A loopback fake of the management console's v3 integration API under `/console`. */
const TOKEN = 'console-token';
let tls: SandboxTls;
let server: RunningServer;
let deviceTotal = 6;
/** Id of a device served without its `u_id` (0 = none). */
let brokenDevice = 0;
let faults: Array<'reset' | number | { status: number; retryAfter: string }> = [];
let seen: URL[] = [];

function device(i: number): Record<string, unknown> {
  const base = structuredClone(
    fixture('management-integration-apis/external-v3-integration-devices-timestamp.json').u_devices[0],
  );
  return { ...base, u_id: i + 1, u_name: `dev-${i + 1}` };
}

beforeAll(async () => {
  tls = await generateSandboxTls();
  const app = new Hono();
  app.get('/console/external/v3/integration/*', (c) => {
    const url = new URL(c.req.url);
    seen.push(url);
    if (c.req.header('authorization') !== TOKEN) return c.json({ error: 'Failure – error' }, 401);
    const fault = faults.shift();
    if (fault === 'reset') {
      (c.env as { incoming: { socket: { destroy(): void } } }).incoming.socket.destroy();
      return new Response(null);
    }
    if (typeof fault === 'number') return c.json({ error: 'Failure – error' }, fault as 500);
    if (fault)
      return c.json({ error: 'busy' }, { status: 429, headers: { 'Retry-After': fault.retryAfter } });
    const rest = url.pathname.slice('/console/external/v3/integration/'.length).split('/');
    const page = Number(url.searchParams.get('page') ?? 0);
    const size = Number(url.searchParams.get('size') ?? 50);
    if (rest[0] === 'devices') {
      const all = Array.from({ length: deviceTotal }, (_, i) => device(i)).map((d) =>
        d.u_id === brokenDevice ? { ...d, u_id: undefined } : d,
      );
      return c.json({ u_count: deviceTotal, u_devices: all.slice(page * size, (page + 1) * size) });
    }
    if (rest[0] === 'connections')
      return c.json(
        fixture('management-integration-apis/external-v3-integration-connections-timestamp.json'),
      );
    if (rest[0] === 'devicecves')
      return c.json(fixture('management-integration-apis/external-v3-integration-devicecves-timestamp.json'));
    if (rest[0] === 'deleteddevices')
      return c.json(
        fixture('management-integration-apis/external-v3-integration-deleteddevices-timestamp.json'),
      );
    if (rest[0] === 'sensors')
      return c.json(fixture('management-integration-apis/external-v3-integration-sensors.json'));
    if (rest[0] === 'device' && rest[1] === '1')
      return c.json(fixture('management-integration-apis/external-v3-integration-device-deviceId.json'));
    if (rest[0] === 'device' && rest[1] === '2') {
      // The table's spellings instead of the example's: a string device type, u_address,
      // u_guessed_mac_address, DateTime strings.
      return c.json({
        u_id: 2,
        u_name: 'rtu-2',
        u_device_type: 'RTU',
        u_purdue_layer: 'Supervisory',
        u_ip_address_objects: [{ u_address: '10.0.0.2', u_guessed_mac_address: '00:11:22:33:44:55' }],
        u_mac_address_objects: ['00:11:22:33:44:55'],
        u_first_discovered: '2026-01-01T00:00:00Z',
        u_last_activity: '1767225600000',
      });
    }
    return c.json({ error: 'not found' }, 404);
  });
  server = await listen(app, { tls });
});

let transport: HttpTransport;
let counters: RequestCounters;
function consoleClient(pageSize: number, maxWaitMs = 5_000): ConsoleClient {
  const limiter = new RequestLimiter({ service: 'console', maxInFlight: 2, maxWaitMs, clock: systemClock });
  const http = new ResilientHttpClient({
    service: 'console',
    transport,
    limiter,
    counters,
    clock: systemClock,
    backoff: { baseMs: 5, maxMs: 20, maxAttempts: 4 },
  });
  return new ConsoleClient({ url: `${server.url}/console`, token: TOKEN, http, pageSize });
}

beforeEach(async () => {
  await transport?.close();
  transport = createHttpTransport({ caFile: tls.caFile });
  counters = new RequestCounters();
  deviceTotal = 6;
  brokenDevice = 0;
  faults = [];
  seen = [];
});
afterAll(async () => {
  await transport?.close();
  await server?.close();
});

async function all<T>(pages: AsyncIterable<SourcePage<T>>) {
  const items: T[] = [];
  const problems: SourcePage<T>['problems'] = [];
  for await (const page of pages) {
    items.push(...page.items);
    problems.push(...page.problems);
  }
  return { items, problems };
}

describe('ConsoleClient.devices', () => {
  it('reads an exact multiple of the page size once each, without asking for an empty page', async () => {
    const { items, problems } = await all(consoleClient(3).devices(new Date(1664781014000)));
    expect(problems).toEqual([]);
    expect(items.map((d) => d.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen.map((u) => `${u.pathname}?${u.searchParams}`)).toEqual([
      '/console/external/v3/integration/devices/1664781014000?page=0&size=3',
      '/console/external/v3/integration/devices/1664781014000?page=1&size=3',
    ]);
  });

  it('reads a partial last page, and an empty estate in one request', async () => {
    deviceTotal = 7;
    expect((await all(consoleClient(3).devices())).items.map((d) => d.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seen).toHaveLength(3);
    deviceTotal = 0;
    seen = [];
    expect((await all(consoleClient(3).devices())).items).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('normalises the documented example: device type object, Purdue layer, MACs, epoch-ms times', async () => {
    const { items } = await all(consoleClient(50).devices(0, { sensorId: 1, notificationType: 0 }));
    expect(seen[0]!.searchParams.get('sensorId')).toBe('1');
    expect(seen[0]!.searchParams.get('notificationType')).toBe('0');
    expect(items[0]).toMatchObject({
      id: 1,
      vendor: 'HILSCHER GMBH',
      operatingSystem: undefined,
      site: 'asd',
      zone: 'asd',
      type: 'PLC',
      category: 'ICS',
      purdueLayer: 'Process Control',
      ipAddresses: [{ address: '10.10.50.5', guessedMacAddresses: ['00:02:a2:1f:1c:59'] }],
      macAddresses: ['00:02:a2:1f:1c:59'],
      protocols: ['MODBUS'],
      vlans: ['1'],
      sensorIds: [1],
      firstDiscovered: new Date(1664781051000),
      lastActivity: new Date(1664782791000),
      lastUpdate: new Date(1664782919000),
    });
  });

  it('reports a malformed device in its page and reads the rest', async () => {
    brokenDevice = 2;
    const { items, problems } = await all(consoleClient(3).devices());
    expect(items.map((d) => d.id)).toEqual([1, 3, 4, 5, 6]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      index: 1,
      source: 'management console /external/v3/integration/devices',
    });
    expect(problems[0]!.error.message).toMatch(/u_id/);
  });

  it('retries 5xx and resets mid-stream, waits a short 429: every device once', async () => {
    faults = [500, 'reset', { status: 429, retryAfter: '1' }];
    deviceTotal = 9;
    const { items } = await all(consoleClient(3).devices());
    expect(items.map((d) => d.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(counters.retries).toBe(3);
  });

  it('defers on a long 429', async () => {
    faults = [{ status: 429, retryAfter: '3600' }];
    const error = await all(consoleClient(3).devices()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(Math.abs((error as RateLimitedError).retryAt.getTime() - Date.now() - 3_600_000)).toBeLessThan(
      10_000,
    );
  });
});

describe('ConsoleClient other endpoints', () => {
  it('reads one device in either spelling, and undefined for an unknown one', async () => {
    const client = consoleClient(50);
    expect(await client.device(1)).toMatchObject({ id: 1, type: 'PLC', purdueLayer: 'Process Control' });
    expect(await client.device(2)).toMatchObject({
      id: 2,
      type: 'RTU',
      category: undefined,
      purdueLayer: 'Supervisory',
      ipAddresses: [{ address: '10.0.0.2', guessedMacAddresses: ['00:11:22:33:44:55'] }],
      macAddresses: ['00:11:22:33:44:55'],
      firstDiscovered: new Date('2026-01-01T00:00:00Z'),
      lastActivity: new Date(1767225600000),
    });
    expect(await client.device(99)).toBeUndefined();
  });

  it('reads connections, device CVEs, deleted devices and sensors', async () => {
    const client = consoleClient(50);
    const connections = await all(client.connections(5));
    expect(connections.items[0]).toEqual({
      appliance: 'Management console (CM)',
      sourceDeviceId: 103,
      sourceDeviceName: '10.10.10.18',
      destinationDeviceId: 95,
      destinationDeviceName: '10.10.10.16',
      connectionType: 'Two Way',
    });
    // u_count says 106 but the page came back short: a short page ends the read.
    expect(seen.filter((u) => u.pathname.includes('/connections/'))).toHaveLength(1);

    const cves = await all(client.deviceCves(0, { score: 7, deviceIds: [135, 181] }));
    expect(cves.problems).toEqual([]);
    expect(cves.items.map((d) => d.deviceId)).toEqual([135, 181]);
    expect(cves.items[0]!.cves[0]).toMatchObject({
      cveId: 'CVE-2015-2373',
      score: 10,
      ipAddress: '192.168.1.127',
      attackVector: 'NETWORK',
    });
    expect(seen.at(-1)!.searchParams.get('deviceIds')).toBe('135,181');
    expect(seen.at(-1)!.searchParams.get('score')).toBe('7');

    expect((await client.deletedDevices(new Date(0))).items).toEqual([192, 66, 4, 22, 24]);
    const sensors = await client.sensors();
    expect(sensors.items).toEqual([
      expect.objectContaining({
        id: 1,
        name: 'Microsoft Defender for IoT',
        connectionState: 'SYNCED',
        learningMode: false,
        activated: true,
        zoneId: '1',
      }),
    ]);
  });
});
