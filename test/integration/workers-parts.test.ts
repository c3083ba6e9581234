import { describe, expect, inject, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { emptyFlowSummary } from '../../src/domain/flows.js';
import { createLogger } from '../../src/logging.js';
import { FLOW_RUN_QUEUE, startBoss, type FlowRunJob } from '../../src/host/queue/boss.js';
import { FlowRunWorker } from '../../src/host/queue/worker.js';
import { openStore } from '../../src/store/store.js';
import { PARTS_FOUND_BY_PLAN, type FlowRunner } from '../../src/sync/kernel/flow.js';
import { minimalConfigInput } from '../support/config.js';
import { createTestDatabase } from '../support/databases.js';

/**
 * A flow whose plan part finds its parts (ot-vulnerabilities from Resource Graph: the sensors
 * Resource Graph lists): the worker that ran the plan queues the parts the plan's summary names,
 * and the worker that finishes the last of them queues the sweep, which hands the chain on.
 */

const postgresUrl = inject('postgresUrl');

describe.skipIf(postgresUrl === null)('parts found by the plan, on workers', () => {
  it('queues the parts the plan named, then the sweep once all of them finished', async () => {
    const ran: string[] = [];
    const found = ['sensor:a', 'sensor:b', 'other-sensors'];
    const runner: FlowRunner = {
      flow: 'ot-vulnerabilities',
      enabled: () => true,
      parts: () => PARTS_FOUND_BY_PLAN,
      run: async (context) => {
        ran.push(context.part ?? '*');
        const parts = context.part === 'plan' ? { parts: found } : {};
        return { summary: { ...emptyFlowSummary(), ...parts }, plan: [] };
      },
    };
    const alerts: FlowRunner = {
      flow: 'ot-alerts',
      enabled: () => true,
      run: async () => {
        ran.push('ot-alerts');
        return { summary: emptyFlowSummary(), plan: [] };
      },
    };
    const url = await createTestDatabase(postgresUrl!, 'parts');
    const { config } = validateConfig({ ...minimalConfigInput(), store: { url } }, 'test');
    const boss = await startBoss(url, config.queue, { supervise: false });
    const store = await openStore(url);
    await store.migrate();
    const worker = new FlowRunWorker({
      boss,
      config,
      store,
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
      runners: [runner, alerts],
      worker: 'test-worker',
    });
    /** Takes every queued job and runs it, as a worker's pollers would; the parts they were. */
    const drain = async (): Promise<string[]> => {
      const jobs = (await boss.fetch<FlowRunJob>(FLOW_RUN_QUEUE, { batchSize: 10 })) ?? [];
      for (const job of jobs) {
        expect(await worker.runJob(job.data)).toBe('ok');
        await boss.complete(FLOW_RUN_QUEUE, job.id);
      }
      return jobs.map((j) => `${j.data.flow}/${j.data.part ?? '*'}`).sort();
    };
    try {
      expect(
        await worker.runJob({
          integrationId: 'plant-a',
          flow: 'ot-vulnerabilities',
          part: 'plan',
          then: ['ot-alerts'],
          trigger: 'cli',
        }),
      ).toBe('ok');
      expect(await drain()).toEqual(found.map((p) => `ot-vulnerabilities/${p}`).sort());
      expect(await drain()).toEqual(['ot-vulnerabilities/sweep']);
      expect(await drain()).toEqual(['ot-alerts/*']);
      // The parts in whatever order the queue gave them out; the sweep after all of them.
      expect(ran[0]).toBe('plan');
      expect(ran.slice(1, 4).sort()).toEqual([...found].sort());
      expect(ran.slice(4)).toEqual(['sweep', 'ot-alerts']);
    } finally {
      await boss.stop({ graceful: false, wait: true });
      await store.close();
    }
  });
});
