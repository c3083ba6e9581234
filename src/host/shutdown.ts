import { SnowlineError } from '../errors.js';
import type { Logger } from '../logging.js';

/** The process is shutting down and takes no new work. HTTP 503; retry against another instance or later. */
export class ShuttingDownError extends SnowlineError {
  constructor() {
    super('SHUTTING_DOWN', 'Snowline is shutting down and takes no new runs; try again once it is back', {
      retryable: true,
    });
  }
}

/** Options for {@link untilShutdownSignal}. */
export interface ShutdownSignalOptions {
  readonly logger: Logger;
  /** Signals that start a graceful shutdown. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Called on a second signal while the first shutdown is still running (default: exit 1 at once). */
  readonly onForce?: (signal: NodeJS.Signals) => void;
}

/**
 * Waits for SIGTERM or SIGINT, then runs `shutdown` (stop taking work, let in-flight runs finish
 * or checkpoint, close the store) and resolves when it is done, so the caller returns and the
 * process exits 0. A second signal during a slow shutdown exits at once with code 1: what the
 * runs wrote is in the store already, and the next run carries on from there.
 *
 * @example
 * await untilShutdownSignal(() => server.close(), { logger });
 */
export function untilShutdownSignal(
  shutdown: () => Promise<void>,
  options: ShutdownSignalOptions,
): Promise<void> {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const force =
    options.onForce ??
    ((signal: NodeJS.Signals) => {
      options.logger.error({ signal }, 'second signal during shutdown: exiting now');
      process.exit(1);
    });
  return new Promise<void>((resolve, reject) => {
    let started = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (started) return force(signal);
      started = true;
      options.logger.info({ signal }, 'shutting down: no new work; waiting for runs in flight');
      shutdown().then(
        () => {
          for (const s of signals) process.off(s, onSignal);
          options.logger.info('shut down');
          resolve();
        },
        (error: unknown) => {
          for (const s of signals) process.off(s, onSignal);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    };
    for (const s of signals) process.on(s, onSignal);
  });
}
