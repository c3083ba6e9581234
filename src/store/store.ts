import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Migration } from 'kysely';
import pg from 'pg';
import { SnowlineError } from '../errors.js';
import type { StoreDialect } from './dialect.js';
import { MIGRATIONS, StaticMigrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

/** An open state store. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** Where it is, with any password removed (safe to print). */
  readonly location: string;
  /**
   * How flows commit their records (`store.commitBatch`): after this many queued records, or this
   * long after the first one, whichever comes first.
   */
  readonly commitBatch: { readonly records: number; readonly intervalMs: number };
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}

/** Options for {@link openStore}. */
export interface StoreOptions {
  /** Migrations to use instead of the bundled ones (tests add one to prove the drivers need no change). */
  readonly migrations?: Readonly<Record<string, Migration>>;
  /** PostgreSQL pool size. */
  readonly poolSize?: number;
  /** How flows commit their records; 500 records or one second when omitted. */
  readonly commitBatch?: { readonly records: number; readonly intervalMs: number };
}

/** The store could not be opened or migrated. */
export class StoreError extends SnowlineError {
  constructor(message: string, cause?: unknown) {
    super('STORE', message, { cause });
  }
}

/**
 * Asks the store the cheapest question there is (`select 1`); rejects when it does not answer
 * (PostgreSQL down or unreachable, SQLite file gone). The readiness probe's store check.
 *
 * @example
 * await pingStore(store.db); // throws when the store is unreachable
 */
export async function pingStore(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}

/** True for a PostgreSQL connection URL; anything else is a SQLite file path (or `:memory:`). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The store location with its password removed. */
export function describeStoreLocation(url: string): string {
  if (!isPostgresUrl(url)) return url === ':memory:' ? url : resolve(url);
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '';
  return parsed.toString();
}

/**
 * Opens the state store: a SQLite file (created with its folder when missing) or a PostgreSQL
 * database. Call {@link Store.migrate} before use (`snowline` does on start).
 *
 * @example
 * const store = await openStore('./.snowline/snowline.sqlite');
 * await store.migrate();
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const dialect: StoreDialect = isPostgresUrl(url) ? 'postgres' : 'sqlite';
  let db: Kysely<Database>;
  try {
    if (dialect === 'postgres') {
      const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
      db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
      await pool.query('select 1');
    } else {
      if (url !== ':memory:') mkdirSync(dirname(resolve(url)), { recursive: true });
      const sqlite = new SqliteDatabase(url);
      // WAL lets the dashboard read while a run writes; NORMAL sync is durable across process
      // crashes (the failure we design for) and much faster than FULL.
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('synchronous = NORMAL');
      sqlite.pragma('busy_timeout = 5000');
      sqlite.pragma('foreign_keys = ON');
      db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    }
  } catch (error) {
    throw new StoreError(
      `cannot open the store at ${describeStoreLocation(url)}: ${(error as Error).message}; check store.url`,
      error,
    );
  }
  const migrations = options.migrations ?? MIGRATIONS;
  return {
    db,
    dialect,
    location: describeStoreLocation(url),
    commitBatch: options.commitBatch ?? { records: 500, intervalMs: 1000 },
    async migrate() {
      const migrator = new Migrator({ db, provider: new StaticMigrationProvider(migrations) });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
        throw new StoreError(`migration ${failed} failed: ${(error as Error).message}`, error);
      }
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    },
    close: () => db.destroy(),
  };
}
