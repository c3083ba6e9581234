import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { emptyFlowSummary, type FlowSummary } from '../../domain/flows.js';
import type { PlanAction } from '../../domain/plan.js';
import {
  assignmentKeyFor,
  correlationPrefix,
  parseAssessmentId,
  ticketNumberDigits,
} from '../../domain/tickets/rules.js';
import {
  arrivalOf,
  decideAssignment,
  isClosedIn,
  rememberTicket,
  type AssignmentView,
  type OwnWrite,
  type OwnerWish,
  type TicketMemory,
  type TicketSnapshot,
  type TicketSyncPolicy,
} from '../../domain/tickets/sync.js';
import { TICKET_TABLES, isTicketTable } from '../../domain/tickets/tables.js';
import { InputError, UpstreamError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { intValue, referenceValue, stringValue } from '../../servicenow/values.js';
import type { ArmClient, GovernanceAssignment, GovernanceAssignmentInput } from '../../sources/index.js';
import {
  getEntityStates,
  upsertEntityStates,
  type EntityStateUpdate,
} from '../../store/models/entity-state.js';
import { appendLedgerEvents, ledgerEntryFor } from '../../store/models/ledger.js';
import { linksForTicket, upsertLink, type LinkUpdate } from '../../store/models/links.js';
import type { Store } from '../../store/store.js';

/** The flow's configuration section, with defaults applied. */
export type TicketSyncConfig = NonNullable<IntegrationConfig['flows']['ticketSync']>;

const FLOW = 'ticket-sync' as const;

/** The ticket fields ticket-sync reads (poll rows and webhook records alike). */
export const TICKET_FIELDS = [
  'sys_id',
  'number',
  'state',
  'assigned_to',
  'correlation_id',
  'sys_mod_count',
  'sys_updated_on',
] as const;

/** A user on a ticket whose email Snowline could not use. */
export interface OwnerProblem {
  readonly ticket: string;
  readonly user: string;
  readonly why: string;
}

/** The summary of ticket-sync (a poll run, or the webhook's running totals). */
export type TicketSyncSummary = FlowSummary & {
  /** Ticket versions read or delivered. */
  tickets: number;
  /** Versions already processed (webhook replays, overlap re-reads): nothing done. */
  alreadyProcessed: number;
  /** Versions that were Snowline's own write. */
  echoes: number;
  /** Decisions where both sides had changed. */
  conflicts: number;
  /** Assignments left as they were because they already had the values. */
  assignmentsUnchanged: number;
  ownerProblems: OwnerProblem[];
};

/** A fresh summary. */
export function emptyTicketSyncSummary(): TicketSyncSummary {
  return {
    ...emptyFlowSummary(),
    tickets: 0,
    alreadyProcessed: 0,
    echoes: 0,
    conflicts: 0,
    assignmentsUnchanged: 0,
    ownerProblems: [],
  };
}

/** What the engine needs; one engine per poll run, one per integration for the webhook. */
export interface TicketSyncDeps {
  readonly integrationId: string;
  readonly policy: TicketSyncPolicy;
  readonly servicenow: ServiceNowClient;
  readonly arm: ArmClient;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runId: string | null;
  readonly dryRun: boolean;
  /** How long a user's email is trusted before it is read again. */
  readonly userCacheMs?: number;
  /** A user cache shared across engines (the webhook makes one engine per delivery). */
  readonly userCache?: Map<string, { wish: OwnerWish; at: number }>;
}

/** What was done with one delivered ticket version. */
export type TicketOutcome = 'synced' | 'processed' | 'echo' | 'notSnowline' | 'unlinked';

/** What ticket-sync records per governance assignment (entity `governanceAssignment`). */
interface AssignmentMemory {
  /** Owner and ticketStatus as Snowline last wrote or saw them. */
  readonly view?: AssignmentView;
  /** The body as last read or written, to recreate it after a reopen. */
  readonly body?: GovernanceAssignmentInput;
  readonly removedForClosedTicket?: boolean;
}

/** Per-ticket serialisation inside this process: a webhook and a poll never handle one ticket at once. */
const ticketLocks = new Map<string, Promise<unknown>>();

async function withTicketLock<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = ticketLocks.get(key) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.catch(() => undefined);
  ticketLocks.set(key, settled);
  try {
    return await next;
  } finally {
    if (ticketLocks.get(key) === settled) ticketLocks.delete(key);
  }
}

