import { Command } from '@commander-js/extra-typings';
import type { SecretScrubber } from '../../secrets.js';
import { days } from '../../domain/time.js';
import { pruneBefore } from '../../store/models/retention.js';
import { loadContext, withStore } from '../context.js';
import { printJson, type CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/** `snowline store prune`: applies `store.retention` now (serve does it once a day). */
export function storeCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  const store = new Command('store').description('maintain the state store');
  store
    .command('prune')
    .description(
      'delete ledger events and finished runs older than store.retention.days; entity state, links and watermarks stay',
    )
    .option('--json', 'print the result as JSON')
    .action(async (options) => {
      const context = loadContext(io, scrubber, globals());
      const retention = context.loaded.config.store.retention.days;
      await withStore(context, async (opened) => {
        const result = await pruneBefore(
          opened.db,
          new Date(context.clock.now().getTime() - days(retention)),
        );
        if (options.json) printJson(io, { store: opened.location, retentionDays: retention, ...result });
        else
          io.stdout.write(
            `pruned ${result.ledgerEvents} ledger event(s) and ${result.runs} run(s) older than ${result.before} from ${opened.location}\n`,
          );
      });
    });
  return store;
}
