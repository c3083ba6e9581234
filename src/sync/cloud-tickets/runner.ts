import { RequestCounters } from '../../runtime/counters.js';
import { connectServiceNow } from '../../servicenow/index.js';
import { createDefenderSources } from '../../sources/index.js';
import type { FlowRunner } from '../runner.js';
import { ServiceNowDirectory } from './directory.js';
import { runCloudTickets } from './flow.js';

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
    const counters = new RequestCounters();
    const servicenow = connectServiceNow(context.integration.servicenow, {
      clock: context.clock,
      counters,
      logger: context.logger,
    });
    const defender = createDefenderSources(context.integration.defender, {
      clock: context.clock,
      counters,
      logger: context.logger,
    });
    const directoryKey = `${context.integration.id}|${config.directoryCacheMinutes}`;
    let directory = directories.get(directoryKey);
    if (!directory) {
      directory = new ServiceNowDirectory(context.clock, config.directoryCacheMinutes * 60_000);
      directories.set(directoryKey, directory);
    }
    try {
      return await runCloudTickets({
        integrationId: context.integration.id,
        config,
        subscriptions: context.integration.defender.subscriptions,
        arm: defender.arm,
        resourceGraph: defender.resourceGraph,
        servicenow: servicenow.client,
        store: context.store,
        clock: context.clock,
        logger: context.logger,
        counters,
        runId: context.runId,
        dryRun: context.dryRun,
        directory,
      });
    } finally {
      await Promise.all([servicenow.close(), defender.close()]);
    }
  },
};
