import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minimalConfigInput } from '../../test/support/config.js';
import { validateConfig } from '../config/load.js';
import type { IntegrationConfig } from '../config/schema.js';
import { ManualClock } from '../domain/clock.js';
import { emptyFlowSummary } from '../domain/flows.js';
import { ConfigError, RateLimitedError } from '../errors.js';
import { createLogger } from '../logging.js';
import { getDeferredWork } from '../store/models/deferred-work.js';
import { listRuns } from '../store/models/runs.js';
import { openStore, type Store } from '../store/store.js';
import { resumeRef } from '../sync/kernel/runner.js';
import { type FlowRunner } from '../sync/kernel/flow.js';
import { LocalRunDispatcher } from './local-dispatcher.js';
import { DEFAULT_VERIFY_SCHEDULE } from '../config/common.js';
import { everySeconds, flowSchedule, Scheduler, verifySchedule } from './scheduler.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-scheduler-'));
let store: Store;
beforeAll(async () => {
  store = await openStore(join(dir, 'scheduler.sqlite'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const logger = createLogger({ level: 'silent' });

function integrationWith(id: string, otInventory: Record<string, unknown>): IntegrationConfig {
  const input = minimalConfigInput();
  const integration = {
    ...input.integrations[0]!,
    id,
    flows: { otInventory: { source: 'sensor', ...otInventory } },
  };
  return validateConfig({ integrations: [integration] }, 'test').config.integrations[0]!;
}

/** ot-inventory played by a function of the call number (1, 2, …). */
function scriptedRunner(behaviour: (call: number) => void) {
  let calls = 0;
  const runner: FlowRunner = {
    flow: 'ot-inventory',
    enabled: () => true,
    async run() {
      calls += 1;
      behaviour(calls);
      return { summary: { ...emptyFlowSummary(), created: 1 }, plan: [] };
    },
  };
  return { runner, calls: () => calls };
}

function setup(integration: IntegrationConfig, runner: FlowRunner, clock: ManualClock) {
  const dispatcher = new LocalRunDispatcher({
    integrations: [integration],
    store,
    clock,
    logger,
    runners: [runner],
  });
  const scheduler = new Scheduler({
    integrations: [integration],
    dispatcher,
    store,
    clock,
    logger,
    flows: ['ot-inventory'],
    resumeCheckMs: 50,
  });
  return { dispatcher, scheduler };
}

/** An integration whose only flow is ticket-sync with this section. */
function ticketSyncWith(id: string, ticketSync: Record<string, unknown>): IntegrationConfig {
  const input = minimalConfigInput();
  const integration = { ...input.integrations[0]!, id, flows: { ticketSync } };
  return validateConfig({ integrations: [integration] }, 'test').config.integrations[0]!;
}

describe('flow schedules in the configuration', () => {
  it('always schedules ticket-sync, the webhook’s backstop: every 60 s unless its section says otherwise', () => {
    expect(flowSchedule(ticketSyncWith('ts', {}), 'ticket-sync')).toEqual({ every: '60s' });
    expect(flowSchedule(ticketSyncWith('ts', { intervalSeconds: 30 }), 'ticket-sync')).toEqual({
      every: '30s',
    });
    expect(flowSchedule(ticketSyncWith('ts', { schedule: '*/5 * * * *' }), 'ticket-sync')).toBe(
      '*/5 * * * *',
    );
    expect(flowSchedule(ticketSyncWith('ts', { enabled: false }), 'ticket-sync')).toBe(undefined);
    // Other flows still run only when scheduled.
    expect(flowSchedule(integrationWith('a', {}), 'ot-inventory')).toBe(undefined);
  });

  it('takes a 5- or 6-field cron expression or { every }, and says what is wrong otherwise', () => {
    expect(flowSchedule(integrationWith('a', { schedule: '*/15 * * * *' }), 'ot-inventory')).toBe(
      '*/15 * * * *',
    );
    expect(flowSchedule(integrationWith('a', { schedule: { every: '90s' } }), 'ot-inventory')).toEqual({
      every: '90s',
    });
    expect(
      flowSchedule(integrationWith('a', { schedule: '0 3 * * *', enabled: false }), 'ot-inventory'),
    ).toBe(undefined);
    expect(() => integrationWith('a', { schedule: '2026-01-01T00:00:00' })).toThrow(/not 5 or 6/);
    expect(() => integrationWith('a', { schedule: '61 * * * *' })).toThrow(ConfigError);
    expect(() => integrationWith('a', { schedule: { every: '10 minutes' } })).toThrow(/60s, 15m or 1h/);
    expect([everySeconds('60s'), everySeconds('15m'), everySeconds('2h')]).toEqual([60, 900, 7200]);
  });
});

describe('verification pass schedules', () => {
  it('are daily by default, follow verify.schedule, and are off with verify.enabled false or the flow off', () => {
    expect(verifySchedule(integrationWith('v', {}), 'ot-inventory')).toBe(DEFAULT_VERIFY_SCHEDULE);
    expect(DEFAULT_VERIFY_SCHEDULE).toBe('17 3 * * *');
    expect(
      verifySchedule(integrationWith('v', { verify: { schedule: { every: '6h' } } }), 'ot-inventory'),
    ).toEqual({
      every: '6h',
    });
    expect(verifySchedule(integrationWith('v', { verify: { enabled: false } }), 'ot-inventory')).toBe(
      undefined,
    );
    expect(verifySchedule(integrationWith('v', { enabled: false }), 'ot-inventory')).toBe(undefined);
    // ticket-sync has no verification pass of its own (its tickets are cloud-tickets').
    expect(verifySchedule(ticketSyncWith('ts', {}), 'ticket-sync')).toBe(undefined);
  });

  it('start a verification run of the flow on their schedule, listed apart from the flow’s own', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const verifyFlags: boolean[] = [];
    const runner: FlowRunner = {
      flow: 'ot-inventory',
      enabled: () => true,
      async run(context) {
        verifyFlags.push(context.verify === true);
        return { summary: emptyFlowSummary(), plan: [] };
      },
    };
    const { scheduler } = setup(
      integrationWith('verify', { verify: { schedule: { every: '1s' } } }),
      runner,
      clock,
    );
    scheduler.start();
    // Bounded wait: the verification fires about once a second; give it up to 10 s.
    for (let i = 0; i < 100 && verifyFlags.length < 1; i++) await new Promise((r) => setTimeout(r, 100));
    const jobs = scheduler.jobs();
    await scheduler.stop();
    expect(verifyFlags[0]).toBe(true);
    expect(jobs).toEqual([
      expect.objectContaining({ flow: 'ot-inventory', verify: true, schedule: { every: '1s' } }),
    ]);
  });
});

describe('Scheduler', () => {
  it('resumes a deferred run once its retryAt has passed, and not before', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const integration = integrationWith('resume', {});
    const inventory = scriptedRunner((call) => {
      if (call === 1) throw new RateLimitedError('servicenow', new Date('2026-11-01T00:10:00Z'));
    });
    const { dispatcher, scheduler } = setup(integration, inventory.runner, clock);
    await dispatcher.dispatch({ integrationId: 'resume', dryRun: false, trigger: 'api' });
    const ref = resumeRef('resume', 'ot-inventory');
    expect((await getDeferredWork(store.db, ref))?.not_before).toBe('2026-11-01T00:10:00.000Z');

    await scheduler.resumeDue();
    expect(inventory.calls()).toBe(1);
    clock.advance(11 * 60_000);
    await scheduler.resumeDue();
    expect(inventory.calls()).toBe(2);
    expect(await getDeferredWork(store.db, ref)).toBeUndefined();
    const runs = await listRuns(store.db, 'resume');
    expect(runs.map((r) => [r.trigger, r.status])).toEqual([
      ['resume', 'ok'],
      ['api', 'deferred'],
    ]);
  });

  it('defers a resumed run that fails again with a growing backoff instead of retrying it in a loop', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const integration = integrationWith('backoff', {});
    const inventory = scriptedRunner((call) => {
      if (call === 1) throw new RateLimitedError('servicenow', new Date('2026-11-01T00:01:00Z'));
      throw new Error('ServiceNow answered 500');
    });
    const { dispatcher, scheduler } = setup(integration, inventory.runner, clock);
    await dispatcher.dispatch({ integrationId: 'backoff', dryRun: false, trigger: 'api' });
    clock.advance(60_000);
    await scheduler.resumeDue();
    const ref = resumeRef('backoff', 'ot-inventory');
    const first = await getDeferredWork(store.db, ref);
    // 2^attempts minutes later: 2 min after the first failure, then 4.
    expect(first).toMatchObject({ not_before: '2026-11-01T00:03:00.000Z', attempts: 2 });
    await scheduler.resumeDue();
    expect(inventory.calls()).toBe(2);
    clock.set(new Date('2026-11-01T00:03:00Z'));
    await scheduler.resumeDue();
    expect(await getDeferredWork(store.db, ref)).toMatchObject({
      not_before: '2026-11-01T00:07:00.000Z',
      attempts: 3,
    });
  });

  it('polls ticket-sync on its own, as serve does with the webhook off', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    let polls = 0;
    const ticketSync: FlowRunner = {
      flow: 'ticket-sync',
      enabled: () => true,
      async run() {
        polls += 1;
        return { summary: emptyFlowSummary(), plan: [] };
      },
    };
    const integration = ticketSyncWith('poll', { schedule: { every: '1s' } });
    const dispatcher = new LocalRunDispatcher({
      integrations: [integration],
      store,
      clock,
      logger,
      runners: [ticketSync],
    });
    const scheduler = new Scheduler({
      integrations: [integration],
      dispatcher,
      store,
      clock,
      logger,
      flows: ['ticket-sync'],
      resumeCheckMs: 50,
    });
    scheduler.start();
    expect(scheduler.jobs()).toEqual([
      expect.objectContaining({ flow: 'ticket-sync', schedule: { every: '1s' } }),
    ]);
    // Bounded wait: the schedule fires about once a second; give it up to 10 s for two polls.
    for (let i = 0; i < 100 && polls < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await scheduler.stop();
    expect(polls).toBeGreaterThanOrEqual(2);
    expect((await listRuns(store.db, 'poll')).every((r) => r.trigger === 'schedule')).toBe(true);
  });

  it('runs a flow every N seconds on its own, lists cron schedules with their next time, and stops', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const inventory = scriptedRunner(() => {});
    const every = setup(integrationWith('every', { schedule: { every: '1s' } }), inventory.runner, clock);
    every.scheduler.start();
    // Bounded wait: the schedule fires about once a second; give it up to 10 s for two runs.
    for (let i = 0; i < 100 && inventory.calls() < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await every.scheduler.stop();
    expect(inventory.calls()).toBeGreaterThanOrEqual(2);
    expect((await listRuns(store.db, 'every')).every((r) => r.trigger === 'schedule')).toBe(true);
    expect(every.scheduler.jobs()[0]).toMatchObject({ flow: 'ot-inventory', nextRun: null });

    const cron = setup(
      integrationWith('cron', { schedule: '30 3 * * *' }),
      scriptedRunner(() => {}).runner,
      clock,
    );
    cron.scheduler.start();
    const [job] = cron.scheduler.jobs();
    await cron.scheduler.stop();
    expect(job).toMatchObject({ integrationId: 'cron', flow: 'ot-inventory', schedule: '30 3 * * *' });
    expect([job!.nextRun!.getUTCHours(), job!.nextRun!.getUTCMinutes()]).toEqual([3, 30]);
  });
});
