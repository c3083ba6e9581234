import { PostgresAdapter, type Kysely } from 'kysely';

/** Which database a store runs on. */
export type StoreDialect = 'sqlite' | 'postgres';

/**
 * The dialect of a Kysely instance. Migrations ask this only for the few column types that
 * differ (an auto-incrementing id); queries are the same on both.
 */
export function dialectOf(db: Kysely<unknown>): StoreDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}
