import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../test/support/databases.js';
import { ManualClock } from '../domain/clock.js';
import { emptyFlowSummary } from '../domain/flows.js';
import { appendLedgerEvents, ledgerActionKeys, queryLedger } from './models/ledger.js';
import { completeWork, deferWork, dueWork, getDeferredWork } from './models/deferred-work.js';
import { getEntityStates, unseenSince, upsertEntityStates } from './models/entity-state.js';
import { linkForAssessment, linksForCorrelation, linksForTicket, upsertLink } from './models/links.js';
import { finishRun, getRun, listRuns, recordFlowSummary, startRun } from './models/runs.js';
import { advanceWatermark, getWatermark } from './models/watermarks.js';
import { MIGRATIONS } from './migrations/index.js';
import { pruneBefore } from './models/retention.js';
import { openStore, type Store } from './store.js';

const postgresUrl = inject('postgresUrl');
const scratch = mkdtempSync(join(tmpdir(), 'snowline-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const backends = [
  {
    name: 'sqlite',
    available: true,
    url: async () => join(scratch, `${Math.random().toString(36).slice(2)}.sqlite`),
  },
  { name: 'postgres', available: postgresUrl !== null, url: () => createTestDatabase(postgresUrl!, 'store') },
];

describe.each(backends)('state store on $name', ({ available, url }) => {
  let store: Store;
  const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));

  beforeAll(async () => {
    if (!available) return;
    store = await openStore(await url());
    await store.migrate();
  });
  afterAll(async () => store?.close());

  it.skipIf(!available)('migrates once; a second migrate applies nothing', async () => {
    expect(await store.migrate()).toEqual([]);
    const names = await store.db
      .selectFrom('kysely_migration' as never)
      .select('name' as never)
      .execute();
    expect(names).toHaveLength(Object.keys(MIGRATIONS).length);
  });

  it.skipIf(!available)('takes a new migration without any change to the drivers', async () => {
    const extra = {
      ...MIGRATIONS,
      '20991231000000_add_note': {
        up: async (db: Kysely<unknown>) => {
          await db.schema.alterTable('run').addColumn('note', 'text').execute();
        },
      },
    };
    const other = await openStore(await url(), { migrations: extra });
    try {
      expect(await other.migrate()).toEqual([...Object.keys(MIGRATIONS), '20991231000000_add_note']);
      await sql`insert into run (id, integration_id, trigger, dry_run, status, started_at, note)
        values ('r1', 'x', 'cli', 0, 'ok', '2026-01-01T00:00:00.000Z', 'hello')`.execute(other.db);
      const row = await sql<{ note: string }>`select note from run where id = 'r1'`.execute(other.db);
      expect(row.rows[0]?.note).toBe('hello');
    } finally {
      await other.close();
    }
  });

  it.skipIf(!available)('appends ledger events, filters them, and refuses to change them', async () => {
    const runId = await startRun(store.db, clock, {
      integrationId: 'plant-a',
      trigger: 'cli',
      dryRun: false,
    });
    await appendLedgerEvents(
      store.db,
      clock,
      { integrationId: 'plant-a', runId, worker: 'w1', partitionKey: 'p', leaseEpoch: 3 },
      [
        {
          flow: 'ot-inventory',
          side: 'servicenow',
          action: 'create',
          entity: 'device',
          key: 'dev-1',
          remoteId: 'sys1',
          reason: 'new device',
        },
        {
          flow: 'ot-inventory',
          side: 'servicenow',
          action: 'update',
          entity: 'device',
          key: 'dev-2',
          reason: 'firmware changed',
          detail: { changes: [{ field: 'firmware_version', from: '1', to: '2' }] },
        },
        {
          flow: 'cloud-tickets',
          side: 'defender',
          action: 'delete',
          entity: 'governanceAssignment',
          key: 'a-1',
          reason: 'ticket resolved',
        },
      ],
    );
    await appendLedgerEvents(store.db, clock, { integrationId: 'plant-b', runId: null }, [
      {
        flow: 'ot-inventory',
        side: 'servicenow',
        action: 'create',
        entity: 'device',
        key: 'dev-1',
        reason: 'other integration',
      },
    ]);
    const all = await queryLedger(store.db, { integrationId: 'plant-a', runId });
    expect(all.map((e) => e.entity_key)).toEqual(['dev-1', 'dev-2', 'a-1']);
    expect(all[0]).toMatchObject({
      worker: 'w1',
      partition_key: 'p',
      lease_epoch: 3,
      remote_id: 'sys1',
      at: '2026-11-01T00:00:00.000Z',
    });
    expect(JSON.parse(all[1]!.detail!)).toEqual({
      changes: [{ field: 'firmware_version', from: '1', to: '2' }],
    });
    expect(await queryLedger(store.db, { integrationId: 'plant-a', side: 'defender' })).toHaveLength(1);
    expect(await queryLedger(store.db, { integrationId: 'plant-a', afterId: all[0]!.id, limit: 1 })).toEqual([
      all[1],
    ]);
    expect(await ledgerActionKeys(store.db, 'plant-a', runId)).toHaveLength(3);
    await expect(store.db.updateTable('ledger_event').set({ reason: 'rewritten' }).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(store.db.deleteFrom('ledger_event').execute()).rejects.toThrow(/append-only/);
  });

  it.skipIf(!available)(
    'prunes events and finished runs past the retention boundary, and nothing else',
    async () => {
      const old = new ManualClock(new Date('2026-01-01T00:00:00Z'));
      const recent = new ManualClock(new Date('2026-06-01T00:00:00Z'));
      const oldRun = await startRun(store.db, old, {
        integrationId: 'retention',
        trigger: 'cli',
        dryRun: false,
      });
      await finishRun(store.db, old, oldRun, { summary: { runId: oldRun, jobs: {} } });
      const running = await startRun(store.db, old, {
        integrationId: 'retention',
        trigger: 'cli',
        dryRun: false,
      });
      const event = {
        flow: 'ot-inventory' as const,
        side: 'servicenow' as const,
        action: 'create',
        entity: 'device',
        reason: 'r',
      };
      await appendLedgerEvents(store.db, old, { integrationId: 'retention', runId: oldRun }, [
        { ...event, key: 'old' },
      ]);
      await appendLedgerEvents(store.db, recent, { integrationId: 'retention', runId: null }, [
        { ...event, key: 'new' },
      ]);
      await upsertEntityStates(
        store.db,
        { integrationId: 'retention', flow: 'ot-inventory', entity: 'device' },
        [{ sourceKey: 'old', contentHash: 'h', lastSeenAt: '2026-01-01T00:00:00.000Z' }],
      );

      const result = await pruneBefore(store.db, new Date('2026-03-01T00:00:00Z'), 1);
      expect(result).toEqual({ before: '2026-03-01T00:00:00.000Z', ledgerEvents: 1, runs: 1 });
      expect((await queryLedger(store.db, { integrationId: 'retention' })).map((e) => e.entity_key)).toEqual([
        'new',
      ]);
      expect((await listRuns(store.db, 'retention')).map((r) => r.id)).toEqual([running]);
      const states = await getEntityStates(
        store.db,
        { integrationId: 'retention', flow: 'ot-inventory', entity: 'device' },
        ['old'],
      );
      expect(states.size).toBe(1);
      // Inside the window the ledger is still append-only.
      await expect(
        store.db.deleteFrom('ledger_event').where('integration_id', '=', 'retention').execute(),
      ).rejects.toThrow(/append-only/);
      await expect(
        store.db
          .updateTable('ledger_event')
          .set({ reason: 'rewritten' })
          .where('integration_id', '=', 'retention')
          .execute(),
      ).rejects.toThrow(/append-only/);
    },
  );

  it.skipIf(!available)(
    'records runs with per-flow counts; deferred runs keep their retry time',
    async () => {
      const runId = await startRun(store.db, clock, {
        integrationId: 'runs-it',
        trigger: 'schedule',
        dryRun: false,
      });
      const inventory = {
        ...emptyFlowSummary(),
        created: 5,
        requests: { servicenow: 2, defender: 3 },
        durationMs: 12.6,
      };
      const tickets = {
        ...emptyFlowSummary(),
        outcome: 'deferred' as const,
        retryAt: '2026-11-01T01:00:00.000Z',
        opened: 2,
      };
      await recordFlowSummary(store.db, { runId, integrationId: 'runs-it' }, 'ot-inventory', inventory);
      await recordFlowSummary(store.db, { runId, integrationId: 'runs-it' }, 'cloud-tickets', tickets);
      clock.advance(1000);
      const outcome = await finishRun(store.db, clock, runId, {
        summary: { runId, jobs: { 'ot-inventory': inventory, 'cloud-tickets': tickets } },
      });
      expect(outcome).toBe('deferred');
      const run = await getRun(store.db, 'runs-it', runId);
      expect(run).toMatchObject({
        status: 'deferred',
        retry_at: '2026-11-01T01:00:00.000Z',
        finished_at: '2026-11-01T00:00:01.000Z',
      });
      expect(run.flows.find((f) => f.flow === 'ot-inventory')).toMatchObject({
        created: 5,
        requests_servicenow: 2,
        requests_defender: 3,
        duration_ms: 13,
      });
      expect(JSON.parse(run.flows.find((f) => f.flow === 'cloud-tickets')!.extra!)).toEqual({ opened: 2 });
      expect((await listRuns(store.db, 'runs-it')).map((r) => r.id)).toEqual([runId]);
      await expect(getRun(store.db, 'other', runId)).rejects.toThrow(/no run/);
    },
  );

  it.skipIf(!available)('keeps entity state by key, updating only the columns given', async () => {
    const ref = { integrationId: 'es', flow: 'ot-inventory', entity: 'device' };
    const keys = Array.from({ length: 2500 }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
    await upsertEntityStates(
      store.db,
      ref,
      keys.map((k) => ({
        sourceKey: k,
        remoteTable: 'cmdb_ci_ot_plc',
        remoteSysId: `sys-${k}`,
        contentHash: 'h1',
        lastSeenAt: '2026-10-01T00:00:00.000Z',
      })),
    );
    await upsertEntityStates(store.db, ref, [
      { sourceKey: 'dev-00001', lastSeenAt: '2026-11-01T00:00:00.000Z', data: { state: 'x' } },
    ]);
    const states = await getEntityStates(store.db, ref, keys);
    expect(states.size).toBe(2500);
    expect(states.get('dev-00001')).toMatchObject({
      remote_sys_id: 'sys-dev-00001',
      content_hash: 'h1',
      last_seen_at: '2026-11-01T00:00:00.000Z',
      data: '{"state":"x"}',
    });
    expect((await getEntityStates(store.db, { ...ref, integrationId: 'other' }, keys)).size).toBe(0);
    const unseen: string[] = [];
    for await (const page of unseenSince(store.db, ref, new Date('2026-10-15T00:00:00Z'), 1000))
      unseen.push(...page.map((r) => r.source_key));
    expect(unseen).toHaveLength(2499);
    expect(unseen).not.toContain('dev-00001');
  });

  it.skipIf(!available)('links assessments to tickets and assignments', async () => {
    await upsertLink(store.db, clock, 'links', {
      assessmentId: 'a1',
      correlationId: 'snowline:x',
      ticketTable: 'incident',
      ticketSysId: 't1',
      ticketNumber: 'INC0010002',
    });
    await upsertLink(store.db, clock, 'links', {
      assessmentId: 'a2',
      correlationId: 'snowline:x',
      ticketTable: 'incident',
      ticketSysId: 't1',
    });
    await upsertLink(store.db, clock, 'links', { assessmentId: 'a1', governanceAssignmentId: 'g1' });
    expect(await linkForAssessment(store.db, 'links', 'a1')).toMatchObject({
      ticket_sys_id: 't1',
      ticket_number: 'INC0010002',
      governance_assignment_id: 'g1',
    });
    expect((await linksForTicket(store.db, 'links', 't1')).map((l) => l.assessment_id)).toEqual(['a1', 'a2']);
    expect(await linksForCorrelation(store.db, 'links', 'snowline:x')).toHaveLength(2);
  });

  it.skipIf(!available)('moves a watermark forward only', async () => {
    const ref = { integrationId: 'wm', flow: 'ticket-sync', scope: 'incident' };
    expect(await getWatermark(store.db, ref)).toBeUndefined();
    expect(await advanceWatermark(store.db, clock, ref, '2026-11-01 10:00:00')).toBe(true);
    expect(await advanceWatermark(store.db, clock, ref, '2026-11-01 09:00:00')).toBe(false);
    expect(await getWatermark(store.db, ref)).toBe('2026-11-01 10:00:00');
    expect(await advanceWatermark(store.db, clock, ref, '2026-11-01 11:00:00')).toBe(true);
    expect(await getWatermark(store.db, ref)).toBe('2026-11-01 11:00:00');
  });

  it.skipIf(!available)('keeps deferred work with its checkpoint until done', async () => {
    const local = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const ref = { integrationId: 'dw', flow: 'ot-inventory', partitionKey: 'sensor-1', kind: 'run-resume' };
    await deferWork(store.db, local, ref, new Date('2026-11-01T01:00:00Z'), { page: 3 });
    await deferWork(store.db, local, ref, new Date('2026-11-01T02:00:00Z'), { page: 7 });
    expect(await dueWork(store.db, local, 'dw')).toEqual([]);
    local.advance(2 * 3600_000);
    const [due] = await dueWork(store.db, local, 'dw');
    expect(due).toMatchObject({ attempts: 2, payload: '{"page":7}' });
    await completeWork(store.db, ref);
    expect(await getDeferredWork(store.db, ref)).toBeUndefined();
  });
});
