import {
  DEFAULT_CLOSED_STATES,
  isClosedState,
  stateLabel,
  type ClosedStates,
  type TicketTable,
} from './tables.js';

/**
 * Flow ticket-sync's rules, with no I/O: which ticket changes reach Defender, how a governance
 * assignment follows its ticket, and how Snowline tells its own writes and replays from a
 * person's change.
 */

/** Who wins when both sides changed since Snowline last wrote the assignment. */
export interface ConflictRule {
  readonly state: 'servicenow' | 'defender';
  readonly owner: 'servicenow' | 'defender';
  readonly health: 'defender' | 'servicenow';
}

/** The policy of ticket-sync (the flow's configuration, minus transport settings). */
export interface TicketSyncPolicy {
  /** Per table, the state values that mean Resolved / Closed / Canceled. */
  readonly closedStates: ClosedStates;
  readonly reopen: 'recreate' | 'leave';
  readonly conflict: ConflictRule;
}

/** The out-of-box policy (see the configuration reference). */
export const DEFAULT_TICKET_SYNC_POLICY: TicketSyncPolicy = {
  closedStates: DEFAULT_CLOSED_STATES,
  reopen: 'recreate',
  conflict: { state: 'servicenow', owner: 'servicenow', health: 'defender' },
};

/** A ticket as ServiceNow reports it (poll row or webhook record), reduced to what ticket-sync reads. */
export interface TicketSnapshot {
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
  readonly state: string;
  /** sys_id of the assigned user; null when unassigned. */
  readonly assignedTo: string | null;
  readonly modCount: number;
  readonly updatedOn: string;
  readonly correlationId: string;
}

/** The values of a ticket a Snowline write left behind, recorded from the write's response. */
export interface OwnWrite {
  readonly modCount: number;
  readonly state: string;
  readonly assignedTo: string | null;
}

/** What ticket-sync remembers of one ticket: what Defender was last brought in line with. */
export interface TicketMemory {
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
  /** The highest sys_mod_count processed: a delivery at or below it is a replay or an overlap re-read. */
  readonly modCount: number;
  readonly state: string;
  readonly assignedTo: string | null;
  /** The last write Snowline made to the ticket itself (a work note), to recognise its echo. */
  readonly ownWrite?: OwnWrite;
}

/** How a delivered ticket version relates to what was processed. */
export type Arrival =
  | { readonly kind: 'new' }
  | { readonly kind: 'processed' }
  | { readonly kind: 'echo'; readonly reason: string };

/**
 * Classifies a delivered ticket version. `processed`: its sys_mod_count is not above the one
 * recorded (a replayed webhook, an overlap re-read, a delivery older than a poll). `echo`: it is
 * exactly the version Snowline's own write produced, with the values recorded after that write —
 * a person's change between the last processed version and that write would show in the values
 * or in a higher sys_mod_count, so it is never taken for an echo. Who wrote it last
 * (`sys_updated_by`) is not looked at: it names only the last writer.
 *
 * @example
 * arrivalOf({ ...memory, modCount: 4 }, { ...snapshot, modCount: 4 }) // { kind: 'processed' }
 */
export function arrivalOf(memory: TicketMemory | undefined, snapshot: TicketSnapshot): Arrival {
  if (!memory) return { kind: 'new' };
  if (snapshot.modCount <= memory.modCount) return { kind: 'processed' };
  const own = memory.ownWrite;
  if (
    own &&
    own.modCount === snapshot.modCount &&
    own.state === snapshot.state &&
    own.assignedTo === snapshot.assignedTo &&
    memory.state === snapshot.state &&
    memory.assignedTo === snapshot.assignedTo
  ) {
    return { kind: 'echo', reason: `version ${snapshot.modCount} is Snowline's own write (work note)` };
  }
  return { kind: 'new' };
}

/** True when the ticket's state is one of its table's closed states. */
export function isClosedIn(policy: TicketSyncPolicy, table: TicketTable, state: string): boolean {
  return isClosedState(table, state, policy.closedStates);
}

/** The owner the ticket asks for: a user's email, nobody, or a user Snowline can not map. */
export type OwnerWish =
  | { readonly kind: 'email'; readonly email: string }
  | { readonly kind: 'unassigned' }
  | { readonly kind: 'noEmail'; readonly user: string };

