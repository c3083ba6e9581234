import { describe, expect, inject, it } from 'vitest';
import { FLOW_RUN_DEAD_LETTER_QUEUE, FLOW_RUN_QUEUE, startBoss } from '../../src/host/queue/boss.js';
import { openStore } from '../../src/store/store.js';
import { createTestDatabase } from '../support/databases.js';

const postgresUrl = inject('postgresUrl');

const QUEUE = {
  concurrency: 1,
  leaseSeconds: 30,
  expireSeconds: 180,
  retryLimit: 4,
  retryDelaySeconds: 1,
  maintenanceIntervalSeconds: 1,
  pollingIntervalSeconds: 0.5,
};

describe.skipIf(postgresUrl === null)('workers started together on a new database', () => {
  // pg-boss 10 deadlocks when two processes create queues at once (src/host/queue/boss.ts): here
  // three starts at once on each of five new databases failed 69 times in 40 rounds before the
  // queues were created under one lock.
  it('each create the queues, one after another, without a deadlock', async () => {
    for (let round = 0; round < 5; round++) {
      const url = await createTestDatabase(postgresUrl!, 'start');
      const store = await openStore(url);
      await store.migrate();
      const started = await Promise.allSettled(
        [0, 1, 2].map(() => startBoss(url, QUEUE, { supervise: false })),
      );
      try {
        expect(started.filter((s) => s.status === 'rejected')).toEqual([]);
        const boss = (started[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof startBoss>>>).value;
        expect((await boss.getQueue(FLOW_RUN_QUEUE))?.policy).toBe('stately');
        expect((await boss.getQueue(FLOW_RUN_DEAD_LETTER_QUEUE))?.policy).toBe('standard');
      } finally {
        for (const s of started)
          if (s.status === 'fulfilled') await s.value.stop({ graceful: false, wait: true });
        await store.close();
      }
    }
  });
});