/**
 * Parses a ticket version from a Table API row or a webhook record. A record without sys_id,
 * state or a numeric sys_mod_count is an {@link InputError} (reported and skipped by callers).
 */
export function ticketSnapshot(table: string, record: Record<string, unknown>): TicketSnapshot {
  if (!isTicketTable(table))
    throw new InputError(`"${table}" is not a ticket table (${TICKET_TABLES.join(', ')})`);
  const sysId = stringValue(record.sys_id);
  const modCount = intValue(record.sys_mod_count);
  const state = stringValue(record.state);
  const updatedOn = stringValue(record.sys_updated_on);
  if (!sysId || modCount === undefined || state === undefined || !updatedOn)
    throw new InputError(
      `a ${table} record lacks sys_id, state, sys_updated_on or a numeric sys_mod_count (sys_id ${sysId ?? 'missing'}); skipped`,
    );
  return {
    table,
    sysId,
    number: stringValue(record.number) ?? sysId,
    state,
    assignedTo: referenceValue(record.assigned_to) ?? null,
    modCount,
    updatedOn,
    correlationId: stringValue(record.correlation_id) ?? '',
  };
}

/**
 * Brings the governance assignments of one ticket in line with one version of it: the shared
 * core of polling and the webhook. Every decision is a plan action and, in a real run, a
 * ledger event recorded with the entity state it leaves behind.
 */
export class TicketSyncEngine {
  readonly summary: TicketSyncSummary = emptyTicketSyncSummary();
  readonly plan: PlanAction[] = [];
  private readonly users: Map<string, { wish: OwnerWish; at: number }>;
  private readonly prefix: string;
  private readonly userReads = new Map<string, Promise<OwnerWish>>();

  constructor(private readonly deps: TicketSyncDeps) {
    this.prefix = correlationPrefix(deps.integrationId);
    this.users = deps.userCache ?? new Map();
  }

  /** Processes one ticket version (serialised per ticket). */
  sync(ticket: TicketSnapshot): Promise<TicketOutcome> {
    return withTicketLock(`${this.deps.integrationId}|${ticket.table}|${ticket.sysId}`, () =>
      this.syncNow(ticket),
    );
  }

  /** Records a ticket version that could not be synced (a malformed record, a failed request). */
  async reportError(key: string, error: Error): Promise<void> {
    this.summary.errors += 1;
    this.deps.logger.warn({ key, error: error.message }, 'ticket not synced');
    await this.decide({
      side: 'servicenow',
      action: 'error',
      entity: 'ticket',
      key,
      reason: error.message.slice(0, 2000),
    });
  }

