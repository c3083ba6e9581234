import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RateLimitedError, UpstreamError } from './errors.js';
import { createLogger } from './logging.js';

/** Logs one record with `fields` and returns the line written, parsed. */
function logged(fields: Record<string, unknown>): { line: string; record: Record<string, unknown> } {
  const destination = new PassThrough();
  const chunks: string[] = [];
  destination.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  createLogger({ level: 'info', pretty: false, destination }).warn(fields, 'something failed');
  const line = chunks.join('');
  return { line, record: JSON.parse(line) as Record<string, unknown> };
}

describe('errors in log records ({ err })', () => {
  it('carry type, message and stack, with the cause', () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.5:5432');
    const { record } = logged({ err: new Error('pg-boss could not poll', { cause }), worker: 'w-1' });
    expect(record.worker).toBe('w-1');
    expect(record.err).toMatchObject({ type: 'Error' });
    const err = record.err as { message: string; stack: string };
    expect(err.message).toContain('pg-boss could not poll');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.stack).toContain('logging.test.ts');
  });

  it("keep an error's plain fields: code, status, service, retryable, retryAt", () => {
    const upstream = logged({ err: new UpstreamError('servicenow', 503, 'ServiceNow answered 503') }).record;
    expect(upstream.err).toMatchObject({
      type: 'UpstreamError',
      code: 'UPSTREAM',
      status: 503,
      service: 'servicenow',
      retryable: true,
    });
    const retryAt = new Date('2026-11-22T08:00:00Z');
    const limited = logged({ err: new RateLimitedError('servicenow', retryAt) }).record;
    expect(limited.err).toMatchObject({ code: 'RATE_LIMITED', retryAt: retryAt.toISOString() });
  });

  it('leave out objects hanging off an error, such as a database client with its password', () => {
    const error = Object.assign(new Error('Connection terminated unexpectedly'), {
      code: '57P01',
      client: { connectionParameters: { user: 'snowline', password: 'pw-not-in-the-scrubber' } },
    });
    const { line, record } = logged({ err: error });
    expect(record.err).toMatchObject({ code: '57P01', message: 'Connection terminated unexpectedly' });
    expect(record.err).not.toHaveProperty('client');
    expect(line).not.toContain('pw-not-in-the-scrubber');
  });
});
