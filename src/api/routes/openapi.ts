import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { openApiDocument } from '../openapi.js';
import { defineRoute, type ApiRoute } from '../route.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** `GET /api/v1/openapi.json`: the OpenAPI document of `routes` and of itself. */
export function openApiRoute(routes: readonly ApiRoute[]): ApiRoute {
  let document: unknown;
  const self: ApiRoute = defineRoute({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This OpenAPI document',
    auth: true,
    responses: {
      200: { description: 'The OpenAPI 3.1 document.', schema: z.record(z.string(), z.unknown()) },
    },
    handle(c) {
      document ??= openApiDocument([...routes, self], packageVersion());
      return c.json(document);
    },
  });
  return self;
}
