import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { withLatency } from './serve.js';

describe('withLatency', () => {
  const app = new Hono();
  app.post('/echo', async (c) => c.json({ type: c.req.header('content-type'), body: await c.req.text() }));

  it('is the app itself without latency', () => {
    expect(withLatency(app, undefined)).toBe(app.fetch);
    expect(withLatency(app, { ms: 0 })).toBe(app.fetch);
  });

  it('keeps a request’s headers and body through the wait (the ot-inventory replay lost them)', async () => {
    const fetch = withLatency(app, { ms: 1, jitterMs: 1, seed: 7 });
    const response = await fetch(
      new Request('http://sandbox/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"items":[1,2]}',
      }),
    );
    expect(await response.json()).toEqual({ type: 'application/json', body: '{"items":[1,2]}' });
  });
});
