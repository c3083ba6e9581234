import { withFlowConnections } from '../connections.js';
import type { FlowRunner } from '../runner.js';
import { runTicketSync } from './flow.js';

/**
 * Flow ticket-sync as the runner runs it (one poll): the integration's ServiceNow client and
 * ARM client, built for the run and closed after it, with their requests counted for the summary.
 */
export const ticketSyncRunner: FlowRunner = {
  flow: 'ticket-sync',
  enabled: (integration) => integration.flows.ticketSync?.enabled === true,
  async run(context) {
    const config = context.integration.flows.ticketSync;
    if (!config)
      throw new Error(
        'flows.ticketSync is not configured for this integration (ticketSync: {} takes the defaults)',
      );
    return withFlowConnections(context, ({ counters, servicenow, defender }) =>
      runTicketSync({
        integrationId: context.integration.id,
        config,
        servicenow,
        arm: defender.arm,
        store: context.store,
        clock: context.clock,
        logger: context.logger,
        counters,
        runId: context.runId,
        dryRun: context.dryRun,
      }),
    );
  },
};
