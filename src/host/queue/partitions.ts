import { FLOWS, type Flow } from '../../domain/flows.js';

/**
 * Work partitions of the scale-out runtime: integration × flow × partition key.
 *
 * Today every flow runs as one partition (its sub-key is `*`): the flows read their Defender
 * source and diff against the store for the whole integration at once (ot-inventory's
 * retirement, ot-vulnerabilities' closing of unreported CVEs, cloud-tickets' grouping across
 * subscriptions), so none of them can yet run for one sensor or one subscription alone without
 * retiring or closing what the other partitions hold. A grouped ticket's key therefore always
 * falls in one partition (there is one per flow). When a flow learns to run a sub-partition, it
 * gets its own keys here and nothing else changes: the queue policy, the lease and the fence are
 * per key already.
 */
export interface WorkPartition {
  readonly integrationId: string;
  readonly flow: Flow;
  /** The flow's own sub-partition (sensor, subscription…); `*` is the whole flow. */
  readonly subKey: string;
}

/** The whole-flow sub-key: the only one the flows honour today. */
export const WHOLE_FLOW = '*';

/** The key one active job and one lease are held for: `<integration>/<flow>/<subKey>`. */
export function partitionKey(partition: WorkPartition): string {
  return `${partition.integrationId}/${partition.flow}/${partition.subKey}`;
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
