import { z } from 'zod';
import { getRun } from '../../store/models/runs.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';
import { RunSchema, runFlowView, runView } from './views.js';

/** `GET /api/v1/runs/:id`: one run with what each of its flows did. */
export const getRunRoute = defineRoute({
  method: 'get',
  path: '/runs/:id',
  operationId: 'getRun',
  summary: 'One run with its per-flow summary',
  auth: true,
  params: z.object({ id: z.string().min(1).max(100).meta({ description: 'Run id.' }) }),
  query: z.object({ integration: integrationField }),
  responses: {
    200: {
      description: 'The run.',
      schema: RunSchema.extend({ flows: z.array(z.record(z.string(), z.unknown())) }),
    },
    404: { description: 'No such run for this integration.' },
  },
  async handle(c, { params, query }, deps) {
    const integration = integrationFor(deps.config, query.integration);
    const run = await getRun(deps.store.db, integration.id, params.id);
    return c.json({ ...runView(run), flows: run.flows.map(runFlowView) });
  },
});
