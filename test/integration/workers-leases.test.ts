import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { runWithWorkContext } from '../../src/runtime/work-context.js';
import { getEntityStates, upsertEntityStates } from '../../src/store/models/entity-state.js';
import {
  acquirePartitionLease,
  isLeaseLostError,
  PartitionBusyError,
  releasePartitionLease,
  renewPartitionLease,
} from '../../src/store/models/leases.js';
import { appendLedgerEvents, queryLedger } from '../../src/store/models/ledger.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createTestDatabase } from '../support/databases.js';

/**
 * Partition leases and the fence on ledger writes, on both stores: a worker that lost its lease
 * (another took the partition over after it expired) can no longer write the ledger, and what it
 * wrote in the same transaction (entity state) is rolled back with it.
 */

const postgresUrl = inject('postgresUrl');
const scratch = mkdtempSync(join(tmpdir(), 'snowline-leases-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const backends = [
  { name: 'sqlite', available: true, url: async () => join(scratch, 'leases.sqlite') },
  {
    name: 'postgres',
    available: postgresUrl !== null,
    url: () => createTestDatabase(postgresUrl!, 'leases'),
  },
];

describe.each(backends)('partition leases on $name', ({ available, url }) => {
  let store: Store;
  const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
  const key = 'plant-a/ot-inventory/*';
  const entry = {
    flow: 'ot-inventory',
    side: 'servicenow',
    action: 'create',
    entity: 'device',
    reason: 'new',
  } as const;

  beforeAll(async () => {
    if (!available) return;
    store = await openStore(await url());
    await store.migrate();
  });
  afterAll(async () => store?.close());

  /** What a flow does when it records a batch: entity state and ledger in one transaction. */
  async function recordBatch(sourceKey: string): Promise<void> {
    await store.db.transaction().execute(async (trx) => {
      await upsertEntityStates(trx, { integrationId: 'plant-a', flow: 'ot-inventory', entity: 'device' }, [
        { sourceKey, contentHash: 'h1' },
      ]);
      await appendLedgerEvents(trx, clock, { integrationId: 'plant-a', runId: 'r1' }, [
        { ...entry, key: sourceKey },
      ]);
    });
  }

  it.skipIf(!available)('one holder at a time; a takeover after expiry fences the stale holder', async () => {
    const ttlMs = 10_000;
    const first = await acquirePartitionLease(store.db, clock, { partitionKey: key, worker: 'w1', ttlMs });
    await expect(
      acquirePartitionLease(store.db, clock, { partitionKey: key, worker: 'w2', ttlMs }),
    ).rejects.toBeInstanceOf(PartitionBusyError);

    await runWithWorkContext({ worker: 'w1', lease: first }, () => recordBatch('dev-1'));
    clock.advance(ttlMs + 1);
    const second = await acquirePartitionLease(store.db, clock, { partitionKey: key, worker: 'w2', ttlMs });
    expect(second.epoch).toBe(first.epoch + 1);

    // The stale worker wakes up and writes: refused, and its entity state rolled back with it.
    const late = await runWithWorkContext({ worker: 'w1', lease: first }, () => recordBatch('dev-2')).catch(
      (e: unknown) => e,
    );
    expect(isLeaseLostError(late)).toBe(true);
    await expect(renewPartitionLease(store.db, clock, first, ttlMs)).rejects.toSatisfy(isLeaseLostError);
    await runWithWorkContext({ worker: 'w2', lease: second }, () => recordBatch('dev-3'));

    const events = await queryLedger(store.db, { integrationId: 'plant-a' });
    expect(events.map((e) => [e.entity_key, e.worker, e.partition_key, e.lease_epoch])).toEqual([
      ['dev-1', 'w1', key, first.epoch],
      ['dev-3', 'w2', key, second.epoch],
    ]);
    const states = await getEntityStates(
      store.db,
      { integrationId: 'plant-a', flow: 'ot-inventory', entity: 'device' },
      ['dev-1', 'dev-2', 'dev-3'],
    );
    expect([...states.keys()].sort()).toEqual(['dev-1', 'dev-3']);
  });

  it.skipIf(!available)('a released lease is taken at once; renewals keep it from expiring', async () => {
    const ttlMs = 5_000;
    const other = 'plant-a/cloud-tickets/*';
    const lease = await acquirePartitionLease(store.db, clock, { partitionKey: other, worker: 'w1', ttlMs });
    clock.advance(4_000);
    await renewPartitionLease(store.db, clock, lease, ttlMs);
    clock.advance(4_000);
    await expect(
      acquirePartitionLease(store.db, clock, { partitionKey: other, worker: 'w2', ttlMs }),
    ).rejects.toBeInstanceOf(PartitionBusyError);
    await releasePartitionLease(store.db, clock, lease);
    const next = await acquirePartitionLease(store.db, clock, { partitionKey: other, worker: 'w2', ttlMs });
    expect(next.epoch).toBe(lease.epoch + 1);
  });

  it.skipIf(!available)('outside a worker the ledger records no worker, partition or epoch', async () => {
    await appendLedgerEvents(store.db, clock, { integrationId: 'plant-b', runId: 'r2' }, [
      { ...entry, key: 'x' },
    ]);
    const [event] = await queryLedger(store.db, { integrationId: 'plant-b' });
    expect([event?.worker, event?.partition_key, event?.lease_epoch]).toEqual([null, null, null]);
  });
});
