import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Flow, FlowSummary } from '../domain/flows.js';
import type { RequestObserver } from './http/counters.js';

/** Every metric name starts with this. */
export const METRIC_PREFIX = 'snowline_';

/** The summary counters that are records written, as the `kind` label of `snowline_records_written_total`. */
export const WRITTEN_KINDS = ['created', 'updated', 'retired', 'resolved', 'deleted'] as const;

/** Upper bounds (seconds) of the webhook latency buckets: a webhook is answered in milliseconds. */
const WEBHOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Snowline's Prometheus metrics, in a registry of their own (so several servers in one process,
 * as in tests, never share counts). `snowline serve` exposes {@link SnowlineMetrics.render} at
 * `/metrics`; the run dispatcher feeds runs in, the flows' request counters feed requests in
 * (through {@link SnowlineMetrics.requestObserver}), and the webhook route observes its latency.
 *
 * @example
 * const metrics = new SnowlineMetrics();
 * metrics.recordFlow('plant-a', 'ot-inventory', summary, new Date());
 * const text = await metrics.render();
 */
export class SnowlineMetrics {
  readonly registry = new Registry();
  /** `snowline_runs_total{integration, flow, outcome}`: flow runs that ended (dry runs excluded). */
  readonly runs: Counter<'integration' | 'flow' | 'outcome'>;
  /** `snowline_records_written_total{integration, flow, kind}`: records created, updated, retired, resolved, deleted. */
  readonly recordsWritten: Counter<'integration' | 'flow' | 'kind'>;
  /** `snowline_upstream_requests_total{service, status}`: every request sent to ServiceNow or Microsoft. */
  readonly upstreamRequests: Counter<'service' | 'status'>;
  /** `snowline_upstream_errors_total{service, status}`: requests with no response (`error`) or a 5xx. */
  readonly upstreamErrors: Counter<'service' | 'status'>;
  /** `snowline_rate_limit_deferrals_total{integration, flow}`: flow runs deferred by a rate limit. */
  readonly rateLimitDeferrals: Counter<'integration' | 'flow'>;
  /** `snowline_last_successful_run_timestamp_seconds{integration, flow}`: end of the last run that ended ok. */
  readonly lastSuccessfulRun: Gauge<'integration' | 'flow'>;
  /** `snowline_runs_in_progress{integration}`: runs executing in this process now. */
  readonly runsInProgress: Gauge<'integration'>;
  /**
   * `snowline_webhook_latency_seconds{outcome}`: time from a webhook request's arrival to its
   * answer. The webhook route observes into it; `outcome` is its own short word (e.g. `applied`,
   * `ignored`, `rejected`).
   */
  readonly webhookLatency: Histogram<'outcome'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.runs = new Counter({
      name: `${METRIC_PREFIX}runs_total`,
      help: 'Flow runs that ended, by integration, flow and outcome (ok, deferred, failed); dry runs are not counted.',
      labelNames: ['integration', 'flow', 'outcome'],
      registers,
    });
    this.recordsWritten = new Counter({
      name: `${METRIC_PREFIX}records_written_total`,
      help: 'Records written by the flows, by kind (created, updated, retired, resolved, deleted).',
      labelNames: ['integration', 'flow', 'kind'],
      registers,
    });
    this.upstreamRequests = new Counter({
      name: `${METRIC_PREFIX}upstream_requests_total`,
      help: 'Requests sent to ServiceNow and Microsoft, by service and HTTP status (error when no response came).',
      labelNames: ['service', 'status'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: `${METRIC_PREFIX}upstream_errors_total`,
      help: 'Upstream requests that got no response or a 5xx, by service and status.',
      labelNames: ['service', 'status'],
      registers,
    });
    this.rateLimitDeferrals = new Counter({
      name: `${METRIC_PREFIX}rate_limit_deferrals_total`,
      help: 'Flow runs deferred by a rate limit (they resume at their retryAt).',
      labelNames: ['integration', 'flow'],
      registers,
    });
    this.lastSuccessfulRun = new Gauge({
      name: `${METRIC_PREFIX}last_successful_run_timestamp_seconds`,
      help: 'Unix time at which the last flow run that ended ok finished, by integration and flow.',
      labelNames: ['integration', 'flow'],
      registers,
    });
    this.runsInProgress = new Gauge({
      name: `${METRIC_PREFIX}runs_in_progress`,
      help: 'Runs executing in this process now, by integration.',
      labelNames: ['integration'],
      registers,
    });
    this.webhookLatency = new Histogram({
      name: `${METRIC_PREFIX}webhook_latency_seconds`,
      help: 'Time from the arrival of a ServiceNow webhook to its answer, by outcome.',
      labelNames: ['outcome'],
      buckets: WEBHOOK_BUCKETS,
      registers,
    });
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** Counts one upstream request (the same outcome rule as the run summaries' `errors`). */
  readonly requestObserver: RequestObserver = (service, _method, status) => {
    const labels = { service, status: String(status) };
    this.upstreamRequests.inc(labels);
    if (status === 'error' || status >= 500) this.upstreamErrors.inc(labels);
  };

  /** Records how one flow run of a real (not dry) run ended, at `finishedAt`. */
  recordFlow(integration: string, flow: Flow, summary: FlowSummary, finishedAt: Date): void {
    this.runs.inc({ integration, flow, outcome: summary.outcome });
    for (const kind of WRITTEN_KINDS) {
      if (summary[kind] > 0) this.recordsWritten.inc({ integration, flow, kind }, summary[kind]);
    }
    if (summary.outcome === 'deferred') this.rateLimitDeferrals.inc({ integration, flow });
    if (summary.outcome === 'ok')
      this.lastSuccessfulRun.set({ integration, flow }, finishedAt.getTime() / 1000);
  }

  /** The exposition text for `/metrics`. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
