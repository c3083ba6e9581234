import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { RequestJournal } from '../common/journal.js';
import { Random } from '../dataset/random.js';

/** Which API a request belongs to (for counters and error shapes). */
export type ApiName = 'arm' | 'resourcegraph' | 'sensor' | 'console' | 'token' | 'control';

/** ARM error body: `{ error: { code, message, details? } }`. */
export function armError(
  c: Context,
  status: number,
  code: string,
  message: string,
  details?: unknown[],
): Response {
  return c.json({ error: { code, message, ...(details ? { details } : {}) } }, status as 400);
}

/**
 * Sensor / management console error. The docs only say failures carry "Failure – error"; the
 * one JSON error example (`/api/v2/alerts/pcap`) is `{ "error": "..." }`, so that is the shape.
 * UNVERIFIED: the real status and body for an invalid token.
 */
export function otError(c: Context, status: number, message: string): Response {
  return c.json({ error: message }, status as 400);
}

/**
 * Streams a JSON array built from `count` items, a batch at a time, so that a 100,000-device
 * sensor list never exists as one string.
 */
export function streamJsonArray(count: number, item: (i: number) => unknown, batch = 500): Response {
  return streamJson(jsonArrayChunks(count, item, batch));
}

export function* jsonArrayChunks(
  count: number,
  item: (i: number) => unknown,
  batch = 500,
): Generator<string> {
  yield '[';
  let first = true;
  for (let start = 0; start < count; start += batch) {
    const parts: string[] = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const value = item(i);
      if (value === undefined) continue;
      parts.push(JSON.stringify(value));
    }
    if (parts.length === 0) continue;
    yield (first ? '' : ',') + parts.join(',');
    first = false;
  }
  yield ']';
}

/** A JSON response whose body is produced chunk by chunk from a generator. */
export function streamJson(chunks: Iterator<string>): Response {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

// ---- ARM bearer tokens ----------------------------------------------------------------------

/**
 * Issues and checks the sandbox's ARM access tokens: JWT-shaped (header.payload.signature,
 * HMAC-SHA256 with a key made at start), so that clients which peek at `exp` work.
 */
export class TokenIssuer {
  private readonly key = randomBytes(32);

  constructor(
    private readonly tenantId: string,
    private readonly issuerUrl: () => string,
  ) {}

  /**
   * A token for `audience`: the resource of the `/.default` scope it was asked for (Microsoft
   * identity platform), by default the sandbox itself, which stands in for ARM.
   */
  issue(
    appId: string,
    lifetimeSeconds: number,
    audience: string = this.issuerUrl(),
  ): { token: string; expiresIn: number } {
    const iat = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(
      JSON.stringify({
        aud: audience,
        iss: `${this.issuerUrl()}/${this.tenantId}/`,
        tid: this.tenantId,
        appid: appId,
        iat,
        nbf: iat - 60,
        exp: iat + lifetimeSeconds,
      }),
    );
    const signature = this.sign(`${header}.${payload}`);
    return { token: `${header}.${payload}.${signature}`, expiresIn: lifetimeSeconds };
  }

  /** `null` when valid, else why not. Expiry uses the real clock, not the sandbox clock, so moving the clock never logs a client out. */
  check(token: string): string | null {
    const parts = token.split('.');
    if (parts.length !== 3) return 'The access token is malformed.';
    const [header, payload, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.sign(`${header}.${payload}`));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      return 'The access token signature is invalid.';
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
        exp?: number;
        tid?: string;
      };
      if (claims.tid !== this.tenantId) return 'The access token is from the wrong issuer.';
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
        return 'The access token has expired.';
    } catch {
      return 'The access token is malformed.';
    }
    return null;
  }

  /**
   * `null` when the (valid) token was issued for one of `resources` — the sandbox's own origin, or
   * the origin the client reached it under (a proxy test names it otherwise) — else why not. ARM refuses a token of another audience with 401
   * `InvalidAuthenticationTokenAudience` (UNVERIFIED: the code is what public ARM clients handle;
   * no Microsoft Learn page in the index lists it). This is what a client asking for the public
   * cloud's scope while talking to a sovereign cloud's ARM meets.
   */
  audienceProblem(token: string, resources: readonly string[]): string | null {
    try {
      const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
        aud?: string;
      };
      const trim = (u: string | undefined) => (u ?? '').replace(/\/+$/, '').toLowerCase();
      if (resources.some((r) => trim(r) === trim(claims.aud))) return null;
      return `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences ${resources.map((r) => `'${r}'`).join(',')}.`;
    } catch {
      return 'The access token is malformed.';
    }
  }

  private sign(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }
}

