import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SnowlineError } from '../errors.js';
import { requireBearerToken } from './auth.js';
import { apiErrorHandler, errorResponse, httpStatusOf } from './errors.js';
import { API_BASE } from './openapi.js';
import { registerRoutes, type ApiDeps, type ApiRoute } from './route.js';
import { getRunRoute } from './routes/get-run.js';
import { getHealth } from './routes/health.js';
import { listLedgerRoute } from './routes/list-ledger.js';
import { listRunsRoute } from './routes/list-runs.js';
import { listOtAlertsRoute } from './routes/list-ot-alerts.js';
import { listTicketsRoute } from './routes/list-tickets.js';
import { openApiRoute } from './routes/openapi.js';
import { postRunRoute } from './routes/post-run.js';
import { postTicketRoute } from './routes/post-ticket.js';
import { getReady } from './routes/ready.js';

/** The API routes under `/api/v1`, the OpenAPI document's own route last. */
export const API_ROUTES: readonly ApiRoute[] = (() => {
  const routes = [
    getHealth,
    getReady,
    listRunsRoute,
    getRunRoute,
    postRunRoute,
    listLedgerRoute,
    listTicketsRoute,
    postTicketRoute,
    listOtAlertsRoute,
  ];
  return [...routes, openApiRoute(routes)];
})();

/** A hono sub-app mounted beside the API, e.g. the dashboard at `/` or the ServiceNow webhook. */
export interface MountedRoutes {
  /** Where it is mounted, e.g. `/api/v1/webhooks/servicenow` or `/`. */
  readonly path: string;
  readonly app: Hono;
}

/** Options for {@link createApp}. */
export interface AppOptions {
  /**
   * Sub-apps to mount, in order, after the API and `/metrics`. They bring their own
   * authentication (the webhook its signature, the dashboard its sign-in; both can use
   * {@link requireBearerToken} and the tokens in `deps.config.api.tokens`).
   */
  readonly extraRoutes?: readonly MountedRoutes[];
  /**
   * The dashboard, answering every path that is neither the API nor `/metrics` nor an extra
   * route. Dispatched as a whole app (not mounted) so its session middleware never answers for an
   * API path: an unknown `/api/…` path still gets the API's JSON 404.
   */
  readonly dashboard?: Hono;
}

/**
 * The HTTP application of `snowline serve`: the JSON API under `/api/v1` (bearer token on every
 * route but health and readiness), Prometheus metrics at `/metrics` (bearer token too), and any
 * extra sub-apps. Bodies over `api.bodyLimitBytes` get 413 unread; business errors map to
 * status codes in one place ({@link apiErrorHandler}); no CORS headers are ever sent, so a
 * browser page from another origin can not call the API.
 *
 * @example
 * const app = createApp(deps, { extraRoutes: [{ path: '/api/v1/webhooks/servicenow', app: servicenowWebhookRoutes(deps) }] });
 */
export function createApp(deps: ApiDeps, options: AppOptions = {}): Hono {
  const app = new Hono();
  app.onError(apiErrorHandler(deps.logger, deps.scrubber));
  app.notFound((c) =>
    errorResponse(
      c,
      httpStatusOf('NOT_FOUND'),
      'NOT_FOUND',
      `no route ${c.req.method} ${c.req.path}; the API is described at ${API_BASE}/openapi.json`,
    ),
  );
  const maxSize = deps.config.api.bodyLimitBytes;
  app.use(
    '*',
    bodyLimit({
      maxSize,
      onError: () => {
        throw new SnowlineError(
          'PAYLOAD_TOO_LARGE',
          `the request body is larger than ${maxSize} bytes (api.bodyLimitBytes)`,
        );
      },
    }),
  );

  const api = new Hono();
  registerRoutes(api, API_ROUTES, deps);
  app.route(API_BASE, api);

  app.get('/metrics', requireBearerToken(deps.config.api.tokens), async (c) => {
    const text = await deps.metrics.render();
    return c.body(text, 200, { 'content-type': deps.metrics.contentType });
  });

  for (const extra of options.extraRoutes ?? []) app.route(extra.path, extra.app);
  const dashboard = options.dashboard;
  if (dashboard)
    app.all('*', (c) =>
      c.req.path === API_BASE || c.req.path.startsWith(`${API_BASE}/`)
        ? c.notFound()
        : dashboard.fetch(c.req.raw, c.env),
    );
  return app;
}

export type { ApiDeps } from './route.js';
export { requireBearerToken, tokenMatches } from './auth.js';
