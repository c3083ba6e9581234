import { AsyncLocalStorage } from 'node:async_hooks';

/** Told of every upstream request counted while it is installed by {@link observeRequests}. */
export type RequestObserver = (service: string, method: string, status: number | 'error') => void;

// The flows build their RequestCounters deep inside each run; an async-local observer lets the
// runtime (Prometheus metrics) see every request of the runs it starts without threading a
// callback through every flow, and keeps two concurrent runs' observers apart.
const requestObservers = new AsyncLocalStorage<RequestObserver>();

/**
 * Runs `fn` with `observer` told of every request any {@link RequestCounters} counts within it
 * (including in the promises it starts).
 *
 * @example
 * await observeRequests((service, method, status) => metrics.request(service, status), () => runFlows(options));
 */
export function observeRequests<T>(observer: RequestObserver, fn: () => T): T {
  return requestObservers.run(observer, fn);
}

/**
 * Counts every upstream request by service, method and status, plus retries and errors: the
 * run summary's `requests` and `retries`, and the source of the Prometheus metrics.
 */
export class RequestCounters {
  private readonly byKey = new Map<string, number>();
  private readonly totals = new Map<string, number>();
  private retriesCount = 0;
  private errorsCount = 0;

  /** Records one request sent (and its status, or `error` when no response came). */
  request(service: string, method: string, status: number | 'error'): void {
    const key = `${service} ${method} ${status}`;
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
    this.totals.set(service, (this.totals.get(service) ?? 0) + 1);
    if (status === 'error' || status >= 500) this.errorsCount += 1;
    requestObservers.getStore()?.(service, method, status);
  }

  /** Records one retry (a request about to be sent again). */
  retry(): void {
    this.retriesCount += 1;
  }

  /** Requests sent to one service (all methods and outcomes). */
  total(service: string): number {
    return this.totals.get(service) ?? 0;
  }

  get retries(): number {
    return this.retriesCount;
  }

  get errors(): number {
    return this.errorsCount;
  }

  /** Every count as `{ "<service> <METHOD> <status>": n }`. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.byKey].sort(([a], [b]) => a.localeCompare(b)));
  }
}
