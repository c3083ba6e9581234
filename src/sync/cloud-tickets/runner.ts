import { withFlowConnections } from '../kernel/connections.js';
import type { FlowRunner } from '../kernel/flow.js';
import { ServiceNowDirectory } from './directory.js';
import { runCloudTickets } from './flow.js';
import { closedStatesOf } from '../../domain/tickets/tables.js';

/** One directory per integration, so user and group look-ups are cached across runs (with a TTL). */
const directories = new Map<string, ServiceNowDirectory>();

/**
 * Flow cloud-tickets as the runner runs it: the integration's ServiceNow client and Defender
 * clients (ARM for assessments and governance, Resource Graph for owner tags), built for the
 * run and closed after it, with their requests counted for the summary.
 */
export const cloudTicketsRunner: FlowRunner = {
  flow: 'cloud-tickets',
  enabled: (integration) => integration.flows.cloudTickets?.enabled === true,
  async run(context) {
    const config = context.integration.flows.cloudTickets;
    if (!config) throw new Error('flows.cloudTickets is not configured for this integration');
    const directoryKey = `${context.integration.id}|${config.directoryCacheMinutes}`;
    const directory =
      directories.get(directoryKey) ??
      new ServiceNowDirectory(context.clock, config.directoryCacheMinutes * 60_000);
    directories.set(directoryKey, directory);
    return withFlowConnections(context, ({ counters, servicenow, defender }) =>
      runCloudTickets({
        integrationId: context.integration.id,
        config,
        subscriptions: context.integration.defender.subscriptions,
        closedStates: closedStatesOf(context.integration.flows.ticketSync?.closedStates),
        arm: defender.arm,
        resourceGraph: defender.resourceGraph,
        servicenow,
        store: context.store,
        clock: context.clock,
        logger: context.logger,
        counters,
        runId: context.runId,
        dryRun: context.dryRun,
        directory,
      }),
    );
  },
};
