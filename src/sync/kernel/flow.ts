import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { emptyFlowSummary, type Flow, type FlowSummary } from '../../domain/flows.js';
import type { PlanAction } from '../../domain/plan.js';
import { closedStatesOf, type ClosedStates } from '../../domain/tickets/tables.js';
import { ConfigError, isRateLimitedError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import type { SensorScope } from '../../sources/defender-iot/resource-graph-iot.js';
import type { Store } from '../../store/store.js';
import { withFlowConnections, type FlowConnections } from './connections.js';
import { checkStore, verifyOwned, type DriftReport, type OwnedRecords } from './drift.js';
import { Recorder, type DecisionCounter } from './recorder.js';

/** The Defender services whose requests a summary counts as `requests.defender`. */
const DEFENDER_SERVICES = ['sensor', 'console', 'arm', 'resourcegraph'] as const;

/** What the runner gives a flow for one run (the same for every flow). */
export interface FlowRunContext {
  readonly integration: IntegrationConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runId: string;
  readonly dryRun: boolean;
  /**
   * Counts the requests and retries of this flow run. The runner owns it, so that a flow that
   * throws part-way still reports what it sent and retried in its failed summary.
   */
  readonly counters: RequestCounters;
  /**
   * A verification run (`snowline sync --verify`, `flows.<flow>.verify.schedule`): before the
   * body, every record the flow owns is read back and those gone are sent again ({@link verifyOwned}).
   */
  readonly verify?: boolean;
  /**
   * The part of a flow split across workers that this run is ({@link FlowSpec.parts}): its
   * {@link PLAN_PART}, one of its own parts, or its {@link SWEEP_PART}. The whole flow when omitted.
   */
  readonly part?: string;
}

/**
 * The first part of a split flow: what every part needs written first (ot-inventory: sites and
 * sensors). The drift checks and a verification's read-back run here, once, not in every part.
 */
export const PLAN_PART = 'plan';
/**
 * The last part of a split flow, after all its parts: what needs the whole picture (ot-inventory
 * retires devices no part reported).
 */
export const SWEEP_PART = 'sweep';

/**
 * What {@link FlowSpec.parts} returns for a flow that splits into parts its plan part finds
 * (the sensors Resource Graph lists): the plan names them with {@link FlowContext.splitInto}.
 */
export const PARTS_FOUND_BY_PLAN = 'found-by-plan';

/** The parts a flow splits into: named by the configuration, or found by its plan part. */
export type FlowParts = readonly string[] | typeof PARTS_FOUND_BY_PLAN;

/** The prefix of a part of a run split per sensor: `sensor:<name>`. */
export const SENSOR_PART = 'sensor:';

/**
 * The part of a run split per sensor that reads the devices of no sensor the source lists (a
 * device naming none, or a sensor gone from the list): with it, the parts read what a whole run
 * reads.
 */
export const OTHER_SENSORS_PART = 'other-sensors';

/**
 * Which devices a part of a run split per sensor reads from a source that lists its sensors
 * itself (Resource Graph): one sensor's, those of none of the sensors `listed` gives
 * ({@link OTHER_SENSORS_PART}), or every device (the whole flow, its plan, its sweep).
 */
export async function sensorScopeOfPart(
  part: string | undefined,
  listed: () => Promise<readonly string[]>,
): Promise<SensorScope | undefined> {
  if (part === OTHER_SENSORS_PART) return { otherThan: await listed() };
  const sensor = sensorOfPart(part);
  return sensor === undefined ? undefined : { sensor };
}

/** The parts of a flow run split per sensor: one per configured sensor. */
export function sensorParts(integration: IntegrationConfig): string[] {
  return integration.defender.sensors.map((s) => `${SENSOR_PART}${s.name}`);
}

/** The sensor a part of a run split per sensor reads alone; undefined for the whole flow, its plan and its sweep. */
export function sensorOfPart(part: string | undefined): string | undefined {
  return part?.startsWith(SENSOR_PART) ? part.slice(SENSOR_PART.length) : undefined;
}

/** What one flow run produced: its summary, and the decisions it kept (a dry run's plan). */
export interface FlowResult<S extends object = object> {
  readonly summary: FlowSummary & S;
  readonly plan: readonly PlanAction[];
}

/**
 * A flow as the runner, the scheduler and the dispatchers see it. {@link defineFlow} makes one;
 * tests may write one by hand.
 */
export interface FlowRunner {
  readonly flow: Flow;
  /** Flows whose output this one reads; they run first when both are run. */
  readonly dependsOn?: readonly Flow[];
  /** True when the integration's configuration enables this flow. */
  enabled(integration: IntegrationConfig): boolean;
  /**
   * The parts this flow splits into for several workers (between its {@link PLAN_PART} and its
   * {@link SWEEP_PART}); undefined when it runs whole.
   */
  parts?(integration: IntegrationConfig): FlowParts | undefined;
  run(context: FlowRunContext): Promise<FlowResult>;
}

/** Where a flow run happens and what it may touch: what {@link FlowDefinition.execute} takes. */
export interface FlowRunInput<C> {
  readonly integrationId: string;
  readonly config: C;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: RequestCounters;
  readonly runId: string | null;
  readonly dryRun: boolean;
  /** Per ticket table, the closed states in force; the registry's when omitted. */
  readonly closedStates?: ClosedStates;
  /** The part of a split flow this run is ({@link FlowRunContext.part}); the whole flow when omitted. */
  readonly part?: string;
}

/**
 * Everything a flow body uses besides its remote clients: who it runs for, its configuration
 * section, the store, the clock, the logger and the {@link Recorder} through which every decision
 * becomes plan, ledger and state.
 */
export interface FlowContext<C> extends Omit<FlowRunInput<C>, 'closedStates'> {
  readonly flow: Flow;
  readonly closedStates: ClosedStates;
  readonly recorder: Recorder;
  /**
   * In the plan part of a flow whose parts the plan finds ({@link PARTS_FOUND_BY_PLAN}): the
   * parts to run next. The summary carries them (`parts`) to whoever queues them.
   */
  splitInto(parts: readonly string[]): void;
}

/** How a flow is defined: its name, configuration section, dependencies, and body. */
export interface FlowSpec<C, D, S extends object> {
  readonly flow: Flow;
  /** Flows whose output this one reads (ot-vulnerabilities reads the CIs ot-inventory writes). */
  readonly dependsOn?: readonly Flow[];
  /** The flow's section of an integration's configuration; undefined when it is not configured. */
  config(integration: IntegrationConfig): (C & { readonly enabled?: boolean }) | undefined;
  /** The flow's own counters, at zero (the standard ones come from its decisions). */
  summary(): S;
  /** Which summary counter a decision counts toward; by its kind when omitted. */
  countAs?(action: PlanAction): DecisionCounter | undefined;
  /**
   * The parts the flow splits into when several workers run it (scale-out, docs/scale-out.md):
   * each part runs as its own job, after the {@link PLAN_PART} and before the {@link SWEEP_PART};
   * the body reads `context.part`. Undefined (or fewer than two) when it runs whole;
   * {@link PARTS_FOUND_BY_PLAN} when the plan part finds them.
   */
  parts?(config: C, integration: IntegrationConfig): FlowParts | undefined;
  /** What the body needs from the integration's clients (its source, its ServiceNow client…). */
  connect(connections: FlowConnections, context: FlowRunContext, config: C): D;
  /** The body: read → plan → write → record, every decision through `context.recorder`. */
  run(context: FlowContext<C>, deps: D, summary: S): Promise<void>;
  /**
   * What the flow owns on ServiceNow: the store check samples it at the start of every run, the
   * verification pass reads it back in full (src/sync/kernel/drift.ts).
   */
  readonly owns?: OwnedRecords;
  /**
   * The flow's own part of a verification run, after the ServiceNow read-back: what only it can
   * read back (cloud-tickets: its governance assignments in Defender). Returns what it checked
   * and found missing.
   */
  verify?(context: FlowContext<C>, deps: D): Promise<{ checked: number; missing: number }>;
}

/** How {@link FlowDefinition.execute} runs the body. */
export interface ExecuteOptions<C> {
  /** Keep the plan in a real run too (see {@link Recorder}). */
  readonly keepPlan?: boolean;
  /** Runs before the body, with its context; what it returns joins the summary (the drift checks). */
  readonly before?: (context: FlowContext<C>) => Promise<DriftReport>;
}

/** A defined flow: a {@link FlowRunner} for the runner, and {@link execute} for hand-built runs. */
export interface FlowDefinition<C, D, S extends object> extends FlowRunner {
  readonly dependsOn: readonly Flow[];
  /** The configuration section of `integration`, or a clear error when it is missing. */
  configOf(integration: IntegrationConfig): C;
  /**
   * Runs the body once with the given clients: tests (with fakes), and requests that are not a
   * scheduled run (a ticket created by hand keeps its plan with `keepPlan`).
   */
  execute(input: FlowRunInput<C>, deps: D, options?: ExecuteOptions<C>): Promise<FlowResult<S>>;
  /** The body's clients from the integration's connections (its source, its ServiceNow client…). */
  connect(connections: FlowConnections, context: FlowRunContext): D;
  /** The context of one run (its recorder included), for callers that drive the body themselves. */
  context(input: FlowRunInput<C>, options?: { readonly keepPlan?: boolean }): FlowContext<C>;
}

/**
 * Defines a flow on the one skeleton every flow shares. The kernel builds the run's clients and
 * closes them, makes the {@link Recorder}, runs the body, commits what it recorded (also when it
 * fails), turns a rate limit into a deferral, and completes the summary: standard counters from
 * the decisions, requests per side and retries from the counters, the duration.
 *
 * @example
 * export const ticketSyncFlow = defineFlow({
 *   flow: 'ticket-sync',
 *   dependsOn: ['cloud-tickets'],
 *   config: (integration) => integration.flows.ticketSync,
 *   summary: () => ({ unchanged: 0, tickets: 0 }),
 *   connect: ({ servicenow, defender }) => ({ servicenow, arm: defender.arm }),
 *   run: (context, deps, summary) => pollTickets(context, deps, summary),
 * });
 */
export function defineFlow<C, D, S extends object>(spec: FlowSpec<C, D, S>): FlowDefinition<C, D, S> {
  const context = (
    input: FlowRunInput<C>,
    options: { keepPlan?: boolean; onSplit?: (parts: readonly string[]) => void } = {},
  ): FlowContext<C> => ({
    flow: spec.flow,
    integrationId: input.integrationId,
    config: input.config,
    store: input.store,
    clock: input.clock,
    logger: input.logger,
    counters: input.counters,
    runId: input.runId,
    dryRun: input.dryRun,
    ...(input.part ? { part: input.part } : {}),
    closedStates: closedStatesOf(input.closedStates),
    recorder: new Recorder({
      flow: spec.flow,
      integrationId: input.integrationId,
      runId: input.runId,
      store: input.store,
      clock: input.clock,
      dryRun: input.dryRun,
      ...(options.keepPlan ? { keepPlan: true } : {}),
      ...(spec.countAs ? { countAs: (action: PlanAction) => spec.countAs!(action) } : {}),
    }),
    splitInto(parts) {
      if (input.part !== PLAN_PART || !options.onSplit)
        throw new Error(`flow ${spec.flow}: only a plan part names the parts of its run`);
      options.onSplit(parts);
    },
  });
  const configOf = (integration: IntegrationConfig): C => {
    const section = spec.config(integration);
    if (!section)
      throw new ConfigError([
        {
          path: `flows.${flowKey(spec.flow)}`,
          message: `flow ${spec.flow} is not configured for this integration`,
        },
      ]);
    return section;
  };
  const execute = async (
    input: FlowRunInput<C>,
    deps: D,
    options: ExecuteOptions<C> = {},
  ): Promise<FlowResult<S>> => {
    let parts: readonly string[] | undefined;
    const run = context(input, {
      ...options,
      onSplit: (found) => {
        parts = found;
      },
    });
    const summary = spec.summary();
    const started = performance.now();
    let deferred: { retryAt: string } | undefined;
    let drift: DriftReport = {};
    try {
      if (options.before) drift = await options.before(run);
      await spec.run(run, deps, summary);
    } catch (error) {
      if (!isRateLimitedError(error)) {
        // What the run wrote before it failed is recorded too; the run's own error is what is reported.
        await run.recorder
          .flush()
          .catch((flushError: unknown) =>
            run.logger.error({ err: flushError }, 'could not record what the failed run decided'),
          );
        throw error;
      }
      deferred = { retryAt: error.retryAt.toISOString() };
      run.logger.warn(
        { retryAt: deferred.retryAt, service: error.service },
        'rate limit reached; the rest of the run is deferred',
      );
    }
    // What was written before a deferral is recorded too: the next run sends only what is left.
    await run.recorder.flush();
    const result = {
      ...emptyFlowSummary(),
      ...drift,
      ...summary,
      ...run.recorder.decisionCounts(),
      ...countedRequests(input.counters),
      durationMs: performance.now() - started,
      ...(parts ? { parts } : {}),
      ...(deferred ? { outcome: 'deferred' as const, retryAt: deferred.retryAt } : {}),
    } as FlowSummary & S;
    return { summary: result, plan: run.recorder.plan };
  };
  return {
    flow: spec.flow,
    dependsOn: spec.dependsOn ?? [],
    enabled: (integration) => spec.config(integration)?.enabled === true,
    ...(spec.parts
      ? {
          parts: (integration: IntegrationConfig) => {
            const parts = spec.parts!(configOf(integration), integration);
            if (parts === PARTS_FOUND_BY_PLAN) return parts;
            return parts && parts.length >= 2 ? parts : undefined;
          },
        }
      : {}),
    configOf,
    context,
    execute,
    connect: (connections, runContext) =>
      spec.connect(connections, runContext, configOf(runContext.integration)),
    async run(runContext) {
      const config = configOf(runContext.integration);
      return withFlowConnections(runContext, (connections) => {
        const deps = spec.connect(connections, runContext, config);
        return execute(
          {
            integrationId: runContext.integration.id,
            config,
            store: runContext.store,
            clock: runContext.clock,
            logger: runContext.logger,
            counters: runContext.counters,
            runId: runContext.runId,
            dryRun: runContext.dryRun,
            closedStates: closedStatesOf(runContext.integration.flows.ticketSync?.closedStates),
            ...(runContext.part ? { part: runContext.part } : {}),
          },
          deps,
          // A split flow checks its store once, in its plan part, before any part writes.
          runContext.part && runContext.part !== PLAN_PART
            ? {}
            : { before: (run) => driftChecks(spec, run, deps, connections, runContext.verify === true) },
        );
      });
    },
  };
}

/**
 * The drift checks before a flow's body: the store check on every run, then on a verification run
 * the read-back of what the flow owns on ServiceNow and its own part (src/sync/kernel/drift.ts).
 */
async function driftChecks<C, D, S extends object>(
  spec: FlowSpec<C, D, S>,
  run: FlowContext<C>,
  deps: D,
  connections: FlowConnections,
  verify: boolean,
): Promise<DriftReport> {
  if (!spec.owns) return {};
  const context = run as FlowContext<unknown>;
  const report: DriftReport = { storeCheck: await checkStore(context, connections.servicenow, spec.owns) };
  if (!verify) return report;
  const servicenow = await verifyOwned(context, connections.servicenow, spec.owns);
  const own = spec.verify ? await spec.verify(run, deps) : { checked: 0, missing: 0 };
  return {
    ...report,
    verification: { checked: servicenow.checked + own.checked, missing: servicenow.missing + own.missing },
  };
}

/**
 * A summary's `requests` per side and `retries`, from the counters of a flow run: what a
 * successful run reports, and what a failed one reports too (runFlows reads the same counters).
 */
export function countedRequests(counters: RequestCounters): Pick<FlowSummary, 'requests' | 'retries'> {
  return {
    requests: {
      servicenow: counters.total('servicenow'),
      defender: DEFENDER_SERVICES.reduce((sum, service) => sum + counters.total(service), 0),
    },
    retries: counters.retries,
  };
}

/** `ot-inventory` → `otInventory`: the flow's key under `flows` in the configuration. */
export function flowKey(flow: Flow): string {
  return flow.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}
