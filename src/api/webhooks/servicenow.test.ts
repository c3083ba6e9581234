import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../domain/clock.js';
import { InputError, RateLimitedError } from '../../errors.js';
import { createLogger } from '../../logging.js';
import type { ServiceNowWebhookDelivery } from '../../sync/ticket-sync/delivery.js';
import { servicenowWebhookRoutes } from './servicenow.js';
import { signWebhookBody, verifyWebhookSignature } from './signature.js';

const clock = new ManualClock(new Date('2026-11-22T08:00:00Z'));
const now = () => String(Math.floor(clock.now().getTime() / 1000));
const SECRETS = { 'plant-a': 'secret-of-plant-a-0123456789', 'plant-b': 'secret-of-plant-b-9876543210' };

const delivery = {
  table: 'incident',
  sys_id: '0123456789abcdef0123456789abcdef',
  sys_mod_count: '4',
  sys_updated_on: '2026-11-22 07:59:59',
  record: { sys_id: '0123456789abcdef0123456789abcdef', state: '6', number: 'INC0010001' },
};

describe('POST / of the ServiceNow webhook route', () => {
  let server: ServerType;
  let url: string;
  let calls: { integrationId: string; delivery: ServiceNowWebhookDelivery }[] = [];
  let failWith: Error | undefined;

  beforeAll(async () => {
    const app = servicenowWebhookRoutes({
      receivers: Object.entries(SECRETS).map(([integrationId, secret]) => ({ integrationId, secret })),
      clock,
      logger: createLogger({ level: 'silent' }),
      maxBodyBytes: 4096,
      async handle(integrationId, d) {
        if (failWith) throw failWith;
        calls.push({ integrationId, delivery: d });
        return 'synced';
      },
    });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    calls = [];
    failWith = undefined;
  });

  const post = async (body: string, headers: Record<string, string>) => {
    const response = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  };
  const signed = (body: string, secret = SECRETS['plant-b'], timestamp = now()) => ({
    'x-snowline-timestamp': timestamp,
    'x-snowline-signature': signWebhookBody(secret, timestamp, body),
  });

  it('hands a correctly signed delivery to the integration whose secret signed it', async () => {
    const body = JSON.stringify(delivery);
    const answer = await post(body, signed(body));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ result: { outcome: 'synced' } });
    expect(calls).toEqual([{ integrationId: 'plant-b', delivery }]);
  });

  it('refuses with 401 and hands nothing on: wrong secret, stale or future timestamp, missing headers', async () => {
    const body = JSON.stringify(delivery);
    const answers = [
      await post(body, signed(body, 'guessed-secret')),
      await post(body, signed(body, SECRETS['plant-a'], String(Number(now()) - 301))),
      await post(body, signed(body, SECRETS['plant-a'], String(Number(now()) + 301))),
      await post(body, { 'x-snowline-timestamp': now() }),
      await post(body, { ...signed(body), 'x-snowline-timestamp': 'yesterday' }),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401]);
    for (const a of answers) expect(a.text).not.toContain('secret-of');
    expect(calls).toEqual([]);
  });

  it('accepts the edge of the 300 s window', async () => {
    const body = JSON.stringify(delivery);
    expect((await post(body, signed(body, SECRETS['plant-a'], String(Number(now()) - 300)))).status).toBe(
      200,
    );
  });

  it('refuses any change to a signed body', async () => {
    const body = JSON.stringify(delivery);
    const headers = signed(body);
    await fc.assert(
      fc.asyncProperty(fc.nat(body.length - 1), fc.integer({ min: 1, max: 25 }), async (at, shift) => {
        const tampered =
          body.slice(0, at) +
          String.fromCharCode(((body.charCodeAt(at) - 32 + shift) % 95) + 32) +
          body.slice(at + 1);
        expect((await post(tampered, headers)).status).toBe(401);
      }),
      { numRuns: 40 },
    );
    expect(calls).toEqual([]);
  });

  it('answers 400 to a signed body that is not a webhook, and 413 to one too large', async () => {
    const notJson = '{"table":';
    expect((await post(notJson, signed(notJson))).status).toBe(400);
    const noModCount = JSON.stringify({ ...delivery, sys_mod_count: 'four' });
    expect((await post(noModCount, signed(noModCount))).status).toBe(400);
    const large = JSON.stringify({ ...delivery, record: { text: 'x'.repeat(5000) } });
    expect((await post(large, signed(large))).status).toBe(413);
    expect(calls).toEqual([]);
  });

  it('answers 503 with Retry-After on a rate limit, 400 on bad input and 500 without detail otherwise', async () => {
    const body = JSON.stringify(delivery);
    failWith = new RateLimitedError('servicenow', new Date(clock.now().getTime() + 90_000));
    const limited = await post(body, signed(body));
    expect(limited.status).toBe(503);
    expect(limited.headers['retry-after']).toBe('90');
    failWith = new InputError('"sys_user" is not a ticket table');
    expect((await post(body, signed(body))).status).toBe(400);
    failWith = new Error('database password is hunter2');
    const failed = await post(body, signed(body));
    expect(failed.status).toBe(500);
    expect(failed.text).not.toContain('hunter2');
  });
});

describe('verifyWebhookSignature', () => {
  it('accepts exactly the signature of the body, timestamp and secret', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.string({ minLength: 1 }),
        (secret, bytes, other) => {
          const rawBody = Buffer.from(bytes);
          const timestamp = '1795334400';
          const signature = signWebhookBody(secret, timestamp, rawBody);
          const at = new Date(1795334400 * 1000);
          expect(
            verifyWebhookSignature({ secrets: [secret], timestamp, signature, rawBody, now: at }),
          ).toEqual({ index: 0 });
          if (other !== secret)
            expect(
              verifyWebhookSignature({ secrets: [other], timestamp, signature, rawBody, now: at }),
            ).toHaveProperty('refused');
        },
      ),
    );
  });
});
