import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
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
