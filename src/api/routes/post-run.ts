import { z } from 'zod';
import { FLOWS, type FlowSummary } from '../../domain/flows.js';
import { overallOutcome } from '../../store/models/runs.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';

const RunRequestBody = z.strictObject({
  integration: integrationField,
  flows: z.array(z.enum(FLOWS)).min(1).optional().meta({
    description:
      'Flows to run, in any order (they run in dependency order); every enabled flow when left out.',
  }),
  dryRun: z.boolean().default(false).meta({
    description: 'Read and plan only: nothing is written anywhere, and the answer carries the plan.',
  }),
});

/**
 * `POST /api/v1/runs`: runs flows now, or plans them (`dryRun`). On one machine the answer comes
 * when the run has ended, with its summary (and the plan of a dry run); with workers it is 202
 * with the queued job ids.
 */
export const postRunRoute = defineRoute({
  method: 'post',
  path: '/runs',
  operationId: 'triggerRun',
  summary: 'Run flows now, or plan them with dryRun (returns the Plan)',
  description:
    'One run of a flow at a time per integration: a request for a flow that is running gets 409. The answer comes when the run has ended; a dry run writes nothing and returns the plan with a reason per action.',
  auth: true,
  body: RunRequestBody,
  responses: {
    200: {
      description:
        'The run ended (ok, deferred by a rate limit, or failed): its summary, and the plan of a dry run.',
      schema: z.object({
        runId: z.string(),
        status: z.enum(['ok', 'deferred', 'failed']),
        dryRun: z.boolean(),
        summary: z.unknown(),
        plan: z.unknown().optional().meta({ description: 'The Plan: actions with reasons (dry runs only).' }),
      }),
    },
    202: { description: 'Queued for the workers.', schema: z.object({ jobIds: z.array(z.string()) }) },
    409: { description: 'A requested flow is already running for this integration.' },
    503: { description: 'The server is shutting down.' },
  },
  async handle(c, { body }, deps) {
    const integration = integrationFor(deps.config, body.integration);
    const ticket = await deps.dispatcher.dispatch({
      integrationId: integration.id,
      ...(body.flows ? { flows: body.flows } : {}),
      dryRun: body.dryRun,
      trigger: 'api',
    });
    if (ticket.kind === 'queued') return c.json({ jobIds: ticket.jobIds }, 202);
    const { summary, plan } = ticket.result;
    const flows = Object.values(summary.jobs).filter((s): s is FlowSummary => s !== undefined);
    return c.json({
      runId: summary.runId,
      status: overallOutcome(flows),
      dryRun: body.dryRun,
      summary,
      ...(body.dryRun ? { plan } : {}),
    });
  },
});
