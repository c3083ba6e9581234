import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../domain/clock.js';
import { createLogger } from '../logging.js';
import { appendLedgerEvents, queryLedger } from '../store/models/ledger.js';
import { openStore, type Store } from '../store/store.js';
import { RetentionDaemon } from './retention.daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-retention-daemon-'));
let store: Store;
beforeAll(async () => {
  store = await openStore(join(dir, 'retention.sqlite'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('RetentionDaemon', () => {
  it('prunes what is older than the retention days on its own after start, and stops', async () => {
    const clock = new ManualClock(new Date('2026-12-01T00:00:00Z'));
    const event = {
      flow: 'ot-inventory' as const,
      side: 'servicenow' as const,
      action: 'create',
      entity: 'device',
      reason: 'r',
    };
    const at = (iso: string) => new ManualClock(new Date(iso));
    await appendLedgerEvents(store.db, at('2026-05-01T00:00:00Z'), { integrationId: 'd', runId: null }, [
      { ...event, key: 'old' },
    ]);
    await appendLedgerEvents(store.db, at('2026-11-30T00:00:00Z'), { integrationId: 'd', runId: null }, [
      { ...event, key: 'new' },
    ]);
    const daemon = new RetentionDaemon({
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      days: 180,
      firstAfterMs: 0,
    });
    daemon.start();
    // Bounded wait for the first prune (it runs as soon as the event loop turns).
    for (let i = 0; i < 50 && (await queryLedger(store.db, { integrationId: 'd' })).length > 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    daemon.stop();
    await daemon.idle();
    expect((await queryLedger(store.db, { integrationId: 'd' })).map((e) => e.entity_key)).toEqual(['new']);
  });
});
