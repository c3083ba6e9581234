import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { systemClock } from '../../domain/clock.js';
import type { SyncSummary } from '../../domain/flows.js';
import { createLogger } from '../../logging.js';
import type { SecretScrubber } from '../../secrets.js';
import { openStore } from '../../store/store.js';
import { FLOW_RUNNERS } from '../../sync/flows.js';
import { runFlows } from '../../sync/runner.js';
import { printJson, type CliIo } from '../io.js';
import { integerOption } from '../options.js';
import type { GlobalOptions } from '../program.js';
import { sandboxConfig } from '../sandbox-config.js';
import { startSandboxProcess } from '../sandbox-process.js';
import { sandboxArgs } from './sandbox.js';

/**
 * `snowline demo` (what `npm start` runs): both sandboxes with the demo estate, a SQLite store
 * under `.snowline/`, every flow this build has run once, then the sandboxes stay up until
 * interrupted (or exit at once with `--once`).
 */
export function demoCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('demo')
    .description('run Snowline end to end against local sandboxes, with no account anywhere')
    .addOption(
      new Option('--dataset <size>', 'estate to load')
        .choices(['empty', 'demo', 'large'] as const)
        .default('demo' as const),
    )
    .option('--seed <n>', 'seed of the generated estate', integerOption(0, 2 ** 31 - 1))
    .option('--dir <folder>', 'where the demo keeps its configuration and store', '.snowline')
    .option('--once', 'run the flows once, print the summary and exit')
    .option('--json', 'print the sync summary as JSON on stdout')
    .action(async (options) => {
      const dir = resolve(io.cwd, options.dir);
      mkdirSync(dir, { recursive: true });
      const logger = createLogger({
        level: globals().logLevel ?? 'info',
        scrubber,
        destination: io.stderr,
        pretty: io.stderr === process.stderr ? undefined : false,
      });
      const sandbox = await startSandboxProcess(
        sandboxArgs({ dataset: options.dataset, seed: options.seed }),
      );
      try {
        const { text, loaded } = sandboxConfig(sandbox.ready, {
          storeUrl: join(dir, 'demo.sqlite'),
          integrationId: 'demo',
        });
        scrubber.add(loaded.secrets);
        writeFileSync(join(dir, 'demo.yaml'), text, { mode: 0o600 });
        const store = await openStore(loaded.config.store.url);
        let summary: SyncSummary;
        try {
          await store.migrate();
          ({ summary } = await runFlows({
            integration: loaded.config.integrations[0]!,
            store,
            clock: systemClock,
            logger,
            runners: FLOW_RUNNERS,
            trigger: 'demo',
          }));
        } finally {
          await store.close();
        }
        if (options.json) printJson(io, summary);
        else {
          io.stdout.write(`servicenow sandbox: ${sandbox.ready.servicenow.url}\n`);
          io.stdout.write(`defender sandbox: ${sandbox.ready.defender.url}\n`);
          io.stdout.write(`config: ${join(dir, 'demo.yaml')}\n`);
          io.stdout.write(`store: ${store.location}\n`);
          const flows = Object.entries(summary.jobs);
          io.stdout.write(
            flows.length
              ? flows
                  .map(([flow, s]) => `${flow}: ${s!.outcome}, ${s!.created} created, ${s!.updated} updated`)
                  .join('\n') + '\n'
              : 'flows: this build implements none of the four flows yet; the sandboxes and store are ready\n',
          );
        }
        if (!options.once) {
          io.stderr.write('sandboxes running; press Ctrl-C to stop\n');
          await new Promise<void>((done) => {
            process.once('SIGINT', done);
            process.once('SIGTERM', done);
            void sandbox.exited.then(done);
          });
        }
      } finally {
        await sandbox.stop();
      }
    });
}
