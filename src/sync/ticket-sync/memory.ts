import { z } from 'zod';
import type { TicketMemory } from '../../domain/tickets/sync.js';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';
import { FlowMemory, type MemoryScope } from '../kernel/memory.js';

/**
 * What flow ticket-sync remembers, typed: per ticket (entity `ticket`, keyed `<table>:<sys_id>`)
 * the version last processed, and per governance assignment (entity `governanceAssignment`,
 * keyed by assessment id) what it last wrote or saw.
 */

const OwnWriteSchema = z.object({
  modCount: z.number().int(),
  state: z.string(),
  assignedTo: z.string().nullable(),
});

/** ticket-sync's memory of one ticket (domain/tickets/sync.ts `TicketMemory`). */
export const TicketVersionSchema = z.object({
  table: z.enum(TICKET_TABLES),
  sysId: z.string(),
  number: z.string(),
  modCount: z.number().int(),
  state: z.string(),
  assignedTo: z.string().nullable(),
  ownWrite: OwnWriteSchema.optional(),
}) satisfies z.ZodType<TicketMemory>;

const AssignmentBodySchema = z.object({
  owner: z.string().optional(),
  remediationDueDate: z.string(),
  remediationEta: z.object({ eta: z.string(), justification: z.string() }).optional(),
  isGracePeriod: z.boolean().optional(),
  governanceEmailNotification: z
    .object({ disableManagerEmailNotification: z.boolean(), disableOwnerEmailNotification: z.boolean() })
    .optional(),
  additionalData: z
    .object({
      ticketNumber: z.number().int().optional(),
      ticketLink: z.string().optional(),
      ticketStatus: z.string().optional(),
    })
    .optional(),
});

/** What ticket-sync records per governance assignment. */
export const FollowedAssignmentSchema = z.object({
  /** Owner and ticketStatus as Snowline last wrote or saw them. */
  view: z.object({ owner: z.string().optional(), ticketStatus: z.string().optional() }).optional(),
  /** The body as last read or written, to recreate it after a reopen. */
  body: AssignmentBodySchema.optional(),
  removedForClosedTicket: z.boolean().optional(),
});

/** What ticket-sync records per governance assignment. */
export type FollowedAssignment = z.infer<typeof FollowedAssignmentSchema>;

/** ticket-sync's memory of tickets. */
export function ticketVersions(scope: Omit<MemoryScope, 'flow'>): FlowMemory<TicketMemory> {
  return new FlowMemory({ ...scope, flow: 'ticket-sync' }, 'ticket', TicketVersionSchema);
}

/** ticket-sync's memory of governance assignments. */
export function followedAssignments(scope: Omit<MemoryScope, 'flow'>): FlowMemory<FollowedAssignment> {
  return new FlowMemory({ ...scope, flow: 'ticket-sync' }, 'governanceAssignment', FollowedAssignmentSchema);
}
