import { TICKET_TABLES, type TicketTable } from './tables.js';
import { ticketNumberDigits } from './rules.js';

/**
 * Governance assignments made by Defender for Cloud's own ServiceNow integration, and how
 * Snowline recognises the ticket behind one. Pure: no I/O.
 *
 * What the published sources say (and no more):
 * - `Azure/azure-rest-api-specs`
 *   `specification/security/resource-manager/Microsoft.Security/preview/2022-01-01-preview/governanceAssignments.json`:
 *   `GovernanceAssignmentAdditionalData` is `ticketNumber` (int32, minimum 0, "Ticket number
 *   associated with this governance assignment"), `ticketLink` ("for example: https://snow.com")
 *   and `ticketStatus` ("for example: Active"); the Get example carries `123123`,
 *   `"https://snow.com"`, `"Active"` next to an owner and a due date.
 * - `MicrosoftDocs/azure-docs` `articles/defender-for-cloud/create-ticket-servicenow.md`: an
 *   assignment of Type ServiceNow creates a ticket (incident, change request or problem only);
 *   "the Ticket ID … will appear next to the resource in the recommendation", and selecting it
 *   opens the ticket in ServiceNow.
 *
 * UNVERIFIED (no source found; searched the spec and its examples, the azure-docs pages
 * `create-ticket-servicenow.md`, `create-governance-rule-servicenow.md`, `connect-servicenow.md`,
 * `integration-servicenow.md`, and code search for `ticketNumber`): the exact form of `ticketLink`
 * (the spec's example is only a host), whether `ticketNumber` is the digits of the number as
 * Snowline writes them, and what, if anything, the integration puts in the ticket's
 * `correlation_id`. So Snowline trusts only what is on the instance: the link's host names the
 * instance, a `sys_id` in the link is used when there is one, else the ticket is searched by the
 * digits of its number, and an ambiguous match is never guessed.
 */

/** The ticket a governance assignment points at, as Defender stores it. */
export interface AssignmentTicket {
  readonly ticketNumber?: number | undefined;
  readonly ticketLink?: string | undefined;
  readonly ticketStatus?: string | undefined;
}

/** Where a ticket link points, as far as the link says. */
export type TicketLinkTarget =
  | { readonly kind: 'thisInstance'; readonly table?: TicketTable; readonly sysId?: string }
  | { readonly kind: 'otherInstance'; readonly host: string }
  | { readonly kind: 'none' };

const SYS_ID = /sys_id=([0-9a-f]{32})/i;
const PAGE = /([a-z_]+)\.do\b/gi;

/** The link's path and query with every level of percent-encoding undone (nav_to.do nests one). */
function decoded(text: string): string {
  let current = text;
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return current;
    }
    if (next === current) return current;
    current = next;
  }
  return current;
}

/**
 * Where `ticketLink` points: this instance (with the table and sys_id when the link carries
 * them, in any of the forms ServiceNow uses: `/incident.do?sys_id=…`, `nav_to.do?uri=…`, encoded
 * or not), another instance, or nowhere (no link, or not a URL).
 *
 * @example
 * ticketLinkTarget('https://acme.service-now.com/nav_to.do?uri=incident.do%3Fsys_id%3D' + id, 'https://acme.service-now.com')
 * // { kind: 'thisInstance', table: 'incident', sysId: id }
 */
export function ticketLinkTarget(link: string | undefined, instanceUrl: string): TicketLinkTarget {
  if (!link) return { kind: 'none' };
  let url: URL;
  let instance: URL;
  try {
    url = new URL(link);
    instance = new URL(instanceUrl);
  } catch {
    return { kind: 'none' };
  }
  if (url.host.toLowerCase() !== instance.host.toLowerCase())
    return { kind: 'otherInstance', host: url.host };
  const rest = decoded(`${url.pathname}${url.search}`);
  const sysId = SYS_ID.exec(rest)?.[1]?.toLowerCase();
  const table = [...rest.matchAll(PAGE)]
    .map((m) => m[1]!.toLowerCase())
    .find((page): page is TicketTable => (TICKET_TABLES as readonly string[]).includes(page));
  return { kind: 'thisInstance', ...(table ? { table } : {}), ...(sysId ? { sysId } : {}) };
}

/**
 * True when an assignment carries a ServiceNow ticket and is not one of Snowline's own (those
 * have the key Snowline derives for the assessment): one Defender's own integration, or someone
 * else, made.
 */
export function carriesOtherTicket(
  assignment: { readonly assignmentKey: string; readonly additionalData?: AssignmentTicket | undefined },
  snowlineKey: string,
): boolean {
  if (assignment.assignmentKey.toLowerCase() === snowlineKey.toLowerCase()) return false;
  const data = assignment.additionalData;
  return data?.ticketNumber !== undefined || Boolean(data?.ticketLink);
}

/** A ticket found on the instance, as candidates for an assignment's ticket. */
export interface TicketCandidate {
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
}

/** Which ticket an assignment points at, or why none can be taken. */
export type TicketMatch =
  | { readonly kind: 'one'; readonly ticket: TicketCandidate; readonly by: 'sys_id' | 'number' }
  | { readonly kind: 'none'; readonly why: string }
  | { readonly kind: 'several'; readonly why: string };

/**
 * Picks the ticket an assignment points at among candidates read from the instance: by the
 * link's sys_id when it has one; else by the digits of the number (`ticketNumber`), within the
 * link's table when it names one. INC0010002 and PRB0010002 share the digits 10002: several
 * matches left after that are ambiguous and never guessed.
 */
export function matchTicket(
  data: AssignmentTicket,
  target: TicketLinkTarget,
  candidates: readonly TicketCandidate[],
): TicketMatch {
  if (target.kind === 'thisInstance' && target.sysId) {
    const found = candidates.find((c) => c.sysId === target.sysId);
    return found
      ? { kind: 'one', ticket: found, by: 'sys_id' }
      : { kind: 'none', why: `no incident, problem or change request has the sys_id ${target.sysId}` };
  }
  if (data.ticketNumber === undefined)
    return { kind: 'none', why: 'the assignment has no ticketNumber and its link no sys_id' };
  const byNumber = candidates.filter((c) => ticketNumberDigits(c.number) === data.ticketNumber);
  const inTable =
    target.kind === 'thisInstance' && target.table
      ? byNumber.filter((c) => c.table === target.table)
      : byNumber;
  if (inTable.length === 1) return { kind: 'one', ticket: inTable[0]!, by: 'number' };
  if (inTable.length === 0)
    return {
      kind: 'none',
      why: `no incident, problem or change request has the number ${data.ticketNumber}`,
    };
  return {
    kind: 'several',
    why: `${inTable.map((c) => c.number).join(', ')} all have the number ${data.ticketNumber}`,
  };
}
