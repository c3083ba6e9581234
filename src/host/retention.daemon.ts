import type { Clock } from '../domain/clock.js';
import { days } from '../domain/time.js';
import type { Logger } from '../logging.js';
import { pruneBefore, type PruneResult } from '../store/models/retention.js';
import type { Store } from '../store/store.js';

/** How often `serve` applies `store.retention`. */
const DAY_MS = 86_400_000;

/**
 * Applies `store.retention` for `snowline serve`: once shortly after start, then once a day. A
 * prune that fails is logged and tried again the next day; it never stops the server.
 */
export class RetentionDaemon {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: {
      readonly store: Store;
      readonly clock: Clock;
      readonly logger: Logger;
      readonly days: number;
      /** First prune after start (default one minute, out of the way of the first runs). */
      readonly firstAfterMs?: number;
    },
  ) {}

  start(): void {
    this.schedule(this.options.firstAfterMs ?? 60_000);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves once a prune in progress has ended. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Prunes now. */
  async prune(): Promise<PruneResult> {
    const before = new Date(this.options.clock.now().getTime() - days(this.options.days));
    const result = await pruneBefore(this.options.store.db, before);
    this.options.logger.info({ ...result, retentionDays: this.options.days }, 'store retention applied');
    return result;
  }

  private schedule(afterMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.prune()
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'store retention failed'))
        .finally(() => {
          if (this.timer) this.schedule(DAY_MS);
        });
    }, afterMs);
    this.timer.unref();
  }
}
