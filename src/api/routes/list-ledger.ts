import { z } from 'zod';
import { FLOWS } from '../../domain/flows.js';
import { queryLedger } from '../../store/models/ledger.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';
import { ledgerEventView, limitField } from './views.js';

const LedgerQuery = z.object({
  integration: integrationField,
  flow: z.enum(FLOWS).optional().meta({ description: 'Only events of this flow.' }),
  action: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Only this action (create, update, retire, resolve, delete, skip, error…).' }),
  side: z
    .enum(['servicenow', 'defender', 'local'])
    .optional()
    .meta({ description: 'Only changes on this side.' }),
  entity: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Only this kind of entity (device, ticket, governanceAssignment…).' }),
  key: z.string().min(1).optional().meta({ description: 'Only events of the entity with this source key.' }),
  run: z.string().min(1).optional().meta({ description: 'Only events of this run.' }),
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Only events at or after this time (ISO 8601).' }),
  limit: limitField,
  cursor: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'The nextCursor of the previous page.' }),
});

/** `GET /api/v1/ledger`: ledger events with filters, oldest first, a page at a time. */
export const listLedgerRoute = defineRoute({
  method: 'get',
  path: '/ledger',
  operationId: 'listLedgerEvents',
  summary: 'Ledger events (every decision and write on either side), filtered and paged',
  auth: true,
  query: LedgerQuery,
  responses: {
    200: {
      description: 'A page of events, oldest first; nextCursor is null on the last page.',
      schema: z.object({
        events: z.array(z.record(z.string(), z.unknown())),
        nextCursor: z.string().nullable(),
      }),
    },
  },
  async handle(c, { query }, deps) {
    const integration = integrationFor(deps.config, query.integration);
    const rows = await queryLedger(deps.store.db, {
      integrationId: integration.id,
      ...(query.flow ? { flow: query.flow } : {}),
      ...(query.action ? { action: query.action } : {}),
      ...(query.side ? { side: query.side } : {}),
      ...(query.entity ? { entity: query.entity } : {}),
      ...(query.key ? { key: query.key } : {}),
      ...(query.run ? { runId: query.run } : {}),
      ...(query.since ? { since: new Date(query.since) } : {}),
      ...(query.cursor !== undefined ? { afterId: query.cursor } : {}),
      limit: query.limit,
    });
    const events = rows.map(ledgerEventView);
    const last = events[events.length - 1];
    return c.json({ events, nextCursor: events.length === query.limit && last ? String(last.id) : null });
  },
});
