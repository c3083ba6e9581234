import { otInventoryFlow } from './ot-inventory/flow.js';
import { otVulnerabilitiesFlow } from './ot-vulnerabilities/flow.js';
import { cloudTicketsFlow } from './cloud-tickets/flow.js';
import { ticketSyncFlow } from './ticket-sync/flow.js';
import { otAlertsFlow } from './ot-alerts/flow.js';
import type { FlowRunner } from './kernel/flow.js';

/** The flows this build implements, in dependency order; `snowline sync` and the demo run these. */
export const FLOW_RUNNERS: readonly FlowRunner[] = [
  otInventoryFlow,
  otVulnerabilitiesFlow,
  cloudTicketsFlow,
  ticketSyncFlow,
  otAlertsFlow,
];