  private async syncNow(ticket: TicketSnapshot): Promise<TicketOutcome> {
    this.summary.tickets += 1;
    if (!ticket.correlationId.startsWith(this.prefix)) return 'notSnowline';
    const memoryKey = `${ticket.table}:${ticket.sysId}`;
    const stored = await getEntityStates(this.deps.store.db, this.ref('ticket'), [memoryKey]);
    const raw = stored.get(memoryKey)?.data;
    const memory = raw ? (JSON.parse(raw) as TicketMemory) : undefined;
    const arrival = arrivalOf(memory, ticket);
    if (arrival.kind === 'processed') {
      // A replay or an overlap re-read: not a new decision, so no ledger event either.
      this.summary.alreadyProcessed += 1;
      return 'processed';
    }
    const ticketKey = ticket.correlationId;
    const target = { table: ticket.table, id: ticket.sysId };
    if (arrival.kind === 'echo') {
      this.summary.echoes += 1;
      await this.decide(
        {
          side: 'servicenow',
          action: 'skip',
          entity: 'ticket',
          key: ticketKey,
          target,
          reason: `${ticket.number}: ${arrival.reason}; nothing to sync`,
        },
        { tickets: [this.ticketState(memoryKey, rememberTicket(memory, ticket))] },
      );
      return 'echo';
    }

    const links = await linksForTicket(this.deps.store.db, this.deps.integrationId, ticket.sysId);
    if (links.length === 0) {
      await this.decide(
        {
          side: 'servicenow',
          action: 'skip',
          entity: 'ticket',
          key: ticketKey,
          target,
          reason: `${ticket.number} carries Snowline's correlation id but no assessment is linked to it in the store`,
        },
        { tickets: [this.ticketState(memoryKey, rememberTicket(memory, ticket))] },
      );
      return 'unlinked';
    }

    const owner = await this.ownerWish(ticket.assignedTo);
    const ownerChanged = !memory || memory.assignedTo !== ticket.assignedTo;
    const closed = isClosedIn(this.deps.policy, ticket.table, ticket.state);
    const wasClosed = memory !== undefined && isClosedIn(this.deps.policy, memory.table, memory.state);
    const assessmentIds = links.map((l) => l.assessment_id);
    const recorded = await getEntityStates(
      this.deps.store.db,
      this.ref('governanceAssignment'),
      assessmentIds,
    );

    for (const link of links) {
      const id = link.assessment_id;
      const parsed = parseAssessmentId(id);
      if (!parsed) {
        await this.reportError(id, new InputError(`linked assessment id "${id}" is not an assessment id`));
        continue;
      }
      const assignmentKey = assignmentKeyFor(this.deps.integrationId, id);
      const data = recorded.get(id)?.data;
      const remembered: AssignmentMemory = data ? (JSON.parse(data) as AssignmentMemory) : {};
      // Re-read before write: the decision is made against what Defender has now.
      const current = await this.deps.arm.getGovernanceAssignment(
        parsed.resourceId,
        parsed.assessmentKey,
        assignmentKey,
      );
      // Removed for a closed ticket: by ticket-sync (recorded), or while ticket-sync last saw it closed.
      const removedForClosedTicket = remembered.removedForClosedTicket ?? wasClosed;
      const health =
        !current && !closed && removedForClosedTicket && this.deps.policy.reopen === 'recreate'
          ? await this.health(parsed.resourceId, parsed.assessmentKey)
          : undefined;
      const decision = decideAssignment({
        policy: this.deps.policy,
        ticket,
        memory,
        owner,
        current: current ? viewOf(current) : undefined,
        recorded: remembered.view,
        removedForClosedTicket,
        ...(health ? { health } : {}),
      });
      const assignmentTarget = { id: `${id}/governanceAssignments/${assignmentKey}` };
      const base = {
        side: 'defender' as const,
        entity: 'governanceAssignment',
        key: id,
        target: assignmentTarget,
      };
      const now = this.deps.clock.now().toISOString();
      if (decision.kind === 'skip') {
        if (decision.conflict) this.summary.conflicts += 1;
        if (current) this.summary.assignmentsUnchanged += 1;
        await this.decide(
          { ...base, action: 'skip', reason: decision.reason },
          {
            assignments: [
              this.assignmentState(id, assignmentKey, {
                ...remembered,
                ...(current ? { view: viewOf(current), body: bodyOf(current) } : {}),
              }),
            ],
          },
        );
      } else if (decision.kind === 'delete') {
        if (!this.deps.dryRun)
          await this.deps.arm.deleteGovernanceAssignment(
            parsed.resourceId,
            parsed.assessmentKey,
            assignmentKey,
          );
        this.summary.deleted += 1;
        await this.decide(
          { ...base, action: 'delete', reason: decision.reason },
          {
            assignments: [
              {
                ...this.assignmentState(id, assignmentKey, {
                  ...(current ? { body: bodyOf(current) } : remembered.body ? { body: remembered.body } : {}),
                  removedForClosedTicket: true,
                }),
                lastWrittenAt: now,
              },
            ],
            links: [{ assessmentId: id, governanceAssignmentId: null }],
          },
        );
      } else {
        const start: GovernanceAssignmentInput | undefined = current
          ? bodyOf(current)
          : (remembered.body ?? (await this.cloudTicketsBody(ticket)));
        if (!start) {
          await this.decide({
            ...base,
            action: 'skip',
            reason: `${ticket.number} was reopened but Snowline knows no due date for this assignment; it is left absent (cloud-tickets recreates it when the recommendation is still covered)`,
          });
          continue;
        }
        const body: GovernanceAssignmentInput = {
          ...start,
          ...(decision.owner ? { owner: decision.owner } : {}),
          additionalData: {
            ...start.additionalData,
            ...(ticketNumberDigits(ticket.number) !== undefined
              ? { ticketNumber: ticketNumberDigits(ticket.number)! }
              : {}),
            ticketLink:
              start.additionalData?.ticketLink ?? this.deps.servicenow.recordUrl(ticket.table, ticket.sysId),
            ticketStatus: decision.ticketStatus,
          },
        };
        if (!decision.owner) delete (body as { owner?: string }).owner;
        if (!this.deps.dryRun)
          // A PUT replaces the whole assignment: the body is the one just read, with owner and status changed.
          await this.deps.arm.putGovernanceAssignment(
            parsed.resourceId,
            parsed.assessmentKey,
            assignmentKey,
            body,
          );
        if (decision.kind === 'recreate') this.summary.created += 1;
        else this.summary.updated += 1;
        await this.decide(
          { ...base, action: decision.kind === 'recreate' ? 'create' : 'update', reason: decision.reason },
          {
            assignments: [
              {
                ...this.assignmentState(id, assignmentKey, {
                  view: { owner: body.owner, ticketStatus: decision.ticketStatus },
                  body,
                  removedForClosedTicket: false,
                }),
                lastWrittenAt: now,
              },
            ],
            links: [{ assessmentId: id, governanceAssignmentId: assignmentKey }],
          },
        );
      }
    }

    let ownWrite: OwnWrite | undefined;
    if (owner.kind === 'noEmail' && ownerChanged && !closed) {
      ownWrite = await this.reportOwnerProblem(ticket, owner.user, ticketKey, target);
    }
    await this.saveTicket(memoryKey, rememberTicket(memory, ticket, ownWrite));
    return 'synced';
  }

