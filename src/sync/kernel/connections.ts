import type { RequestCounters } from '../../runtime/http/counters.js';
import { connectServiceNow } from '../../servicenow/index.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { createDefenderSources, type DefenderSources } from '../../sources/index.js';
import type { FlowRunContext } from './flow.js';

/** The remote clients one flow run uses, counting their requests together for its summary. */
export interface FlowConnections {
  readonly counters: RequestCounters;
  readonly servicenow: ServiceNowClient;
  readonly defender: DefenderSources;
}

/**
 * Builds the integration's ServiceNow and Defender clients for one flow run and closes them after
 * it, whatever happens. Building them opens no connection: a run that fails on its configuration
 * first sends nothing. Their requests are counted in the run's `counters` (the runner's, so that
 * a flow that fails still reports them).
 */
export async function withFlowConnections<T>(
  context: FlowRunContext,
  run: (connections: FlowConnections) => Promise<T>,
): Promise<T> {
  const counters = context.counters;
  const deps = { clock: context.clock, counters, logger: context.logger };
  const servicenow = connectServiceNow(context.integration.servicenow, deps);
  const defender = createDefenderSources(context.integration.defender, deps);
  try {
    return await run({ counters, servicenow: servicenow.client, defender });
  } finally {
    await Promise.all([servicenow.close(), defender.close()]);
  }
}
