import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../../sandbox/common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../../../sandbox/common/tls.js';
import { systemClock } from '../../domain/clock.js';
import { RateLimitedError, UpstreamError } from '../../errors.js';
import { RequestCounters } from './counters.js';
import { RequestLimiter } from './limiter.js';
import { ResilientHttpClient } from './resilient-client.js';
import { createHttpTransport, type HttpTransport } from './transport.js';

/** A loopback HTTPS server whose answers each test scripts, one per request, per path. */
let tls: SandboxTls;
let server: RunningServer;
const scripts = new Map<string, Array<'ok' | 'reset' | number | { status: number; retryAfter: string }>>();
const hits = new Map<string, number>();

beforeAll(async () => {
  tls = await generateSandboxTls();
  const app = new Hono();
  app.all('/:name', async (c) => {
    const name = c.req.param('name');
    hits.set(name, (hits.get(name) ?? 0) + 1);
    const next = scripts.get(name)?.shift() ?? 'ok';
    if (next === 'reset') {
      // Destroy the socket mid-request: the client sees ECONNRESET / UND_ERR_SOCKET.
      (c.env as { incoming: { socket: { destroy(): void } } }).incoming.socket.destroy();
      return new Response(null);
    }
    if (next === 'ok') return c.json({ name, hit: hits.get(name) });
    if (typeof next === 'number') return c.json({ error: { message: 'scripted' } }, next as 500);
    return c.json(
      { error: 'slow down' },
      { status: next.status as 429, headers: { 'Retry-After': next.retryAfter } },
    );
  });
  server = await listen(app, { tls });
});
afterAll(async () => server?.close());

function client(overrides: { transport?: HttpTransport; maxWaitMs?: number } = {}) {
  const counters = new RequestCounters();
  const transport = overrides.transport ?? createHttpTransport({ caFile: tls.caFile });
  const limiter = new RequestLimiter({
    service: 'test',
    maxInFlight: 4,
    maxWaitMs: overrides.maxWaitMs ?? 5_000,
    clock: systemClock,
  });
  const http = new ResilientHttpClient({
    service: 'test',
    transport,
    limiter,
    counters,
    clock: systemClock,
    backoff: { baseMs: 5, maxMs: 20, maxAttempts: 4 },
  });
  return { http, counters, transport };
}

const get = (name: string) => ({ method: 'GET', url: `${server.url}/${name}` });

describe('ResilientHttpClient over real HTTPS', () => {
  it('retries 5xx and resets, then returns the complete answer', async () => {
    scripts.set('flaky', [500, 'reset', 503]);
    const { http, counters, transport } = client();
    const response = await http.send(get('flaky'));
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ name: 'flaky', hit: 4 });
    expect(counters.retries).toBe(3);
    expect(counters.total('test')).toBe(4);
    await transport.close();
  });

  it('gives up after maxAttempts with the last answer', async () => {
    scripts.set('down', [500, 500, 500, 500, 500]);
    const { http, transport } = client();
    expect((await http.send(get('down'))).status).toBe(500);
    expect(hits.get('down')).toBe(4);
    await transport.close();
  });

  it('does not resend a create after a 500 (the caller recovers by correlation key)', async () => {
    scripts.set('create', [500]);
    const { http, transport } = client();
    expect((await http.send({ method: 'POST', url: `${server.url}/create`, body: '{}' })).status).toBe(500);
    expect(hits.get('create')).toBe(1);
    await transport.close();
  });

  it('waits out a short Retry-After and defers a long one', async () => {
    scripts.set('limited', [{ status: 429, retryAfter: '1' }]);
    const { http, counters, transport } = client();
    const started = Date.now();
    expect((await http.send(get('limited'))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(counters.retries).toBe(1);

    scripts.set('hour', [{ status: 429, retryAfter: '3600' }]);
    const error = await http.send(get('hour')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    const retryAt = (error as RateLimitedError).retryAt.getTime();
    expect(Math.abs(retryAt - (Date.now() + 3_600_000))).toBeLessThan(5_000);
    await transport.close();
  });

  it('refuses an untrusted certificate with a message that says what to do', async () => {
    const { http, transport } = client({ transport: createHttpTransport() });
    const error = await http.send(get('anything')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(/TLS certificate is not trusted .*set tls\.caFile/);
    await transport.close();
  });
});
