import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { pruneBefore } from '../../src/store/models/retention.js';
import { listRuns } from '../../src/store/models/runs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes, writeCounts } from '../support/sandboxes.js';
import { runOnce } from '../support/sync.js';

/**
 * `store.retention` prunes the ledger and the run history only: what the next run compares with
 * (entity state, links, watermarks, deferred work) stays, so a run after the widest possible prune
 * (everything older than tomorrow) still writes nothing to either side.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-retention-'));
let sandboxes: Sandboxes;
let loaded: LoadedConfig;
let store: Store;

beforeAll(async () => {
  sandboxes = await startSandboxes({ devices: 40, seed: 5 });
  loaded = sandboxes.config(join(dir, 'retention.sqlite'));
  store = await openStore(loaded.config.store.url);
  await store.migrate();
});
afterAll(async () => {
  await store?.close();
  await sandboxes?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every entity state row, of every flow (the test reads the table itself). */
const entityStates = async () =>
  Number(
    (
      await store.db
        .selectFrom('entity_state')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst()
    )?.n,
  );

const sync = () => runOnce(loaded, store);
const writes = () => writeCounts(sandboxes);

describe('store retention', () => {
  it('prunes ledger events and runs, keeps what the next run needs, and that run writes nothing', async () => {
    const integrationId = loaded.config.integrations[0]!.id;
    const first = await sync();
    expect(Object.values(first.summary.jobs).every((job) => job?.outcome === 'ok')).toBe(true);
    expect(await queryLedger(store.db, { integrationId })).not.toHaveLength(0);
    const states = await entityStates();
    expect(states).toBeGreaterThan(0);

    const pruned = await pruneBefore(store.db, new Date(Date.now() + 86_400_000), 50);
    expect(pruned.ledgerEvents).toBeGreaterThan(0);
    expect(pruned.runs).toBe(1);
    expect(await queryLedger(store.db, { integrationId })).toHaveLength(0);
    expect(await listRuns(store.db, integrationId)).toHaveLength(0);
    expect(await entityStates()).toBe(states);

    const before = await writes();
    const second = await sync();
    expect(Object.values(second.summary.jobs).every((job) => job?.outcome === 'ok')).toBe(true);
    expect(await writes()).toEqual(before);
  });
});