  /** A user without an email is reported (summary, log, ledger, a work note on the ticket), never guessed. */
  private async reportOwnerProblem(
    ticket: TicketSnapshot,
    user: string,
    key: string,
    target: { table: string; id: string },
  ): Promise<OwnWrite | undefined> {
    const why = 'the assigned user has no email address in ServiceNow';
    this.summary.ownerProblems.push({ ticket: ticket.number, user, why });
    this.deps.logger.warn(
      { ticket: ticket.number, user },
      'assigned user has no email; Defender owner left as it is',
    );
    const note = `Snowline: the assigned user ${user} has no email address in ServiceNow, so the owner of the Defender for Cloud governance assignment(s) was left as it was. Add an email to the user record, or reassign the ticket.`;
    if (!this.deps.dryRun && (await this.noteAlreadyWritten(ticket, note))) {
      await this.decide({
        side: 'servicenow',
        action: 'skip',
        entity: 'ticket',
        key,
        target,
        reason: `${ticket.number}: ${why} (${user}); the work note is already on the ticket (written by a run that ended before recording it)`,
      });
      return undefined;
    }
    let ownWrite: OwnWrite | undefined;
    if (!this.deps.dryRun) {
      const record = await this.deps.servicenow.update(ticket.table, ticket.sysId, { work_notes: note });
      const after = ticketSnapshot(ticket.table, { ...record, correlation_id: ticket.correlationId });
      // Recorded from the write's response: the webhook and the next poll recognise this version.
      ownWrite = { modCount: after.modCount, state: after.state, assignedTo: after.assignedTo };
    }
    this.summary.updated += 1;
    await this.decide({
      side: 'servicenow',
      action: 'update',
      entity: 'ticket',
      key,
      target,
      reason: `${ticket.number}: ${why} (${user}); work note added, owner not guessed`,
    });
    return ownWrite;
  }

