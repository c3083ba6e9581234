import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { chunksFor } from '../chunks.js';
import { dialectOf } from '../dialect.js';
import type { Database } from '../schema.js';

/** One scratch row: its key, its order within a sort key, and its data (JSON). */
export interface ScratchRow<T = unknown> {
  readonly key: string;
  readonly seq?: number;
  readonly sortKey?: string | null;
  readonly data?: T;
}

/** Scratch rows a crashed run left are swept by the next run of the flow after this long. */
const STALE_MS = 24 * 60 * 60 * 1000;

/**
 * Rows {@link RunScratch.put} holds before it writes them, in one transaction. A run writes its
 * scratch a page of records at a time (about a hundred rows of a few kinds); one commit each made
 * SQLite write the same B-tree pages to its WAL again and again (and checkpoint it with an fsync
 * every thousand pages). A thousand rows cut the commits thirtyfold at `large`; more raised the
 * run's peak memory (the held rows and one large INSERT) for little more time saved.
 */
export const SCRATCH_FLUSH_ROWS = 1000;

/** Rows of one `put` not yet written. */
interface PendingPut {
  readonly kind: string;
  readonly rows: readonly ScratchRow[];
  readonly mode: 'replace' | 'keep';
}

/**
 * What one flow run keeps in the store rather than in memory, by kind and key, so that what it
 * holds at once does not grow with the estate. Keys are ordered by code unit (`COLLATE "C"` on
 * PostgreSQL, whose default collation ignores punctuation; SQLite compares bytes), the order of
 * JavaScript's `sort()` for the ASCII keys flows use.
 *
 * @example
 * const scratch = await RunScratch.open(store.db, { integrationId, flow: 'cloud-tickets' });
 * try {
 *   await scratch.put('covered', [{ key: '000001', sortKey: groupKey, data }]);
 *   for await (const page of scratch.keys('covered', 50)) …
 * } finally {
 *   await scratch.close();
 * }
 */
