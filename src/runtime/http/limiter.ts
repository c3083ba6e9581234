import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../../domain/clock.js';
import { RateLimitedError } from '../../errors.js';

/** Options for {@link RequestLimiter}. */
export interface LimiterOptions {
  /** Service name used in errors. */
  readonly service: string;
  /** Requests in flight at once. */
  readonly maxInFlight: number;
  /** Client-side budget: this many requests per `windowMs` (e.g. the instance's hourly rule). */
  readonly budget?: { readonly requests: number; readonly windowMs: number };
  /** Longest wait accepted in-process; a longer one raises {@link RateLimitedError}. */
  readonly maxWaitMs: number;
  readonly clock: Clock;
  /** Waits; injectable so tests run in simulated time. */
  readonly wait?: (ms: number) => Promise<void>;
}

/** Returned by {@link Limiter.acquire}: call once when the request is done. */
export type Release = () => void;

/**
 * What the HTTP clients need from a limiter: {@link RequestLimiter} in one process, or a
 * variant whose budget is shared by every worker (the PostgreSQL-backed one of the scale-out
 * runtime).
 */
export interface Limiter {
  /** Waits for a slot and a token; throws {@link RateLimitedError} when that would take too long. */
  acquire(): Promise<Release>;
  /** Pauses every request until `until` (a 429's Retry-After); throws when that is too long. */
  pauseUntil(until: Date, detail?: string): void;
}

/**
 * Bounds the requests in flight and spends a client-side request budget (a token bucket
 * refilled continuously over the window, matching ServiceNow's per-hour rules), and honours a
 * server-imposed pause shared by every request of this limiter. A wait longer than
 * `maxWaitMs` is never slept: it raises {@link RateLimitedError} so the run defers.
 */
export class RequestLimiter implements Limiter {
  private inFlight = 0;
  private readonly queue: Array<() => void> = [];
  private tokens: number;
  private refilledAt: number;
  private pausedUntil = 0;
  /** What the limiter has slept up to: time never runs behind it, even on a clock that stands still. */
  private sleptUntil = 0;
  private readonly wait: (ms: number) => Promise<void>;

  constructor(private readonly options: LimiterOptions) {
    this.tokens = options.budget?.requests ?? Infinity;
    this.refilledAt = options.clock.now().getTime();
    this.wait = options.wait ?? ((ms) => sleep(ms));
  }

  /**
   * The limiter's time: the clock, but never earlier than the end of the last wait. With the
   * system clock the two agree; with an injected clock that only moves when told (tests), a
   * wait still ends instead of being measured against a time that never comes.
   */
  private now(): number {
    return Math.max(this.options.clock.now().getTime(), this.sleptUntil);
  }

  /** Waits for a slot and a token; throws {@link RateLimitedError} when that would take too long. */
  async acquire(): Promise<Release> {
    await this.awaitBudget();
    if (this.inFlight >= this.options.maxInFlight) {
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.inFlight += 1;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.inFlight -= 1;
    };
  }

  /**
   * Pauses every request until `until` (a 429's Retry-After). Throws {@link RateLimitedError}
   * right away when the pause is longer than the limiter accepts.
   */
  pauseUntil(until: Date, detail?: string): void {
    this.pausedUntil = Math.max(this.pausedUntil, until.getTime());
    const waitMs = this.pausedUntil - this.now();
    if (waitMs > this.options.maxWaitMs) {
      throw new RateLimitedError(this.options.service, new Date(this.pausedUntil), detail ? { detail } : {});
    }
  }

  private refill(now: number): void {
    const budget = this.options.budget;
    if (!budget) return;
    const rate = budget.requests / budget.windowMs;
    this.tokens = Math.min(budget.requests, this.tokens + (now - this.refilledAt) * rate);
    this.refilledAt = now;
  }

  private async awaitBudget(): Promise<void> {
    for (;;) {
      const now = this.now();
      this.refill(now);
      let waitMs = Math.max(0, this.pausedUntil - now);
      const budget = this.options.budget;
      if (waitMs === 0 && budget && this.tokens < 1) {
        waitMs = Math.ceil((1 - this.tokens) / (budget.requests / budget.windowMs));
      }
      if (waitMs === 0) {
        if (budget) this.tokens -= 1;
        return;
      }
      if (waitMs > this.options.maxWaitMs) {
        throw new RateLimitedError(this.options.service, new Date(now + waitMs), {
          detail: this.pausedUntil > now ? 'the server asked to pause' : 'client-side request budget spent',
        });
      }
      await this.wait(waitMs);
      this.sleptUntil = now + waitMs;
    }
  }
}
