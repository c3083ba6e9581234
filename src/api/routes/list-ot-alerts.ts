import { z } from 'zod';
import { TICKET_TABLE_SPECS } from '../../domain/tickets/tables.js';
import { alertTicketsPage } from '../../sync/ot-alerts/memory.js';
import { defineRoute, integrationField, integrationFor } from '../route.js';
import { limitField } from './views.js';

const AlertTicketsQuery = z.object({
  integration: integrationField,
  status: z.enum(['open', 'resolved', 'closed']).optional().meta({
    description:
      'Only tickets in this Snowline status (open: kept in step; resolved: Snowline resolved it because Defender closed every alert; closed: closed on the instance).',
  }),
  limit: limitField,
  cursor: z.string().min(1).optional().meta({ description: 'The nextCursor of the previous page.' }),
});

/**
 * `GET /api/v1/ot-alerts`: the tickets flow ot-alerts keeps, each with its ServiceNow side and
 * its Defender for IoT alerts (open or closed in Defender, and what Snowline did with each), as
 * the store last recorded them.
 */
export const listOtAlertsRoute = defineRoute({
  method: 'get',
  path: '/ot-alerts',
  operationId: 'listOtAlerts',
  summary: 'OT alert tickets with their Defender for IoT alerts, severity and site',
  auth: true,
  query: AlertTicketsQuery,
  responses: {
    200: {
      description: 'A page of alert tickets in correlation-id order; nextCursor is null on the last page.',
      schema: z.object({
        tickets: z.array(z.record(z.string(), z.unknown())),
        nextCursor: z.string().nullable(),
      }),
    },
  },
  async handle(c, { query }, deps) {
    const integration = integrationFor(deps.config, query.integration);
    const { tickets, next } = await alertTicketsPage(deps.store, integration.id, query);
    return c.json({
      tickets: tickets.map((t) => ({
        correlationId: t.correlationId,
        status: t.status,
        rule: t.rule,
        severity: t.severity,
        site: t.site ?? null,
        device: t.device ?? null,
        servicenow: {
          table: t.table,
          number: t.number,
          sysId: t.sysId,
          state: t.state,
          stateLabel: TICKET_TABLE_SPECS[t.table].states[t.state] ?? t.state,
        },
        alerts: Object.entries(t.alerts).map(([key, a]) => ({
          key,
          title: a.title,
          severity: a.severity,
          raisedAt: a.raisedAt,
          openInDefender: a.open,
          outcome: a.outcome ?? null,
        })),
        createdAt: t.createdAt,
        lastAlertAt: t.lastAlertAt,
        closedAt: t.closedAt ?? null,
        closeCode: t.closeCode ?? null,
      })),
      nextCursor: next,
    });
  },
});
