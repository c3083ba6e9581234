import { Hono } from 'hono';
import { isRateLimitedError, isSnowlineError } from '../../errors.js';
import {
  ServiceNowWebhookSchema,
  type ServiceNowWebhookDelivery,
  type WebhookHandler,
} from '../../sync/ticket-sync/delivery.js';
import { verifyWebhookSignature } from './signature.js';

/** What the route needs: the flow's handler, and the transport's limits and observer. */
export interface ServiceNowWebhookDeps extends WebhookHandler {
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
      deps.logger.error(
        { integration: receiver.integrationId, table: parsed.table, sysId: parsed.sys_id, err: error },
        'ServiceNow webhook not processed; polling will pick the change up',
      );
      return c.json(failure('not processed; polling will pick the change up'), 500);
    }
  });
  return app;
}