function b64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

// ---- counters and faults --------------------------------------------------------------------

/** Request counters (`GET /_sandbox/stats`). */
export class Stats {
  /** API requests as received, when switched on (`/_sandbox/journal`). */
  readonly journal = new RequestJournal();
  total = 0;
  writes = 0;
  byApi: Record<string, { total: number; writes: number; byMethod: Record<string, number> }> = {};
  byMethod: Record<string, number> = {};
  /**
   * Governance assignments written (PUT), counted by the sandbox itself: the benchmarks derive
   * their floors from this, never from the engine's own report.
   */
  assignmentsWritten = 0;
  /**
   * Writes being answered now, and the most at once since the last reset: how far a client
   * overlaps its writes. Sandbox instrumentation for tests and benchmarks only: no Defender API
   * reports it, and it changes no answer.
   */
  private writesInFlight = 0;
  mostWritesInFlight = 0;

  /** A write arrived (`true`) or was answered (`false`). */
  writing(started: boolean): void {
    this.writesInFlight += started ? 1 : -1;
    this.mostWritesInFlight = Math.max(this.mostWritesInFlight, this.writesInFlight);
  }

  record(api: ApiName, method: string, write: boolean, path = ''): void {
    this.total++;
    if (method === 'PUT' && /\/governanceassignments\/[^/]+$/i.test(path)) this.assignmentsWritten++;
    if (write) this.writes++;
    const a = (this.byApi[api] ??= { total: 0, writes: 0, byMethod: {} });
    a.total++;
    if (write) a.writes++;
    a.byMethod[method] = (a.byMethod[method] ?? 0) + 1;
    this.byMethod[method] = (this.byMethod[method] ?? 0) + 1;
  }

  reset(): void {
    this.total = 0;
    this.writes = 0;
    this.byApi = {};
    this.byMethod = {};
    this.assignmentsWritten = 0;
    this.mostWritesInFlight = this.writesInFlight;
  }

  toJSON(): unknown {
    return {
      total: this.total,
      writes: this.writes,
      byApi: this.byApi,
      byMethod: this.byMethod,
      assignmentsWritten: this.assignmentsWritten,
      mostWritesInFlight: this.mostWritesInFlight,
    };
  }
}

/** Fault injection settings (`POST /_sandbox/faults`). Rates are probabilities in [0, 1]. */
export interface FaultSettings {
  seed?: number;
  error500Rate?: number;
  error429Rate?: number;
  retryAfterSeconds?: number;
  /** Probability of destroying the connection without an answer. */
  resetRate?: number;
  latencyMs?: number;
  /** Share of requests delayed by `latencySpikeMs` (default 1000) on top of `latencyMs`. */
  latencySpikeRate?: number;
  latencySpikeMs?: number;
  /** Commit the N-th write (1-based, counted from when faults were set) and never answer it. */
  holdWrite?: number;
  /** Hold the N-th read (any request that writes nothing, token requests not counted) unanswered. */
  holdRead?: number;
}

/** How many faults of each kind were injected since the settings were last set. */
export interface InjectedFaults {
  reset: number;
  error500: number;
  error429: number;
  latencySpike: number;
}

const noneInjected = (): InjectedFaults => ({ reset: 0, error500: 0, error429: 0, latencySpike: 0 });

/** Decides faults deterministically from a seed, request by request. */
export class Faults {
  settings: FaultSettings = {};
  private rng = new Random(1);
  // Spikes draw from their own sequence, so adding them leaves the other faults' sequence unchanged.
  private spikeRng = new Random(2);
  private writesSeen = 0;
  private readsSeen = 0;
  private readonly held: Array<() => void> = [];
  private injected = noneInjected();

  set(settings: FaultSettings): void {
    this.settings = { ...settings };
    this.rng = new Random(settings.seed ?? 1);
    this.spikeRng = new Random((settings.seed ?? 1) + 1);
    this.writesSeen = 0;
    this.readsSeen = 0;
    this.injected = noneInjected();
  }

  /** The settings with the count of faults injected under them (`GET /_sandbox/faults`). */
  report(): FaultSettings & {
    injected: InjectedFaults;
    held: number;
    writesSeen: number;
    readsSeen: number;
  } {
    return {
      ...this.settings,
      injected: { ...this.injected },
      held: this.held.length,
      writesSeen: this.writesSeen,
      readsSeen: this.readsSeen,
    };
  }

