/**
 * Test-control state of the sandbox (`/_sandbox/*`): request counters, deterministic fault
 * injection, "hold write N", and ServiceNow-style rate-limit rules. None of this exists on a real
 * instance; it lets tests reproduce failures a real instance produces only by bad luck.
 */
import { z } from 'zod';
import { RequestJournal } from '../common/journal.js';
import { newSysId } from './instance.js';

/** The API families counted apart in the stats. */
export type ApiName = 'table' | 'ire' | 'batch' | 'aggregate' | 'import' | 'oauth' | 'other';

interface Counters {
  total: number;
  writes: number;
  byApi: Partial<Record<ApiName, Record<string, number>>>;
}

const emptyCounters = (): Counters => ({ total: 0, writes: 0, byApi: {} });

/**
 * What the instance received and made, counted by the sandbox itself: the benchmarks derive
 * their floors from these, never from the engine's own report of what it sent.
 */
interface Received {
  /** Items of committed IRE payloads. */
  ireItems: number;
  /** Records inserted per table, by any API (Table, Batch inner, IRE, business rules). */
  inserted: Record<string, number>;
}

const emptyReceived = (): Received => ({ ireItems: 0, inserted: {} });

/** Request counters: outer HTTP requests, and requests run inside a Batch call, reported apart. */
export class Stats {
  private outer = emptyCounters();
  private inner = emptyCounters();
  private received = emptyReceived();
  /** Outer API requests as received, when switched on (`/_sandbox/journal`). */
  readonly journal = new RequestJournal();

  count(api: ApiName, method: string, isWrite: boolean, viaBatch: boolean): void {
    const c = viaBatch ? this.inner : this.outer;
    c.total++;
    if (isWrite) c.writes++;
    const m = (c.byApi[api] ??= {});
    m[method] = (m[method] ?? 0) + 1;
  }

  /** Counts the items of a committed IRE payload. */
  ireItems(count: number): void {
    this.received.ireItems += count;
  }

  /** Counts a record inserted into `table`. */
  inserted(table: string): void {
    this.received.inserted[table] = (this.received.inserted[table] ?? 0) + 1;
  }

  snapshot(): Counters & { batchInner: Counters; received: Received } {
    return {
      ...structuredClone(this.outer),
      batchInner: structuredClone(this.inner),
      received: structuredClone(this.received),
    };
  }

  reset(): void {
    this.outer = emptyCounters();
    this.inner = emptyCounters();
    this.received = emptyReceived();
  }
}

/** Body of `POST /_sandbox/faults`. */
export const faultSchema = z.object({
  seed: z.number().int().optional(),
  error500Rate: z.number().min(0).max(1).optional(),
  error429Rate: z.number().min(0).max(1).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
  resetRate: z.number().min(0).max(1).optional(),
  latencyMs: z.number().int().min(0).max(120_000).optional(),
  /** Share of requests delayed by `latencySpikeMs` on top of `latencyMs` (a slow instance now and then). */
  latencySpikeRate: z.number().min(0).max(1).optional(),
  latencySpikeMs: z.number().int().min(0).max(120_000).optional(),
  holdWrite: z.number().int().min(1).optional(),
  /**
   * Read number N (a request that writes nothing, OAuth token requests not counted) is held
   * before it is processed and never answered (until the next `/faults`, `/reset` or close):
   * a client killed while it waits for a read.
   */
  holdRead: z.number().int().min(1).optional(),
  holdMs: z.number().int().min(0).optional(),
  /**
   * With `holdWrite`: answer write N with this status once it committed, instead of holding it
   * (a write the instance applied whose answer says it failed, as a Batch call can on a real one).
   */
  holdStatus: z.number().int().min(400).max(599).optional(),
  apis: z.array(z.string()).optional(),
});
/** A fault configuration (all fields optional; `{}` clears every fault). */
export type FaultConfig = z.infer<typeof faultSchema>;

/** mulberry32: a tiny seeded PRNG, so a fault sequence is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the fault layer decided for one request. */
export type FaultDecision =
  { kind: 'none' } | { kind: 'reset' } | { kind: '500' } | { kind: '429'; retryAfter: number };

/** How many faults of each kind the sandbox injected since faults were last set. */
export interface InjectedFaults {
  reset: number;
  error500: number;
  error429: number;
  latencySpike: number;
}

const noneInjected = (): InjectedFaults => ({ reset: 0, error500: 0, error429: 0, latencySpike: 0 });

/** Deterministic fault injection. */
export class Faults {
  private config: FaultConfig = {};
  private random = prng(1);
  // Spikes draw from their own sequence, so adding them leaves the other faults' sequence unchanged.
  private spikeRandom = prng(2);
  private writes = 0;
  private reads = 0;
  private held: Array<() => void> = [];
  private injected = noneInjected();

  configure(config: FaultConfig): void {
    this.releaseHeld();
    this.config = config;
    this.random = prng(config.seed ?? 1);
    this.spikeRandom = prng((config.seed ?? 1) + 1);
    this.writes = 0;
    this.reads = 0;
    this.injected = noneInjected();
  }

  current(): FaultConfig & { writesSeen: number; readsSeen: number; held: number; injected: InjectedFaults } {
    return {
      ...this.config,
      writesSeen: this.writes,
      readsSeen: this.reads,
      held: this.held.length,
      injected: { ...this.injected },
    };
  }

