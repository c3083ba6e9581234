import type { Kysely } from 'kysely';
import { chunksFor } from '../chunks.js';
import type { Database, EntityStateRow } from '../schema.js';

/** Identifies one synced entity. */
export interface EntityRef {
  readonly integrationId: string;
  readonly flow: string;
  readonly entity: string;
}

/** The state to record for an entity after it was seen or written. */
export interface EntityStateUpdate {
  readonly sourceKey: string;
  readonly remoteTable?: string | null;
  readonly remoteSysId?: string | null;
  readonly contentHash?: string | null;
  readonly lastSeenAt?: string | null;
  readonly lastWrittenAt?: string | null;
  readonly retiredAt?: string | null;
  readonly data?: unknown;
}

/**
 * The recorded states of the given source keys (those never synced are absent from the map).
 * Looks keys up in chunks, so a page of a thousand devices costs a handful of queries.
 */
export async function getEntityStates(
  db: Kysely<Database>,
  ref: EntityRef,
  sourceKeys: readonly string[],
): Promise<Map<string, EntityStateRow>> {
  const found = new Map<string, EntityStateRow>();
  for (const chunk of chunksFor([...new Set(sourceKeys)], 1, 900)) {
    const rows = await db
      .selectFrom('entity_state')
      .selectAll()
      .where('integration_id', '=', ref.integrationId)
      .where('flow', '=', ref.flow)
      .where('entity', '=', ref.entity)
      .where('source_key', 'in', chunk)
      .execute();
    for (const row of rows) found.set(row.source_key, row);
  }
  return found;
}

/**
 * Inserts or updates entity states. Fields left undefined keep their stored value, so a
 * "seen again" update does not erase the remote sys_id recorded by an earlier write.
 */
export async function upsertEntityStates(
  db: Kysely<Database>,
  ref: EntityRef,
  updates: readonly EntityStateUpdate[],
): Promise<void> {
  for (const chunk of chunksFor(updates, 11)) {
    // Group by which columns are set so each statement updates exactly those columns.
    const groups = new Map<string, EntityStateUpdate[]>();
    for (const u of chunk) {
      const signature = columnsOf(u).join(',');
      groups.set(signature, [...(groups.get(signature) ?? []), u]);
    }
    for (const [signature, group] of groups) {
      const columns = signature ? signature.split(',') : [];
      const rows = group.map((u) => ({
        integration_id: ref.integrationId,
        flow: ref.flow,
        entity: ref.entity,
        source_key: u.sourceKey,
        remote_table: u.remoteTable ?? null,
        remote_sys_id: u.remoteSysId ?? null,
        content_hash: u.contentHash ?? null,
        last_seen_at: u.lastSeenAt ?? null,
        last_written_at: u.lastWrittenAt ?? null,
        retired_at: u.retiredAt ?? null,
        data: u.data === undefined || u.data === null ? null : JSON.stringify(u.data),
      }));
      await db
        .insertInto('entity_state')
        .values(rows)
        .onConflict((oc) => {
          const target = oc.columns(['integration_id', 'flow', 'entity', 'source_key']);
          if (columns.length === 0) return target.doNothing();
          return target.doUpdateSet((eb) =>
            Object.fromEntries(columns.map((c) => [c, eb.ref(`excluded.${c}` as 'excluded.content_hash')])),
          );
        })
        .execute();
    }
  }
}

const COLUMN_OF: Record<string, string> = {
  remoteTable: 'remote_table',
  remoteSysId: 'remote_sys_id',
  contentHash: 'content_hash',
  lastSeenAt: 'last_seen_at',
  lastWrittenAt: 'last_written_at',
  retiredAt: 'retired_at',
  data: 'data',
};

function columnsOf(update: EntityStateUpdate): string[] {
  return Object.keys(COLUMN_OF)
    .filter((key) => (update as unknown as Record<string, unknown>)[key] !== undefined)
    .map((key) => COLUMN_OF[key]!);
}

/**
 * Every recorded state of one kind of entity, a page at a time in key order (keyset paging, so a
 * large estate is never loaded at once). `unseenBefore` keeps only entities not retired and not
 * seen since that time: the candidates for retirement after a grace period.
 */
export async function* allEntityStates(
  db: Kysely<Database>,
  ref: EntityRef,
  options: { unseenBefore?: Date; pageSize?: number } = {},
): AsyncGenerator<EntityStateRow[]> {
  const pageSize = options.pageSize ?? 1000;
  let after = '';
  for (;;) {
    let query = db
      .selectFrom('entity_state')
      .selectAll()
      .where('integration_id', '=', ref.integrationId)
      .where('flow', '=', ref.flow)
      .where('entity', '=', ref.entity)
      .where('source_key', '>', after);
    if (options.unseenBefore) {
      query = query
        .where('retired_at', 'is', null)
        .where('last_seen_at', '<', options.unseenBefore.toISOString());
    }
    const page = await query.orderBy('source_key').limit(pageSize).execute();
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1]!.source_key;
    if (page.length < pageSize) return;
  }
}

/** Entities not retired and not seen since `before`, a page at a time (see {@link allEntityStates}). */
export function unseenSince(
  db: Kysely<Database>,
  ref: EntityRef,
  before: Date,
  pageSize = 1000,
): AsyncGenerator<EntityStateRow[]> {
  return allEntityStates(db, ref, { unseenBefore: before, pageSize });
}

/** The recorded state of the entity written to this remote sys_id, if any. */
export async function entityStateByRemoteSysId(
  db: Kysely<Database>,
  ref: EntityRef,
  sysId: string,
): Promise<EntityStateRow | undefined> {
  return db
    .selectFrom('entity_state')
    .selectAll()
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('entity', '=', ref.entity)
    .where('remote_sys_id', '=', sysId)
    .executeTakeFirst();
}

/** True when some entity of this kind was last seen at or after `at` (ISO 8601). */
export async function entitySeenSince(db: Kysely<Database>, ref: EntityRef, at: string): Promise<boolean> {
  const row = await db
    .selectFrom('entity_state')
    .select('source_key')
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('entity', '=', ref.entity)
    .where('last_seen_at', '>=', at)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Every recorded state of one kind of entity, in key order (a page that shows them all). */
export async function listEntityStates(db: Kysely<Database>, ref: EntityRef): Promise<EntityStateRow[]> {
  return db
    .selectFrom('entity_state')
    .selectAll()
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('entity', '=', ref.entity)
    .orderBy('source_key')
    .execute();
}

/**
 * One page of recorded states of one kind of entity: at most `limit` whose key comes after
 * `after`, in key order (keyset paging behind an API cursor; `''` starts at the first key).
 */
export async function entityStatesAfter(
  db: Kysely<Database>,
  ref: EntityRef,
  after: string,
  limit: number,
): Promise<EntityStateRow[]> {
  return db
    .selectFrom('entity_state')
    .selectAll()
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('entity', '=', ref.entity)
    .where('source_key', '>', after)
    .orderBy('source_key')
    .limit(limit)
    .execute();
}
