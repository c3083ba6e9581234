/**
 * Snowline's ServiceNow webhook route as `snowline serve` mounts it, served on loopback in the
 * benchmark's own process and registered with the ServiceNow sandbox, noting when each delivery
 * was handled: how bench/ticket-sync.ts and bench/ot-alerts.ts measure the time from a person's
 * change to its effect in Defender. Not a test: nothing here asserts a time.
 */
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { servicenowWebhookRoutes } from '../src/api/webhooks/servicenow.js';
import type { SnowlineConfig } from '../src/config/schema.js';
import { systemClock } from '../src/domain/clock.js';
import { createLogger } from '../src/logging.js';
import type { Store } from '../src/store/store.js';
import { ticketSyncWebhook } from '../src/sync/ticket-sync/webhook.js';

/** A sandbox's control API, in-process (test/support/sandboxes.ts) or in its own process (harness.ts). */
type Control = (
  side: 'servicenow' | 'defender',
  method: string,
  path: string,
  body?: unknown,
) => Promise<unknown>;

/** The receiver: when each record version's delivery was handled, and how to take it down. */
export interface TimedWebhook {
  /**
   * Waits up to 10 s for the delivery of this version of the record (`sys_id`, `sys_mod_count`)
   * to be handled, and answers when that was (`performance.now()`), or undefined if it never was.
   */
  handled(sysId: string, modCount: string | undefined): Promise<number | undefined>;
  /** Deregisters the sandbox's webhook, stops the server and the route's connections. */
  close(): Promise<void>;
}

/** Serves the webhook route for `config` on 127.0.0.1 and registers it for `tables` with the ServiceNow sandbox. */
export async function timedWebhook(options: {
  readonly control: Control;
  readonly config: SnowlineConfig;
  readonly store: Store;
  readonly secret: string;
  readonly tables: readonly string[];
}): Promise<TimedWebhook> {
  const done = new Map<string, number>();
  const logger = createLogger({ level: 'silent' });
  const webhook = ticketSyncWebhook({
    config: options.config,
    store: options.store,
    clock: systemClock,
    logger,
  });
  const app = new Hono();
  app.route(
    '/api/v1/webhooks/servicenow',
    servicenowWebhookRoutes({
      ...webhook.deps,
      handle: async (id, delivery) => {
        const outcome = await webhook.deps.handle(id, delivery);
        done.set(`${delivery.sys_id}|${delivery.sys_mod_count}`, performance.now());
        return outcome;
      },
    }),
  );
  const server = await new Promise<ServerType>((ready) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => ready(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/webhooks/servicenow`;
  await options.control('servicenow', 'POST', '/_sandbox/webhooks', {
    url,
    secret: options.secret,
    tables: options.tables,
  });
  return {
    async handled(sysId, modCount) {
      const key = `${sysId}|${modCount}`;
      for (let w = 0; w < 2000 && !done.has(key); w++) await sleep(5);
      return done.get(key);
    },
    async close() {
      await options.control('servicenow', 'DELETE', '/_sandbox/webhooks');
      await new Promise((closed) => server.close(closed));
      await webhook.close();
    },
  };
}

/** The `q`-quantile of ascending latencies in ms, to one decimal (null when there are none). */
export function quantileMs(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1));
}
