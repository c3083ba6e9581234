import { z } from 'zod';
import { listRuns } from '../../store/models/runs.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';
import { limitField, RunSchema, runView } from './views.js';

/** `GET /api/v1/runs`: the latest runs of an integration, newest first. */
export const listRunsRoute = defineRoute({
  method: 'get',
  path: '/runs',
  operationId: 'listRuns',
  summary: 'Latest runs with their summaries, newest first',
  auth: true,
  query: z.object({ integration: integrationField, limit: limitField }),
  responses: {
    200: { description: 'The runs.', schema: z.object({ runs: z.array(RunSchema) }) },
  },
  async handle(c, { query }, deps) {
    const integration = integrationFor(deps.config, query.integration);
    const rows = await listRuns(deps.store.db, integration.id, query.limit);
    return c.json({ runs: rows.map(runView) });
  },
});