/** The part of a governance assignment ticket-sync compares and writes. */
export interface AssignmentView {
  readonly owner: string | undefined;
  readonly ticketStatus: string | undefined;
}

/** One decision about one governance assignment. */
export type AssignmentDecision =
  | { readonly kind: 'delete'; readonly reason: string }
  | {
      readonly kind: 'put';
      readonly owner: string | undefined;
      readonly ticketStatus: string;
      readonly reason: string;
    }
  | {
      readonly kind: 'recreate';
      readonly owner: string | undefined;
      readonly ticketStatus: string;
      readonly reason: string;
    }
  | { readonly kind: 'skip'; readonly reason: string; readonly conflict?: boolean };

/** Everything {@link decideAssignment} weighs for one assignment of one ticket. */
export interface AssignmentInput {
  readonly policy: TicketSyncPolicy;
  readonly ticket: TicketSnapshot;
  /** What was processed before (undefined on first sight: the ticket's values are taken as changed). */
  readonly memory: TicketMemory | undefined;
  readonly owner: OwnerWish;
  /** The assignment as Defender has it now (re-read before the decision); undefined when absent. */
  readonly current: AssignmentView | undefined;
  /** The assignment as Snowline last wrote or saw it; undefined when never recorded. */
  readonly recorded: AssignmentView | undefined;
  /** Whether the assignment was deleted because its ticket closed (a reopen puts it back). */
  readonly removedForClosedTicket: boolean;
  /** Defender's health of the assessment, read only when a recreate is considered. */
  readonly health?: 'Healthy' | 'Unhealthy' | 'NotApplicable' | 'unknown';
}

/**
 * Decides what happens to one governance assignment after a ticket change.
 *
 * - Closed per its table → delete (none when already absent). With `conflict.state: defender`,
 *   an assignment a person changed in Defender since Snowline last wrote it is kept.
 * - Open and the assignment exists → owner and `ticketStatus` follow the ticket; the rest of the
 *   body is re-sent as read. When the owner changed on both sides, `conflict.owner` decides; a
 *   user without an email leaves the owner as it is. Nothing is written when the assignment
 *   already has the values.
 * - Open, absent, and removed because the ticket had closed → reopened: recreated unless
 *   `reopen: leave`, or Defender reports the assessment Healthy / Not applicable and
 *   `conflict.health` is `defender`.
 *
 * @example
 * decideAssignment({ policy, ticket: { ...t, state: '6' }, memory, owner, current, recorded, removedForClosedTicket: false })
 * // { kind: 'delete', reason: 'INC0010001 is Resolved (incident closed states 6, 7, 8)' }
 */