  /** The delay before answering this request: `latencyMs`, plus `latencySpikeMs` for a `latencySpikeRate` share. */
  latency(): number {
    const base = this.config.latencyMs ?? 0;
    const spikeRate = this.config.latencySpikeRate ?? 0;
    if (spikeRate > 0 && this.spikeRandom() < spikeRate) {
      this.injected.latencySpike++;
      return base + (this.config.latencySpikeMs ?? 1000);
    }
    return base;
  }

  /** Draws the same three numbers per request whatever the rates, so sequences are stable. */
  decide(api: ApiName): FaultDecision {
    if (this.config.apis && !this.config.apis.includes(api)) return { kind: 'none' };
    const r1 = this.random();
    const r2 = this.random();
    const r3 = this.random();
    if (r1 < (this.config.resetRate ?? 0)) {
      this.injected.reset++;
      return { kind: 'reset' };
    }
    if (r2 < (this.config.error500Rate ?? 0)) {
      this.injected.error500++;
      return { kind: '500' };
    }
    if (r3 < (this.config.error429Rate ?? 0)) {
      this.injected.error429++;
      return { kind: '429', retryAfter: this.config.retryAfterSeconds ?? 60 };
    }
    return { kind: 'none' };
  }

  /** Counts a write; true when this is the write to hold (committed, then not acknowledged). */
  isHeldWrite(): boolean {
    this.writes++;
    return this.config.holdWrite !== undefined && this.writes === this.config.holdWrite;
  }

  /** Counts a read; true when this is the read to hold (never answered). */
  isHeldRead(): boolean {
    this.reads++;
    return this.config.holdRead !== undefined && this.reads === this.config.holdRead;
  }

  /** The status that answers the held write in place of holding it (`holdStatus`), if any. */
  heldWriteStatus(): number | undefined {
    return this.config.holdStatus;
  }

  /** Waits `holdMs` (late ack) or until released (then the connection is dropped). Returns true when released. */
  hold(): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const release = (): void => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.held.push(release);
      if (this.config.holdMs !== undefined) {
        timer = setTimeout(() => {
          this.held = this.held.filter((h) => h !== release);
          resolve(false);
        }, this.config.holdMs);
      }
    });
  }

  releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) h();
  }

  reset(): void {
    this.configure({});
  }
}

/** Body of `POST /_sandbox/rate-limits`. */
export const rateLimitSchema = z.object({
  rules: z.array(
    z.object({
      name: z.string().min(1),
      limit: z.number().int().min(0),
      windowSeconds: z.number().int().min(1).default(3600),
      apis: z.array(z.string()).optional(),
      methods: z.array(z.string()).optional(),
      user: z.string().optional(),
    }),
  ),
});

interface Rule {
  sysId: string;
  name: string;
  limit: number;
  windowSeconds: number;
  apis?: string[] | undefined;
  methods?: string[] | undefined;
  user?: string | undefined;
}

/** The result of a rate-limit check: headers to add, and whether to refuse with 429. */
export interface RateDecision {
  readonly headers: Record<string, string>;
  readonly denied: boolean;
  readonly retryAfter: number;
  readonly limit: number;
}

const apiLabels: Record<string, string> = {
  table: 'Table API',
  ire: 'Identify Reconcile API',
  batch: 'Batch API',
  aggregate: 'Aggregate API',
  import: 'Import Set API',
};

/**
 * Rate-limit rules as `sys_rate_limit_rules` has them (per user, per window; the platform's
 * window is one hour, configurable here so tests run in seconds). Counting is exact (a real
 * instance commits counts every 30 s, so it may lag).
 */
export class RateLimits {
  private rules: Rule[] = [];
  private counts = new Map<string, number>();

  set(rules: z.infer<typeof rateLimitSchema>['rules']): Rule[] {
    this.rules = rules.map((r) => ({ ...r, sysId: newSysId() }));
    this.counts.clear();
    return this.rules;
  }

  list(): Rule[] {
    return this.rules;
  }

  check(api: ApiName, method: string, user: string, nowMs: number): RateDecision | undefined {
    const matching = this.rules.filter(
      (r) =>
        (!r.apis || r.apis.includes(api)) &&
        (!r.methods || r.methods.includes(method)) &&
        (!r.user || r.user === user),
    );
    if (matching.length === 0) return undefined;
    let chosen: RateDecision | undefined;
    for (const r of matching) {
      const window = Math.floor(nowMs / 1000 / r.windowSeconds);
      const resetAt = (window + 1) * r.windowSeconds;
      const key = `${r.sysId}|${user}|${window}`;
      const used = this.counts.get(key) ?? 0;
      const headers = {
        'X-RateLimit-Limit': String(r.limit),
        'X-RateLimit-Reset': String(resetAt),
        'X-RateLimit-Rule': r.sysId,
      };
      const retryAfter = Math.max(1, resetAt - Math.floor(nowMs / 1000));
      if (used >= r.limit) return { headers, denied: true, retryAfter, limit: r.limit };
      this.counts.set(key, used + 1);
      if (!chosen || r.limit < chosen.limit) chosen = { headers, denied: false, retryAfter, limit: r.limit };
    }
    return chosen;
  }

  static label(api: ApiName): string {
    return apiLabels[api] ?? 'REST API';
  }

  reset(): void {
    this.rules = [];
    this.counts.clear();
  }
}
