import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import {
  FLOWS,
  emptyFlowSummary,
  type Flow,
  type FlowSummary,
  type SyncSummary,
} from '../../domain/flows.js';
import type { Plan, PlanAction } from '../../domain/plan.js';
import { isRateLimitedError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { completeWork, deferWork } from '../../store/models/deferred-work.js';
import { finishRun, recordFlowSummary, startRun, type RunTrigger } from '../../store/models/runs.js';
import type { Store } from '../../store/store.js';
import { countedRequests, type FlowRunner } from './flow.js';

/** Options for {@link runFlows}. */
export interface RunFlowsOptions {
  readonly integration: IntegrationConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runners: readonly FlowRunner[];
  /** Flows to run; every enabled one when omitted. Always run in dependency order. */
  readonly only?: readonly Flow[];
  readonly dryRun?: boolean;
  /** A verification run: each flow reads back what it owns first and sends again what is gone. */
  readonly verify?: boolean;
  readonly trigger: RunTrigger;
  /** The part of a split flow to run (scale-out workers: `only` names that one flow); the whole flow when omitted. */
  readonly part?: string;
}

/** A run across flows: its summary and the plan of all its decisions. */
export interface RunResult {
  readonly summary: SyncSummary;
  readonly plan: Plan;
}

/** The deferred-work entry that says a flow must run again at `retryAt`. */
export function resumeRef(integrationId: string, flow: Flow) {
  return { integrationId, flow, partitionKey: '*', kind: 'run-resume' } as const;
}

/**
 * Persists a deferral (so a scheduler resumes the flow at `retryAt`, even after a restart) and
 * clears it once the flow completes. What the deferred run already did is in the entity state
 * and the ledger: the next run sends only what is still different, so nothing is lost or repeated.
 */
async function recordDeferral(
  options: RunFlowsOptions,
  flow: Flow,
  runId: string,
  result: FlowSummary,
): Promise<void> {
  const ref = resumeRef(options.integration.id, flow);
  if (result.outcome === 'deferred' && result.retryAt) {
    await deferWork(options.store.db, options.clock, ref, new Date(result.retryAt), {
      runId,
      deferredAt: options.clock.now().toISOString(),
    });
  } else if (result.outcome === 'ok') {
    await completeWork(options.store.db, ref);
  }
}

/**
 * Runs flows one after another in dependency order as one recorded run. A flow deferred by a
 * rate limit ends `deferred` with its `retryAt` and the next flows still run; a flow that fails
 * is recorded `failed` with its error and does not stop the others (their inputs are their own).
 */
export async function runFlows(options: RunFlowsOptions): Promise<RunResult> {
  const { store, clock, logger, integration } = options;
  const dryRun = options.dryRun ?? false;
  const runId = await startRun(store.db, clock, {
    integrationId: integration.id,
    trigger: options.trigger,
    dryRun,
  });
  const ordered = inDependencyOrder(
    options.runners.filter((r) => (options.only ? options.only.includes(r.flow) : r.enabled(integration))),
  );
  const summary: SyncSummary = { runId, jobs: {} };
  const actions: PlanAction[] = [];
  for (const runner of ordered) {
    const started = performance.now();
    const counters = new RequestCounters();
    let result: FlowSummary;
    try {
      const outcome = await runner.run({
        integration,
        store,
        clock,
        logger: logger.child({ flow: runner.flow, runId }),
        runId,
        dryRun,
        counters,
        ...(options.verify ? { verify: true } : {}),
        ...(options.part ? { part: options.part } : {}),
      });
      result = outcome.summary;
      // A loop, not push(...plan): a large estate's plan has more actions than a call has arguments.
      for (const action of outcome.plan) actions.push(action);
    } catch (error) {
      // What was sent and retried before the flow threw is counted all the same: a run that
      // failed after a storm of retries must say so (docs/reliability.md).
      result = {
        ...emptyFlowSummary(),
        ...countedRequests(counters),
        durationMs: performance.now() - started,
      };
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
    // Which part of a split flow this was: its runs list as parts, not as whole runs of the flow.
    if (options.part) result.part = options.part;
    summary.jobs[runner.flow] = result;
    await recordFlowSummary(store.db, { runId, integrationId: integration.id }, runner.flow, result);
    // A part of a split flow is resumed by its worker, which re-queues its job at retryAt; the
    // flow's deferral record is the whole flow's.
    if (!dryRun && !options.part) await recordDeferral(options, runner.flow, runId, result);
  }
  await finishRun(store.db, clock, runId, { summary });
  return { summary, plan: { integrationId: integration.id, createdAt: clock.now().toISOString(), actions } };
}

/**
 * Flows in an order where each runs after the flows it depends on (among those run), ties broken
 * by the canonical order of {@link FLOWS}. A dependency cycle is a programming error.
 */
export function inDependencyOrder<R extends Pick<FlowRunner, 'flow' | 'dependsOn'>>(
  runners: readonly R[],
): R[] {
  const pending = [...runners].sort((a, b) => FLOWS.indexOf(a.flow) - FLOWS.indexOf(b.flow));
  const selected = new Set(pending.map((r) => r.flow));
  const done = new Set<Flow>();
  const ordered: R[] = [];
  while (pending.length) {
    const next = pending.findIndex((r) => (r.dependsOn ?? []).every((d) => done.has(d) || !selected.has(d)));
    if (next === -1) throw new Error(`flow dependency cycle among ${pending.map((r) => r.flow).join(', ')}`);
    const [runner] = pending.splice(next, 1);
    ordered.push(runner!);
    done.add(runner!.flow);
  }
  return ordered;
}
