import { z } from 'zod';
import type { Clock } from '../../domain/clock.js';
import type { Logger } from '../../logging.js';

/**
 * What ServiceNow's webhook delivers to flow ticket-sync, independent of the HTTP route that
 * receives it (`api/webhooks/servicenow.ts` verifies the signature, then hands the delivery here).
 */

/** One integration that accepts deliveries, and the secret its business rule signs with. */
export interface WebhookReceiver {
  readonly integrationId: string;
  readonly secret: string;
}

/** The body the business rule posts (the webhook contract in docs/ticket-sync.md). */
export const ServiceNowWebhookSchema = z.looseObject({
  table: z.string().min(1),
  sys_id: z.string().regex(/^[0-9a-zA-Z_.-]{1,64}$/),
  sys_mod_count: z.union([z.string().regex(/^\d+$/), z.number().int().min(0)]).transform(String),
  sys_updated_on: z.string().min(1),
  record: z.record(z.string(), z.unknown()),
});

/** A delivery as the handler receives it (after its signature was checked). */
export type ServiceNowWebhookDelivery = z.output<typeof ServiceNowWebhookSchema>;

/** Who accepts deliveries and what processes a verified one: what the webhook route needs from the flow. */
export interface WebhookHandler {
  /** Integrations with a webhook secret; a delivery belongs to the one whose secret signed it. */
  readonly receivers: readonly WebhookReceiver[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Processes a verified delivery; resolves with a word for the response (`synced`, `processed`…). */
  handle(integrationId: string, delivery: ServiceNowWebhookDelivery): Promise<string>;
}
