import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import { SnowlineError } from '../../errors.js';
import { dialectOf } from '../dialect.js';
import type { Database } from '../schema.js';
import type { PartitionLease } from '../../runtime/work-context.js';

/** Row of `partition_lease`: who holds a work partition, under which fencing epoch, until when. */
export interface PartitionLeaseTable {
  partition_key: string;
  epoch: number;
  worker: string;
  acquired_at: string;
  expires_at_ms: number | string;
}

/** The store's tables plus the scale-out ones this module owns. */
export type LeaseDatabase = Database & { partition_lease: PartitionLeaseTable };

/** Another live worker holds the partition: try again once its lease has expired. */
export class PartitionBusyError extends SnowlineError {
  constructor(
    readonly partitionKey: string,
    readonly holder: string,
    readonly expiresAt: Date,
  ) {
    super(
      'PARTITION_BUSY',
      `partition ${partitionKey} is held by worker ${holder} until ${expiresAt.toISOString()}; the job is retried after that`,
      { retryable: true },
    );
  }
}

/**
 * The lease is no longer this worker's: another worker took the partition over with a higher
 * epoch (this one stalled past its lease). Whatever this worker still tries to record is
 * refused, so the partition's ledger never shows two workers at once.
 */
export class LeaseLostError extends SnowlineError {
  constructor(lease: PartitionLease, current: number | undefined) {
    super(
      'LEASE_LOST',
      `worker ${lease.worker} lost partition ${lease.partitionKey} (its epoch ${lease.epoch}, now ${current ?? 'none'}); its late writes are refused and the partition's new holder finishes the work`,
    );
  }
}

/** True when `error` is a {@link LeaseLostError}. */
export function isLeaseLostError(error: unknown): error is LeaseLostError {
  return error instanceof LeaseLostError;
}

function leases(db: Kysely<Database>): Kysely<LeaseDatabase> {
  return db.withTables<{ partition_lease: PartitionLeaseTable }>();
}

/** Runs `fn` in a transaction, or in the caller's when `db` already is one. */
export async function inTransaction<T>(
  db: Kysely<Database>,
  fn: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return fn(db);
  return db.transaction().execute((trx: Transaction<Database>) => fn(trx));
}

/**
 * Takes the lease of a partition for `ttlMs`, raising its fencing epoch by one. A lease held by
 * another worker is taken over only once it has expired (its worker stopped renewing it: crashed
 * or cut off); until then {@link PartitionBusyError}.
 */
export async function acquirePartitionLease(
  db: Kysely<Database>,
  clock: Clock,
  request: { readonly partitionKey: string; readonly worker: string; readonly ttlMs: number },
): Promise<PartitionLease> {
  const now = clock.now();
  const expires = now.getTime() + request.ttlMs;
  return inTransaction(db, async (trx) => {
    const current = await currentLease(trx, request.partitionKey, 'update');
    if (!current) {
      // Two workers inserting the first lease at once: the primary key lets one win; the other
      // fails its job, which pg-boss retries.
      await leases(trx)
        .insertInto('partition_lease')
        .values({
          partition_key: request.partitionKey,
          epoch: 1,
          worker: request.worker,
          acquired_at: now.toISOString(),
          expires_at_ms: expires,
        })
        .execute();
      return { partitionKey: request.partitionKey, worker: request.worker, epoch: 1 };
    }
    const expiresAt = Number(current.expires_at_ms);
    if (current.worker !== request.worker && expiresAt > now.getTime())
      throw new PartitionBusyError(request.partitionKey, current.worker, new Date(expiresAt));
    const epoch = Number(current.epoch) + 1;
    await leases(trx)
      .updateTable('partition_lease')
      .set({ epoch, worker: request.worker, acquired_at: now.toISOString(), expires_at_ms: expires })
      .where('partition_key', '=', request.partitionKey)
      .execute();
    return { partitionKey: request.partitionKey, worker: request.worker, epoch };
  });
}

/** Extends a held lease by `ttlMs` from now; {@link LeaseLostError} when another worker took it. */
export async function renewPartitionLease(
  db: Kysely<Database>,
  clock: Clock,
  lease: PartitionLease,
  ttlMs: number,
): Promise<void> {
  const result = await leases(db)
    .updateTable('partition_lease')
    .set({ expires_at_ms: clock.now().getTime() + ttlMs })
    .where('partition_key', '=', lease.partitionKey)
    .where('epoch', '=', lease.epoch)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) {
    const current = await currentLease(db, lease.partitionKey, 'none');
    throw new LeaseLostError(lease, current ? Number(current.epoch) : undefined);
  }
}

/** Ends a held lease now, so the partition's next job need not wait for it to expire. */
export async function releasePartitionLease(
  db: Kysely<Database>,
  clock: Clock,
  lease: PartitionLease,
): Promise<void> {
  await leases(db)
    .updateTable('partition_lease')
    .set({ expires_at_ms: clock.now().getTime() })
    .where('partition_key', '=', lease.partitionKey)
    .where('epoch', '=', lease.epoch)
    .execute();
}

/**
 * The fence: inside the transaction that writes a partition's ledger events (and entity state),
 * checks that the lease epoch is still the writer's. On PostgreSQL the lease row is share-locked
 * until that transaction ends, so a takeover (which updates the row) waits for the write to
 * commit, and every write after the takeover sees the new epoch and fails: no interleaving.
 */
export async function assertLeaseHeld(trx: Kysely<Database>, lease: PartitionLease): Promise<void> {
  const current = await currentLease(trx, lease.partitionKey, 'share');
  if (!current || Number(current.epoch) !== lease.epoch)
    throw new LeaseLostError(lease, current ? Number(current.epoch) : undefined);
}

/** Every lease, for tests and `snowline worker` diagnostics. */
export async function listPartitionLeases(db: Kysely<Database>): Promise<PartitionLeaseTable[]> {
  return leases(db).selectFrom('partition_lease').selectAll().orderBy('partition_key').execute();
}

async function currentLease(
  db: Kysely<Database>,
  partitionKey: string,
  lock: 'update' | 'share' | 'none',
): Promise<PartitionLeaseTable | undefined> {
  let query = leases(db).selectFrom('partition_lease').selectAll().where('partition_key', '=', partitionKey);
  // SQLite has no row locks: its single writer serialises these transactions anyway.
  if (dialectOf(db as unknown as Kysely<unknown>) === 'postgres') {
    if (lock === 'update') query = query.forUpdate();
    if (lock === 'share') query = query.forShare();
  }
  return query.executeTakeFirst();
}
