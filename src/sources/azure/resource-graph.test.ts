import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../../sandbox/common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../../../sandbox/common/tls.js';
import { systemClock } from '../../domain/clock.js';
import { InputError, RateLimitedError, UpstreamError } from '../../errors.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { RequestLimiter } from '../../runtime/http/limiter.js';
import { createDefenderSources, type DefenderSources } from '../index.js';
import { resourceGraphQuotaObserver, type ResourceGraphRow } from './resource-graph.js';

/** A loopback fake of `POST /providers/Microsoft.ResourceGraph/resources` paging with `$skipToken`. */
let tls: SandboxTls;
let server: RunningServer;
let rowCount = 9;
let faults: Array<'reset' | number | { status: number; retryAfter: string }> = [];
let bodies: Array<Record<string, any>> = [];
let urls: string[] = [];

beforeAll(async () => {
  tls = await generateSandboxTls();
  const app = new Hono();
  app.post('/providers/Microsoft.ResourceGraph/resources', async (c) => {
    urls.push(c.req.url);
    const body = (await c.req.json()) as Record<string, any>;
    bodies.push(body);
    const fault = faults.shift();
    if (fault === 'reset') {
      (c.env as { incoming: { socket: { destroy(): void } } }).incoming.socket.destroy();
      return new Response(null);
    }
    if (typeof fault === 'number')
      return c.json({ error: { code: 'ServerError', message: 'boom' } }, fault as 500);
    if (fault)
      return c.json(
        { error: { code: 'RateLimiting', message: 'slow' } },
        { status: 429, headers: { 'Retry-After': fault.retryAfter } },
      );
    if (typeof body.query !== 'string' || body.query.includes('bad syntax')) {
      return c.json(
        {
          error: {
            code: 'BadRequest',
            message: 'Please provide below info when asking for support',
            details: [{ code: 'InvalidQuery' }],
          },
        },
        400,
      );
    }
    const top = Math.min(1000, body.options?.$top ?? 1000);
    const offset = body.options?.$skipToken
      ? Number(Buffer.from(body.options.$skipToken, 'base64').toString())
      : 0;
    const data = Array.from({ length: Math.max(0, Math.min(top, rowCount - offset)) }, (_, i) => ({
      id: `/subscriptions/s/resourceGroups/rg/providers/microsoft.compute/virtualmachines/vm${offset + i}`,
      name: `vm${offset + i}`,
    }));
    const next = offset + top < rowCount ? Buffer.from(String(offset + top)).toString('base64') : undefined;
    return c.json({
      totalRecords: rowCount,
      count: data.length,
      resultTruncated: 'false',
      ...(next ? { $skipToken: next } : {}),
      facets: [],
      data,
    });
  });
  server = await listen(app, { tls });
});

let sources: DefenderSources;
let counters: RequestCounters;
beforeEach(async () => {
  await sources?.close();
  rowCount = 9;
  faults = [];
  bodies = [];
  urls = [];
  counters = new RequestCounters();
  sources = createDefenderSources(
    {
      tenantId: 't',
      armUrl: server.url,
      authorityHost: 'https://login.microsoftonline.com',
      auth: { type: 'token', token: 'tok' },
      subscriptions: [],
      sensors: [],
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

async function rows(query: AsyncIterable<ResourceGraphRow[]>): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let pages = 0;
  for await (const page of query) {
    pages++;
    names.push(...page.map((r) => String(r.name)));
  }
  return { names, pages };
}

const KQL = "securityresources | where type == 'microsoft.security/assessments' | project id, name";

describe('ResourceGraphClient.query', () => {
  it('pages with $skipToken and reads an exact multiple of the page size once each', async () => {
    const { names, pages } = await rows(
      sources.resourceGraph.query(KQL, { subscriptions: ['s1', 's2'], pageSize: 3 }),
    );
    expect(pages).toBe(3);
    expect(names).toEqual(Array.from({ length: 9 }, (_, i) => `vm${i}`));
    expect(bodies).toHaveLength(3);
    expect(bodies[0]).toEqual({
      subscriptions: ['s1', 's2'],
      query: KQL,
      options: { $top: 3, resultFormat: 'objectArray' },
    });
    expect(bodies[1]!.options.$skipToken).toBe(Buffer.from('3').toString('base64'));
    expect(new URL(urls[0]!).searchParams.get('api-version')).toBe('2024-04-01');
    expect(counters.snapshot()).toEqual({ 'resourcegraph POST 200': 3 });
  });

  it('reads a partial last page and sends management groups when given', async () => {
    rowCount = 7;
    const { names, pages } = await rows(
      sources.resourceGraph.query(KQL, { managementGroups: ['mg'], pageSize: 3 }),
    );
    expect(pages).toBe(3);
    expect(new Set(names).size).toBe(7);
    expect(bodies[0]).toMatchObject({ managementGroups: ['mg'] });
    expect(bodies[0]).not.toHaveProperty('subscriptions');
  });

  it('retries a 500 and a reset: every row once', async () => {
    faults = [500, 'reset'];
    const { names } = await rows(sources.resourceGraph.query(KQL, { pageSize: 4 }));
    expect(names).toEqual(Array.from({ length: 9 }, (_, i) => `vm${i}`));
    expect(counters.retries).toBe(2);
  });

  it('defers on a long Retry-After', async () => {
    faults = [{ status: 429, retryAfter: '3600' }];
    const error = await rows(sources.resourceGraph.query(KQL)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(Math.abs((error as RateLimitedError).retryAt.getTime() - Date.now() - 3_600_000)).toBeLessThan(
      10_000,
    );
  });

  it('maps a query error to UpstreamError and rejects a page size over 1000', async () => {
    const error = await rows(sources.resourceGraph.query('bad syntax')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ service: 'resourcegraph', status: 400 });
    expect((error as Error).message).toMatch(/Resource Graph refused .*BadRequest/);
    await expect(rows(sources.resourceGraph.query(KQL, { pageSize: 1001 }))).rejects.toBeInstanceOf(
      InputError,
    );
  });
});

describe('resourceGraphQuotaObserver', () => {
  it('pauses until the user quota resets when none is left', async () => {
    const limiter = new RequestLimiter({
      service: 'resourcegraph',
      maxInFlight: 2,
      maxWaitMs: 10_000,
      clock: systemClock,
    });
    const observe = resourceGraphQuotaObserver(limiter, systemClock);
    observe({
      status: 200,
      headers: { 'x-ms-user-quota-remaining': '3', 'x-ms-user-quota-resets-after': '00:00:05' },
      body: Buffer.alloc(0),
    });
    let started = Date.now();
    (await limiter.acquire())();
    expect(Date.now() - started).toBeLessThan(100);
    observe({
      status: 200,
      headers: { 'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': '00:00:01' },
      body: Buffer.alloc(0),
    });
    started = Date.now();
    (await limiter.acquire())();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    // A reset an hour away is not slept: the next request defers.
    observe({
      status: 200,
      headers: { 'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': '01:00:00' },
      body: Buffer.alloc(0),
    });
    await expect(limiter.acquire()).rejects.toBeInstanceOf(RateLimitedError);
  });
});
