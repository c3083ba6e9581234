import type { IntegrationConfig } from '../../config/schema.js';
import { FLOWS, type Flow } from '../../domain/flows.js';
import { PLAN_PART, type FlowParts, type FlowRunner } from '../../sync/kernel/flow.js';
import type { FlowRunJob } from './boss.js';

/**
 * Work partitions of the scale-out runtime: integration × flow × partition key.
 *
 * A flow that can be split ({@link FlowRunner.parts}: ot-inventory and ot-vulnerabilities from the
 * sensors, one part per sensor; ot-vulnerabilities from Resource Graph, one part per sensor it
 * lists, found by the plan; cloud-tickets, one part per subscription) runs as its `plan` part,
 * then its parts side by side on any workers, then its `sweep` part once the last part finished
 * (`part_group`), which hands the chain on. Each part is its own partition
 * (`<integration>/ot-inventory/sensor:<name>`), with its own lease and fence. The other flows run
 * whole (sub-key `*`): they diff against the store for the whole integration at once.
 */
export interface WorkPartition {
  readonly integrationId: string;
  readonly flow: Flow;
  /** The flow's own sub-partition (sensor, subscription…); `*` is the whole flow. */
  readonly subKey: string;
}

/** The whole-flow sub-key: a flow that does not split, or one run whole (one process, a dry run). */
export const WHOLE_FLOW = '*';

/** The key one active job and one lease are held for: `<integration>/<flow>/<subKey>`. */
export function partitionKey(partition: WorkPartition): string {
  return `${partition.integrationId}/${partition.flow}/${partition.subKey}`;
}

/** The partition key of a job: its part's, or the whole flow's. */
export function jobPartitionKey(job: Pick<FlowRunJob, 'integrationId' | 'flow' | 'part'>): string {
  return partitionKey({ integrationId: job.integrationId, flow: job.flow, subKey: job.part ?? WHOLE_FLOW });
}

/**
 * The parts `flow` splits into for this integration (`found-by-plan` when its plan part finds
 * them, as ot-vulnerabilities from Resource Graph does); undefined when it runs whole.
 */
export function partsOf(
  runners: readonly FlowRunner[],
  integration: IntegrationConfig,
  flow: Flow,
): FlowParts | undefined {
  return runners.find((r) => r.flow === flow)?.parts?.(integration);
}

/**
 * The job that starts `flow` in a chain: its plan part when the flow splits, the whole flow
 * otherwise.
 */
export function firstJobOf(
  runners: readonly FlowRunner[],
  integration: IntegrationConfig,
  job: Omit<FlowRunJob, 'part' | 'group'>,
): FlowRunJob {
  return partsOf(runners, integration, job.flow) ? { ...job, part: PLAN_PART } : job;
}

/**
 * Flows whose input is another flow's output: they run after it, never beside it. ticket-sync
 * follows cloud-tickets: it acts on the tickets cloud-tickets opened, and both write the same
 * governance assignments, so they must not run at once.
 */
const DEPENDS_ON: Partial<Record<Flow, Flow>> = {
  'ot-vulnerabilities': 'ot-inventory',
  // ot-alerts links the CIs ot-inventory writes.
  'ot-alerts': 'ot-inventory',
  'ticket-sync': 'cloud-tickets',
};

/**
 * Splits the flows of a run into chains that may run at the same time on different workers:
 * a flow joins the chain of the flow it depends on (ot-vulnerabilities after ot-inventory), any
 * other flow starts its own. Each chain is in dependency order.
 *
 * @example
 * flowChains(['cloud-tickets', 'ot-inventory', 'ot-vulnerabilities', 'ticket-sync'])
 * // [['ot-inventory', 'ot-vulnerabilities'], ['cloud-tickets', 'ticket-sync']]
 */
export function flowChains(flows: readonly Flow[]): Flow[][] {
  const ordered = FLOWS.filter((f) => flows.includes(f));
  const chains: Flow[][] = [];
  for (const flow of ordered) {
    const dependency = DEPENDS_ON[flow];
    const chain = dependency ? chains.find((c) => c.includes(dependency)) : undefined;
    if (chain) chain.push(flow);
    else chains.push([flow]);
  }
  return chains;
}
