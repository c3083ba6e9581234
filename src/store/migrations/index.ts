import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './20261122000000_initial.js';
import * as partitionLease from './20261122120000_partition_lease.js';
import * as dashboardSnapshot from './20261122130000_dashboard_snapshot.js';
import * as ledgerRetention from './20261205000000_ledger_retention.js';
import * as linkAdopted from './20261205130000_link_adopted.js';
import * as runScratch from './20261205190000_run_scratch.js';
import * as partGroup from './20261206000000_part_group.js';

/**
 * Every migration, by dated name (`<yyyymmddhhmmss>_<what>`). To add one, write the file next to
 * this one and list it here; migrations use Kysely's schema builder, so neither driver changes.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '20261122000000_initial': initial,
  '20261122120000_partition_lease': partitionLease,
  '20261122130000_dashboard_snapshot': dashboardSnapshot,
  '20261205000000_ledger_retention': ledgerRetention,
  '20261205130000_link_adopted': linkAdopted,
  '20261205190000_run_scratch': runScratch,
  '20261206000000_part_group': partGroup,
};

/** A migration provider over a fixed set of migrations (bundled, so no file-system lookups at run time). */
export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly migrations: Readonly<Record<string, Migration>> = MIGRATIONS) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...this.migrations };
  }
}
