import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import type { Database, LinkRow } from '../schema.js';

/** What links an assessment to its ticket and governance assignment. */
export interface LinkUpdate {
  readonly assessmentId: string;
  readonly subscriptionId?: string | null;
  readonly ticketTable?: string | null;
  readonly ticketSysId?: string | null;
  readonly ticketNumber?: string | null;
  readonly correlationId?: string | null;
  readonly governanceAssignmentId?: string | null;
  /** True for a ticket adopted from Defender's own ServiceNow integration. */
  readonly adopted?: boolean;
}

/**
 * Records (or updates) the link of an assessment. Tickets are found again by sys_id or
 * correlation id, never by number alone: INC0010002 and PRB0010002 share the digits Defender
 * stores as `ticketNumber`.
 */
export async function upsertLink(
  db: Kysely<Database>,
  clock: Clock,
  integrationId: string,
  link: LinkUpdate,
): Promise<void> {
  const now = clock.now().toISOString();
  const values = {
    integration_id: integrationId,
    assessment_id: link.assessmentId,
    subscription_id: link.subscriptionId ?? null,
    ticket_table: link.ticketTable ?? null,
    ticket_sys_id: link.ticketSysId ?? null,
    ticket_number: link.ticketNumber ?? null,
    correlation_id: link.correlationId ?? null,
    governance_assignment_id: link.governanceAssignmentId ?? null,
    adopted: link.adopted ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
  const update: Record<string, string | number | null> = { updated_at: now };
  if (link.adopted !== undefined) update.adopted = link.adopted ? 1 : 0;
  for (const [key, column] of [
    ['subscriptionId', 'subscription_id'],
    ['ticketTable', 'ticket_table'],
    ['ticketSysId', 'ticket_sys_id'],
    ['ticketNumber', 'ticket_number'],
    ['correlationId', 'correlation_id'],
    ['governanceAssignmentId', 'governance_assignment_id'],
  ] as const) {
    if (link[key] !== undefined) update[column] = link[key] ?? null;
  }
  await db
    .insertInto('link')
    .values(values)
    .onConflict((oc) => oc.columns(['integration_id', 'assessment_id']).doUpdateSet(update))
    .execute();
}

/** The link of one assessment, if any. */
export async function linkForAssessment(
  db: Kysely<Database>,
  integrationId: string,
  assessmentId: string,
): Promise<LinkRow | undefined> {
  return db
    .selectFrom('link')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('assessment_id', '=', assessmentId)
    .executeTakeFirst();
}

/** Every assessment linked to a ticket (one for ungrouped tickets, several for grouped ones). */
export async function linksForTicket(
  db: Kysely<Database>,
  integrationId: string,
  ticketSysId: string,
): Promise<LinkRow[]> {
  return db
    .selectFrom('link')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('ticket_sys_id', '=', ticketSysId)
    .execute()
    .then(byAssessment);
}

/** Every assessment linked under one correlation id. */
export async function linksForCorrelation(
  db: Kysely<Database>,
  integrationId: string,
  correlationId: string,
): Promise<LinkRow[]> {
  return db
    .selectFrom('link')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('correlation_id', '=', correlationId)
    .execute()
    .then(byAssessment);
}

/**
 * The sys_ids of the tickets of `table` that cloud-tickets adopted from Defender's own ServiceNow
 * integration (marked adopted; their correlation_id is not Snowline's and is not rewritten).
 */
export async function adoptedTicketSysIds(
  db: Kysely<Database>,
  integrationId: string,
  table: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('link')
    .select('ticket_sys_id')
    .distinct()
    .where('integration_id', '=', integrationId)
    .where('ticket_table', '=', table)
    .where('adopted', '=', 1)
    .where('ticket_sys_id', 'is not', null)
    .execute();
  return rows.map((r) => r.ticket_sys_id!).sort();
}

/** Every link of an integration, in no given order. */
export async function linksOfIntegration(db: Kysely<Database>, integrationId: string): Promise<LinkRow[]> {
  return db.selectFrom('link').selectAll().where('integration_id', '=', integrationId).execute();
}

/**
 * Links in assessment order. Sorted here, not with ORDER BY: given ORDER BY assessment_id, SQLite
 * walks the primary key (integration_id, assessment_id) instead of the ticket or correlation
 * index, reading every link of the integration for each ticket (measured: a 20,000-ticket poll
 * went from linear to quadratic). A ticket has a handful of links, so sorting them costs nothing.
 */
function byAssessment(rows: LinkRow[]): LinkRow[] {
  return rows.sort((a, b) =>
    a.assessment_id < b.assessment_id ? -1 : a.assessment_id > b.assessment_id ? 1 : 0,
  );
}
