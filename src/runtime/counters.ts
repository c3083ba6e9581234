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
