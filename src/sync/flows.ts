import { withFlowConnections } from './kernel/connections.js';
import { otInventoryFlow } from './ot-inventory/flow.js';
import { runOtVulnerabilities } from './ot-vulnerabilities/flow.js';
import { otVulnerabilitiesSource } from './ot-vulnerabilities/sources.js';
import { cloudTicketsRunner } from './cloud-tickets/runner.js';
import { ticketSyncFlow } from './ticket-sync/flow.js';
import type { FlowRunner } from './kernel/flow.js';

/**
 * Flow ot-vulnerabilities as the runner runs it: the CVEs of the Defender source ot-inventory
 * reads (console or sensors), written to Vulnerability Response on the CIs ot-inventory wrote.
 * Its ServiceNow client and Defender clients are built for the run and closed after it.
 */
export const otVulnerabilitiesRunner: FlowRunner = {
  flow: 'ot-vulnerabilities',
  enabled: (integration) => integration.flows.otVulnerabilities?.enabled === true,
  async run(context) {
    const config = context.integration.flows.otVulnerabilities;
    if (!config) throw new Error('flows.otVulnerabilities is not configured for this integration');
    return withFlowConnections(context, ({ counters, servicenow, defender }) =>
      runOtVulnerabilities({
        integrationId: context.integration.id,
        config,
        // A configuration the source can not serve fails here, before any request is sent.
        source: otVulnerabilitiesSource(context.integration, defender),
        servicenow,
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

/** The flows this build implements, in dependency order; `snowline sync` and the demo run these. */
export const FLOW_RUNNERS: readonly FlowRunner[] = [
  otInventoryFlow,
  otVulnerabilitiesRunner,
  cloudTicketsRunner,
  ticketSyncFlow,
];
