import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../../domain/clock.js';
import type { PlanAction } from '../../domain/plan.js';
import { isSnowlineError } from '../../errors.js';
import { runWithWorkContext } from '../../runtime/work-context.js';
import { getEntityStates } from '../../store/models/entity-state.js';
import { acquirePartitionLease } from '../../store/models/leases.js';
import { queryLedger } from '../../store/models/ledger.js';
import { openStore, type Store } from '../../store/store.js';
import { FlowMemory } from './memory.js';
import { Recorder, type RecorderOptions } from './recorder.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-recorder-'));
const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
let store: Store;
let integration = 0;
let integrationId = '';

beforeAll(async () => {
  store = await openStore(join(dir, 'recorder.sqlite'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});
// Each test writes under its own integration, so counts never see another test's rows.
beforeEach(() => {
  integration += 1;
  integrationId = `recorder-${integration}`;
});

function recorder(options: Partial<RecorderOptions> = {}): Recorder {
  return new Recorder({
    flow: 'ot-inventory',
    integrationId,
    runId: null,
    store,
    clock,
    dryRun: false,
    commitBatch: { records: 1000, intervalMs: 60_000 },
    ...options,
  });
}

function action(key: string, kind: PlanAction['action'] = 'create', entity = 'device'): PlanAction {
  return { flow: 'ot-inventory', side: 'servicenow', action: kind, entity, key, reason: `test ${kind}` };
}

const events = async () => (await queryLedger(store.db, { integrationId, limit: 100_000 })).length;
const states = async (keys: string[]) =>
  getEntityStates(store.db, { integrationId, flow: 'ot-inventory', entity: 'device' }, keys);

describe('Recorder', () => {
  it('commits in batches of the configured size, and the rest on flush', async () => {
    const r = recorder({ commitBatch: { records: 6, intervalMs: 60_000 } });
    // Each decision queues its event and one state: three decisions make a batch of six records.
    for (const key of ['a', 'b']) await r.decide(action(key), { states: { device: [{ sourceKey: key }] } });
    expect(await events()).toBe(0);
    await r.decide(action('c'), { states: { device: [{ sourceKey: 'c' }] } });
    expect(await events()).toBe(3);
    expect((await states(['a', 'b', 'c'])).size).toBe(3);
    await r.decide(action('d'));
    expect(await events()).toBe(3);
    await r.flush();
    expect(await events()).toBe(4);
  });

  it('commits a batch once its first record is older than the interval', async () => {
    const r = recorder({ commitBatch: { records: 1000, intervalMs: 0 } });
    await r.decide(action('a'));
    expect(await events()).toBe(1);
  });

  it('keeps the plan in a dry run and writes nothing; keeps none in a real run', async () => {
    const dry = recorder({ dryRun: true });
    await dry.decide(action('a'), { states: { device: [{ sourceKey: 'a' }] } });
    await dry.save({ states: { device: [{ sourceKey: 'b' }] } });
    await dry.flush();
    expect(dry.plan.map((p) => p.key)).toEqual(['a']);
    expect(await events()).toBe(0);
    expect((await states(['a', 'b'])).size).toBe(0);

    const real = recorder();
    for (let i = 0; i < 50; i++) await real.decide(action(`k${i}`));
    await real.flush();
    expect(real.plan).toEqual([]);
    expect(await events()).toBe(50);
  });

  it('keeps the plan of a real run only when asked, and still records it', async () => {
    const r = recorder({ keepPlan: true });
    await r.decide(action('a'));
    await r.flush();
    expect(r.plan).toHaveLength(1);
    expect(await events()).toBe(1);
  });

  it('derives the summary counters from decision kinds, or from the flow’s own rule', async () => {
    const r = recorder({ dryRun: true });
    for (const kind of [
      'create',
      'create',
      'update',
      'revive',
      'reopen',
      'retire',
      'resolve',
      'delete',
      'error',
      'skip',
    ] as const)
      await r.decide(action(kind, kind));
    expect(r.decisionCounts()).toEqual({
      created: 2,
      updated: 3,
      retired: 1,
      resolved: 1,
      deleted: 1,
      errors: 1,
    });
    expect(r.tally('device', 'create')).toBe(2);

    const tickets = recorder({
      dryRun: true,
      countAs: (a) => (a.entity === 'ticket' && a.action === 'create' ? 'created' : undefined),
    });
    await tickets.decide(action('t', 'create', 'ticket'));
    await tickets.decide(action('g', 'create', 'governanceAssignment'));
    expect(tickets.decisionCounts().created).toBe(1);
    expect(tickets.tally('governanceAssignment', 'create')).toBe(1);
  });

  it('merges updates of one entity in a batch as if applied one after another', async () => {
    const r = recorder();
    await r.save({ states: { device: [{ sourceKey: 'a', remoteSysId: 'sys-1', contentHash: 'h1' }] } });
    await r.save({
      states: { device: [{ sourceKey: 'a', contentHash: 'h2', lastSeenAt: '2026-12-01T00:00:00.000Z' }] },
    });
    await r.flush();
    const row = (await states(['a'])).get('a')!;
    expect(row).toMatchObject({
      remote_sys_id: 'sys-1',
      content_hash: 'h2',
      last_seen_at: '2026-12-01T00:00:00.000Z',
    });
  });

  it('lets a flow read what it recorded before the batch is committed', async () => {
    const r = recorder();
    const memory = new FlowMemory(
      { store, integrationId, flow: 'ot-inventory', recorder: r },
      'device',
      z.object({ name: z.string() }),
    );
    await r.decide(action('a'), {
      states: { device: [{ sourceKey: 'a', remoteSysId: 'sys-a', data: { name: 'PLC-1' } }] },
    });
    expect((await states(['a'])).size).toBe(0);
    const read = await memory.one('a');
    expect(read).toMatchObject({ remoteSysId: 'sys-a', data: { name: 'PLC-1' } });
  });

  it('refuses a whole batch when the worker lost its partition lease (fencing)', async () => {
    const lease = await acquirePartitionLease(store.db, clock, {
      partitionKey: `${integrationId}|ot-inventory`,
      worker: 'w1',
      ttlMs: 60_000,
    });
    const stale = { ...lease, epoch: lease.epoch - 1 };
    const r = recorder();
    const failure = await runWithWorkContext({ worker: 'w1', lease: stale }, async () => {
      await r.decide(action('a'), { states: { device: [{ sourceKey: 'a' }] } });
      return r.flush().then(
        () => undefined,
        (error: unknown) => error,
      );
    });
    expect(isSnowlineError(failure) && failure.code).toBe('LEASE_LOST');
    expect(await events()).toBe(0);
    expect((await states(['a'])).size).toBe(0);
  });
});