  /**
   * Whether this version of the ticket already carries the note: a run killed after the note was
   * committed and before the ticket was recorded processes the version again, and a second note
   * would be a duplicate. Work notes written at or after the version's `sys_updated_on` are the
   * ones for this version (a note for an earlier reassignment is older). Without the memory of
   * the first write (ownWrite) its version is taken as a new one with the same assignee, which
   * writes nothing. A journal the integration user may not read (403, or rows removed by ACLs)
   * reads as no note: the note is then written, at worst twice.
   */
  private async noteAlreadyWritten(ticket: TicketSnapshot, note: string): Promise<boolean> {
    try {
      const notes = await this.deps.servicenow.listAll('sys_journal_field', {
        query: encodeQuery({
          where: [
            where('element_id', '=', ticket.sysId),
            where('element', '=', 'work_notes'),
            where('sys_created_on', '>=', ticket.updatedOn),
          ],
        }),
        fields: ['value'],
      });
      return notes.some((n) => stringValue(n.value) === note);
    } catch (error) {
      if (error instanceof UpstreamError && error.status === 403) return false;
      throw error;
    }
  }

  private async ownerWish(userSysId: string | null): Promise<OwnerWish> {
    if (!userSysId) return { kind: 'unassigned' };
    const now = this.deps.clock.now().getTime();
    const cached = this.users.get(userSysId);
    if (cached && now - cached.at < (this.deps.userCacheMs ?? 60_000)) return cached.wish;
    // Tickets of a page are synced concurrently: one look-up per user, shared by all of them.
    const pending = this.userReads.get(userSysId);
    if (pending) return pending;
    const read = (async (): Promise<OwnerWish> => {
      const user = await this.deps.servicenow.get('sys_user', userSysId, [
        'sys_id',
        'email',
        'user_name',
        'name',
      ]);
      const email = stringValue(user?.email);
      const wish: OwnerWish = email
        ? { kind: 'email', email }
        : { kind: 'noEmail', user: stringValue(user?.user_name) ?? stringValue(user?.name) ?? userSysId };
      this.users.set(userSysId, { wish, at: now });
      return wish;
    })();
    this.userReads.set(userSysId, read);
    try {
      return await read;
    } finally {
      this.userReads.delete(userSysId);
    }
  }

  private async health(
    resourceId: string,
    assessmentKey: string,
  ): Promise<'Healthy' | 'Unhealthy' | 'NotApplicable' | 'unknown'> {
    const assessment = await this.deps.arm.getAssessment(resourceId, assessmentKey);
    const code: string | undefined = assessment?.status.code;
    if (code === 'Healthy' || code === 'Unhealthy' || code === 'NotApplicable') return code;
    return 'unknown';
  }

  /**
   * The body cloud-tickets would write for a ticket it opened (its due date and grace period), to
   * recreate an assignment removed before ticket-sync recorded it (cloud-tickets removed it).
   */
  private async cloudTicketsBody(ticket: TicketSnapshot): Promise<GovernanceAssignmentInput | undefined> {
    const row = await this.deps.store.db
      .selectFrom('entity_state')
      .select('data')
      .where('integration_id', '=', this.deps.integrationId)
      .where('flow', '=', 'cloud-tickets')
      .where('entity', '=', 'ticket')
      .where('remote_sys_id', '=', ticket.sysId)
      .executeTakeFirst();
    const memory = row?.data
      ? (JSON.parse(row.data) as { dueDate?: string; gracePeriod?: boolean })
      : undefined;
    if (!memory?.dueDate) return undefined;
    return {
      remediationDueDate: memory.dueDate,
      isGracePeriod: memory.gracePeriod ?? false,
      governanceEmailNotification: {
        disableManagerEmailNotification: true,
        disableOwnerEmailNotification: true,
      },
      additionalData: { ticketLink: this.deps.servicenow.recordUrl(ticket.table, ticket.sysId) },
    };
  }

