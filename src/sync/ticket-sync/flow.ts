import { correlationPrefix } from '../../domain/tickets/rules.js';
import { nextWatermark, pollSince } from '../../domain/tickets/sync.js';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';
import { InputError, isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where, type QueryCondition } from '../../servicenow/query.js';
import { stringValue, type SnRecord } from '../../servicenow/values.js';
import { adoptedTicketSysIds } from '../../store/models/links.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import { defineFlow, type FlowContext } from '../kernel/flow.js';
import {
  TICKET_FIELDS,
  TicketSyncEngine,
  emptyTicketSyncCounters,
  ticketSnapshot,
  type TicketSyncClients,
  type TicketSyncConfig,
} from './engine.js';

const FLOW = 'ticket-sync';
/** Tickets of a page synced at once (the default in-flight bound of the ARM client). */
const PAGE_CONCURRENCY = 4;

/**
 * Flow ticket-sync, polling: per ticket table, the tickets Snowline opened (correlation id
 * prefix) whose `sys_updated_on` is at or after the watermark minus the overlap, in
 * (`sys_updated_on`, `sys_id`) order, a page at a time by keyset — never by offset, so a ticket
 * updated while a page is read moves behind the cursor and is read again instead of shifting an
 * unread one out of reach. Each version goes through the same engine as the webhook; the
 * watermark moves after each page, only past processed and recorded versions and never past one
 * that failed. A dry run reads and plans, and writes nothing (not even the watermark).
 */
export const ticketSyncFlow = defineFlow({
  flow: FLOW,
  dependsOn: ['cloud-tickets'],
  config: (integration) => integration.flows.ticketSync,
  // Its tickets are cloud-tickets' (which re-creates a deleted one); only the store check samples them.
  owns: { check: ['ticket'], verify: [] },
  summary: emptyTicketSyncCounters,
  connect: ({ servicenow, defender }, { integration }): TicketSyncClients => ({
    servicenow,
    arm: defender.arm,
    resourceGraph: defender.resourceGraph,
    subscriptions: integration.defender.subscriptions,
  }),
  async run(context, clients, summary) {
    const engine = new TicketSyncEngine(context, clients, summary);
    for (const table of TICKET_TABLES) await pollTable(context, clients.servicenow, engine, table);
  },
});

async function pollTable(
  run: FlowContext<TicketSyncConfig>,
  servicenow: ServiceNowClient,
  engine: TicketSyncEngine,
  table: string,
): Promise<void> {
  const ref = { integrationId: run.integrationId, flow: FLOW, scope: table };
  let watermark = await getWatermark(run.store.db, ref);
  const since = pollSince(watermark, run.config.overlapSeconds);
  const prefix = where('correlation_id', 'STARTSWITH', correlationPrefix(run.integrationId));
  // Adopted tickets first: the watermark below never moves past one of them that failed.
  const adoptedFailed = await pollAdopted(run, servicenow, engine, table, since);
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
    const page = await firstPage(servicenow, table, query, run.config.pageSize);
    if (page.length === 0) return;
    const firstFailed = earliest(adoptedFailed, await syncPage(engine, table, page));
    // Every row of the page was attempted; the page is in sys_updated_on order.
    const lastProcessed = stringValue(page[page.length - 1]!.sys_updated_on);
    const moved = nextWatermark(watermark, lastProcessed, firstFailed);
    if (!run.dryRun && moved !== undefined && moved !== watermark) {
      // The page's versions are recorded before the watermark moves past them.
      await run.recorder.flush();
      await advanceWatermark(run.store.db, run.clock, ref, moved);
      watermark = moved;
    }
    const last = page[page.length - 1]!;
    const lastUpdated = stringValue(last.sys_updated_on);
    if (page.length < run.config.pageSize || !lastUpdated) return;
    cursor = { updatedOn: lastUpdated, sysId: last.sys_id };
  }
}

/**
 * The tickets cloud-tickets adopted from Defender's own ServiceNow integration (their
 * correlation_id is not Snowline's, so the prefix query above misses them): by sys_id from the
 * store's links, 100 a query, changed since the same point as the main query. A short list, read
 * whole each poll; versions already processed cost nothing (the engine's version check). Returns
 * the earliest `sys_updated_on` that failed, if any.
 */
async function pollAdopted(
  run: FlowContext<TicketSyncConfig>,
  servicenow: ServiceNowClient,
  engine: TicketSyncEngine,
  table: string,
  since: string | undefined,
): Promise<string | undefined> {
  const sysIds = await adoptedTicketSysIds(run.store.db, run.integrationId, table);
  let failed: string | undefined;
  for (let i = 0; i < sysIds.length; i += 100) {
    const rows = await firstPage(
      servicenow,
      table,
      encodeQuery({
        where: [
          where('sys_id', 'IN', sysIds.slice(i, i + 100)),
          ...(since ? [where('sys_updated_on', '>=', since)] : ([] as QueryCondition[])),
        ],
        orderBy: ['sys_updated_on', 'sys_id'],
      }),
      100,
    );
    failed = earliest(failed, await syncPage(engine, table, rows));
  }
  return failed;
}

/**
 * Syncs the tickets of a page, a few at a time (as many as ARM requests may be in flight, so a
 * poll is not paced by one round trip after another). Returns the earliest `sys_updated_on` of a
 * ticket that failed and must be read again; a malformed record is reported and skipped (it would
 * fail the same way next poll).
 */
async function syncPage(
  engine: TicketSyncEngine,
  table: string,
  page: readonly SnRecord[],
): Promise<string | undefined> {
  let firstFailed: string | undefined;
  let next = 0;
  // The page's current assignments in one Resource Graph query per 100, not one GET each.
  await engine.readAhead(table, page);
  const worker = async () => {
    while (next < page.length) {
      const row = page[next++]!;
      const updatedOn = stringValue(row.sys_updated_on);
      try {
        await engine.sync(ticketSnapshot(table, row));
      } catch (error) {
        if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
        if (!(error instanceof InputError) && updatedOn) firstFailed = earliest(firstFailed, updatedOn);
        await engine.reportError(`${table}:${row.sys_id ?? 'unknown'}`, error);
      }
    }
  };
  await Promise.all(Array.from({ length: PAGE_CONCURRENCY }, worker));
  return firstFailed;
}

/** The earlier of two stored date-times (either may be absent). */
function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
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
