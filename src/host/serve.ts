import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type PgBoss from 'pg-boss';
import { createApp, type MountedRoutes } from '../api/app.js';
import { dashboardRoutes } from '../api/dashboard/index.js';
import { servicenowWebhookRoutes } from '../api/webhooks/servicenow.js';
import type { ApiDeps } from '../api/route.js';
import type { LoadedConfig } from '../config/load.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { SnowlineError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { SecretScrubber } from '../secrets.js';
import { isPostgresUrl, openStore, type Store } from '../store/store.js';
import { FLOW_RUNNERS } from '../sync/flows.js';
import { ticketSyncWebhook, type TicketSyncWebhook } from '../sync/ticket-sync/webhook.js';
import type { FlowRunner } from '../sync/kernel/flow.js';
import { LocalRunDispatcher } from './local-dispatcher.js';
import { startBoss } from './queue/boss.js';
import { PgBossRunDispatcher } from './queue/dispatcher.js';
import { SnowlineMetrics } from '../runtime/metrics.js';
import { Scheduler } from './scheduler.js';
import { RetentionDaemon } from './retention.daemon.js';

/** Options for {@link startServe}. */
export interface ServeOptions {
  readonly loaded: LoadedConfig;
  /** Relative paths in the configuration (store, TLS files) are resolved from here. */
  readonly cwd: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly scrubber?: SecretScrubber;
  /** Flow implementations; {@link FLOW_RUNNERS} when omitted. */
  readonly runners?: readonly FlowRunner[];
  /** More sub-apps to mount beside the API, the webhook and the dashboard, built from the server's deps. */
  readonly extraRoutes?: (deps: ApiDeps) => readonly MountedRoutes[];
  /** An open store to serve from (the demo's), left open by {@link Serving.close}; opened from `store.url` (and closed) when omitted. */
  readonly store?: Store;
  /** Overrides `api.port` (0 = a free port). */
  readonly port?: number;
  /** How often deferred runs are checked for being due (default 5 s). */
  readonly resumeCheckMs?: number;
}

/** A running `snowline serve`. */
export interface Serving {
  /** Base URL, without a trailing slash, e.g. `http://127.0.0.1:8420`. */
  readonly url: string;
  readonly deps: ApiDeps;
  /**
   * Every route the server answers, as `METHOD /path` (hono syntax): the app's own table and the
   * dashboard's, which the app dispatches to as a whole; middleware left out. What a test
   * enumerates to check which routes answer without credentials.
   */
  readonly routes: readonly string[];
  /** In-process on SQLite; the pg-boss queue on PostgreSQL. */
  readonly dispatcher: LocalRunDispatcher | PgBossRunDispatcher;
  readonly scheduler: Scheduler;
  /**
   * Graceful stop: readiness turns 503 and new runs are refused, scheduled ticks stop, runs in
   * flight finish (or checkpoint by deferring), then the HTTP server and the store close.
   */
  close(): Promise<void>;
}

function resolvePath(cwd: string, path: string): string {
  return resolve(cwd, path);
}

function readTlsFile(cwd: string, path: string, key: string): Buffer {
  try {
    return readFileSync(resolvePath(cwd, path));
  } catch (error) {
    throw new SnowlineError(
      'CONFIG_INVALID',
      `api.tls.${key} ${resolvePath(cwd, path)} can not be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); check the path and its permissions`,
    );
  }
}

function listen(
  app: ReturnType<typeof createApp>,
  host: string,
  port: number,
  tls: { key: Buffer; cert: Buffer } | undefined,
): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolvePromise, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port,
        ...(tls
          ? { createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.cert } }
          : { createServer: createHttpServer }),
      },
      (info: AddressInfo) => resolvePromise({ server, port: info.port }),
    );
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SnowlineError(
          'LISTEN_FAILED',
          `can not listen on ${host}:${port} (${error.code ?? error.message}); change api.host / api.port or stop what uses the port`,
          { cause: error },
        ),
      ),
    );
  });
}

function closeServer(server: ServerType, graceMs = 10_000): Promise<void> {
  const http = server as ReturnType<typeof createHttpServer>;
  return new Promise<void>((done) => {
    // Keep-alive connections hold close() open: close each as soon as it is idle (an answer in
    // progress finishes first), and after the grace period close whatever is left.
    const sweep = setInterval(() => http.closeIdleConnections(), 100);
    const force = setTimeout(() => http.closeAllConnections(), graceMs);
    http.close(() => {
      clearInterval(sweep);
      clearTimeout(force);
      done();
    });
    http.closeIdleConnections();
  });
}

/** `METHOD /path` of every handler of the app and of the dashboard it dispatches to (`ALL` entries are middleware or that dispatch). */
function routeTable(...apps: readonly { routes: readonly { method: string; path: string }[] }[]): string[] {
  const handlers = apps.flatMap((a) => a.routes).filter((r) => r.method !== 'ALL');
  return [...new Set(handlers.map((r) => `${r.method} ${r.path}`))].sort();
}

