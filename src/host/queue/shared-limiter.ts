import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../../domain/clock.js';
import { RateLimitedError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import {
  ensureRequestBudget,
  pauseRequestBudget,
  takeRequestToken,
  type RequestBudget,
} from '../../store/models/request-budget.js';
import type { Store } from '../../store/store.js';
import { RequestLimiter, type Limiter, type Release } from '../../runtime/http/limiter.js';

/** Options for {@link SharedRequestLimiter}. */
export interface SharedLimiterOptions {
  /** The bucket's name: one per ServiceNow instance, e.g. `servicenow:https://acme.service-now.com`. */
  readonly name: string;
  readonly service: string;
  /** The PostgreSQL store every worker shares. */
  readonly db: Store['db'];
  /** This many requests per `windowMs`, across all workers together. */
  readonly budget: RequestBudget;
  /** Requests in flight at once in this process. */
  readonly maxInFlight: number;
  readonly maxWaitMs: number;
  readonly clock: Clock;
  readonly wait?: (ms: number) => Promise<void>;
  readonly logger?: Logger;
}

/**
 * A {@link Limiter} whose request budget lives in PostgreSQL, so that all the workers talking to
 * one ServiceNow instance together stay within the instance's rule (a token bucket refilled
 * continuously over the window, as {@link RequestLimiter} does in one process). Each request
 * takes its token in a short transaction that locks the bucket row; a 429's pause is written to
 * the row too, so every worker honours it. The in-flight bound stays per process.
 *
 * Times come from each worker's clock: workers on several machines need synchronised clocks
 * (NTP), as the leases do.
 */
export class SharedRequestLimiter implements Limiter {
  private readonly local: RequestLimiter;
  private readonly wait: (ms: number) => Promise<void>;
  private ready: Promise<void> | undefined;
  /** The limiter's time never runs behind the end of its last wait (as in RequestLimiter). */
  private sleptUntil = 0;

  constructor(private readonly options: SharedLimiterOptions) {
    this.local = new RequestLimiter({
      service: options.service,
      maxInFlight: options.maxInFlight,
      maxWaitMs: options.maxWaitMs,
      clock: options.clock,
      ...(options.wait ? { wait: options.wait } : {}),
    });
    this.wait = options.wait ?? ((ms) => sleep(ms));
  }

  private now(): number {
    return Math.max(this.options.clock.now().getTime(), this.sleptUntil);
  }

  /** Creates the bucket, full, the first time any worker uses it. */
  private ensureBucket(): Promise<void> {
    this.ready ??= ensureRequestBudget(this.options.db, {
      name: this.options.name,
      tokens: this.options.budget.requests,
      nowMs: this.now(),
    });
    return this.ready;
  }

  /** Takes one token now, or says how long to wait for one (a pause included). */
  private takeToken(): Promise<number> {
    return takeRequestToken(this.options.db, {
      name: this.options.name,
      budget: this.options.budget,
      nowMs: this.now(),
    });
  }

  async acquire(): Promise<Release> {
    await this.ensureBucket();
    for (;;) {
      const waitMs = await this.takeToken();
      if (waitMs === 0) break;
      if (waitMs > this.options.maxWaitMs) {
        throw new RateLimitedError(this.options.service, new Date(this.now() + waitMs), {
          detail: 'the request budget shared by all workers is spent',
        });
      }
      const before = this.now();
      await this.wait(waitMs);
      this.sleptUntil = before + waitMs;
    }
    return this.local.acquire();
  }

  pauseUntil(until: Date, detail?: string): void {
    // Shared first, so the other workers pause even when this one defers right away.
    void this.ensureBucket()
      .then(() => pauseRequestBudget(this.options.db, this.options.name, until.getTime()))
      .catch((error: unknown) =>
        this.options.logger?.warn(
          { err: error },
          'could not share a rate-limit pause with the other workers',
        ),
      );
    this.local.pauseUntil(until, detail);
  }
}
