import { once } from 'node:events';
import { Command } from '@commander-js/extra-typings';
import { UsageError } from '../../errors.js';
import { startBoss } from '../../host/queue/boss.js';
import { FlowRunWorker } from '../../host/queue/worker.js';
import type { SecretScrubber } from '../../secrets.js';
import { isPostgresUrl } from '../../store/store.js';
import { FLOW_RUNNERS } from '../../sync/flows.js';
import { loadContext, withStore } from '../context.js';
import type { CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/**
 * `snowline worker`: takes flow-run jobs from the pg-boss queue in the PostgreSQL store until
 * SIGTERM or SIGINT, then stops taking work, lets in-flight jobs finish, and exits 0. Start any
 * number of them, on any machine that reaches the database.
 */
export function workerCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('worker')
    .description(
      'scale-out: run flow-run jobs from the PostgreSQL queue until SIGTERM (store.url must be postgres://)',
    )
    .option('--name <name>', 'worker name in leases and the ledger (default: host#pid)')
    .action(async (options) => {
      const context = loadContext(io, scrubber, globals());
      const { config } = context.loaded;
      if (!isPostgresUrl(config.store.url))
        throw new UsageError(
          'snowline worker needs a PostgreSQL store (store.url: postgres://…): workers on several machines share its queue and leases; with SQLite run snowline sync or serve',
        );
      await withStore(context, async (store) => {
        const boss = await startBoss(config.store.url, config.queue, {
          // The logger's err serializer leaves out the pg client (connection parameters) such errors carry.
          onError: (error) => context.logger.error({ err: error }, 'pg-boss background error'),
        });
        const worker = new FlowRunWorker({
          boss,
          config,
          store,
          clock: context.clock,
          logger: context.logger,
          runners: FLOW_RUNNERS,
          ...(options.name ? { worker: options.name } : {}),
        });
        await worker.start();
        io.stdout.write(`worker ${worker.worker} ready (concurrency ${config.queue.concurrency})\n`);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
        await once(stop.signal, 'abort');
        context.logger.info({ worker: worker.worker }, 'stopping: finishing in-flight jobs');
        await worker.stop();
        await boss.stop({ graceful: true, wait: true, timeout: config.queue.expireSeconds * 1000 });
        io.stdout.write(`worker ${worker.worker} stopped\n`);
      });
    });
}
