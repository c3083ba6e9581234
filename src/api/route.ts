import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { IntegrationConfig, SnowlineConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { RunDispatcher } from '../sync/kernel/dispatch.js';
import type { SnowlineMetrics } from '../runtime/metrics.js';
import type { SecretScrubber } from '../secrets.js';
import type { Store } from '../store/store.js';
import { requireBearerToken } from './auth.js';

/** What the API routes (and the sub-apps mounted beside them) work with. */
export interface ApiDeps {
  readonly config: SnowlineConfig;
  readonly store: Store;
  readonly dispatcher: RunDispatcher;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: SnowlineMetrics;
  /** Scrubs the configuration's secrets from error messages. */
  readonly scrubber?: SecretScrubber;
  /** False while the process shuts down, so that readiness fails and load balancers move on. */
  readonly accepting?: () => boolean;
}

/** One documented response of a route. */
export interface RouteResponse {
  readonly description: string;
  readonly schema?: z.ZodType;
}

/** The validated input a handler gets. */
export interface RouteInput<Q, P, B> {
  readonly query: Q;
  readonly params: P;
  readonly body: B;
}

/** How a route is declared: its place, its zod schemas, its documented answers and its handler. */
export interface RouteSpec<Q extends z.ZodType, P extends z.ZodType, B extends z.ZodType> {
  readonly method: 'get' | 'post';
  /** Path under `/api/v1`, in hono syntax (`/runs/:id`). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  /** False only for health and readiness: every other route requires a bearer token. */
  readonly auth: boolean;
  readonly query?: Q;
  readonly params?: P;
  readonly body?: B;
  readonly responses: Readonly<Record<number, RouteResponse>>;
  handle(
    c: Context,
    input: RouteInput<z.output<Q>, z.output<P>, z.output<B>>,
    deps: ApiDeps,
  ): Response | Promise<Response>;
}

/** A declared route, its schemas erased: what the app registers and the OpenAPI document lists. */
export interface ApiRoute {
  readonly method: 'get' | 'post';
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly auth: boolean;
  readonly query?: z.ZodType;
  readonly params?: z.ZodType;
  readonly body?: z.ZodType;
  readonly responses: Readonly<Record<number, RouteResponse>>;
  /** Validates the request and runs the handler. */
  handler(c: Context, deps: ApiDeps): Promise<Response>;
}

const empty = z.object({});

/**
 * Declares a route. Query, path parameters and body are validated with their zod schemas before
 * the handler runs; a request that does not fit gets a 400 naming each field and what is wrong.
 *
 * @example
 * export const getRun = defineRoute({ method: 'get', path: '/runs/:id', params: z.object({ id: z.string() }), … });
 */
export function defineRoute<
  Q extends z.ZodType = typeof empty,
  P extends z.ZodType = typeof empty,
  B extends z.ZodType = typeof empty,
>(spec: RouteSpec<Q, P, B>): ApiRoute {
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    auth: spec.auth,
    ...(spec.query ? { query: spec.query } : {}),
    ...(spec.params ? { params: spec.params } : {}),
    ...(spec.body ? { body: spec.body } : {}),
    responses: spec.responses,
    async handler(c, deps) {
      const query = validate('query', spec.query ?? empty, c.req.query());
      const params = validate('path', spec.params ?? empty, c.req.param());
      const body = spec.body ? validate('body', spec.body, await jsonBody(c)) : {};
      return spec.handle(
        c,
        { query, params, body } as RouteInput<z.output<Q>, z.output<P>, z.output<B>>,
        deps,
      );
    },
  };
}

/** Registers routes on a hono app, each behind the bearer-token check unless it says otherwise. */
export function registerRoutes(app: Hono, routes: readonly ApiRoute[], deps: ApiDeps): void {
  const auth = requireBearerToken(deps.config.api.tokens);
  for (const route of routes) {
    const handler = (c: Context) => route.handler(c, deps);
    if (route.auth) app.on(route.method.toUpperCase(), route.path, auth, handler);
    else app.on(route.method.toUpperCase(), route.path, handler);
  }
}

async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  // An empty body is an empty object, so that a POST whose fields all have defaults needs none.
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InputError(
      `the request body is not valid JSON (${(error as Error).message}); send a JSON object`,
    );
  }
}

function validate<S extends z.ZodType>(where: string, schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path ? `${where}.${path}` : where}: ${issue.message}`;
  });
  throw new InputError(`invalid request ${where}: ${problems.join('; ')}`);
}

/** The integration a request names, or the only one when the configuration has just one. */
export function integrationFor(config: SnowlineConfig, id: string | undefined): IntegrationConfig {
  if (id === undefined) {
    if (config.integrations.length === 1) return config.integrations[0]!;
    throw new InputError(
      `this server has ${config.integrations.length} integrations; name one with "integration" (${config.integrations.map((i) => i.id).join(', ')})`,
    );
  }
  const found = config.integrations.find((i) => i.id === id);
  if (!found)
    throw new NotFoundError(
      `no integration "${id}"; known: ${config.integrations.map((i) => i.id).join(', ')}`,
    );
  return found;
}

/** The optional `integration` field every integration-scoped request takes. */
export const integrationField = z
  .string()
  .min(1)
  .optional()
  .meta({ description: 'Integration id; may be left out when the configuration has only one.' });
