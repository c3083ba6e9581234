import { z } from 'zod';
import type { Store } from '../../store/store.js';
import { FlowMemory, type MemoryScope } from '../kernel/memory.js';
import { ALERT_TICKET_TABLES } from '../../domain/ot-alerts/alerts.js';

/**
 * What flow ot-alerts remembers, typed: each ticket it opened (entity `ticket`, keyed by its
 * correlation id) with the alerts it carries, each group's current ticket (entity `group`, keyed
 * by group key), and each alert it decided on (entity `alert`, keyed by the alert's source key),
 * so that an alert read again through the overlap is recognised and costs nothing. The API, the
 * dashboard and the webhook read them through the functions here.
 */

const FLOW = 'ot-alerts' as const;

/** What one ticket remembers of one of its alerts. */
export const TicketAlertSchema = z.object({
  /** What a close is sent to (ARM id, console UUID); absent for the read-only sensor. */
  writeRef: z.string().optional(),
  raisedAt: z.string(),
  severity: z.string(),
  title: z.string(),
  /** Open in Defender as last known. */
  open: z.boolean(),
  /**
   * What became of it: closed in Defender first; closed by Snowline for the ticket (close or
   * learn); left open in Defender because the source has no write; held (arrived after the ticket
   * was closed, within reopenAfterMinutes).
   */
  outcome: z.enum(['closedInDefender', 'closedBySnowline', 'keptOpen', 'held']).optional(),
});

/** What the store remembers of one alert ticket (entity `ticket`). */
export const AlertTicketMemorySchema = z.object({
  groupKey: z.string(),
  generation: z.number().int(),
  correlationId: z.string(),
  table: z.enum(ALERT_TICKET_TABLES),
  sysId: z.string(),
  number: z.string(),
  state: z.string(),
  /** open: kept in step; resolved: Snowline resolved it (every alert closed in Defender); closed: closed on the instance. */
  status: z.enum(['open', 'resolved', 'closed']),
  rule: z.string(),
  createdAt: z.string(),
  /** When Snowline last wrote a work note on it (ISO): where a look for a note already written starts. */
  notedAt: z.string().optional(),
  lastAlertAt: z.string(),
  closedAt: z.string().optional(),
  closeCode: z.string().optional(),
  /** For the dashboard: the highest severity, the site and the device of its alerts. */
  severity: z.string(),
  site: z.string().optional(),
  device: z.string().optional(),
  alerts: z.record(z.string(), TicketAlertSchema),
});

/** What the store remembers of one alert ticket. */
export type AlertTicketMemory = z.infer<typeof AlertTicketMemorySchema>;

/** A group's current ticket (entity `group`). */
export const AlertGroupSchema = z.object({ correlationId: z.string(), generation: z.number().int() });

/** What the store remembers of one alert (entity `alert`): its ticket, or why it has none. */
export const AlertSeenSchema = z.object({
  correlationId: z.string().optional(),
  skipped: z.string().optional(),
});

/** The flow's memories for a run (its recorder overlaid when given). */
export function otAlertMemories(scope: Omit<MemoryScope, 'flow'>) {
  const of = { ...scope, flow: FLOW };
  return {
    tickets: new FlowMemory(of, 'ticket', AlertTicketMemorySchema),
    groups: new FlowMemory(of, 'group', AlertGroupSchema),
    alerts: new FlowMemory(of, 'alert', AlertSeenSchema),
  };
}

/**
 * A page of the alert tickets ot-alerts keeps, in correlation-id order from after `cursor`,
 * optionally of one status: what the API and the dashboard list.
 */
export async function alertTicketsPage(
  store: Store,
  integrationId: string,
  query: {
    readonly status?: AlertTicketMemory['status'] | undefined;
    readonly limit: number;
    readonly cursor?: string | undefined;
  },
): Promise<{ tickets: AlertTicketMemory[]; next: string | null }> {
  const { items, next } = await otAlertMemories({ store, integrationId }).tickets.page({
    limit: query.limit,
    cursor: query.cursor,
    ...(query.status ? { matches: (t: AlertTicketMemory) => t.status === query.status } : {}),
  });
  return { tickets: items.map((i) => i.data), next };
}
