import { z } from 'zod';
import type { ApiRoute } from './route.js';

/** Where the API lives; every route path is under it. */
export const API_BASE = '/api/v1';

type JsonObject = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): JsonObject {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonObject;
  return rest;
}

/** The OpenAPI path of a hono path: `/runs/:id` → `/api/v1/runs/{id}`. */
export function openApiPath(path: string): string {
  return `${API_BASE}${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
}

function parameters(route: ApiRoute): JsonObject[] {
  const list: JsonObject[] = [];
  for (const [location, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const node = jsonSchema(schema) as { properties?: Record<string, JsonObject>; required?: string[] };
    for (const [name, property] of Object.entries(node.properties ?? {})) {
      const { description, ...rest } = property;
      list.push({
        name,
        in: location,
        required: location === 'path' || (node.required ?? []).includes(name),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  return list;
}

/**
 * The OpenAPI 3.1 document of the API, generated from the route declarations (their zod
 * schemas become the parameter, body and response schemas), so it can not drift from what the
 * server validates.
 */
export function openApiDocument(routes: readonly ApiRoute[], version: string): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const route of routes) {
    const responses: Record<string, JsonObject> = {};
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.schema
          ? { content: { 'application/json': { schema: jsonSchema(response.schema) } } }
          : {}),
      };
    }
    const errorResponse = { $ref: '#/components/responses/Error' };
    responses['400'] ??= errorResponse;
    if (route.auth) responses['401'] ??= errorResponse;
    const operation: JsonObject = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      security: route.auth ? [{ bearer: [] }] : [],
      parameters: parameters(route),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body) } },
            },
          }
        : {}),
      responses,
    };
    (paths[openApiPath(route.path)] ??= {})[route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Snowline API',
      version,
      description:
        'Runs, plans, the ledger and tickets of a Snowline server. Every route except health and readiness needs `Authorization: Bearer <token>` with a token from api.tokens.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      responses: {
        Error: {
          description: 'An error: a stable code and a message saying what was wrong and what to do.',
          content: {
            'application/json': {
              schema: jsonSchema(z.object({ error: z.object({ code: z.string(), message: z.string() }) })),
            },
          },
        },
      },
    },
  };
}
