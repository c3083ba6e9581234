import { z } from 'zod';
import { InputError } from '../../errors.js';
import { observeRequests, RequestCounters } from '../../runtime/http/counters.js';
import { createTicketForIntegration, MANUAL_DUE_DAYS } from '../../sync/cloud-tickets/manual.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';

const TicketRequestBody = z.strictObject({
  integration: integrationField,
  assessmentId: z.string().min(1).max(2000).meta({
    description: 'Assessment resource id: <resource id>/providers/Microsoft.Security/assessments/<key>.',
  }),
  table: z.enum(TICKET_TABLES).meta({ description: 'Ticket table.' }),
  group: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'Assignment group (sys_user_group name).' }),
  owner: z.email().optional().meta({
    description: 'Owner email: the assignment owner, and assigned_to when exactly one active user has it.',
  }),
  dueDays: z
    .number()
    .int()
    .min(0)
    .max(3650)
    .optional()
    .meta({ description: `Days until the remediation due date (default ${MANUAL_DUE_DAYS}).` }),
});

/**
 * `POST /api/v1/tickets`: a ticket for one Unhealthy assessment, linked with a governance
 * assignment, as `snowline ticket create` does. Asking twice returns the same ticket.
 */
export const postTicketRoute = defineRoute({
  method: 'post',
  path: '/tickets',
  operationId: 'createTicket',
  summary: 'Create a ticket for one Defender for Cloud assessment (asking twice returns the same ticket)',
  auth: true,
  body: TicketRequestBody,
  responses: {
    201: { description: 'Created.' },
    200: { description: 'A ticket for this assessment and table was already open: returned unchanged.' },
    400: { description: 'Not an assessment id, or the assessment is not Unhealthy.' },
    404: { description: 'Defender has no such assessment.' },
    409: { description: 'Another open ticket already covers the assessment.' },
  },
  async handle(c, { body }, deps) {
    const integration = integrationFor(deps.config, body.integration);
    const config = integration.flows.cloudTickets;
    if (!config)
      throw new InputError(
        `integration ${integration.id} has no flows.cloudTickets section; add one (an empty "cloudTickets: {}" takes the defaults)`,
      );
    const result = await observeRequests(deps.metrics.requestObserver, () =>
      createTicketForIntegration(
        {
          integration,
          store: deps.store,
          clock: deps.clock,
          logger: deps.logger.child({ integration: integration.id, request: 'createTicket' }),
          counters: new RequestCounters(),
        },
        {
          assessmentId: body.assessmentId,
          table: body.table,
          ...(body.group ? { group: body.group } : {}),
          ...(body.owner ? { owner: body.owner } : {}),
          ...(body.dueDays !== undefined ? { dueDays: body.dueDays } : {}),
        },
      ),
    );
    return c.json(result, result.created ? 201 : 200);
  },
});
