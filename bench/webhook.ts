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
import { RequestCounters } from '../src/runtime/http/counters.js';
import { connectServiceNow } from '../src/servicenow/index.js';
import type { Store } from '../src/store/store.js';
import { ticketSyncWebhook } from '../src/sync/ticket-sync/webhook.js';

/** A sandbox's control API, in-process (test/support/sandboxes.ts) or in its own process (harness.ts). */
type Control = (
  side: 'servicenow' | 'defender',
  method: string,
  path: string,
  body?: unknown,
) => Promise<unknown>;

/** The webhook secret of the benchmarks' configurations (flows.ticketSync.webhook.secret). */
export const BENCH_WEBHOOK_SECRET = 'bench-webhook-secret-0123456789abcdef';

/** A ServiceNow connection as a person (basic auth), whose changes fire the sandbox's business rule. */
export type PersonClient = ReturnType<typeof connectServiceNow>;

/**
 * A person with the itil role and an email in the ServiceNow sandbox, connected with basic auth
 * to the instance `servicenow` (the integration's ServiceNow section) names: changes made as them
 * are a person's, not Snowline's (no echo), and the sandbox posts them to the webhook.
 */
export async function benchPerson(
  control: Control,
  servicenow: SnowlineConfig['integrations'][number]['servicenow'],
): Promise<PersonClient> {
  await control('servicenow', 'POST', '/_sandbox/users', {
    user_name: 'bench.person',
    password: 'Bench-person-pw-1',
    roles: ['itil'],
    email: 'bench.person@example.com',
  });
  return connectServiceNow(
    {
      ...servicenow,
      auth: { type: 'basic', username: 'bench.person', password: 'Bench-person-pw-1' },
    } as typeof servicenow,
    { clock: systemClock, counters: new RequestCounters() },
  );
}

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

/** p50, p95 and max of latencies in ms (any order), to one decimal (null when there are none). */
export function latencyQuantiles(latencies: readonly number[]): {
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
} {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    p50Ms: quantileMs(sorted, 0.5),
    p95Ms: quantileMs(sorted, 0.95),
    maxMs: quantileMs(sorted, 1),
  };
}

/** The `q`-quantile of ascending latencies in ms, to one decimal (null when there are none). */
export function quantileMs(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1));
}
