/**
 * Retry decisions, separate from the retry loop (as in Azure's core-rest-pipeline): when to
 * retry, and how long to wait. The loop lives in {@link ./http/resilient-client.ts}.
 */

/** Bounds of the exponential backoff. */
export interface BackoffOptions {
  /** First ceiling, doubled each attempt. */
  readonly baseMs: number;
  /** Largest ceiling. */
  readonly maxMs: number;
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
}

/** Defaults: up to 5 attempts, waits drawn under 0.25 s, 0.5 s, 1 s, 2 s (capped at 10 s). */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 10_000, maxAttempts: 5 };

/**
 * Full-jitter exponential backoff: a wait drawn uniformly from [0, min(maxMs, baseMs × 2^attempt)).
 * Jitter spreads the retries of many clients hit by the same outage.
 *
 * @param attempt 0 for the wait after the first failure.
 * @example
 * await sleep(backoffDelay(attempt, DEFAULT_BACKOFF));
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** Statuses worth another try: timeouts, rate limits and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return (
    status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504
  );
}

const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** The network error code of an error or its causes (undici wraps the socket error). */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (RETRYABLE_NETWORK_CODES.has(code) || code.startsWith('UND_ERR') || code.startsWith('E'))
    )
      return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True for a reset, refused connection or timeout: the request may be sent again. */
export function isRetryableNetworkError(error: unknown): boolean {
  const code = networkErrorCode(error);
  return code !== undefined && RETRYABLE_NETWORK_CODES.has(code);
}

/** True when the request certainly never reached the server, so even a create may be resent. */
export function neverReachedServer(error: unknown): boolean {
  const code = networkErrorCode(error);
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EAI_AGAIN';
}

/** Reads a header case-insensitively from a plain header record. */
export function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === lower) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/**
 * How long the server asks us to wait, in ms, from `Retry-After` (seconds or an HTTP date),
 * ARM's `x-ms-retry-after-ms`, or ServiceNow's `X-RateLimit-Reset` (epoch seconds) on a 429.
 * Undefined when the response names no wait.
 */
export function serverRequestedWaitMs(
  status: number,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  now: Date,
): number | undefined {
  const retryAfterMs = header(headers, 'x-ms-retry-after-ms') ?? header(headers, 'retry-after-ms');
  if (retryAfterMs !== undefined && /^\d+$/.test(retryAfterMs.trim())) return Number(retryAfterMs);
  const retryAfter = header(headers, 'retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now.getTime());
  }
  if (status === 429) {
    const reset = header(headers, 'x-ratelimit-reset')?.trim();
    if (reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now.getTime());
  }
  return undefined;
}
