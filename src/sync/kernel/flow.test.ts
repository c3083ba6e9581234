import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../domain/clock.js';
import { RateLimitedError } from '../../errors.js';
import { createLogger } from '../../logging.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { queryLedger } from '../../store/models/ledger.js';
import { openStore, type Store } from '../../store/store.js';
import { defineFlow, flowKey } from './flow.js';
import { inDependencyOrder } from './runner.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-kernel-'));
const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
let store: Store;
beforeAll(async () => {
  store = await openStore(join(dir, 'kernel.sqlite'), { commitBatch: { records: 1000, intervalMs: 60_000 } });
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A flow that creates `n` devices, then ends as `ending` says. */
function flowThat(ending: 'ok' | 'rateLimited' | 'fails') {
  return defineFlow({
    flow: 'ot-inventory',
    config: (): { enabled: boolean; n: number } => ({ enabled: true, n: 3 }),
    summary: () => ({ unchanged: 7 }),
    connect: () => ({}),
    async run(context) {
      for (let i = 0; i < context.config.n; i++)
        await context.recorder.decide({
          flow: 'ot-inventory',
          side: 'servicenow',
          action: 'create',
          entity: 'device',
          key: `d${i}`,
          reason: 'new',
        });
      if (ending === 'rateLimited')
        throw new RateLimitedError('servicenow', new Date('2026-12-01T01:00:00Z'));
      if (ending === 'fails') throw new Error('boom');
    },
  });
}

const input = (integrationId: string) => ({
  integrationId,
  config: { enabled: true, n: 3 },
  store,
  clock,
  logger: createLogger({ level: 'silent' }),
  counters: new RequestCounters(),
  runId: null,
  dryRun: false,
});

describe('defineFlow', () => {
  it('completes the summary: counters from decisions, the flow’s own counters, outcome', async () => {
    const { summary, plan } = await flowThat('ok').execute(input('k-ok'), {});
    expect(summary).toMatchObject({ outcome: 'ok', created: 3, unchanged: 7, errors: 0, retryAt: null });
    expect(plan).toEqual([]);
    expect(await queryLedger(store.db, { integrationId: 'k-ok' })).toHaveLength(3);
  });

  it('turns a rate limit into a deferral and records what was decided before it', async () => {
    const { summary } = await flowThat('rateLimited').execute(input('k-rl'), {});
    expect(summary).toMatchObject({ outcome: 'deferred', retryAt: '2026-12-01T01:00:00.000Z', created: 3 });
    expect(await queryLedger(store.db, { integrationId: 'k-rl' })).toHaveLength(3);
  });

  it('records what a failing run decided before it throws', async () => {
    await expect(flowThat('fails').execute(input('k-fail'), {})).rejects.toThrow('boom');
    expect(await queryLedger(store.db, { integrationId: 'k-fail' })).toHaveLength(3);
  });

  it('names the configuration section a missing flow needs', () => {
    expect(flowKey('ot-vulnerabilities')).toBe('otVulnerabilities');
  });
});

describe('inDependencyOrder', () => {
  it('runs each flow after the flows it depends on, whatever order it was given', () => {
    const order = inDependencyOrder([
      { flow: 'ticket-sync', dependsOn: ['cloud-tickets'] },
      { flow: 'ot-vulnerabilities', dependsOn: ['ot-inventory'] },
      { flow: 'cloud-tickets' },
      { flow: 'ot-inventory' },
    ] as const);
    expect(order.map((r) => r.flow)).toEqual([
      'ot-inventory',
      'ot-vulnerabilities',
      'cloud-tickets',
      'ticket-sync',
    ]);
  });

  it('ignores a dependency that is not run', () => {
    expect(
      inDependencyOrder([{ flow: 'ot-vulnerabilities', dependsOn: ['ot-inventory'] }]).map((r) => r.flow),
    ).toEqual(['ot-vulnerabilities']);
  });
});
