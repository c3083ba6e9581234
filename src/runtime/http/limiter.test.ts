import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../domain/clock.js';
import { RateLimitedError } from '../../errors.js';
import { RequestLimiter } from './limiter.js';

describe('RequestLimiter', () => {
  it('never lets more than maxInFlight requests run at once', async () => {
    const limiter = new RequestLimiter({
      service: 's',
      maxInFlight: 3,
      maxWaitMs: 1000,
      clock: new ManualClock(),
    });
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const release = await limiter.acquire();
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 2));
        running -= 1;
        release();
      }),
    );
    expect(peak).toBe(3);
  });

  it('spends a budget, waits for a short refill, and defers a long one', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const waits: number[] = [];
    const limiter = new RequestLimiter({
      service: 'servicenow',
      maxInFlight: 10,
      budget: { requests: 3600, windowMs: 3_600_000 }, // one request per second
      maxWaitMs: 5_000,
      clock,
      wait: async (ms) => {
        waits.push(ms);
        clock.advance(ms);
      },
    });
    for (let i = 0; i < 3600; i++) (await limiter.acquire())();
    (await limiter.acquire())(); // budget spent: waits ~1 s for one token
    expect(waits).toEqual([1000]);
    limiter.pauseUntil(new Date(clock.now().getTime() + 2000));
    (await limiter.acquire())();
    expect(waits.at(-1)).toBe(2000);
    expect(() => limiter.pauseUntil(new Date(clock.now().getTime() + 3_600_000))).toThrow(RateLimitedError);
    const error = await limiter.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAt.toISOString()).toBe(
      new Date(clock.now().getTime() + 3_600_000).toISOString(),
    );
  });
});
