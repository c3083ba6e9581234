import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** Row of `request_budget`: one token bucket (and server-imposed pause) shared by every worker. */
export interface RequestBudgetTable {
  name: string;
  tokens: number;
  /** Epoch milliseconds; PostgreSQL returns bigint columns as strings. */
  refilled_at_ms: number | string;
  paused_until_ms: number | string;
}

/** The store's tables plus the request budget this module owns. */
export type RequestBudgetDatabase = Database & { request_budget: RequestBudgetTable };

/** How many requests a bucket allows per window, across all workers together. */
export interface RequestBudget {
  readonly requests: number;
  readonly windowMs: number;
}

function budgets(db: Kysely<Database>): Kysely<RequestBudgetDatabase> {
  return db.withTables<{ request_budget: RequestBudgetTable }>();
}

/** Creates the bucket `name`, full, refilled at `nowMs`; a bucket another worker created is kept as it is. */
export async function ensureRequestBudget(
  db: Kysely<Database>,
  bucket: { readonly name: string; readonly tokens: number; readonly nowMs: number },
): Promise<void> {
  await budgets(db)
    .insertInto('request_budget')
    .values({ name: bucket.name, tokens: bucket.tokens, refilled_at_ms: bucket.nowMs, paused_until_ms: 0 })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

/**
 * Takes one token from the bucket `name` at `nowMs`, or says how long to wait for one: 0 when a
 * token was taken, else the milliseconds until the pause ends or the next token has refilled.
 * The bucket refills continuously, `budget.requests` per `budget.windowMs`, up to
 * `budget.requests`. The row is locked (`FOR UPDATE`) for the short transaction, so two workers
 * never take the same token. The bucket must exist ({@link ensureRequestBudget}).
 *
 * @example
 * const waitMs = await takeRequestToken(db, { name: 'servicenow:https://acme.service-now.com', budget, nowMs });
 * if (waitMs > 0) await sleep(waitMs);
 */
export async function takeRequestToken(
  db: Kysely<Database>,
  request: { readonly name: string; readonly budget: RequestBudget; readonly nowMs: number },
): Promise<number> {
  const { name, budget, nowMs: now } = request;
  const rate = budget.requests / budget.windowMs;
  return budgets(db)
    .transaction()
    .execute(async (trx) => {
      const row = await trx
        .selectFrom('request_budget')
        .selectAll()
        .where('name', '=', name)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const pausedUntil = Number(row.paused_until_ms);
      if (pausedUntil > now) return pausedUntil - now;
      // A worker whose clock is behind the last refill adds nothing rather than taking tokens back.
      const elapsed = Math.max(0, now - Number(row.refilled_at_ms));
      const tokens = Math.min(budget.requests, Number(row.tokens) + elapsed * rate);
      const refilledAt = Math.max(now, Number(row.refilled_at_ms));
      if (tokens >= 1) {
        await trx
          .updateTable('request_budget')
          .set({ tokens: tokens - 1, refilled_at_ms: refilledAt })
          .where('name', '=', name)
          .execute();
        return 0;
      }
      await trx
        .updateTable('request_budget')
        .set({ tokens, refilled_at_ms: refilledAt })
        .where('name', '=', name)
        .execute();
      return Math.ceil((1 - tokens) / rate);
    });
}

/**
 * Pauses the bucket `name` until `untilMs` (a server's 429 `Retry-After`), so every worker
 * honours it; a later pause already recorded is kept.
 */
export async function pauseRequestBudget(db: Kysely<Database>, name: string, untilMs: number): Promise<void> {
  await budgets(db)
    .updateTable('request_budget')
    .set({ paused_until_ms: untilMs })
    .where('name', '=', name)
    .where('paused_until_ms', '<', untilMs)
    .execute();
}