export class RunScratch {
  private readonly collate: string;
  /** Puts not yet written, in call order, and how many rows and which kinds they hold. */
  private pending: PendingPut[] = [];
  private pendingRows = 0;
  private readonly pendingKinds = new Set<string>();
  /** The last write of held rows (a read waits for it: on PostgreSQL it may run on another connection). */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly owner: { readonly integrationId: string; readonly flow: string },
    readonly id: string,
    private readonly now: () => Date,
  ) {
    this.collate = dialectOf(db as Kysely<unknown>) === 'postgres' ? ' collate "C"' : '';
  }

  /** A new scratch for one run; rows of the same flow's runs older than a day (a crash) are swept. */
  static async open(
    db: Kysely<Database>,
    owner: { readonly integrationId: string; readonly flow: string },
    now: () => Date = () => new Date(),
  ): Promise<RunScratch> {
    await db
      .deleteFrom('run_scratch')
      .where('integration_id', '=', owner.integrationId)
      .where('flow', '=', owner.flow)
      .where('created_at', '<', new Date(now().getTime() - STALE_MS).toISOString())
      .execute();
    return new RunScratch(db, owner, randomUUID(), now);
  }

  /**
   * Writes rows of one kind: `replace` overwrites a key written before (the last write wins),
   * `keep` leaves it (the first wins). Within one call the same rule applies between its rows.
   * Rows are held until {@link SCRATCH_FLUSH_ROWS} are waiting, a read of their kind or
   * {@link flush}, then written in call order in one transaction: reads see every put before them.
   */
  async put<T>(
    kind: string,
    rows: readonly ScratchRow<T>[],
    mode: 'replace' | 'keep' = 'replace',
  ): Promise<void> {
    if (rows.length === 0) return;
    const byKey = new Map<string, ScratchRow<T>>();
    for (const row of rows) if (mode === 'replace' || !byKey.has(row.key)) byKey.set(row.key, row);
    this.pending.push({ kind, rows: [...byKey.values()], mode });
    this.pendingRows += byKey.size;
    this.pendingKinds.add(kind);
    if (this.pendingRows >= SCRATCH_FLUSH_ROWS) await this.flush();
  }

  /** Writes the rows {@link put} holds, in one transaction. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return this.writing;
    const pending = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    this.pendingKinds.clear();
    const createdAt = this.now().toISOString();
    // A failed write failed its own caller; the next one does not inherit it.
    const previous = this.writing.catch(() => undefined);
    this.writing = previous.then(() =>
      this.db.transaction().execute(async (trx) => {
        for (const { kind, rows, mode } of pending) await this.insert(trx, kind, rows, mode, createdAt);
      }),
    );
    await this.writing;
  }

  private async insert(
    db: Kysely<Database>,
    kind: string,
    rows: readonly ScratchRow[],
    mode: 'replace' | 'keep',
    createdAt: string,
  ): Promise<void> {
    for (const chunk of chunksFor(rows, 9)) {
      await db
        .insertInto('run_scratch')
        .values(
          chunk.map((row) => ({
            scratch_id: this.id,
            integration_id: this.owner.integrationId,
            flow: this.owner.flow,
            kind,
            key: row.key,
            seq: row.seq ?? 0,
            sort_key: row.sortKey ?? null,
            data: row.data === undefined ? null : JSON.stringify(row.data),
            created_at: createdAt,
          })),
        )
        .onConflict((oc) => {
          const target = oc.columns(['scratch_id', 'kind', 'key']);
          return mode === 'keep'
            ? target.doNothing()
            : target.doUpdateSet((eb) => ({
                seq: eb.ref('excluded.seq'),
                sort_key: eb.ref('excluded.sort_key'),
                data: eb.ref('excluded.data'),
              }));
        })
        .execute();
    }
  }

  /** The rows of these keys (keys never written are absent). */
  async get<T>(kind: string, keys: Iterable<string>): Promise<Map<string, T | undefined>> {
    await this.ready(kind);
    const found = new Map<string, T | undefined>();
    for (const chunk of chunksFor([...new Set(keys)], 1, 900)) {
      const rows = await this.base(kind).select(['key', 'data']).where('key', 'in', chunk).execute();
      for (const row of rows) found.set(row.key, parse<T>(row.data));
    }
    return found;
  }

  /** The keys of one kind, `limit` at a time, in key order. */
  async *keys(kind: string, limit: number): AsyncGenerator<string[]> {
    let after: string | undefined;
    for (;;) {
      await this.ready(kind);
      let query = this.base(kind).select('key');
      if (after !== undefined) query = query.where(sql.raw(`"key"${this.collate}`), '>', after);
      const rows = await query
        .orderBy(sql.raw(`"key"${this.collate}`))
        .limit(limit)
        .execute();
      if (rows.length > 0) yield rows.map((r) => r.key);
      if (rows.length < limit) return;
      after = rows[rows.length - 1]!.key;
    }
  }

  /** The rows of one kind, `limit` at a time, in `seq` order. */
  async *bySeq<T>(
    kind: string,
    limit: number,
  ): AsyncGenerator<{ key: string; seq: number; data: T | undefined }[]> {
    let after = -1;
    for (;;) {
      await this.ready(kind);
      const rows = await this.base(kind)
        .select(['key', 'seq', 'data'])
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(limit)
        .execute();
      if (rows.length > 0)
        yield rows.map((r) => ({ key: r.key, seq: Number(r.seq), data: parse<T>(r.data) }));
      if (rows.length < limit) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  /** The rows of one kind whose sort key is one of these, by sort key then `seq`. */
  async bySortKeys<T>(
    kind: string,
    sortKeys: readonly string[],
  ): Promise<{ sortKey: string; data: T | undefined }[]> {
    await this.ready(kind);
    const found: { sortKey: string; data: T | undefined }[] = [];
    for (const chunk of chunksFor([...new Set(sortKeys)], 1, 900)) {
      const rows = await this.base(kind)
        .select(['sort_key', 'seq', 'data'])
        .where('sort_key', 'in', chunk)
        .orderBy(sql.raw(`"sort_key"${this.collate}`))
        .orderBy('seq')
        .execute();
      for (const row of rows) found.push({ sortKey: row.sort_key!, data: parse<T>(row.data) });
    }
    return found;
  }

  /** How many rows of one kind. */
  async count(kind: string): Promise<number> {
    await this.ready(kind);
    const row = await this.base(kind)
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Deletes the run's rows (and drops those not yet written). */
  async close(): Promise<void> {
    this.pending = [];
    this.pendingRows = 0;
    this.pendingKinds.clear();
    await this.writing.catch(() => undefined);
    await this.db.deleteFrom('run_scratch').where('scratch_id', '=', this.id).execute();
  }

  /** Writes what is held when it holds rows of `kind`, so that a read of `kind` sees them. */
  private async ready(kind: string): Promise<void> {
    if (this.pendingKinds.has(kind)) await this.flush();
    else await this.writing.catch(() => undefined);
  }

  private base(kind: string) {
    return this.db.selectFrom('run_scratch').where('scratch_id', '=', this.id).where('kind', '=', kind);
  }
}

function parse<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}
