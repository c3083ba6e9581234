import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, backoffDelay, serverRequestedWaitMs } from './retry.js';

describe('backoff', () => {
  it('stays within [0, min(maxMs, baseMs × 2^attempt)) for any attempt and any random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, draw) => {
          const delay = backoffDelay(attempt, { baseMs, maxMs, maxAttempts: 5 }, () => draw);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(Math.max(1, Math.min(maxMs, baseMs * 2 ** attempt)));
          expect(Number.isInteger(delay)).toBe(true);
        },
      ),
    );
  });

  it('grows with the attempt until the cap', () => {
    const ceiling = (attempt: number) => backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.999999);
    expect(ceiling(0)).toBeLessThan(ceiling(1));
    expect(ceiling(1)).toBeLessThan(ceiling(2));
    expect(ceiling(20)).toBe(ceiling(30));
  });
});

describe('server-requested waits', () => {
  const now = new Date('2026-11-01T00:00:00Z');
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(serverRequestedWaitMs(429, { 'Retry-After': '120' }, now)).toBe(120_000);
    expect(serverRequestedWaitMs(503, { 'retry-after': 'Sun, 01 Nov 2026 00:10:00 GMT' }, now)).toBe(600_000);
    expect(
      serverRequestedWaitMs(
        503,
        { 'retry-after': 'Sun, 01 Nov 2026 00:10:00 GMT' },
        new Date('2026-11-02T00:00:00Z'),
      ),
    ).toBe(0);
  });
  it("reads ARM's millisecond header and ServiceNow's reset time on a 429", () => {
    expect(serverRequestedWaitMs(429, { 'x-ms-retry-after-ms': '1500' }, now)).toBe(1500);
    const reset = String(now.getTime() / 1000 + 3600);
    expect(serverRequestedWaitMs(429, { 'X-RateLimit-Reset': reset }, now)).toBe(3_600_000);
    expect(serverRequestedWaitMs(200, { 'X-RateLimit-Reset': reset }, now)).toBeUndefined();
    expect(serverRequestedWaitMs(429, {}, now)).toBeUndefined();
  });
});
