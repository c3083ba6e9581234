import { Command } from '@commander-js/extra-typings';
import { UsageError } from '../../errors.js';
import type { SecretScrubber } from '../../secrets.js';
import { loadContext } from '../context.js';
import type { CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/**
 * `snowline serve`: the daemon. Prints `dashboard: <url>/` on stdout once listening, runs the
 * flows on their schedules, and on SIGTERM (or SIGINT) stops taking work, lets runs in flight
 * finish, and exits 0.
 */
export function serveCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('serve')
    .description(
      'run the flows on their schedules and serve the HTTP API, /metrics and the dashboard until SIGTERM',
    )
    .option('--port <port>', 'listen on this port instead of api.port (0 = any free port)')
    .action(async (options) => {
      let port: number | undefined;
      if (options.port !== undefined) {
        port = Number(options.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new UsageError(`--port must be a whole number from 0 to 65535 (got "${options.port}")`);
      }
      const context = loadContext(io, scrubber, globals());
      // Loaded here, not at the top: the HTTP server, metrics and scheduler are only needed by
      // serve, and every other command (scripts spawn them often) starts faster without them.
      const { startServe } = await import('../../host/serve.js');
      const { untilShutdownSignal } = await import('../../host/shutdown.js');
      const serving = await startServe({
        loaded: context.loaded,
        cwd: io.cwd,
        logger: context.logger,
        clock: context.clock,
        scrubber,
        ...(port !== undefined ? { port } : {}),
      });
      io.stdout.write(`dashboard: ${serving.url}/\n`);
      await untilShutdownSignal(() => serving.close(), { logger: context.logger });
    });
}
