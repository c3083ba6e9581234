import { z } from 'zod';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';
import { entityStateByRemoteSysId } from '../../store/models/entity-state.js';
import type { Store } from '../../store/store.js';
import { FlowMemory, type MemoryScope } from '../kernel/memory.js';

/**
 * What flow cloud-tickets remembers, typed: the ticket of each group (entity `ticket`, keyed by
 * group key) and each governance assignment it wrote (entity `governanceAssignment`, keyed by
 * assessment id). ticket-sync, the tickets API and the dashboard read them through the readers
 * here, never by hand.
 */

const FLOW = 'cloud-tickets' as const;

const OwnerSourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('email'), value: z.string() }),
  z.object({ type: z.literal('tag'), value: z.string() }),
]);

/** A ticket rule as remembered with its ticket (the rule, or the settings of a ticket created by hand). */
export const TicketRuleSchema = z.object({
  name: z.string(),
  when: z.object({
    severities: z.array(z.string()).readonly().optional(),
    recommendations: z.array(z.string()).readonly().optional(),
    subscriptions: z.array(z.string()).readonly().optional(),
    resourceTypes: z.array(z.string()).readonly().optional(),
    categories: z.array(z.string()).readonly().optional(),
  }),
  table: z.enum(TICKET_TABLES),
  assignmentGroup: z.string().optional(),
  caller: z.string().optional(),
  owner: OwnerSourceSchema.optional(),
  dueDays: z.number(),
  gracePeriod: z.boolean(),
  grouping: z.enum(['none', 'recommendation', 'resource', 'owner']),
});

/** What the store remembers of one ticket (entity `ticket`, keyed by its group key). */
export const TicketMemorySchema = z.object({
  groupKey: z.string(),
  generation: z.number().int(),
  correlationId: z.string(),
  table: z.enum(TICKET_TABLES),
  sysId: z.string(),
  number: z.string(),
  /** `open`: Snowline keeps it in step; `resolved`: Snowline closed it; `closedByPerson`: closed while Unhealthy. */
  status: z.enum(['open', 'resolved', 'closedByPerson']),
  state: z.string(),
  createdAt: z.string(),
  dueDate: z.string(),
  gracePeriod: z.boolean(),
  /** statusChangeDate per covered assessment id, as last seen. */
  assessments: z.record(z.string(), z.string().nullable()),
  closedAt: z.string().optional(),
  /** The rule (or manual settings) the ticket was opened under. */
  rule: TicketRuleSchema,
  manual: z.boolean().optional(),
  /**
   * The owner (email) Defender gave the ticket's resources when Snowline last set `assigned_to`;
   * null when they had none or several. A ticket recorded before Snowline kept it has none.
   */
  owner: z.string().nullable().optional(),
  /**
   * True for a ticket Defender's own ServiceNow integration opened and Snowline adopted: found by
   * its sys_id (its correlation_id is not Snowline's and is left as it is), its content and
   * assignee are not rewritten.
   */
  adopted: z.boolean().optional(),
});

/** What the store remembers of one ticket. */
export type TicketMemory = z.infer<typeof TicketMemorySchema>;

/** What cloud-tickets remembers of one governance assignment it wrote (entity `governanceAssignment`). */
export const AssignmentMemorySchema = z.object({
  resourceId: z.string().optional(),
  assessmentKey: z.string().optional(),
  groupKey: z.string().optional(),
  /** The owner from the rule when the assignment was last written; absent when recorded before it was kept. */
  owner: z.string().nullable().optional(),
  /** The key of an adopted assignment (Defender's integration chose it); absent for Snowline's own. */
  assignmentKey: z.string().optional(),
});

/** What cloud-tickets remembers of one governance assignment. */
export type AssignmentMemory = z.infer<typeof AssignmentMemorySchema>;

/** The tickets cloud-tickets remembers, for `scope` (its recorder overlaid when given). */
export function ticketMemory(scope: Omit<MemoryScope, 'flow'>): FlowMemory<TicketMemory> {
  return new FlowMemory({ ...scope, flow: FLOW }, 'ticket', TicketMemorySchema);
}

/** The governance assignments cloud-tickets remembers. */
export function assignmentMemory(scope: Omit<MemoryScope, 'flow'>): FlowMemory<AssignmentMemory> {
  return new FlowMemory({ ...scope, flow: FLOW }, 'governanceAssignment', AssignmentMemorySchema);
}

/**
 * The ticket cloud-tickets opened with this sys_id, as it remembers it: how ticket-sync learns
 * the due date and grace period of an assignment it must recreate.
 */
export async function ticketMemoryBySysId(
  store: Store,
  integrationId: string,
  sysId: string,
): Promise<TicketMemory | undefined> {
  const row = await entityStateByRemoteSysId(
    store.db,
    { integrationId, flow: FLOW, entity: 'ticket' },
    sysId,
  );
  return ticketMemory({ store, integrationId }).parse(row?.data);
}
