import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledWithin } from '../common/settled.js';
import { generateSandboxTls } from '../common/tls.js';
import { Instance, signWebhook, startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { otInventoryPayload } from './examples.js';
import { SandboxClient } from './testing.js';

type Many = { result: Array<Record<string, string>> };
type Stats = {
  total: number;
  writes: number;
  byApi: Record<string, Record<string, number>>;
  batchInner: { total: number; writes: number; byApi: Record<string, Record<string, number>> };
  received: { ireItems: number; inserted: Record<string, number> };
};

let sn: ServiceNowSandbox;
let api: SandboxClient;
let control: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox();
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
  control = new SandboxClient(sn, undefined);
});

afterAll(async () => {
  await api.close();
  await control.close();
  await sn.close();
});

describe('/_sandbox/stats', () => {
  it('counts per API and method, writes apart, and Batch inner requests apart', async () => {
    await control.post('/_sandbox/stats/reset', {});
    await api.get('/api/now/table/incident?sysparm_limit=1');
    await api.post('/api/now/table/incident', { short_description: 's' });
    await api.post('/api/now/identifyreconcile/query', { items: [] });
    const inner = (method: string, url: string, body?: unknown): Record<string, unknown> => ({
      id: url + method,
      method,
      url,
      headers: [{ name: 'Content-Type', value: 'application/json' }],
      ...(body ? { body: Buffer.from(JSON.stringify(body)).toString('base64') } : {}),
    });
    await api.post('/api/now/v1/batch', {
      batch_request_id: 'b',
      rest_requests: [
        inner('GET', '/api/now/table/incident?sysparm_limit=1'),
        inner('POST', '/api/now/table/incident', { short_description: 'in batch' }),
      ],
    });
    const stats = (await control.get<Stats>('/_sandbox/stats')).body;
    expect(stats.total).toBe(4);
    expect(stats.writes).toBe(2);
    expect(stats.byApi).toEqual({ table: { GET: 1, POST: 1 }, ire: { POST: 1 }, batch: { POST: 1 } });
    expect(stats.batchInner).toEqual({ total: 2, writes: 1, byApi: { table: { GET: 1, POST: 1 } } });
    // A query payload commits nothing: its items are not counted as received.
    expect(stats.received).toEqual({ ireItems: 0, inserted: { incident: 2 } });
  });

  it('counts the items of committed IRE payloads and the records inserted per table (benchmark floors)', async () => {
    await control.post('/_sandbox/stats/reset', {});
    const payload = otInventoryPayload({ devices: 2, source: 'ServiceNow' });
    const answer = await api.post('/api/now/identifyreconcile?sysparm_data_source=ServiceNow', payload);
    expect(answer.status).toBe(200);
    const stats = (await control.get<Stats>('/_sandbox/stats')).body;
    expect(stats.received.ireItems).toBe(payload.items.length);
    // The CIs IRE created are inserted records too (with their source records and relations).
    expect(Object.values(stats.received.inserted).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(
      payload.items.length,
    );
  });
});

describe('/_sandbox/faults', () => {
  it('injects 500 and 429 deterministically from a seed', async () => {
    const run = async (): Promise<number[]> => {
      await control.post('/_sandbox/faults', {
        seed: 42,
        error500Rate: 0.3,
        error429Rate: 0.3,
        retryAfterSeconds: 7,
      });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++)
        statuses.push((await api.get('/api/now/table/incident?sysparm_limit=1')).status);
      return statuses;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(a).toContain(500);
    expect(a).toContain(429);
    expect(a).toContain(200);
    await control.post('/_sandbox/faults', { seed: 1, error429Rate: 1, retryAfterSeconds: 7 });
    const limited = await api.get('/api/now/table/incident');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect((limited.body as { status: string }).status).toBe('failure');
    await control.post('/_sandbox/faults', { resetRate: 1 });
    await expect(api.get('/api/now/table/incident')).rejects.toThrow();
    await control.post('/_sandbox/faults', {});
    expect((await api.get('/api/now/table/incident?sysparm_limit=1')).status).toBe(200);
  });

  it('holdWrite commits write N and never acknowledges it', async () => {
    await control.post('/_sandbox/faults', { holdWrite: 2 });
    expect((await api.post('/api/now/table/incident', { short_description: 'hold-1' })).status).toBe(201);
    const impatient = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
    const second = impatient.call('POST', '/api/now/table/incident', { short_description: 'hold-2' });
    expect(await settledWithin(second, 700)).toBe('pending');
    const committed = await api.get<Many>('/api/now/table/incident?sysparm_query=short_description=hold-2');
    expect(committed.body.result).toHaveLength(1);
    expect((await control.get<{ held: number }>('/_sandbox/faults')).body.held).toBe(1);
    await control.post('/_sandbox/faults', {});
    expect(await settledWithin(second, 10_000)).toBe('failed');
    await impatient.close();
  });

  it('holdRead holds read N unanswered and counts reads apart from writes', async () => {
    await control.post('/_sandbox/faults', { holdRead: 2 });
    expect((await api.get('/api/now/table/incident?sysparm_limit=1')).status).toBe(200);
    expect((await api.post('/api/now/table/incident', { short_description: 'not a read' })).status).toBe(201);
    const impatient = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
    const second = impatient.call('GET', '/api/now/table/incident?sysparm_limit=1');
    expect(await settledWithin(second, 700)).toBe('pending');
    expect((await control.get('/_sandbox/faults')).body).toMatchObject({
      held: 1,
      readsSeen: 2,
      writesSeen: 1,
    });
    await control.post('/_sandbox/faults', {});
    expect(await settledWithin(second, 10_000)).toBe('failed');
    await impatient.close();
  });

  it('holdStatus commits write N and answers it with that status', async () => {
    await control.post('/_sandbox/faults', { holdWrite: 1, holdStatus: 500 });
    const answer = await api.post('/api/now/table/incident', { short_description: 'applied-then-500' });
    expect(answer.status).toBe(500);
    const committed = await api.get<Many>(
      '/api/now/table/incident?sysparm_query=short_description=applied-then-500',
    );
    expect(committed.body.result).toHaveLength(1);
    expect((await api.post('/api/now/table/incident', { short_description: 'next' })).status).toBe(201);
    await control.post('/_sandbox/faults', {});
  });
});

describe('/_sandbox/rate-limits and /_sandbox/clock', () => {
  it('limits per window with X-RateLimit-* headers; the window follows the sandbox clock', async () => {
    await control.post('/_sandbox/clock', { now: '2026-05-01T10:00:00Z' });
    await control.post('/_sandbox/rate-limits', {
      rules: [{ name: 'table reads', limit: 2, windowSeconds: 3600, apis: ['table'] }],
    });
    const ok = await api.get('/api/now/table/incident?sysparm_limit=1');
    expect(ok.headers['x-ratelimit-limit']).toBe('2');
    expect(ok.headers['x-ratelimit-reset']).toBe(String(Date.parse('2026-05-01T11:00:00Z') / 1000));
    expect(ok.headers['x-ratelimit-rule']).toMatch(/^[0-9a-f]{32}$/);
    await api.get('/api/now/table/incident?sysparm_limit=1');
    const denied = await api.get('/api/now/table/incident?sysparm_limit=1');
    expect(denied.status).toBe(429);
    expect(denied.headers['retry-after']).toBe('3600');
    expect(denied.body).toEqual({
      error: {
        message: 'Rate limit exceeded',
        detail: 'Rate limit of 2 requests per hour for Table API exceeded',
      },
      status: 'failure',
    });
    expect((await api.post('/api/now/identifyreconcile/query', { items: [] })).status).toBe(200);
    await control.post('/_sandbox/clock', { advanceSeconds: 3600 });
    expect((await api.get('/api/now/table/incident?sysparm_limit=1')).status).toBe(200);
    await control.post('/_sandbox/rate-limits', { rules: [] });
    const clock = await control.get<{ now: string }>('/_sandbox/clock');
    expect(clock.body.now.startsWith('2026-05-01T11:00')).toBe(true);
    const fresh = await api.post<{ result: Record<string, string> }>('/api/now/table/incident', {
      short_description: 'clocked',
    });
    expect(fresh.body.result.sys_created_on?.startsWith('2026-05-01 11:00')).toBe(true);
    const recent = await api.get<Many>(
      '/api/now/table/incident?sysparm_query=sys_created_onBETWEENjavascript:gs.minutesAgo(5)@javascript:gs.endOfToday()&sysparm_fields=short_description',
    );
    expect(recent.body.result).toEqual([{ short_description: 'clocked' }]);
  });

  it('rejects malformed control requests with the error envelope', async () => {
    const bad = await control.post('/_sandbox/faults', { error500Rate: 5 });
    expect(bad.status).toBe(400);
    expect((bad.body as { status: string }).status).toBe('failure');
    expect((await control.post('/_sandbox/clock', '{nope')).status).toBe(400);
  });
});

describe('/_sandbox/dump, /_sandbox/seed and /_sandbox/reset', () => {
  it('two runs that reach the same state dump equal, whatever the order and ids', async () => {
    const tables = 'cmdb_ci,cmdb_rel_ci,cmdb_ot_entity,sys_object_source,incident,sys_journal_field';
    const runA = async (): Promise<void> => {
      await api.post(
        '/api/now/identifyreconcile?sysparm_data_source=Snowline',
        otInventoryPayload({ devices: 4 }),
      );
      await api.post('/api/now/table/incident', {
        short_description: 'dump me',
        correlation_id: 'snowline:1',
        work_notes: 'note',
      });
    };
    const runB = async (): Promise<void> => {
      await api.post('/api/now/table/incident', {
        short_description: 'dump me',
        correlation_id: 'snowline:1',
        work_notes: 'note',
      });
      await api.post(
        '/api/now/identifyreconcile?sysparm_data_source=Snowline',
        otInventoryPayload({ start: 2, devices: 2 }),
      );
      await api.post(
        '/api/now/identifyreconcile?sysparm_data_source=Snowline',
        otInventoryPayload({ devices: 4 }),
      );
    };
    await control.post('/_sandbox/reset', {});
    await runA();
    const a = (await control.get(`/_sandbox/dump?tables=${tables}`)).text;
    await control.post('/_sandbox/reset', {});
    await control.post('/_sandbox/clock', { advanceSeconds: 86_400 });
    await runB();
    const b = (await control.get(`/_sandbox/dump?tables=${tables}`)).text;
    expect(b).toBe(a);
    expect(a).not.toMatch(/[0-9a-f]{32}/);
    const parsed = JSON.parse(a) as { tables: Record<string, Array<Record<string, string>>> };
    expect(parsed.tables.cmdb_rel_ci).toHaveLength(12);
    expect(parsed.tables.incident?.[0]?.opened_by).toBe(`@sys_user:${sn.credentials.user}`);
  });

  it('seeds records through the business rules and resets to the baseline', async () => {
    const seeded = await control.post<{ result: Record<string, string[]> }>('/_sandbox/seed', {
      sys_user_group: [{ name: 'Seeded Group' }],
      incident: [{ short_description: 'seeded' }],
    });
    expect(seeded.body.result.incident).toHaveLength(1);
    const groupId = seeded.body.result.sys_user_group?.[0];
    await control.post('/_sandbox/seed', {
      sys_user_group: [{ sys_id: groupId, name: 'Seeded Group', description: 'again' }],
    });
    const groups = await api.get<Many>('/api/now/table/sys_user_group?sysparm_query=name=Seeded Group');
    expect(groups.body.result.map((g) => g.description)).toEqual(['again']);
    await control.post('/_sandbox/reset', {});
    expect((await api.get<Many>('/api/now/table/incident')).body.result).toEqual([]);
    expect(
      (await api.get<Many>('/api/now/table/cmdb_rel_type?sysparm_query=name=Detects::Detected by')).body
        .result,
    ).toHaveLength(1);
    const created = await api.post<{ result: Record<string, string> }>('/api/now/table/incident', {
      short_description: 'after reset',
    });
    expect(created.body.result.number).toBe('INC0010001');
  });
});

describe('/_sandbox/webhooks', () => {
  let receiver: Server;
  let url: string;
  const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];

  beforeAll(async () => {
    const tls = await generateSandboxTls();
    receiver = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const address = receiver.address();
    url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/v1/webhooks/servicenow`;
    await control.post('/_sandbox/webhooks', { url, secret: 's3cret', tables: ['incident'], ca: tls.caCert });
  });

  afterAll(async () => {
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it('posts the signed webhook body of docs/ticket-sync.md after insert and update, asynchronously', async () => {
    const inc = await api.post<{ result: Record<string, string> }>('/api/now/table/incident', {
      short_description: 'hooked',
    });
    await api.patch(`/api/now/table/incident/${inc.body.result.sys_id}`, { urgency: '1' });
    await api.post('/api/now/table/problem', { short_description: 'not registered' });
    for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(received).toHaveLength(2);
    const [first, second] = received.map((r) => ({
      ...r,
      json: JSON.parse(r.body) as Record<string, unknown>,
    }));
    expect(Object.keys(first?.json ?? {})).toEqual([
      'table',
      'sys_id',
      'sys_mod_count',
      'sys_updated_on',
      'record',
    ]);
    expect(first?.json).toMatchObject({
      table: 'incident',
      sys_id: inc.body.result.sys_id,
      sys_mod_count: '0',
    });
    expect(second?.json).toMatchObject({
      sys_mod_count: '1',
      record: { urgency: '1', short_description: 'hooked' },
    });
    for (const r of received) {
      const ts = String(r.headers['x-snowline-timestamp']);
      expect(ts).toMatch(/^\d+$/);
      expect(r.headers['x-snowline-signature']).toBe(signWebhook('s3cret', ts, r.body));
    }
    const list = await control.get<{ deliveries: Array<{ status: number }> }>('/_sandbox/webhooks');
    expect(list.body.deliveries.map((d) => d.status)).toEqual([202, 202]);
  });
});

describe('SQLite persistence', () => {
  it('keeps records and number counters between runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sn-sandbox-'));
    const file = join(dir, 'instance.db');
    try {
      const seed = { sys_user_group: [{ name: 'Persisted Group' }] };
      const one = await startServiceNowSandbox({ persistFile: file, tls: null, seed });
      const c1 = SandboxClient.basic(one, one.credentials.user, one.credentials.password);
      const first = await c1.post<{ result: Record<string, string> }>('/api/now/table/incident', {
        short_description: 'persisted',
        work_notes: 'kept',
      });
      await c1.post(
        '/api/now/identifyreconcile?sysparm_data_source=Snowline',
        otInventoryPayload({ devices: 2 }),
      );
      await c1.close();
      await one.close();
      const two = await startServiceNowSandbox({ persistFile: file, tls: null, seed });
      const c2 = SandboxClient.basic(two, two.credentials.user, two.credentials.password);
      const found = await c2.get<Many>(
        `/api/now/table/incident/${first.body.result.sys_id}?sysparm_fields=short_description,number`,
      );
      expect(found.body.result).toEqual({ short_description: 'persisted', number: first.body.result.number });
      const next = await c2.post<{ result: Record<string, string> }>('/api/now/table/incident', {
        short_description: 'second',
      });
      expect(next.body.result.number).not.toBe(first.body.result.number);
      const replay = await c2.post<{ result: { items: Array<{ operation: string }> } }>(
        '/api/now/identifyreconcile?sysparm_data_source=Snowline',
        otInventoryPayload({ devices: 2 }),
      );
      expect(new Set(replay.body.result.items.map((i) => i.operation))).toEqual(new Set(['NO_CHANGE']));
      const users = await c2.get<Many>(
        `/api/now/table/sys_user?sysparm_query=user_name=${two.credentials.user}`,
      );
      expect(users.body.result).toHaveLength(1);
      const groups = await c2.get<Many>('/api/now/table/sys_user_group?sysparm_query=name=Persisted Group');
      expect(groups.body.result).toHaveLength(1);
      await c2.close();
      await two.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('/_sandbox/faults latency spikes and injected counts', () => {
  it('delays a seeded share of requests by latencySpikeMs and counts every injected fault', async () => {
    await control.post('/_sandbox/faults', {
      seed: 9,
      latencySpikeRate: 0.5,
      latencySpikeMs: 200,
      error500Rate: 0.2,
    });
    let slowest = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const started = performance.now();
      statuses.push((await api.get('/api/now/table/incident?sysparm_limit=1')).status);
      slowest = Math.max(slowest, performance.now() - started);
    }
    const report = (await control.get<{ injected: Record<string, number> }>('/_sandbox/faults')).body;
    expect(report.injected.latencySpike).toBeGreaterThan(0);
    expect(report.injected.latencySpike).toBeLessThan(12);
    expect(report.injected.error500).toBe(statuses.filter((s) => s === 500).length);
    // A spiked request is answered no sooner than the spike (a lower bound, not a performance claim).
    expect(slowest).toBeGreaterThanOrEqual(190);
    await control.post('/_sandbox/faults', {});
    expect(
      (await control.get<{ injected: Record<string, number> }>('/_sandbox/faults')).body.injected,
    ).toEqual({ reset: 0, error500: 0, error429: 0, latencySpike: 0 });
  });
});

describe('/_sandbox/journal', () => {
  it('records outer API requests with their bodies while on, and nothing while off', async () => {
    await api.post('/api/now/table/incident', { short_description: 'before the journal' });
    expect((await control.post('/_sandbox/journal', { enabled: true })).body).toEqual({ enabled: true });
    await api.get('/api/now/table/incident?sysparm_limit=1');
    await api.post('/api/now/table/incident', { short_description: 'journaled' });
    const journal = (
      await control.get<{
        enabled: boolean;
        requests: { seq: number; method: string; path: string; body?: string }[];
      }>('/_sandbox/journal')
    ).body;
    expect(journal.enabled).toBe(true);
    const [first] = journal.requests;
    expect(journal.requests).toEqual([
      { seq: first!.seq, method: 'GET', path: '/api/now/table/incident?sysparm_limit=1' },
      {
        seq: first!.seq + 1,
        method: 'POST',
        path: '/api/now/table/incident',
        body: JSON.stringify({ short_description: 'journaled' }),
      },
    ]);
    await control.post('/_sandbox/journal', { enabled: false });
    await api.get('/api/now/table/incident?sysparm_limit=1');
    expect((await control.get<{ requests: unknown[] }>('/_sandbox/journal')).body.requests).toEqual([]);
  });
});

describe('/_sandbox/sys-ids', () => {
  it('mints sys_ids from a seed and what is inserted while one is set, whatever the order, and random ones after', async () => {
    const seed = `sys-ids-${Date.now()}`;
    const created = async (short_description: string) =>
      (await api.post<{ result: { sys_id: string } }>('/api/now/table/incident', { short_description })).body
        .result.sys_id;
    await control.post('/_sandbox/sys-ids', { seed });
    const first = [await created('seeded a'), await created('seeded b'), await created('seeded a')];
    expect(new Set(first).size).toBe(3);
    // A replay under the same seed that sends the inserts in another order gets the same sys_ids.
    await control.post('/_sandbox/reset', {});
    await control.post('/_sandbox/sys-ids', { seed });
    const second = [await created('seeded b'), await created('seeded a'), await created('seeded a')];
    expect(second).toEqual([first[1], first[0], first[2]]);
    await control.post('/_sandbox/sys-ids', { seed: null });
    expect(first).not.toContain(await created('seeded a'));
  });
});

// Property names and defaults: [SND] markdown/servicenow-platform/configuration-management-database-cmdb/properties-id-reconciliation.md
describe('system properties (properties-id-reconciliation.md)', () => {
  it('seeds the class properties true, applies config.properties over them, and restores both on reset', async () => {
    const instance = new Instance({ config: { properties: { 'glide.class.switch.enabled': 'false' } } });
    expect(instance.property('glide.class.upgrade.enabled')).toBe('true');
    expect(instance.property('glide.class.switch.enabled')).toBe('false');
    expect(instance.property('glide.identification_engine.update_without_switch_enabled')).toBeUndefined();
    instance.setProperty('glide.class.switch.enabled', 'true');
    instance.reset();
    expect(instance.property('glide.class.switch.enabled')).toBe('false');
    const res = await control.post<Record<string, string>>('/_sandbox/properties', { 'x.y': 3 });
    expect(res.body['x.y']).toBe('3');
    expect((await control.post('/_sandbox/properties', { 'x.y': { nested: true } })).status).toBe(400);
  });
});

// [SND] markdown/operational-technology/operational-technology-manager/view-device-to-device-connections.md:
// "Any device-to-device connection record with a Last Communication Time stamp of 90 days or
// longer is deleted", Table Cleanup "Age in seconds" default 7,776,000.
describe('Table Cleanup of OT device-to-device connections (view-device-to-device-connections.md)', () => {
  it('deletes connections last seen 90 days ago or more when the job runs on the sandbox clock', async () => {
    const now = new Date('2026-03-01T12:00:00Z');
    await control.post('/_sandbox/clock', { now: now.toISOString() });
    const ago = (days: number): string =>
      new Date(now.getTime() - days * 86_400_000).toISOString().replace('T', ' ').slice(0, 19);
    const conn = (port: string, last: string): Record<string, unknown> => ({
      className: 'sn_ot_device_network_connection',
      values: {
        source_ip: '10.77.0.1',
        destination_ip: '10.77.0.2',
        destination_port: port,
        last_communication: last,
      },
    });
    const res = await api.post<{ result: { items: Array<{ operation: string }> } }>(
      '/api/now/identifyreconcile?sysparm_data_source=Snowline',
      { items: [conn('1', ago(91)), conn('2', ago(90)), conn('3', ago(89)), conn('4', '')] },
    );
    expect(res.body.result.items.map((i) => i.operation)).toEqual(Array(4).fill('INSERT'));
    const ports = async (): Promise<string[]> =>
      (
        await api.get<Many>(
          '/api/now/table/sn_ot_device_network_connection?sysparm_query=source_ip=10.77.0.1^ORDERBYdestination_port&sysparm_fields=destination_port',
        )
      ).body.result.map((r) => r.destination_port ?? '');
    const rule = await api.get<Many>(
      '/api/now/table/sys_auto_flush?sysparm_query=tablename=sn_ot_device_network_connection',
    );
    expect(rule.body.result[0]).toMatchObject({
      matchfield: 'last_communication',
      age: '7776000',
      active: 'true',
    });

    const first = await control.post<{ deleted: Record<string, number> }>('/_sandbox/jobs/table-cleanup', {});
    expect(first.body.deleted.sn_ot_device_network_connection).toBe(2);
    expect(await ports()).toEqual(['3', '4']);
    await control.post('/_sandbox/clock', { advanceSeconds: 2 * 86_400 });
    await control.post('/_sandbox/jobs/table-cleanup', {});
    expect(await ports()).toEqual(['4']);
    await control.post('/_sandbox/clock', { now: new Date().toISOString() });
  });
});

describe('/_sandbox/export and /_sandbox/import (instance clone and restore)', () => {
  // A clone replaces the target's data with the source's and keeps its URL and its
  // instance-specific authentication settings (ServiceNow/ServiceNowDocs
  // markdown/platform-administration/system-clone-landing.md, data-preservation.md).
  it('replaces every record with another instance’s, at the same URL, with the same credentials', async () => {
    const other = await startServiceNowSandbox();
    const otherApi = SandboxClient.basic(other, other.credentials.user, other.credentials.password);
    try {
      const mine = (
        await api.post<{ result: Record<string, string> }>('/api/now/table/incident', {
          short_description: 'written before the clone',
        })
      ).body.result;
      const theirs = (
        await otherApi.post<{ result: Record<string, string> }>('/api/now/table/incident', {
          short_description: 'on the source instance',
        })
      ).body.result;
      const data = (await new SandboxClient(other, undefined).get('/_sandbox/export')).body;
      await control.post('/_sandbox/import', data);

      expect((await api.get(`/api/now/table/incident/${mine.sys_id}`)).status).toBe(404);
      const cloned = await api.get<{ result: Record<string, string> }>(
        `/api/now/table/incident/${theirs.sys_id}`,
      );
      expect(cloned.body.result.short_description).toBe('on the source instance');
    } finally {
      await otherApi.close();
      await other.close();
    }
  });

  it('restores an earlier export: what was written since is gone, what was there before is kept', async () => {
    const before = (
      await api.post<{ result: Record<string, string> }>('/api/now/table/incident', {
        short_description: 'in the backup',
      })
    ).body.result;
    const backup = (await control.get('/_sandbox/export')).body;
    const after = (
      await api.post<{ result: Record<string, string> }>('/api/now/table/incident', {
        short_description: 'after the backup',
      })
    ).body.result;
    await control.post('/_sandbox/import', backup);
    expect((await api.get(`/api/now/table/incident/${before.sys_id}`)).status).toBe(200);
    expect((await api.get(`/api/now/table/incident/${after.sys_id}`)).status).toBe(404);
  });

  it('refuses a body that is not an export', async () => {
    const refused = await control.post('/_sandbox/import', { records: 'all of them' });
    expect(refused.status).toBe(400);
  });
});
