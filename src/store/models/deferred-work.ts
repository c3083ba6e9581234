import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import { chunksFor } from '../chunks.js';
import type { Database, DeferredWorkRow } from '../schema.js';

/** Identifies one piece of deferred work: at most one per integration × flow × partition × kind. */
export interface DeferredWorkRef {
  readonly integrationId: string;
  readonly flow: string;
  readonly partitionKey: string;
  /** `run-resume` (a run deferred by a rate limit, with its checkpoint), `pending` (records waiting on another flow)… */
  readonly kind: string;
}

/**
 * Saves (or replaces) deferred work with its checkpoint, due at `notBefore`. Attempts count up
 * each time the same work is deferred again.
 */
export async function deferWork(
  db: Kysely<Database>,
  clock: Clock,
  ref: DeferredWorkRef,
  notBefore: Date,
  payload: unknown,
): Promise<void> {
  const now = clock.now().toISOString();
  const json = payload === undefined ? null : JSON.stringify(payload);
  await db
    .insertInto('deferred_work')
    .values({
      id: randomUUID(),
      integration_id: ref.integrationId,
      flow: ref.flow,
      partition_key: ref.partitionKey,
      kind: ref.kind,
      payload: json,
      not_before: notBefore.toISOString(),
      attempts: 1,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.columns(['integration_id', 'flow', 'partition_key', 'kind']).doUpdateSet((eb) => ({
        payload: json,
        not_before: notBefore.toISOString(),
        attempts: eb('deferred_work.attempts', '+', 1),
        updated_at: now,
      })),
    )
    .execute();
}

/** The deferred work of a partition, if any (due or not). */
export async function getDeferredWork(
  db: Kysely<Database>,
  ref: DeferredWorkRef,
): Promise<DeferredWorkRow | undefined> {
  return db
    .selectFrom('deferred_work')
    .selectAll()
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('partition_key', '=', ref.partitionKey)
    .where('kind', '=', ref.kind)
    .executeTakeFirst();
}

/** Deferred work of an integration that is due now, oldest due first. */
export async function dueWork(
  db: Kysely<Database>,
  clock: Clock,
  integrationId: string,
  limit = 100,
): Promise<DeferredWorkRow[]> {
  return db
    .selectFrom('deferred_work')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('not_before', '<=', clock.now().toISOString())
    .orderBy('not_before')
    .limit(limit)
    .execute();
}

/** Removes deferred work once done. */
export async function completeWork(db: Kysely<Database>, ref: DeferredWorkRef): Promise<void> {
  await db
    .deleteFrom('deferred_work')
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('partition_key', '=', ref.partitionKey)
    .where('kind', '=', ref.kind)
    .execute();
}

/** One kind of deferred work of one flow (e.g. ot-vulnerabilities' `pending` devices). */
export interface DeferredWorkKind {
  readonly integrationId: string;
  readonly flow: string;
  readonly kind: string;
}

/** Deferred work of one kind, a page at a time in partition-key order (keyset paging). */
export async function* deferredWorkPages(
  db: Kysely<Database>,
  of: DeferredWorkKind,
  pageSize = 200,
): AsyncGenerator<{ partitionKey: string; payload: string | null }[]> {
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('deferred_work')
      .select(['partition_key', 'payload'])
      .where('integration_id', '=', of.integrationId)
      .where('flow', '=', of.flow)
      .where('kind', '=', of.kind)
      .where('partition_key', '>', after)
      .orderBy('partition_key')
      .limit(pageSize)
      .execute();
    if (rows.length === 0) return;
    yield rows.map((row) => ({ partitionKey: row.partition_key, payload: row.payload }));
    after = rows[rows.length - 1]!.partition_key;
    if (rows.length < pageSize) return;
  }
}

/** Removes the deferred work of one kind for these partition keys. */
export async function completeDeferredWork(
  db: Kysely<Database>,
  of: DeferredWorkKind,
  partitionKeys: readonly string[],
): Promise<void> {
  for (const chunk of chunksFor(partitionKeys, 1, 500)) {
    await db
      .deleteFrom('deferred_work')
      .where('integration_id', '=', of.integrationId)
      .where('flow', '=', of.flow)
      .where('kind', '=', of.kind)
      .where('partition_key', 'in', chunk)
      .execute();
  }
}

/** True when some deferred work of this kind was updated at or after `at` (ISO 8601). */
export async function deferredWorkUpdatedSince(
  db: Kysely<Database>,
  of: DeferredWorkKind,
  at: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('deferred_work')
    .select('partition_key')
    .where('integration_id', '=', of.integrationId)
    .where('flow', '=', of.flow)
    .where('kind', '=', of.kind)
    .where('updated_at', '>=', at)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