/**
 * Starts `snowline serve`: opens and migrates the store, then serves the API, `/metrics`, the
 * ServiceNow webhook (`/api/v1/webhooks/servicenow`), the dashboard (`/`) and any extra sub-apps, and runs the flows on their schedules and deferred runs at their `retryAt`.
 *
 * @example
 * const serving = await startServe({ loaded, cwd: process.cwd(), logger });
 * console.log(`dashboard: ${serving.url}/`);
 * await serving.close();
 */
export async function startServe(options: ServeOptions): Promise<Serving> {
  const { config } = options.loaded;
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const url = config.store.url;
  const store =
    options.store ??
    (await openStore(isPostgresUrl(url) || url === ':memory:' ? url : resolvePath(options.cwd, url), {
      commitBatch: config.store.commitBatch,
    }));
  const closeStore = () => (options.store ? Promise.resolve() : store.close());
  let webhook: TicketSyncWebhook | undefined;
  let boss: PgBoss | undefined;
  try {
    const applied = await store.migrate();
    if (applied.length) logger.info({ applied, store: store.location }, 'store migrated');
    const tls = config.api.tls
      ? {
          cert: readTlsFile(options.cwd, config.api.tls.certFile, 'certFile'),
          key: readTlsFile(options.cwd, config.api.tls.keyFile, 'keyFile'),
        }
      : undefined;
    const runners = options.runners ?? FLOW_RUNNERS;
    const metrics = new SnowlineMetrics();
    // On PostgreSQL the scheduler, API and dashboard hand runs to the pg-boss queue, and
    // `snowline worker` processes run them (docs/scale-out.md); on SQLite they run here.
    let dispatcher: LocalRunDispatcher | PgBossRunDispatcher;
    if (store.dialect === 'postgres') {
      boss = await startBoss(url, config.queue, {
        onError: (error) => logger.error({ err: error }, 'pg-boss reported an error'),
      });
      dispatcher = new PgBossRunDispatcher({ boss, config, store, clock, logger, runners });
      logger.info('runs go to the PostgreSQL queue: start at least one `snowline worker` to run them');
    } else {
      dispatcher = new LocalRunDispatcher({
        integrations: config.integrations,
        store,
        clock,
        logger,
        runners,
        metrics,
      });
    }
    let accepting = true;
    const deps: ApiDeps = {
      config,
      store,
      dispatcher,
      clock,
      logger,
      metrics,
      ...(options.scrubber ? { scrubber: options.scrubber } : {}),
      accepting: () => accepting,
    };
    webhook = ticketSyncWebhook({ config, store, clock, logger });
    const dashboard = dashboardRoutes({
      store,
      integrations: config.integrations,
      apiTokens: config.api.tokens,
      dispatcher,
      clock,
      secrets: options.loaded.secrets,
      logger,
    });
    const app = createApp(deps, {
      extraRoutes: [
        {
          path: '/api/v1/webhooks/servicenow',
          app: servicenowWebhookRoutes({
            ...webhook.deps,
            maxBodyBytes: config.api.bodyLimitBytes,
            observe: (outcome, seconds) => metrics.webhookLatency.observe({ outcome }, seconds),
          }),
        },
        ...(options.extraRoutes?.(deps) ?? []),
      ],
      dashboard,
    });
    const host = config.api.host;
    const { server, port } = await listen(app, host, options.port ?? config.api.port, tls);
    const scheduler = new Scheduler({
      integrations: config.integrations,
      dispatcher,
      store,
      clock,
      logger,
      flows: runners.map((r) => r.flow),
      ...(options.resumeCheckMs ? { resumeCheckMs: options.resumeCheckMs } : {}),
    });
    scheduler.start();
    const retention = new RetentionDaemon({ store, clock, logger, days: config.store.retention.days });
    retention.start();
    if (config.api.tokens.length === 0)
      logger.warn('api.tokens is empty: every API request except health and readiness is refused');
    if (!tls && !['127.0.0.1', '::1', 'localhost'].includes(host))
      logger.warn(
        { host },
        'serving plain HTTP beyond loopback: bearer tokens cross the network in clear; set api.tls',
      );
    const shownHost = host.includes(':') ? `[${host}]` : host;
    const base = `${tls ? 'https' : 'http'}://${shownHost}:${port}`;
    logger.info({ url: base, store: store.location, scheduled: scheduler.jobs().length }, 'serving');
    let closing: Promise<void> | undefined;
    return {
      url: base,
      deps,
      routes: routeTable(app, dashboard),
      dispatcher,
      scheduler,
      close() {
        closing ??= (async () => {
          accepting = false;
          retention.stop();
          await Promise.all([scheduler.stop(), dispatcher.close(), retention.idle()]);
          await closeServer(server);
          await webhook?.close();
          await boss?.stop({ graceful: true, wait: true });
          await closeStore();
        })();
        return closing;
      },
    };
  } catch (error) {
    await webhook?.close();
    await boss?.stop({ graceful: false, wait: true });
    await closeStore();
    throw error;
  }
}
