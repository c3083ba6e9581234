import { Hono } from 'hono';
import { z } from 'zod';
import type { Clock } from '../../domain/clock.js';
import { isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import { verifyWebhookSignature } from './signature.js';

/** One integration that accepts deliveries, and the secret its business rule signs with. */
export interface WebhookReceiver {
  readonly integrationId: string;
  readonly secret: string;
}

/** The body the business rule posts (DESIGN.md "Webhook contract"). */
export const ServiceNowWebhookSchema = z.looseObject({
  table: z.string().min(1),
  sys_id: z.string().regex(/^[0-9a-zA-Z_.-]{1,64}$/),
  sys_mod_count: z.union([z.string().regex(/^\d+$/), z.number().int().min(0)]).transform(String),
  sys_updated_on: z.string().min(1),
  record: z.record(z.string(), z.unknown()),
});

/** A delivery as the handler receives it (after its signature was checked). */
export type ServiceNowWebhookDelivery = z.output<typeof ServiceNowWebhookSchema>;

/** What the route needs. */
export interface ServiceNowWebhookDeps {
  /** Integrations with a webhook secret; a delivery belongs to the one whose secret signed it. */
  readonly receivers: readonly WebhookReceiver[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Processes a verified delivery; resolves with a word for the response (`synced`, `processed`…). */
  handle(integrationId: string, delivery: ServiceNowWebhookDelivery): Promise<string>;
  /** Largest accepted body; default 1 MiB (a ticket record is a few KB). */
  readonly maxBodyBytes?: number;
  /** Told of every answer: its outcome word and the seconds from arrival to answer (metrics). */
  readonly observe?: (outcome: WebhookOutcome, seconds: number) => void;
}

/** How a delivery was answered, by HTTP status: the label of the latency metric. */
export type WebhookOutcome = 'processed' | 'refused' | 'invalid' | 'deferred' | 'failed';

function outcomeOf(status: number): WebhookOutcome {
  if (status < 300) return 'processed';
  if (status === 401) return 'refused';
  if (status === 503) return 'deferred';
  if (status < 500) return 'invalid';
  return 'failed';
}

function failure(message: string) {
  return { error: { message }, status: 'failure' };
}

/**
 * The ServiceNow webhook as a hono route module: `POST /` relative to where it is mounted
 * (`snowline serve` mounts it at `/api/v1/webhooks/servicenow`). Authenticated by its signature
 * only: a missing, stale (outside 300 s) or wrong signature gets 401 and changes nothing; the body
 * is parsed only after the signature matched. Replays are harmless: the engine recognises a
 * (sys_id, sys_mod_count) it already processed. A rate-limited Defender or ServiceNow answers 503
 * with `Retry-After`; polling picks the change up in any case.
 *
 * @example
 * app.route('/api/v1/webhooks/servicenow', servicenowWebhookRoutes(deps));
 */
export function servicenowWebhookRoutes(deps: ServiceNowWebhookDeps): Hono {
  const app = new Hono();
  const maxBytes = deps.maxBodyBytes ?? 1024 * 1024;
  if (deps.observe) {
    const observe = deps.observe;
    app.use(async (c, next) => {
      const started = performance.now();
      await next();
      observe(outcomeOf(c.res.status), (performance.now() - started) / 1000);
    });
  }
  app.post('/', async (c) => {
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > maxBytes) return c.json(failure(`body over ${maxBytes} bytes`), 413);
    const rawBody = Buffer.from(await c.req.arrayBuffer());
    if (rawBody.length > maxBytes) return c.json(failure(`body over ${maxBytes} bytes`), 413);
    const verdict = verifyWebhookSignature({
      secrets: deps.receivers.map((r) => r.secret),
      timestamp: c.req.header('x-snowline-timestamp'),
      signature: c.req.header('x-snowline-signature'),
      rawBody,
      now: deps.clock.now(),
    });
    if ('refused' in verdict) {
      deps.logger.warn({ problem: verdict.refused }, 'ServiceNow webhook refused');
      return c.json(failure(`not accepted: ${verdict.refused}`), 401);
    }
    const receiver = deps.receivers[verdict.index]!;
    let parsed: ServiceNowWebhookDelivery;
    try {
      const result = ServiceNowWebhookSchema.safeParse(JSON.parse(rawBody.toString('utf8')));
      if (!result.success)
        return c.json(
          failure(
            `body is not a Snowline webhook: ${result.error.issues.map((i) => `${i.path.join('.') || '(body)'} ${i.message}`).join('; ')}`,
          ),
          400,
        );
      parsed = result.data;
    } catch {
      return c.json(failure('body is not JSON'), 400);
    }
    try {
      const outcome = await deps.handle(receiver.integrationId, parsed);
      return c.json({ result: { outcome } }, 200);
    } catch (error) {
      if (isRateLimitedError(error)) {
        const seconds = Math.max(1, Math.ceil((error.retryAt.getTime() - deps.clock.now().getTime()) / 1000));
        c.header('Retry-After', String(seconds));
        return c.json(failure('rate limited; polling picks the change up'), 503);
      }
      if (isSnowlineError(error) && error.code === 'INPUT_INVALID')
        return c.json(failure(`not processed: ${error.message}`), 400);
      const message = isSnowlineError(error) ? `${error.code}: ${error.message}` : 'internal error';
      deps.logger.error(
        { integration: receiver.integrationId, table: parsed.table, sysId: parsed.sys_id, error: message },
        'ServiceNow webhook not processed; polling will pick the change up',
      );
      return c.json(failure('not processed; polling will pick the change up'), 500);
    }
  });
  return app;
}
