import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, RateLimitedError, SnowlineError, UpstreamError, isRateLimitedError } from './errors.js';
import { SecretScrubber } from './secrets.js';

describe('SecretScrubber', () => {
  it('removes a secret in plain, URL-encoded and base64 forms', () => {
    const scrubber = new SecretScrubber(['s3cr/et+value']);
    scrubber.addBasicCredential('svc', 'pa:ss word');
    const text = `a s3cr/et+value b ${encodeURIComponent('s3cr/et+value')} c ${Buffer.from('s3cr/et+value').toString('base64')} d Basic ${Buffer.from('svc:pa:ss word').toString('base64')}`;
    expect(scrubber.scrub(text)).toBe('a [REDACTED] b [REDACTED] c [REDACTED] d Basic [REDACTED]');
  });

  it('never leaves a secret in any text it is embedded in', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 4, maxLength: 40 }),
        fc.string(),
        fc.string(),
        (secret, before, after) => {
          const scrubbed = new SecretScrubber([secret]).scrub(before + secret + after);
          expect(scrubbed).not.toContain(secret);
        },
      ),
    );
  });
});

describe('error catalogue', () => {
  it('carries a code, whether to retry, and the cause', () => {
    const cause = new Error('socket hang up');
    const upstream = new UpstreamError('servicenow', 503, 'ServiceNow answered 503', { cause });
    expect(upstream).toBeInstanceOf(SnowlineError);
    expect(upstream).toMatchObject({
      code: 'UPSTREAM',
      retryable: true,
      service: 'servicenow',
      status: 503,
      cause,
    });
    expect(new UpstreamError('arm', 403, 'forbidden').retryable).toBe(false);
    const limited = new RateLimitedError('servicenow', new Date('2026-11-01T01:00:00Z'));
    expect(isRateLimitedError(limited)).toBe(true);
    expect(limited.message).toContain('deferred until 2026-11-01T01:00:00.000Z');
    expect(new ConfigError([{ path: 'a.b', message: 'is required', example: 'x' }], 'f.yaml').message).toBe(
      'f.yaml has 1 problem; nothing was run:\n  - a.b: is required (example: x)',
    );
  });
});
