import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  InputError,
  NotFoundError,
  RateLimitedError,
  SnowlineError,
  UpstreamError,
} from '../errors.js';
import { createLogger } from '../logging.js';
import { SecretScrubber } from '../secrets.js';
import { apiErrorHandler, httpStatusOf } from './errors.js';

/** An app whose one route throws `error`, answered by the API's error handler. */
async function answerTo(error: unknown, scrubber?: SecretScrubber) {
  const app = new Hono();
  app.onError(apiErrorHandler(createLogger({ level: 'silent' }), scrubber));
  app.get('/', () => {
    throw error;
  });
  const response = await app.request('/');
  return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
}

describe('the API error handler', () => {
  it('answers each business error with its status, its code and its message', async () => {
    for (const [error, status] of [
      [new InputError('assessment id is not an ARM id'), 400],
      [new NotFoundError('no run r-1 for integration plant-a'), 404],
      [new ConflictError('flow ot-inventory is already running'), 409],
      [new UpstreamError('servicenow', 503, 'ServiceNow answered 503'), 502],
      [new SnowlineError('SHUTTING_DOWN', 'shutting down'), 503],
    ] as const) {
      const answer = await answerTo(error);
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({ error: { code: error.code, message: error.message } });
    }
  });

  it('keeps ServiceNow refusing Snowline its own credentials a 500: the caller cannot fix that', async () => {
    const error = new UpstreamError('servicenow', 401, 'ServiceNow refused the credentials', {
      code: 'AUTH',
    });
    expect((await answerTo(error)).status).toBe(500);
    expect(httpStatusOf('FORBIDDEN')).toBe(500);
  });

  it('says when to come back after a rate limit', async () => {
    const answer = await answerTo(new RateLimitedError('servicenow', new Date(Date.now() + 30_000)));
    expect(answer.status).toBe(429);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
  });

  it('asks for a bearer token on 401', async () => {
    const answer = await answerTo(new SnowlineError('UNAUTHORIZED', 'no bearer token'));
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="snowline"');
  });

  it('keeps the text of an unexpected error out of the answer', async () => {
    const answer = await answerTo(new Error('connection string postgres://u:hunter2@db/snowline'));
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({
      error: { code: 'INTERNAL', message: 'internal error; the server log has the details' },
    });
  });

  it('scrubs secrets from a business error message', async () => {
    const answer = await answerTo(new InputError('token hunter2 is wrong'), new SecretScrubber(['hunter2']));
    expect(JSON.stringify(answer.body)).not.toContain('hunter2');
  });
});