export function decideAssignment(input: AssignmentInput): AssignmentDecision {
  const { policy, ticket, memory, current, recorded } = input;
  const label = stateLabel(ticket.table, ticket.state);
  const closedStates = policy.closedStates[ticket.table];
  if (isClosedIn(policy, ticket.table, ticket.state)) {
    if (!current)
      return { kind: 'skip', reason: `${ticket.number} is ${label}; the assignment is already absent` };
    const changedInDefender = recorded !== undefined && !sameView(current, recorded);
    if (changedInDefender && policy.conflict.state === 'defender') {
      return {
        kind: 'skip',
        conflict: true,
        reason: `${ticket.number} is ${label} but the assignment was changed in Defender since Snowline wrote it; kept (conflict.state: defender)`,
      };
    }
    return {
      kind: 'delete',
      reason: `${ticket.number} is ${label} (${ticket.table} closed states ${closedStates.join(', ')})${
        changedInDefender ? '; the assignment had also changed in Defender (conflict.state: servicenow)' : ''
      }`,
    };
  }

  const ownerChangedInServiceNow = !memory || memory.assignedTo !== ticket.assignedTo;
  if (!current) {
    if (!input.removedForClosedTicket)
      return {
        kind: 'skip',
        reason: `${ticket.number} is ${label}; it has no assignment in Defender to update`,
      };
    if (policy.reopen === 'leave')
      return { kind: 'skip', reason: `${ticket.number} was reopened (${label}); reopen policy leave` };
    if (
      (input.health === 'Healthy' || input.health === 'NotApplicable') &&
      policy.conflict.health === 'defender'
    ) {
      return {
        kind: 'skip',
        conflict: true,
        reason: `${ticket.number} was reopened (${label}) but Defender reports the recommendation ${input.health}; no assignment recreated (conflict.health: defender)`,
      };
    }
    const owner = input.owner.kind === 'email' ? input.owner.email : recorded?.owner;
    return {
      kind: 'recreate',
      owner,
      ticketStatus: label,
      reason: `${ticket.number} was reopened (${label}); assignment recreated (reopen policy recreate)`,
    };
  }

  let owner = current.owner;
  const notes: string[] = [];
  if (input.owner.kind === 'email' && !sameEmail(input.owner.email, current.owner)) {
    const ownerChangedInDefender = recorded !== undefined && !sameEmail(recorded.owner, current.owner);
    if (!ownerChangedInServiceNow) {
      // The ticket's user did not change: a Defender-side owner change is left alone.
    } else if (ownerChangedInDefender && policy.conflict.owner === 'defender') {
      notes.push(
        `owner ${current.owner ?? 'none'} kept: it was changed in Defender too (conflict.owner: defender)`,
      );
    } else {
      owner = input.owner.email;
      notes.push(
        `owner ${current.owner ?? 'none'} → ${input.owner.email}${
          ownerChangedInDefender ? ' (changed on both sides; conflict.owner: servicenow)' : ''
        }`,
      );
    }
  }
  const statusChanged = current.ticketStatus !== label;
  if (statusChanged) notes.push(`ticketStatus ${current.ticketStatus ?? 'none'} → ${label}`);
  if (owner === current.owner && !statusChanged) {
    const conflictKept = notes.length > 0;
    return {
      kind: 'skip',
      ...(conflictKept ? { conflict: true } : {}),
      reason: `${ticket.number}: ${conflictKept ? notes.join('; ') : "the assignment already has the ticket's owner and status"}`,
    };
  }
  return { kind: 'put', owner, ticketStatus: label, reason: `${ticket.number}: ${notes.join('; ')}` };
}

/** Emails compare without case (Entra ID and ServiceNow both treat them so). */
export function sameEmail(a: string | undefined, b: string | undefined): boolean {
  return (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
}

function sameView(a: AssignmentView, b: AssignmentView): boolean {
  return sameEmail(a.owner, b.owner) && (a.ticketStatus ?? '') === (b.ticketStatus ?? '');
}

/** The memory after a ticket version was processed (the owner part only moves when it was applied). */
export function rememberTicket(
  memory: TicketMemory | undefined,
  ticket: TicketSnapshot,
  ownWrite?: OwnWrite,
): TicketMemory {
  const own = ownWrite ?? memory?.ownWrite;
  return {
    table: ticket.table,
    sysId: ticket.sysId,
    number: ticket.number,
    // Only versions delivered and processed move this; Snowline's own write is recognised when
    // its version arrives (see arrivalOf).
    modCount: Math.max(ticket.modCount, memory?.modCount ?? -1),
    state: ticket.state,
    assignedTo: ticket.assignedTo,
    ...(own ? { ownWrite: own } : {}),
  };
}

/**
 * The next poll's lower bound: the watermark (a `YYYY-MM-DD HH:mm:ss` UTC value) minus the
 * overlap, in the same form. Undefined before the first complete read.
 */
export function pollSince(watermark: string | undefined, overlapSeconds: number): string | undefined {
  if (!watermark) return undefined;
  const at = new Date(`${watermark.replace(' ', 'T')}Z`);
  if (Number.isNaN(at.getTime())) return undefined;
  return new Date(at.getTime() - overlapSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * Where a poll's watermark may move after a page: past the last record processed, but never
 * past the first record that failed (it is read again next poll), and never backwards.
 */
export function nextWatermark(
  current: string | undefined,
  lastProcessed: string | undefined,
  firstFailed: string | undefined,
): string | undefined {
  let candidate = lastProcessed;
  if (firstFailed !== undefined && (candidate === undefined || firstFailed < candidate))
    candidate = firstFailed;
  if (candidate === undefined) return current;
  return current !== undefined && current > candidate ? current : candidate;
}
