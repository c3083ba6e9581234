import type { SnowlineConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import type { OwnerWish } from '../../domain/tickets/sync.js';
import type { Logger } from '../../logging.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../servicenow/index.js';
import { createDefenderSources, type DefenderSources } from '../../sources/index.js';
import type { Store } from '../../store/store.js';
import { handleAlertTicketDelivery, isAlertTicketDelivery } from '../ot-alerts/webhook.js';
import type { ServiceNowWebhookDelivery, WebhookHandler, WebhookReceiver } from './delivery.js';
import { TicketSyncEngine, ticketSnapshot } from './engine.js';
import { ticketSyncFlow } from './flow.js';

/** Long-lived clients of one integration, for deliveries. */
interface Connections {
  readonly servicenow: ServiceNowConnection;
  readonly defender: DefenderSources;
  readonly users: Map<string, { wish: OwnerWish; at: number }>;
  readonly counters: RequestCounters;
}

/** The webhook's dependencies built from a configuration, and what to close on shutdown. */
export interface TicketSyncWebhook {
  readonly deps: WebhookHandler;
  close(): Promise<void>;
}

/**
 * Connects the webhook route to flow ticket-sync: one receiver per integration whose
 * `flows.ticketSync` is enabled and has `webhook.secret`; each verified delivery goes through
 * the same engine as polling (ledger events carry no run id). Clients are built on the first
 * delivery of an integration and kept until {@link TicketSyncWebhook.close}.
 *
 * @example
 * const webhook = ticketSyncWebhook({ config, store, clock, logger });
 * app.route('/api/v1/webhooks/servicenow', servicenowWebhookRoutes(webhook.deps));
 */
export function ticketSyncWebhook(options: {
  readonly config: SnowlineConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
}): TicketSyncWebhook {
  const integrations = new Map(options.config.integrations.map((i) => [i.id, i]));
  const receivers: WebhookReceiver[] = [];
  for (const integration of options.config.integrations) {
    const flow = integration.flows.ticketSync;
    if (flow?.enabled && flow.webhook.secret)
      receivers.push({ integrationId: integration.id, secret: flow.webhook.secret });
  }
  const connections = new Map<string, Connections>();
  const connect = (id: string): Connections => {
    const existing = connections.get(id);
    if (existing) return existing;
    const integration = integrations.get(id)!;
    const counters = new RequestCounters();
    const deps = { clock: options.clock, counters, logger: options.logger };
    const made: Connections = {
      counters,
      servicenow: connectServiceNow(integration.servicenow, deps),
      defender: createDefenderSources(integration.defender, deps),
      users: new Map(),
    };
    connections.set(id, made);
    return made;
  };
  return {
    deps: {
      receivers,
      clock: options.clock,
      logger: options.logger,
      async handle(integrationId: string, delivery: ServiceNowWebhookDelivery): Promise<string> {
        const integration = integrations.get(integrationId)!;
        const { servicenow, defender, users, counters } = connect(integrationId);
        // Deliveries are routed by correlation prefix: ot-alerts' tickets (`oa:`) close alerts.
        if (isAlertTicketDelivery(integrationId, delivery))
          return handleAlertTicketDelivery(
            {
              integration,
              store: options.store,
              clock: options.clock,
              logger: options.logger,
              counters,
              servicenow: servicenow.client,
              defender,
            },
            delivery,
          );
        const context = ticketSyncFlow.context({
          integrationId,
          config: ticketSyncFlow.configOf(integration),
          store: options.store,
          clock: options.clock,
          logger: options.logger.child({ flow: 'ticket-sync', via: 'webhook' }),
          counters,
          runId: null,
          dryRun: false,
        });
        const engine = new TicketSyncEngine(
          context,
          { servicenow: servicenow.client, arm: defender.arm },
          undefined,
          { userCache: users },
        );
        const ticket = ticketSnapshot(delivery.table, {
          ...delivery.record,
          sys_id: delivery.sys_id,
          sys_mod_count: delivery.sys_mod_count,
          sys_updated_on: delivery.sys_updated_on,
        });
        try {
          return await engine.sync(ticket);
        } finally {
          // Answered only once recorded: a delivery acknowledged is a delivery the store holds.
          await context.recorder.flush();
        }
      },
    },
    async close() {
      const all = [...connections.values()];
      connections.clear();
      await Promise.all(all.flatMap((c) => [c.servicenow.close(), c.defender.close()]));
    },
  };
}
