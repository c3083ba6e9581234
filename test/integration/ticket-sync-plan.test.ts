import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { correlationPrefix } from '../../src/domain/tickets/rules.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import type { ServiceNowClient } from '../../src/servicenow/client.js';
import type { SnRecord } from '../../src/servicenow/values.js';
import type { ArmClient, GovernanceAssignment } from '../../src/sources/index.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { upsertLink } from '../../src/store/models/links.js';
import { openStore, type Store } from '../../src/store/store.js';
import { ticketSyncFlow } from '../../src/sync/ticket-sync/flow.js';

/**
 * A real ticket-sync poll keeps no plan in memory (the flow-kernel rule: only a dry run, or an
 * explicit request, keeps its decisions). 20,000 changed tickets go through the real poll, engine,
 * recorder and a real SQLite store; ServiceNow and ARM are in-process stand-ins that page by the
 * poll's keyset query and answer every assignment read, so the test measures the kernel, not HTTP.
 */
const TICKETS = 20_000;
const INTEGRATION = 'plan';
const UPDATED_ON = '2026-12-01 10:00:00';

const dir = mkdtempSync(join(tmpdir(), 'snowline-plan-'));
const clock = new ManualClock(new Date('2026-12-01T12:00:00Z'));
let store: Store;

const sysIdOf = (i: number) => `t${String(i).padStart(6, '0')}`;
const assessmentOf = (i: number) =>
  `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${i}/providers/Microsoft.Security/assessments/a${i}`;

/** Incidents in (sys_updated_on, sys_id) order, paged as the Table API pages the poll's keyset query. */
function serviceNow(): ServiceNowClient {
  const rows: SnRecord[] = Array.from({ length: TICKETS }, (_, i) => ({
    sys_id: sysIdOf(i),
    number: `INC${String(i).padStart(7, '0')}`,
    state: '2',
    assigned_to: '',
    correlation_id: `${correlationPrefix(INTEGRATION)}g${i}`,
    sys_mod_count: '3',
    sys_updated_on: UPDATED_ON,
  }));
  return {
    async *list(table: string, options: { query: string; pageSize?: number }) {
      if (table !== 'incident') return;
      // Every row has the same sys_updated_on: the cursor is the sys_id after `sys_id>`.
      const after = /\^sys_id>([^^]+)/.exec(options.query)?.[1];
      const from = after ? rows.findIndex((r) => r.sys_id > after) : 0;
      if (from === -1) return;
      yield rows.slice(from, from + (options.pageSize ?? 1000));
    },
    recordUrl: (table: string, sysId: string) =>
      `https://example.service-now.com/${table}.do?sys_id=${sysId}`,
  } as unknown as ServiceNowClient;
}

/** Every assignment exists, still saying the ticket is New; puts are counted. */
function arm(puts: { count: number }): ArmClient {
  return {
    async getGovernanceAssignment(): Promise<GovernanceAssignment> {
      return {
        remediationDueDate: new Date('2026-12-31T00:00:00Z'),
        isGracePeriod: false,
        additionalData: { ticketStatus: 'New' },
      } as GovernanceAssignment;
    },
    async putGovernanceAssignment() {
      puts.count += 1;
    },
  } as unknown as ArmClient;
}

beforeAll(async () => {
  store = await openStore(join(dir, 'plan.sqlite'));
  await store.migrate();
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < TICKETS; i++)
      await upsertLink(trx, clock, INTEGRATION, {
        assessmentId: assessmentOf(i),
        ticketTable: 'incident',
        ticketSysId: sysIdOf(i),
        ticketNumber: `INC${String(i).padStart(7, '0')}`,
        governanceAssignmentId: `snowline-${i}`,
      });
  });
}, 120_000);
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const config = {
  enabled: true,
  intervalSeconds: 60,
  overlapSeconds: 120,
  pageSize: 1000,
  closedStates: { incident: ['6', '7', '8'], problem: ['106', '107', '4'], change_request: ['3', '4'] },
  reopen: 'recreate' as const,
  conflict: { state: 'servicenow' as const, owner: 'servicenow' as const, health: 'defender' as const },
  webhook: {},
};

describe('ticket-sync poll of 20,000 changed tickets', () => {
  it('keeps every decision in a dry run, and none in a real run that makes them all', async () => {
    const input = (dryRun: boolean) => ({
      integrationId: INTEGRATION,
      config: config as Parameters<typeof ticketSyncFlow.execute>[0]['config'],
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      counters: new RequestCounters(),
      runId: null,
      dryRun,
    });
    const dryPuts = { count: 0 };
    const dry = await ticketSyncFlow.execute(input(true), { servicenow: serviceNow(), arm: arm(dryPuts) });
    expect(dry.plan).toHaveLength(TICKETS);
    expect(dryPuts.count).toBe(0);

    const puts = { count: 0 };
    const real = await ticketSyncFlow.execute(input(false), { servicenow: serviceNow(), arm: arm(puts) });
    expect(real.summary).toMatchObject({ outcome: 'ok', tickets: TICKETS, updated: TICKETS, errors: 0 });
    expect(puts.count).toBe(TICKETS);
    // The plan sink retained nothing, though the run decided 20,000 times…
    expect(real.plan).toHaveLength(0);
    // …and every decision is in the ledger instead.
    const updates = await queryLedger(store.db, {
      integrationId: INTEGRATION,
      action: 'update',
      entity: 'governanceAssignment',
      limit: TICKETS + 1,
    });
    expect(updates).toHaveLength(TICKETS);
  }, 300_000);
});
