import type { IntegrationConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import { FLOWS, emptyFlowSummary, type Flow, type FlowSummary, type SyncSummary } from '../domain/flows.js';
import { isRateLimitedError } from '../errors.js';
import type { Logger } from '../logging.js';
import { finishRun, recordFlowSummary, startRun, type RunTrigger } from '../store/models/runs.js';
import type { Store } from '../store/store.js';

/** What a flow gets to do one run. */
export interface FlowRunContext {
  readonly integration: IntegrationConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runId: string;
  readonly dryRun: boolean;
}

/** One flow's implementation: read → map → diff → plan → apply → record. */
export interface FlowRunner {
  readonly flow: Flow;
  run(context: FlowRunContext): Promise<FlowSummary>;
}

/** Options for {@link runFlows}. */
export interface RunFlowsOptions {
  readonly integration: IntegrationConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runners: readonly FlowRunner[];
  /** Flows to run; all the given runners when omitted. Always run in dependency order. */
  readonly only?: readonly Flow[];
  readonly dryRun?: boolean;
  readonly trigger: RunTrigger;
}

/**
 * Runs flows one after another in dependency order as one recorded run. A flow deferred by a
 * rate limit ends `deferred` with its `retryAt` and the next flows still run; a flow that fails
 * is recorded `failed` with its error and does not stop the others (their inputs are their own).
 */
export async function runFlows(options: RunFlowsOptions): Promise<SyncSummary> {
  const { store, clock, logger, integration } = options;
  const runId = await startRun(store.db, clock, {
    integrationId: integration.id,
    trigger: options.trigger,
    dryRun: options.dryRun ?? false,
  });
  const ordered = [...options.runners]
    .filter((r) => !options.only || options.only.includes(r.flow))
    .sort((a, b) => FLOWS.indexOf(a.flow) - FLOWS.indexOf(b.flow));
  const summary: SyncSummary = { runId, jobs: {} };
  for (const runner of ordered) {
    const started = performance.now();
    let result: FlowSummary;
    try {
      result = await runner.run({
        integration,
        store,
        clock,
        logger: logger.child({ flow: runner.flow, runId }),
        runId,
        dryRun: options.dryRun ?? false,
      });
    } catch (error) {
      result = { ...emptyFlowSummary(), durationMs: performance.now() - started };
      if (isRateLimitedError(error)) {
        result.outcome = 'deferred';
        result.retryAt = error.retryAt.toISOString();
        logger.warn({ flow: runner.flow, retryAt: result.retryAt }, 'flow deferred by a rate limit');
      } else {
        result.outcome = 'failed';
        result.errors = 1;
        result.error = error instanceof Error ? error.message : String(error);
        logger.error({ flow: runner.flow, err: error }, 'flow failed');
      }
    }
    summary.jobs[runner.flow] = result;
    await recordFlowSummary(store.db, { runId, integrationId: integration.id }, runner.flow, result);
  }
  await finishRun(store.db, clock, runId, { summary });
  return summary;
}

/**
 * The flows this build implements. Each flow issue registers its runner here; `snowline demo`
 * and (later) `snowline sync` run exactly these.
 */
export const FLOW_RUNNERS: readonly FlowRunner[] = [];