  clear(): void {
    this.set({});
  }

  /** Decides what happens to the next request. */
  decide(
    isWrite: boolean,
    api?: ApiName,
  ): { kind: 'none' | 'reset' | '429' | '500' | 'hold' | 'holdRead'; latencyMs: number } {
    const s = this.settings;
    if (!isWrite && api !== 'token') {
      this.readsSeen++;
      if (s.holdRead !== undefined && this.readsSeen === s.holdRead)
        return { kind: 'holdRead', latencyMs: 0 };
    }
    let latencyMs = s.latencyMs ?? 0;
    if ((s.latencySpikeRate ?? 0) > 0 && this.spikeRng.next() < s.latencySpikeRate!) {
      latencyMs += s.latencySpikeMs ?? 1000;
      this.injected.latencySpike++;
    }
    if (isWrite) {
      this.writesSeen++;
      if (s.holdWrite !== undefined && this.writesSeen === s.holdWrite) return { kind: 'hold', latencyMs };
    }
    const roll = this.rng.next();
    const resetEdge = s.resetRate ?? 0;
    const tooManyEdge = resetEdge + (s.error429Rate ?? 0);
    let kind: 'none' | 'reset' | '429' | '500' = 'none';
    if (roll < resetEdge) kind = 'reset';
    else if (roll < tooManyEdge) kind = '429';
    else if (roll < tooManyEdge + (s.error500Rate ?? 0)) kind = '500';
    if (kind === 'reset') this.injected.reset++;
    else if (kind === '429') this.injected.error429++;
    else if (kind === '500') this.injected.error500++;
    return { kind, latencyMs };
  }

  /** A promise that settles only when the sandbox closes: the held write's answer never arrives. */
  hold(): Promise<void> {
    return new Promise((resolve) => this.held.push(resolve));
  }

  releaseAll(): void {
    for (const r of this.held.splice(0)) r();
  }
}

/** Classifies a request by path. */
export function apiOf(path: string, method: string): { api: ApiName; write: boolean } {
  const p = path.toLowerCase();
  if (p.startsWith('/_sandbox')) return { api: 'control', write: false };
  if (p.startsWith('/sensors/')) return { api: 'sensor', write: false };
  if (p.startsWith('/console/')) return { api: 'console', write: method !== 'GET' && method !== 'HEAD' };
  if (p.includes('/oauth2/') || p.includes('/.well-known/') || p.includes('/discovery/'))
    return { api: 'token', write: false };
  if (/\/providers\/microsoft\.resourcegraph\/resources/.test(p))
    return { api: 'resourcegraph', write: false };
  return { api: 'arm', write: method !== 'GET' && method !== 'HEAD' };
}

/**
 * Counts every request and applies injected faults to every API except `/_sandbox/`.
 * A held write runs its handler (the change is committed) and then never answers.
 */
export function countersAndFaults(stats: Stats, faults: Faults): MiddlewareHandler {
  return async (c, next) => {
    const { api, write } = apiOf(c.req.path, c.req.method);
    if (api === 'control') return next();
    stats.record(api, c.req.method, write, c.req.path);
    // Every write is counted in flight until it is answered (or held, or refused).
    if (write) stats.writing(true);
    try {
      await stats.journal.record(c.req.raw);
      const decision = faults.decide(write, api);
      if (decision.kind === 'holdRead') {
        // Held before it is processed, never answered: a client killed while it waits for a read.
        await faults.hold();
        (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming?.socket?.destroy();
        return new Response(null, { status: 499 });
      }
      if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
      if (decision.kind === 'reset') {
        const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming;
        incoming?.socket?.destroy();
        return new Response(null, { status: 499 });
      }
      if (decision.kind === '429' || decision.kind === '500') {
        const status = decision.kind === '429' ? 429 : 500;
        const retryAfter = String(faults.settings.retryAfterSeconds ?? 1);
        if (decision.kind === '429') c.header('Retry-After', retryAfter);
        if (api === 'sensor' || api === 'console') return otError(c, status, 'Failure – error');
        return decision.kind === '429'
          ? armError(c, 429, 'TooManyRequests', `Rate limit exceeded. Retry after ${retryAfter} seconds.`)
          : armError(
              c,
              500,
              'InternalServerError',
              'Encountered internal server error (injected by the sandbox).',
            );
      }
      await next();
      if (decision.kind === 'hold') {
        await faults.hold();
        const incoming = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming;
        incoming?.socket?.destroy();
      }
    } finally {
      if (write) stats.writing(false);
    }
  };
}
