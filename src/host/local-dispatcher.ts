import type { IntegrationConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import type { Flow } from '../domain/flows.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Store } from '../store/store.js';
import { FLOW_RUNNERS } from '../sync/flows.js';
import { runFlows } from '../sync/kernel/runner.js';
import { type FlowRunner } from '../sync/kernel/flow.js';
import { observeRequests } from '../runtime/http/counters.js';
import type { RunDispatcher, RunRequest, RunTicket } from '../sync/kernel/dispatch.js';
import type { SnowlineMetrics } from '../runtime/metrics.js';
import { ShuttingDownError } from './shutdown.js';

/** What a {@link LocalRunDispatcher} runs flows with. */
export interface LocalRunDispatcherOptions {
  readonly integrations: readonly IntegrationConfig[];
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The flow implementations; {@link FLOW_RUNNERS} when omitted. */
  readonly runners?: readonly FlowRunner[];
  /** Where runs and upstream requests are counted, when the process exposes metrics. */
  readonly metrics?: SnowlineMetrics;
}

/**
 * Runs flows in this process (`snowline serve` on one machine), one run of a flow at a time
 * per integration.
 *
 * A request for a flow that is already running is refused at once with a {@link ConflictError}
 * (HTTP 409) instead of waiting: a scheduled tick that finds its flow busy is simply skipped
 * (the running one reads the same sources), and a person who triggers a run sees why nothing
 * started rather than a request that hangs for the length of another run. The check takes every
 * requested flow or none, so a multi-flow request never half-starts.
 *
 * Dry runs take no lock: they read and plan only, so they may run beside a real run (their plan
 * then reflects the state at the moment each read happened).
 */
export class LocalRunDispatcher implements RunDispatcher {
  private readonly runners: readonly FlowRunner[];
  /** `integration␟flow` → what started the run holding it. */
  private readonly busy = new Map<string, string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing = false;

  constructor(private readonly options: LocalRunDispatcherOptions) {
    this.runners = options.runners ?? FLOW_RUNNERS;
  }

  /** The flows of an integration running now (real runs only), for readiness and the dashboard. */
  running(integrationId: string): Flow[] {
    return this.runners.map((r) => r.flow).filter((flow) => this.busy.has(lockKey(integrationId, flow)));
  }

  /**
   * Runs the request's flows and returns when they are done, with the summary and the plan.
   *
   * @throws NotFoundError for an unknown integration; InputError for a flow this build does not
   *   implement or the integration does not enable; ConflictError when a requested flow is
   *   already running; ShuttingDownError once {@link close} was called.
   */
  async dispatch(request: RunRequest): Promise<RunTicket> {
    if (this.closing) throw new ShuttingDownError();
    const integration = this.options.integrations.find((i) => i.id === request.integrationId);
    if (!integration)
      throw new NotFoundError(
        `no integration "${request.integrationId}"; known: ${this.options.integrations.map((i) => i.id).join(', ')}`,
      );
    const flows = this.flowsFor(integration, request.flows);
    const keys = request.dryRun ? [] : flows.map((flow) => lockKey(integration.id, flow));
    const held = keys.filter((key) => this.busy.has(key));
    if (held.length > 0) {
      const names = held.map((key) => `${key.split('\u241f')[1]} (started by ${this.busy.get(key)})`);
      throw new ConflictError(
        `integration ${integration.id} is already running ${names.join(', ')}; one run of a flow at a time, so wait for it to finish and try again`,
      );
    }
    for (const key of keys) this.busy.set(key, request.trigger);
    const run = this.execute(integration, flows, request);
    this.inFlight.add(run);
    try {
      return { kind: 'done', result: await run };
    } finally {
      this.inFlight.delete(run);
      for (const key of keys) this.busy.delete(key);
    }
  }

  /** Refuses new runs, then waits for the runs in flight to end (a flow ends at its next checkpoint). */
  async close(): Promise<void> {
    this.closing = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private flowsFor(integration: IntegrationConfig, requested: readonly Flow[] | undefined): Flow[] {
    if (requested === undefined || requested.length === 0) {
      const enabled = this.runners.filter((r) => r.enabled(integration)).map((r) => r.flow);
      if (enabled.length === 0)
        throw new InputError(`integration ${integration.id} enables no flow; configure one under flows`);
      return enabled;
    }
    for (const flow of requested) {
      const runner = this.runners.find((r) => r.flow === flow);
      if (!runner) throw new InputError(`flow ${flow} is not implemented in this build of Snowline`);
      if (!runner.enabled(integration))
        throw new InputError(
          `flow ${flow} is not enabled for integration ${integration.id}; configure and enable it under flows`,
        );
    }
    return [...new Set(requested)];
  }

  private async execute(integration: IntegrationConfig, flows: readonly Flow[], request: RunRequest) {
    const { store, clock, logger, metrics } = this.options;
    metrics?.runsInProgress.inc({ integration: integration.id });
    try {
      const run = () =>
        runFlows({
          integration,
          store,
          clock,
          logger: logger.child({ integration: integration.id, trigger: request.trigger }),
          runners: this.runners,
          only: flows,
          dryRun: request.dryRun,
          ...(request.verify ? { verify: true } : {}),
          trigger: request.trigger,
        });
      const result = metrics ? await observeRequests(metrics.requestObserver, run) : await run();
      if (metrics && !request.dryRun) {
        for (const [flow, summary] of Object.entries(result.summary.jobs))
          if (summary) metrics.recordFlow(integration.id, flow as Flow, summary, clock.now());
      }
      return result;
    } finally {
      metrics?.runsInProgress.dec({ integration: integration.id });
    }
  }
}

function lockKey(integrationId: string, flow: Flow): string {
  return `${integrationId}\u241f${flow}`;
}
