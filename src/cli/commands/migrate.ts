import { Command } from '@commander-js/extra-typings';
import type { SecretScrubber } from '../../secrets.js';
import { loadContext, withStore } from '../context.js';
import { printJson, type CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/** `snowline migrate`: applies pending store migrations (commands that use the store also do on start). */
export function migrateCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('migrate')
    .description('create or upgrade the state store schema')
    .option('--json', 'print the result as JSON')
    .action(async (options) => {
      const context = loadContext(io, scrubber, globals());
      await withStore(context, async (store, applied) => {
        if (options.json) printJson(io, { store: store.location, applied });
        else
          io.stdout.write(
            applied.length
              ? `applied ${applied.join(', ')} to ${store.location}\n`
              : `${store.location} is up to date\n`,
          );
      });
    });
}
