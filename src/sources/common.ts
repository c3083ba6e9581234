import type { z } from 'zod';
import type { Clock } from '../domain/clock.js';
import { InputError, UpstreamError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { RequestCounters } from '../runtime/http/counters.js';
import { isCertificateRefusal, ResilientHttpClient } from '../runtime/http/resilient-client.js';
import type { HttpResponse, HttpTransport } from '../runtime/http/transport.js';
import { RequestLimiter } from '../runtime/http/limiter.js';
import type { BackoffOptions } from '../runtime/http/retry.js';

/** A record a source returned that could not be understood: reported and skipped, never fatal. */
export interface RecordProblem {
  /** Where it came from, e.g. `sensor plant-a /api/v1/devices` or `arm assessments`. */
  readonly source: string;
  /** Position of the record in its page. */
  readonly index: number;
  /** The record's own id, when it had a readable one. */
  readonly key?: string;
  readonly error: InputError;
  /**
   * Set when a whole source was not read, not one record: `refused` when it refused Snowline
   * (its certificate not trusted or not the pinned one, or Snowline's credentials), which no
   * retry mends and the run must fail on; `unavailable` for anything else (down, timing out).
   */
  readonly unread?: 'refused' | 'unavailable';
}

/**
 * The error a run ends with, after the rest of its work, when sources refused Snowline (see
 * {@link RecordProblem.unread}): each named once with what to fix. A sensor refusing TLS or a
 * token is a configuration fault that hides its devices from every run until fixed, so it must
 * not end as `ok` with a warning no one reads.
 */
export function refusedSourcesError(problems: readonly RecordProblem[]): UpstreamError | undefined {
  const refused = new Map<string, RecordProblem>();
  for (const p of problems) {
    const key = p.key ?? p.source;
    // A sensor is read for devices, then connections: its first refusal says it.
    if (p.unread === 'refused' && !refused.has(key)) refused.set(key, p);
  }
  if (refused.size === 0) return undefined;
  const reasons = [...refused.values()].map((p) => p.error.message);
  return new UpstreamError(
    'sensor',
    undefined,
    `${refused.size} source${refused.size === 1 ? '' : 's'} refused Snowline; the rest of the run was done: ${reasons.join('; ')}`.slice(
      0,
      4000,
    ),
    { retryable: false },
  );
}

/**
 * Why a whole source could not be read, for {@link RecordProblem.unread}: `refused` when it
 * refused Snowline's trust or credentials (a configuration to fix), else `unavailable`.
 */
export function unreadBecause(error: UpstreamError): 'refused' | 'unavailable' {
  return isCertificateRefusal(error) || error.status === 401 || error.status === 403
    ? 'refused'
    : 'unavailable';
}

/**
 * One page read from a source: the records that parsed, and a problem entry for each that did
 * not. Sources stream pages so that memory does not grow with the estate.
 */
export interface SourcePage<T> {
  readonly items: T[];
  readonly problems: RecordProblem[];
}

/**
 * Parses the records of one page with a zod schema, one by one, so that a malformed record is
 * reported with its position and id instead of aborting the whole read.
 *
 * @example
 * const page = parseRecords(SensorDeviceSchema, body, 'sensor plant-a /api/v1/devices');
 */
export function parseRecords<S extends z.ZodType>(
  schema: S,
  records: readonly unknown[],
  source: string,
): SourcePage<z.output<S>> {
  const items: z.output<S>[] = [];
  const problems: RecordProblem[] = [];
  records.forEach((record, index) => {
    const parsed = schema.safeParse(record);
    if (parsed.success) {
      items.push(parsed.data);
      return;
    }
    const key = recordKey(record);
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.length ? issue.path.join('.') : '(record)'}: ${issue.message}`)
      .join('; ');
    problems.push({
      source,
      index,
      ...(key === undefined ? {} : { key }),
      error: new InputError(
        `${source}: record ${index}${key === undefined ? '' : ` (${key})`} was skipped: ${issues}`,
        { cause: parsed.error },
      ),
    });
  });
  return { items, problems };
}

/** The id of a raw record, if it has one worth quoting in a problem report. */
function recordKey(record: unknown): string | undefined {
  if (!record || typeof record !== 'object') return undefined;
  const r = record as Record<string, unknown>;
  for (const field of ['id', 'ID', 'u_id', 'name', 'cveId', 'u_cve_id']) {
    const value = r[field];
    if (typeof value === 'string' || typeof value === 'number') return String(value);
  }
  return undefined;
}

/** Limits of one remote service, shared by every request to it. */
export interface ServiceLimits {
  /** Requests in flight at once. */
  readonly maxInFlight: number;
  /** Longest server-requested wait accepted in-process; a longer one raises `RateLimitedError`. */
  readonly maxWaitMs: number;
  readonly backoff?: BackoffOptions;
}

/** Defaults for the Microsoft services: 4 in flight, waits up to 60 s are slept, longer ones defer. */
export const DEFAULT_SOURCE_LIMITS: ServiceLimits = { maxInFlight: 4, maxWaitMs: 60_000 };

/** What every source client needs from the runtime. */
export interface SourceDeps {
  readonly transport: HttpTransport;
  readonly clock: Clock;
  readonly counters: RequestCounters;
  readonly logger?: Logger;
  readonly limits?: Partial<ServiceLimits>;
  /** Replaces sleeping in tests (backoff waits only; the limiter keeps real time). */
  readonly wait?: (ms: number) => Promise<void>;
}

/** The retry loop and limiter of one service. */
export interface ServiceHttp {
  readonly http: ResilientHttpClient;
  readonly limiter: RequestLimiter;
}

/**
 * Builds the retry loop and limiter for one service (`arm`, `resourcegraph`, `sensor`,
 * `console`): one retry strategy for every Microsoft client, requests counted per service.
 */
export function createServiceHttp(service: string, deps: SourceDeps, trustSetting?: string): ServiceHttp {
  const limits = { ...DEFAULT_SOURCE_LIMITS, ...deps.limits };
  const limiter = new RequestLimiter({
    service,
    maxInFlight: limits.maxInFlight,
    maxWaitMs: limits.maxWaitMs,
    clock: deps.clock,
  });
  const http = new ResilientHttpClient({
    service,
    ...(trustSetting ? { trustSetting } : {}),
    transport: deps.transport,
    limiter,
    counters: deps.counters,
    clock: deps.clock,
    ...(limits.backoff ? { backoff: limits.backoff } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.wait ? { wait: deps.wait } : {}),
  });
  return { http, limiter };
}

/**
 * Joins a base URL that may carry a path (a sensor behind a reverse proxy, the sandbox's
 * `/sensors/<name>`) with an absolute API path, keeping the base path.
 */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Parses a JSON body, or raises an {@link UpstreamError} that says what answered instead. */
export function readJson(response: HttpResponse, service: string, what: string): unknown {
  const text = response.body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UpstreamError(
      service,
      response.status,
      `${service} answered ${what} with a body that is not JSON (${text.slice(0, 120).replace(/\s+/g, ' ')}…)`,
      { cause: error, retryable: false },
    );
  }
}

/** Splits an array into pages of `size` (for APIs that answer a whole list at once). */
export function* chunk<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}
