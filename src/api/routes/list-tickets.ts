import { z } from 'zod';
import { closedStatesOf, isClosedState, stateLabel } from '../../domain/tickets/tables.js';
import { getEntityStates } from '../../store/models/entity-state.js';
import type { Store } from '../../store/store.js';
import { ticketMemory, type TicketMemory } from '../../sync/cloud-tickets/memory.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';
import { limitField } from './views.js';

const FLOW = 'cloud-tickets';

const TicketsQuery = z.object({
  integration: integrationField,
  status: z.enum(['open', 'resolved', 'closedByPerson']).optional().meta({
    description:
      'Only tickets in this Snowline status (open: kept in step; resolved: Snowline closed it; closedByPerson).',
  }),
  limit: limitField,
  cursor: z.string().min(1).optional().meta({ description: 'The nextCursor of the previous page.' }),
});

/** One covered assessment and its governance assignment in Defender, as Snowline last wrote it. */
function assignmentView(
  assessmentId: string,
  row:
    { remote_sys_id: string | null; content_hash: string | null; last_written_at: string | null } | undefined,
) {
  return {
    assessmentId,
    governanceAssignment: row?.remote_sys_id ?? null,
    // A deleted assignment keeps its entity row with no content hash.
    present: Boolean(row?.content_hash),
    lastWrittenAt: row?.last_written_at ?? null,
  };
}

async function ticketsPage(store: Store, integrationId: string, query: z.output<typeof TicketsQuery>) {
  const { items, next } = await ticketMemory({ store, integrationId }).page({
    limit: query.limit,
    cursor: query.cursor,
    ...(query.status ? { matches: (t: TicketMemory) => t.status === query.status } : {}),
  });
  return { tickets: items.map(({ key, data }) => ({ key, memory: data })), next };
}

/**
 * `GET /api/v1/tickets`: the tickets flow cloud-tickets keeps, each with its ServiceNow state and
 * the governance assignments pointing at it in Defender, as the store last recorded them.
 */
export const listTicketsRoute = defineRoute({
  method: 'get',
  path: '/tickets',
  operationId: 'listTickets',
  summary: "Tickets with both sides' states: the ServiceNow ticket and its Defender governance assignments",
  auth: true,
  query: TicketsQuery,
  responses: {
    200: {
      description: 'A page of tickets in key order; nextCursor is null on the last page.',
      schema: z.object({
        tickets: z.array(z.record(z.string(), z.unknown())),
        nextCursor: z.string().nullable(),
      }),
    },
  },
  async handle(c, { query }, deps) {
    const integration = integrationFor(deps.config, query.integration);
    const closedStates = closedStatesOf(integration.flows.ticketSync?.closedStates);
    const { tickets, next } = await ticketsPage(deps.store, integration.id, query);
    const assessmentIds = tickets.flatMap((t) => Object.keys(t.memory.assessments));
    const assignments = await getEntityStates(
      deps.store.db,
      { integrationId: integration.id, flow: FLOW, entity: 'governanceAssignment' },
      assessmentIds,
    );
    return c.json({
      tickets: tickets.map(({ key, memory }) => {
        const table = memory.table;
        return {
          key,
          status: memory.status,
          manual: memory.manual ?? false,
          rule: memory.rule.name,
          servicenow: {
            table,
            number: memory.number,
            sysId: memory.sysId,
            correlationId: memory.correlationId,
            state: memory.state,
            stateLabel: stateLabel(table, memory.state),
            closed: isClosedState(table, memory.state, closedStates),
          },
          defender: {
            dueDate: memory.dueDate,
            gracePeriod: memory.gracePeriod,
            assignments: Object.keys(memory.assessments).map((id) => assignmentView(id, assignments.get(id))),
          },
          createdAt: memory.createdAt,
          closedAt: memory.closedAt ?? null,
        };
      }),
      nextCursor: next,
    });
  },
});
