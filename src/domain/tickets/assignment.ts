import { ticketNumberDigits } from './rules.js';

/**
 * The governance assignment Snowline writes for a ticket, as one recipe shared by cloud-tickets
 * (which opens the ticket) and ticket-sync (which makes the assignment follow it). No I/O.
 *
 * Fields are those of the GovernanceAssignment resource (Azure/azure-rest-api-specs
 * specification/security/resource-manager/Microsoft.Security/preview/2022-01-01-preview/
 * governanceAssignments.json): `owner`, `remediationDueDate`, `remediationEta`, `isGracePeriod`,
 * `governanceEmailNotification`, and `additionalData.{ticketNumber, ticketLink, ticketStatus}`
 * (ticketNumber an int32, hence {@link ticketNumberDigits}).
 */

/** A governance assignment body, as PUT sends it (a PUT replaces the whole assignment). */
export interface AssignmentBody {
  owner?: string;
  remediationDueDate: string;
  remediationEta?: { eta: string; justification: string };
  isGracePeriod?: boolean;
  governanceEmailNotification?: {
    disableManagerEmailNotification: boolean;
    disableOwnerEmailNotification: boolean;
  };
  additionalData?: { ticketNumber?: number; ticketLink?: string; ticketStatus?: string };
}

/** The ticket an assignment points at. */
export interface TicketPointer {
  /** `INC0010002`; absent when not known yet. */
  readonly number?: string;
  readonly link: string;
  /** The state label (`In Progress`); absent when not known yet. */
  readonly status?: string;
}

/**
 * The assignment cloud-tickets writes for a ticket it opened: the owner its rule gives, the due
 * date and grace period of the ticket, and the ticket itself. Defender's own e-mail notifications
 * are switched off: the ticket is where the owner is told.
 *
 * @example
 * assignmentForTicket({ owner: 'ana@contoso.com', dueDate, gracePeriod: false,
 *   ticket: { number: 'INC0010002', link, status: 'New' } })
 */
export function assignmentForTicket(input: {
  readonly owner?: string | undefined;
  readonly dueDate: string;
  readonly gracePeriod: boolean;
  readonly ticket: TicketPointer;
}): AssignmentBody {
  return {
    ...(input.owner ? { owner: input.owner } : {}),
    remediationDueDate: input.dueDate,
    isGracePeriod: input.gracePeriod,
    governanceEmailNotification: {
      disableManagerEmailNotification: true,
      disableOwnerEmailNotification: true,
    },
    additionalData: ticketData(input.ticket),
  };
}

/**
 * An assignment as read (or remembered), made to follow its ticket: owner and ticket status as
 * decided, the ticket's number, and its link kept when the assignment has one; every other
 * property stays as it was (a PUT replaces the whole body, so nothing a person set is lost).
 */
export function followTicket(
  start: AssignmentBody,
  ticket: TicketPointer,
  owner: string | undefined,
): AssignmentBody {
  const { owner: _previous, ...rest } = start;
  return {
    ...rest,
    ...(owner ? { owner } : {}),
    additionalData: {
      ...start.additionalData,
      ...ticketData({ ...ticket, link: start.additionalData?.ticketLink ?? ticket.link }),
    },
  };
}

/** What cloud-tickets does with the owner of an assignment it writes again. */
export type AssignmentOwnerRule =
  | { readonly kind: 'fromRule'; readonly reason: string }
  | { readonly kind: 'keepCurrent'; readonly reason: string };

/**
 * Whose owner an assignment cloud-tickets writes again carries. A new assignment takes the rule's
 * owner. An existing one keeps the owner it has now when the owner the rule gives did not change
 * since cloud-tickets last wrote it: then the owner changed last by ticket-sync (following a
 * reassignment in ServiceNow) or by a person in Defender, and must not be overruled run after run.
 * The assignment is re-read before the write to learn that owner.
 */
export function assignmentOwnerRule(input: {
  /** cloud-tickets wrote this assignment before. */
  readonly exists: boolean;
  /** The rule's owner when cloud-tickets last wrote it; undefined when recorded before it was kept. */
  readonly recordedRuleOwner: string | null | undefined;
  readonly ruleOwner: string | null;
}): AssignmentOwnerRule {
  if (!input.exists) return { kind: 'fromRule', reason: 'a new assignment takes the owner from its rule' };
  if (input.recordedRuleOwner === undefined || input.recordedRuleOwner === input.ruleOwner)
    return {
      kind: 'keepCurrent',
      reason: 'the owner from the rule did not change, so the owner the assignment has now is kept',
    };
  return { kind: 'fromRule', reason: `the owner from the rule changed to ${input.ruleOwner ?? 'none'}` };
}

/** True when the assignment as read already has every value of `body` (nothing to write). */
export function sameAssignment(current: AssignmentBody, body: AssignmentBody): boolean {
  const a = current.additionalData;
  const b = body.additionalData;
  return (
    (current.owner ?? '').toLowerCase() === (body.owner ?? '').toLowerCase() &&
    new Date(current.remediationDueDate).getTime() === new Date(body.remediationDueDate).getTime() &&
    (current.isGracePeriod ?? false) === (body.isGracePeriod ?? false) &&
    current.governanceEmailNotification?.disableManagerEmailNotification ===
      body.governanceEmailNotification?.disableManagerEmailNotification &&
    current.governanceEmailNotification?.disableOwnerEmailNotification ===
      body.governanceEmailNotification?.disableOwnerEmailNotification &&
    a?.ticketNumber === b?.ticketNumber &&
    a?.ticketLink === b?.ticketLink &&
    a?.ticketStatus === b?.ticketStatus
  );
}

function ticketData(ticket: TicketPointer): NonNullable<AssignmentBody['additionalData']> {
  const digits = ticket.number === undefined ? undefined : ticketNumberDigits(ticket.number);
  return {
    ...(digits !== undefined ? { ticketNumber: digits } : {}),
    ticketLink: ticket.link,
    ...(ticket.status !== undefined ? { ticketStatus: ticket.status } : {}),
  };
}
