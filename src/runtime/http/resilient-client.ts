import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../../domain/clock.js';
import { UpstreamError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RequestCounters } from './counters.js';
import type { Limiter } from './limiter.js';
import {
  DEFAULT_BACKOFF,
  backoffDelay,
  isRetryableNetworkError,
  isRetryableStatus,
  networkErrorCode,
  neverReachedServer,
  serverRequestedWaitMs,
  type BackoffOptions,
} from './retry.js';
import type { HttpRequest, HttpResponse, HttpTransport } from './transport.js';
import { CertificatePinError } from './transport.js';

/** Options for {@link ResilientHttpClient}. */
export interface ResilientClientOptions {
  /** Name in counters, logs and errors: `servicenow`, `arm`, `sensor`… */
  readonly service: string;
  /**
   * The configuration key whose CA file verifies this service's certificate (e.g.
   * `defender.sensors[1].tls.caFile`): a refused certificate names it, so that the user fixes
   * the side that refused and not another.
   */
  readonly trustSetting?: string;
  readonly transport: HttpTransport;
  readonly limiter: Limiter;
  readonly counters: RequestCounters;
  readonly clock: Clock;
  readonly backoff?: BackoffOptions;
  /** Most in-process waits on rate-limit answers for one request before giving up. */
  readonly maxRateLimitWaits?: number;
  readonly logger?: Logger;
  readonly wait?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * The retry loop around a transport: bounded full-jitter retries on 5xx, resets and timeouts;
 * `Retry-After` honoured (a short one is waited out, a long one raises `RateLimitedError` so the
 * run defers); requests in flight bounded and counted. Non-2xx answers that are not retried are
 * returned, so that each API client can read its own error body.
 */
export class ResilientHttpClient {
  private readonly backoff: BackoffOptions;
  private readonly wait: (ms: number) => Promise<void>;

  constructor(private readonly options: ResilientClientOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.wait = options.wait ?? ((ms) => sleep(ms));
  }

  get service(): string {
    return this.options.service;
  }

  /** Sends with retries; resolves with the final response, whatever its status. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const { service, limiter, counters, clock, logger } = this.options;
    const idempotent = request.idempotent ?? IDEMPOTENT_METHODS.has(request.method.toUpperCase());
    let failures = 0;
    let rateLimitWaits = 0;
    for (;;) {
      const release = await limiter.acquire();
      let response: HttpResponse;
      try {
        response = await this.options.transport.send(request);
      } catch (error) {
        counters.request(service, request.method, 'error');
        const canResend = idempotent || neverReachedServer(error);
        if (isRetryableNetworkError(error) && canResend && failures + 1 < this.backoff.maxAttempts) {
          await this.retryAfter(
            backoffDelay(failures++, this.backoff, this.options.random),
            request,
            networkErrorCode(error),
          );
          continue;
        }
        throw new UpstreamError(
          service,
          undefined,
          `${service} could not be reached (${describeNetworkError(error, this.options.trustSetting)}) for ${request.method} ${safeUrl(request.url)}`,
          {
            cause: error,
            retryable: isRetryableNetworkError(error),
          },
        );
      } finally {
        release();
      }
      counters.request(service, request.method, response.status);

      // A 429 (or a 503 naming a wait) means the request was not processed: safe to resend.
      const requestedWait = serverRequestedWaitMs(response.status, response.headers, clock.now());
      if (response.status === 429 || (response.status === 503 && requestedWait !== undefined)) {
        const waitMs = requestedWait ?? backoffDelay(rateLimitWaits, this.backoff, this.options.random);
        limiter.pauseUntil(new Date(clock.now().getTime() + waitMs), `${response.status} from ${service}`);
        if (rateLimitWaits++ < (this.options.maxRateLimitWaits ?? 10)) {
          logger?.debug({ service, waitMs, status: response.status }, 'rate limited; waiting as asked');
          counters.retry();
          continue;
        }
        return response;
      }
      if (isRetryableStatus(response.status) && idempotent && failures + 1 < this.backoff.maxAttempts) {
        await this.retryAfter(
          backoffDelay(failures++, this.backoff, this.options.random),
          request,
          String(response.status),
        );
        continue;
      }
      return response;
    }
  }

  /** Attempts in all one request gets, the first included (the backoff's `maxAttempts`). */
  get maxAttempts(): number {
    return this.backoff.maxAttempts;
  }

  /**
   * Counts a retry and waits before it, for a caller that must do something between a failure and
   * the next attempt (a Batch call whose inserts are searched for before it is re-sent): the same
   * full-jitter backoff {@link send} uses after `failures` failures, and at least `minMs`.
   */
  async backoffBeforeRetry(
    failures: number,
    request: Pick<HttpRequest, 'method' | 'url'>,
    why: string | undefined,
    minMs = 0,
  ): Promise<void> {
    await this.retryAfter(
      Math.max(minMs, backoffDelay(failures, this.backoff, this.options.random)),
      request,
      why,
    );
  }

  private async retryAfter(
    ms: number,
    request: Pick<HttpRequest, 'method' | 'url'>,
    why: string | undefined,
  ): Promise<void> {
    this.options.counters.retry();
    this.options.logger?.debug(
      { service: this.options.service, method: request.method, why, waitMs: ms },
      'retrying',
    );
    await this.wait(ms);
  }
}

const TLS_TRUST_CODES = /CERT|SIGNATURE|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY/;

/** The code of a TLS verification failure in an error or its causes, if that is what it is. */
export function tlsTrustFailure(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_TRUST_CODES.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The pin refusal in an error or its causes, if that is what it is. */
function pinFailure(error: unknown): CertificatePinError | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof CertificatePinError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether a request failed on the server's certificate: not trusted, or not the pinned one. */
export function isCertificateRefusal(error: unknown): boolean {
  return pinFailure(error) !== undefined || tlsTrustFailure(error) !== undefined;
}

function describeNetworkError(error: unknown, trustSetting = 'tls.caFile'): string {
  const pin = pinFailure(error);
  if (pin) return pin.message;
  const tls = tlsTrustFailure(error);
  if (tls)
    return `its TLS certificate is not trusted (${tls}); if it is signed by a private CA, set ${trustSetting} to that CA's PEM file`;
  return networkErrorCode(error) ?? (error instanceof Error ? error.message : String(error));
}

/** A URL without its query string (which may hold a token or a value worth keeping out of logs). */
export function safeUrl(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : `${url.slice(0, at)}?…`;
}
