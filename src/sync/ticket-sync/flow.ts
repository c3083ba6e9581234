import type { Clock } from '../../domain/clock.js';
import type { PlanAction } from '../../domain/plan.js';
import { correlationPrefix } from '../../domain/tickets/rules.js';
import { nextWatermark, pollSince } from '../../domain/tickets/sync.js';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';
import { InputError, isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where, type QueryCondition } from '../../servicenow/query.js';
import { stringValue, type SnRecord } from '../../servicenow/values.js';
import type { ArmClient } from '../../sources/index.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import type { Store } from '../../store/store.js';
import { executeFlow } from '../execute.js';
import {
  TICKET_FIELDS,
  TicketSyncEngine,
  policyOf,
  ticketSnapshot,
  type TicketSyncConfig,
  type TicketSyncSummary,
} from './engine.js';

/** What one ticket-sync poll needs. */
export interface TicketSyncRun {
  readonly integrationId: string;
  readonly config: TicketSyncConfig;
  readonly servicenow: ServiceNowClient;
  readonly arm: ArmClient;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: RequestCounters;
  readonly runId: string | null;
  readonly dryRun: boolean;
}

/** A poll's summary and its plan. */
export interface TicketSyncResult {
  readonly summary: TicketSyncSummary;
  readonly plan: PlanAction[];
}

const FLOW = 'ticket-sync';
/** Tickets of a page synced at once (the default in-flight bound of the ARM client). */
const PAGE_CONCURRENCY = 4;

/**
 * Flow ticket-sync, polling: per ticket table, the tickets Snowline opened (correlation id
 * prefix) whose `sys_updated_on` is at or after the watermark minus the overlap, in
 * (`sys_updated_on`, `sys_id`) order, a page at a time by keyset — never by offset, so a ticket
 * updated while a page is read moves behind the cursor and is read again instead of shifting an
 * unread one out of reach. Each version goes through the same engine as the webhook; the
 * watermark moves after each page, only past processed records and never past one that failed.
 * A dry run reads and plans, and writes nothing (not even the watermark).
 */
export async function runTicketSync(run: TicketSyncRun): Promise<TicketSyncResult> {
  const engine = new TicketSyncEngine({
    integrationId: run.integrationId,
    policy: policyOf(run.config),
    servicenow: run.servicenow,
    arm: run.arm,
    store: run.store,
    clock: run.clock,
    logger: run.logger,
    runId: run.runId,
    dryRun: run.dryRun,
  });
  return executeFlow(
    {
      summary: engine.summary,
      plan: engine.plan,
      execute: async () => {
        for (const table of TICKET_TABLES) await pollTable(run, engine, table);
      },
    },
    run,
  );
}

async function pollTable(run: TicketSyncRun, engine: TicketSyncEngine, table: string): Promise<void> {
  const ref = { integrationId: run.integrationId, flow: FLOW, scope: table };
  let watermark = await getWatermark(run.store.db, ref);
  const since = pollSince(watermark, run.config.overlapSeconds);
  const prefix = where('correlation_id', 'STARTSWITH', correlationPrefix(run.integrationId));
  let cursor: { updatedOn: string; sysId: string } | undefined;
  for (;;) {
    const query = cursor
      ? encodeQuery({
          where: [prefix, where('sys_updated_on', '>', cursor.updatedOn)],
          orGroups: [
            [prefix, where('sys_updated_on', '=', cursor.updatedOn), where('sys_id', '>', cursor.sysId)],
          ],
          orderBy: ['sys_updated_on', 'sys_id'],
        })
      : encodeQuery({
          where: [prefix, ...(since ? [where('sys_updated_on', '>=', since)] : ([] as QueryCondition[]))],
          orderBy: ['sys_updated_on', 'sys_id'],
        });
    const page = await firstPage(run.servicenow, table, query, run.config.pageSize);
    if (page.length === 0) return;
    let firstFailed: string | undefined;
    // The tickets of a page are distinct: a few at a time, as many as ARM requests may be in
    // flight, so the poll is not paced by one round trip after another.
    let next = 0;
    const worker = async () => {
      while (next < page.length) {
        const row = page[next++]!;
        const updatedOn = stringValue(row.sys_updated_on);
        try {
          await engine.sync(ticketSnapshot(table, row));
        } catch (error) {
          if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
          // A malformed record is reported and skipped (it would fail the same way next poll);
          // any other failure holds the watermark at this record so the next poll tries again.
          if (
            !(error instanceof InputError) &&
            updatedOn &&
            (firstFailed === undefined || updatedOn < firstFailed)
          )
            firstFailed = updatedOn;
          await engine.reportError(`${table}:${row.sys_id ?? 'unknown'}`, error);
        }
      }
    };
    await Promise.all(Array.from({ length: PAGE_CONCURRENCY }, worker));
    // Every row of the page was attempted; the page is in sys_updated_on order.
    const lastProcessed = stringValue(page[page.length - 1]!.sys_updated_on);
    const moved = nextWatermark(watermark, lastProcessed, firstFailed);
    if (!run.dryRun && moved !== undefined && moved !== watermark) {
      await advanceWatermark(run.store.db, run.clock, ref, moved);
      watermark = moved;
    }
    const last = page[page.length - 1]!;
    const lastUpdated = stringValue(last.sys_updated_on);
    if (page.length < run.config.pageSize || !lastUpdated) return;
    cursor = { updatedOn: lastUpdated, sysId: last.sys_id };
  }
}

/** One page of a read: the cursor, not an offset, moves between pages. */
async function firstPage(
  servicenow: ServiceNowClient,
  table: string,
  query: string,
  pageSize: number,
): Promise<SnRecord[]> {
  for await (const page of servicenow.list(table, { query, fields: TICKET_FIELDS, pageSize })) return page;
  return [];
}
