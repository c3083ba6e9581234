import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { isRateLimitedError } from '../../src/errors.js';
import { SharedRequestLimiter } from '../../src/host/queue/shared-limiter.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createTestDatabase } from '../support/databases.js';

/**
 * The request budget of one ServiceNow instance, shared in PostgreSQL by two workers (two
 * limiters on two connections pools), in simulated time: together they never exceed it.
 */

const postgresUrl = inject('postgresUrl');

describe.skipIf(postgresUrl === null)('shared request limiter on PostgreSQL', () => {
  let stores: Store[];

  beforeAll(async () => {
    const url = await createTestDatabase(postgresUrl!, 'limiter');
    stores = [await openStore(url), await openStore(url)];
    await stores[0]!.migrate();
  });
  afterAll(async () => Promise.all(stores.map((s) => s.close())));

  function worker(store: Store, clock: ManualClock, name: string, maxWaitMs: number) {
    return new SharedRequestLimiter({
      name,
      service: 'servicenow',
      db: store.db,
      budget: { requests: 60, windowMs: 3_600_000 },
      maxInFlight: 4,
      maxWaitMs,
      clock,
      wait: async (ms) => clock.advance(ms),
    });
  }

  it('two workers together spend the budget once, then wait for the refill', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const start = clock.now().getTime();
    const [a, b] = [worker(stores[0]!, clock, 'sn:a', 120_000), worker(stores[1]!, clock, 'sn:a', 120_000)];
    // 60 per hour: the full bucket lets 60 through at once, split between the two workers.
    await Promise.all(
      [a, b].map(async (limiter) => {
        for (let i = 0; i < 30; i++) (await limiter.acquire())();
      }),
    );
    expect(clock.now().getTime()).toBe(start);
    // Each further request waits for a token: one per minute, whoever asks.
    for (const limiter of [a, b, a, b]) (await limiter.acquire())();
    expect(clock.now().getTime() - start).toBeGreaterThanOrEqual(4 * 60_000);
    expect(clock.now().getTime() - start).toBeLessThan(5 * 60_000);
  });

  it('a wait longer than accepted defers (RateLimitedError) instead of sleeping', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const [a, b] = [worker(stores[0]!, clock, 'sn:b', 1_000), worker(stores[1]!, clock, 'sn:b', 1_000)];
    for (let i = 0; i < 60; i++) (await (i % 2 ? a : b).acquire())();
    const error = await b.acquire().catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
  });

  it("one worker's 429 pause holds the other worker too", async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const start = clock.now().getTime();
    const [a, b] = [worker(stores[0]!, clock, 'sn:c', 120_000), worker(stores[1]!, clock, 'sn:c', 120_000)];
    (await a.acquire())();
    a.pauseUntil(new Date(start + 30_000), 'Retry-After 30');
    // The pause is written asynchronously; give it its round trip.
    for (let i = 0; i < 50; i++) {
      const row = await stores[1]!.db
        .withTables<{ request_budget: { name: string; paused_until_ms: string } }>()
        .selectFrom('request_budget')
        .select('paused_until_ms')
        .where('name', '=', 'sn:c')
        .executeTakeFirst();
      if (Number(row?.paused_until_ms) > start) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    (await b.acquire())();
    expect(clock.now().getTime() - start).toBeGreaterThanOrEqual(30_000);
  });
});
