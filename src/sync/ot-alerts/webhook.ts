import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import {
  alertCorrelationPrefix,
  isAlertTicketDone,
  ALERT_TICKET_TABLES,
} from '../../domain/ot-alerts/alerts.js';
import type { Logger } from '../../logging.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { stringValue } from '../../servicenow/values.js';
import type { DefenderSources } from '../../sources/index.js';
import type { Store } from '../../store/store.js';
import type { ServiceNowWebhookDelivery } from '../ticket-sync/delivery.js';
import { otAlertsFlow, OtAlertsRun } from './flow.js';
import { otAlertsSource } from './sources.js';

/** What a delivery of an alert ticket needs: the integration, the store, and its long-lived clients. */
export interface AlertDeliveryContext {
  readonly integration: IntegrationConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: RequestCounters;
  readonly servicenow: ServiceNowClient;
  readonly defender: DefenderSources;
}

/** True when a delivered ticket is one ot-alerts opened (its correlation id carries `oa:`). */
export function isAlertTicketDelivery(integrationId: string, delivery: ServiceNowWebhookDelivery): boolean {
  return (stringValue(delivery.record.correlation_id) ?? '').startsWith(
    alertCorrelationPrefix(integrationId),
  );
}

/**
 * Handles a webhook delivery of an alert ticket (the ServiceNow webhook route sends deliveries
 * whose correlation id starts with `snowline:<integration>:oa:` here): when the ticket is Resolved,
 * Closed or Canceled, its alerts are closed in Defender at once, through the same code as the poll
 * (which re-reads the ticket and the alerts first, under the ticket's lock). Other deliveries
 * (work notes, Snowline's own resolve) change nothing: the poll notices Defender's side. Answers
 * a word for the response.
 */
export async function handleAlertTicketDelivery(
  context: AlertDeliveryContext,
  delivery: ServiceNowWebhookDelivery,
): Promise<string> {
  const { integration } = context;
  if (!otAlertsFlow.enabled(integration)) return 'notEnabled';
  const table = (ALERT_TICKET_TABLES as readonly string[]).includes(delivery.table)
    ? (delivery.table as (typeof ALERT_TICKET_TABLES)[number])
    : undefined;
  const state = stringValue(delivery.record.state);
  if (!table || state === undefined || !isAlertTicketDone(table, state)) return 'open';
  const flowContext = otAlertsFlow.context({
    integrationId: integration.id,
    config: otAlertsFlow.configOf(integration),
    store: context.store,
    clock: context.clock,
    logger: context.logger.child({ flow: 'ot-alerts', via: 'webhook' }),
    counters: context.counters,
    runId: null,
    dryRun: false,
  });
  const run = new OtAlertsRun(flowContext, {
    source: otAlertsSource(integration, context.defender),
    servicenow: context.servicenow,
    inventorySource: integration.flows.otInventory?.source,
  });
  try {
    return await run.followTicket(stringValue(delivery.record.correlation_id)!);
  } finally {
    // Answered only once recorded: a delivery acknowledged is a delivery the store holds.
    await flowContext.recorder.flush();
  }
}