  // ---- recording --------------------------------------------------------------------------

  private ticketState(key: string, memory: TicketMemory): EntityStateUpdate {
    const now = this.deps.clock.now().toISOString();
    return {
      sourceKey: key,
      remoteTable: memory.table,
      remoteSysId: memory.sysId,
      lastSeenAt: now,
      data: memory,
    };
  }

  private assignmentState(id: string, assignmentKey: string, memory: AssignmentMemory): EntityStateUpdate {
    return {
      sourceKey: id,
      remoteSysId: assignmentKey,
      lastSeenAt: this.deps.clock.now().toISOString(),
      data: memory,
    };
  }

  private async saveTicket(key: string, memory: TicketMemory): Promise<void> {
    if (this.deps.dryRun) return;
    await upsertEntityStates(this.deps.store.db, this.ref('ticket'), [this.ticketState(key, memory)]);
  }

  /**
   * Adds a decision to the plan and, in a real run, records it after its write: the ledger
   * event, the entity states and the links, in one transaction.
   */
  private async decide(
    decision: Omit<PlanAction, 'flow'>,
    records: { tickets?: EntityStateUpdate[]; assignments?: EntityStateUpdate[]; links?: LinkUpdate[] } = {},
  ): Promise<void> {
    const action: PlanAction = { flow: FLOW, ...decision };
    this.plan.push(action);
    if (this.deps.dryRun) return;
    await this.deps.store.db.transaction().execute(async (trx) => {
      if (records.tickets?.length) await upsertEntityStates(trx, this.ref('ticket'), records.tickets);
      if (records.assignments?.length)
        await upsertEntityStates(trx, this.ref('governanceAssignment'), records.assignments);
      for (const link of records.links ?? [])
        await upsertLink(trx, this.deps.clock, this.deps.integrationId, link);
      await appendLedgerEvents(
        trx,
        this.deps.clock,
        { integrationId: this.deps.integrationId, runId: this.deps.runId },
        [ledgerEntryFor(action)],
      );
    });
  }

  private ref(entity: string) {
    return { integrationId: this.deps.integrationId, flow: FLOW, entity };
  }
}

/** The policy part of the flow's configuration. */
export function policyOf(config: TicketSyncConfig): TicketSyncPolicy {
  return { closedStates: config.closedStates, reopen: config.reopen, conflict: config.conflict };
}

function viewOf(assignment: GovernanceAssignment): AssignmentView {
  return { owner: assignment.owner, ticketStatus: assignment.additionalData?.ticketStatus };
}

/** The assignment as read, in the shape a PUT sends (a PUT replaces the whole body). */
function bodyOf(a: GovernanceAssignment): GovernanceAssignmentInput {
  const additional = a.additionalData;
  return {
    ...(a.owner ? { owner: a.owner } : {}),
    remediationDueDate: a.remediationDueDate.toISOString(),
    ...(a.remediationEta
      ? {
          remediationEta: {
            eta: a.remediationEta.eta.toISOString(),
            justification: a.remediationEta.justification,
          },
        }
      : {}),
    ...(a.isGracePeriod !== undefined ? { isGracePeriod: a.isGracePeriod } : {}),
    ...(a.governanceEmailNotification ? { governanceEmailNotification: a.governanceEmailNotification } : {}),
    ...(additional
      ? {
          additionalData: {
            ...(additional.ticketNumber !== undefined ? { ticketNumber: additional.ticketNumber } : {}),
            ...(additional.ticketLink !== undefined ? { ticketLink: additional.ticketLink } : {}),
            ...(additional.ticketStatus !== undefined ? { ticketStatus: additional.ticketStatus } : {}),
          },
        }
      : {}),
  };
}
