import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/index.js';
import { validateConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/domain/clock.js';
import { RateLimitedError, UpstreamError } from '../../src/errors.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';

/** The ServiceNow client against the ServiceNow sandbox over real HTTPS, with faults injected. */
const start = new Date('2026-11-01T08:00:00Z');
let sandbox: ServiceNowSandbox;
const opened: ServiceNowConnection[] = [];

beforeAll(async () => {
  sandbox = await startServiceNowSandbox({ tls: await generateSandboxTls(), now: start });
  // Exactly 3 × 50 groups: a page-size boundary.
  await post('/_sandbox/seed', {
    sys_user_group: Array.from({ length: 150 }, (_, i) => ({
      name: `boundary-${String(i).padStart(3, '0')}`,
      active: 'true',
    })),
  });
});
afterEach(async () => {
  await post('/_sandbox/faults', {});
  await post('/_sandbox/rate-limits', { rules: [] });
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await control?.close();
  await sandbox?.close();
});

let control: Agent;
async function post(path: string, body: unknown): Promise<unknown> {
  control ??= new Agent({ connect: { ca: readFileSync(sandbox.caFile!) } });
  const response = await request(`${sandbox.url}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    dispatcher: control,
  });
  return response.body.json();
}
async function getJson(path: string): Promise<unknown> {
  const response = await request(`${sandbox.url}${path}`, { dispatcher: control });
  return response.body.json();
}

function connect(options: { auth?: 'basic' | 'oauth'; clock?: ManualClock; maxWaitSeconds?: number } = {}) {
  const clock = options.clock ?? new ManualClock(start);
  const counters = new RequestCounters();
  const { credentials } = sandbox;
  const { config } = validateConfig(
    {
      integrations: [
        {
          id: 'it',
          servicenow: {
            instanceUrl: sandbox.url,
            auth:
              options.auth === 'basic'
                ? { type: 'basic', username: credentials.user, password: credentials.password }
                : { type: 'oauth', clientId: credentials.clientId, clientSecret: credentials.clientSecret },
            tls: { caFile: sandbox.caFile! },
            limits: { maxInFlight: 4, maxWaitSeconds: options.maxWaitSeconds ?? 5 },
          },
          defender: { tenantId: 't', auth: { type: 'managedIdentity' } },
        },
      ],
    },
    'test',
  );
  const connection = connectServiceNow(config.integrations[0]!.servicenow, { clock, counters });
  opened.push(connection);
  return { ...connection, counters, clock };
}

const boundaryQuery = encodeQuery({ where: [where('name', 'STARTSWITH', 'boundary-')], orderBy: ['name'] });

async function readBoundary(client: ServiceNowConnection['client']): Promise<string[]> {
  const names: string[] = [];
  for await (const page of client.list('sys_user_group', {
    query: boundaryQuery,
    fields: ['name'],
    pageSize: 50,
  })) {
    names.push(...page.map((r) => String(r.name)));
  }
  return names;
}

describe('ServiceNow client against the sandbox', () => {
  it('reads exactly N × page size rows once each', async () => {
    const { client } = connect();
    const names = await readBoundary(client);
    expect(names).toHaveLength(150);
    expect(new Set(names).size).toBe(150);
  });

  it('retries injected 500s and resets and still reads everything', async () => {
    const { client, counters } = connect({ auth: 'basic' });
    await post('/_sandbox/faults', { seed: 11, error500Rate: 0.3, resetRate: 0.15, apis: ['table'] });
    const names = await readBoundary(client);
    expect(new Set(names).size).toBe(150);
    expect(names).toHaveLength(150);
    expect(counters.retries).toBeGreaterThan(0);
  });

  it('waits out a short rate-limit window and defers a long one', async () => {
    const short = connect({ auth: 'basic' });
    await post('/_sandbox/rate-limits', {
      rules: [{ name: 'tight', limit: 2, windowSeconds: 1, apis: ['table'] }],
    });
    expect(await readBoundary(short.client)).toHaveLength(150);
    expect(short.counters.retries).toBeGreaterThan(0);

    const long = connect({ auth: 'basic' });
    await post('/_sandbox/rate-limits', {
      rules: [{ name: 'hourly', limit: 1, windowSeconds: 3600, apis: ['table'] }],
    });
    const error = await readBoundary(long.client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    // Deferred to the end of the instance's window, on the instance's clock (which the client's matches).
    expect((error as RateLimitedError).retryAt.getTime()).toBeGreaterThan(
      long.clock.now().getTime() + 60_000,
    );
  });

  it('refreshes OAuth tokens before they expire, once for many concurrent requests', async () => {
    const clock = new ManualClock(start);
    await post('/_sandbox/clock', { now: start.toISOString() });
    const { client } = connect({ clock });
    const tokenRequests = async () => {
      const stats = (await getJson('/_sandbox/stats')) as { byApi: { oauth?: { POST?: number } } };
      return stats.byApi.oauth?.POST ?? 0;
    };
    const before = await tokenRequests();
    await Promise.all(Array.from({ length: 12 }, () => client.get('sys_user_group', 'does-not-exist')));
    expect((await tokenRequests()) - before).toBe(1);
    // 29 minutes later both clocks agree the token is about to expire: one refresh, no 401.
    clock.advance(29 * 60_000);
    await post('/_sandbox/clock', { advanceSeconds: 29 * 60 });
    const results = await Promise.all(
      Array.from({ length: 12 }, () => client.count('sys_user_group', { query: boundaryQuery })),
    );
    expect(results).toEqual(Array(12).fill(150));
    expect((await tokenRequests()) - before).toBe(2);
  });

  it('creates, updates and deletes through the Table API and the Batch API', async () => {
    const { client } = connect();
    const incident = await client.create('incident', {
      short_description: 'a',
      correlation_id: 'snowline:it:crud',
    });
    expect(incident.sys_id).toMatch(/^[0-9a-f]{32}$/);
    expect(incident.number).toMatch(/^INC\d{7}$/);
    expect(
      (await client.update('incident', incident.sys_id, { short_description: 'b' })).short_description,
    ).toBe('b');
    const results = await client.batch([
      {
        id: '1',
        method: 'GET',
        url: `/api/now/table/incident/${incident.sys_id}?sysparm_fields=short_description`,
      },
      {
        id: '2',
        method: 'POST',
        url: '/api/now/table/incident',
        body: { short_description: 'from a batch' },
      },
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 201]);
    expect(results[0]!.body).toEqual({ result: { short_description: 'b' } });
    const found = await client.listAll('incident', {
      query: encodeQuery({ where: [where('correlation_id', '=', 'snowline:it:crud')] }),
    });
    expect(found.map((r) => r.sys_id)).toEqual([incident.sys_id]);
    expect(await client.delete('incident', incident.sys_id)).toBe(true);
    expect(await client.get('incident', incident.sys_id)).toBeUndefined();
  });

  it('re-sends a Batch call the instance applied and answered 500, without duplicating its inserts', async () => {
    const { client, counters } = connect({ auth: 'basic' });
    const existing = await client.create('incident', { short_description: 'patched by a batch' });
    const batch = (tag: string) =>
      client.batch([
        {
          id: '1',
          method: 'POST',
          url: '/api/now/table/incident?sysparm_fields=sys_id,correlation_id',
          body: { short_description: 'inserted', correlation_id: `${tag}:1` },
          identity: { correlation_id: `${tag}:1` },
        },
        {
          id: '2',
          method: 'PATCH',
          url: `/api/now/table/incident/${existing.sys_id}?sysparm_fields=sys_id`,
          body: { description: tag },
        },
        {
          id: '3',
          method: 'POST',
          url: '/api/now/table/incident?sysparm_fields=sys_id,correlation_id',
          body: { short_description: 'inserted', correlation_id: `${tag}:3` },
          identity: { correlation_id: `${tag}:3` },
        },
      ]);
    const byTag = async (tag: string) =>
      client.listAll('incident', {
        query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', `${tag}:`)] }),
        fields: ['sys_id', 'correlation_id'],
      });

    // Applied, then answered 500: the inserts are found and taken as done, not sent again.
    await post('/_sandbox/faults', { holdWrite: 1, holdStatus: 500 });
    const applied = await batch('applied');
    const created = await byTag('applied');
    expect(created.map((r) => r.correlation_id).sort()).toEqual(['applied:1', 'applied:3']);
    expect(applied.map((r) => r.status)).toEqual([201, 200, 201]);
    expect(applied.map((r) => (r.body as { result: { sys_id: string } }).result.sys_id)).toEqual([
      created.find((r) => r.correlation_id === 'applied:1')!.sys_id,
      existing.sys_id,
      created.find((r) => r.correlation_id === 'applied:3')!.sys_id,
    ]);
    expect(counters.retries).toBe(1);

    // Refused before anything ran (500s, then an answer): re-sent until it goes through, once.
    await post('/_sandbox/faults', { seed: 3, error500Rate: 0.6, apis: ['batch'] });
    const refused = await batch('refused');
    const injected = ((await getJson('/_sandbox/faults')) as { injected: { error500: number } }).injected;
    expect(injected.error500).toBeGreaterThan(0);
    expect(refused.map((r) => r.status)).toEqual([201, 200, 201]);
    expect((await byTag('refused')).map((r) => r.correlation_id).sort()).toEqual(['refused:1', 'refused:3']);
    expect(counters.retries).toBe(1 + injected.error500);
  });

  it('does not re-send a failed Batch call with an insert it could not search for', async () => {
    const { client, counters } = connect({ auth: 'basic' });
    await post('/_sandbox/faults', { holdWrite: 1, holdStatus: 500 });
    await expect(
      client.batch([
        { id: '1', method: 'POST', url: '/api/now/table/incident', body: { short_description: 'x' } },
      ]),
    ).rejects.toMatchObject({ status: 500 });
    expect(counters.retries).toBe(0);
  });

  it('surfaces IRE item errors and refuses a bad table with a clear error', async () => {
    const { client } = connect();
    const result = await client.identifyReconcile(
      {
        items: [
          {
            className: 'cmdb_ci_network_adapter',
            values: { name: 'aa:bb:cc:dd:ee:ff', mac_address: 'aa:bb:cc:dd:ee:ff' },
          },
        ],
      },
      { dataSource: 'ServiceNow', simulate: true },
    );
    expect(result.items[0]!.errors[0]!.error).toBe('MISSING_DEPENDENCY');
    const error = await client.get('no_such_table', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toContain('Invalid table no_such_table');
  });
});
