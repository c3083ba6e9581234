import { emptyFlowSummary, type FlowSummary } from '../../domain/flows.js';
import type { PlanAction } from '../../domain/plan.js';
import { assignmentForTicket, followTicket, type AssignmentBody } from '../../domain/tickets/assignment.js';
import { assignmentKeyFor, correlationPrefix, parseAssessmentId } from '../../domain/tickets/rules.js';
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
import { InputError, UpstreamError, isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { intValue, referenceValue, stringValue } from '../../servicenow/values.js';
import { GovernanceAssignmentSchema } from '../../sources/azure/models.js';
import {
  kqlString,
  type ArmClient,
  type GovernanceAssignment,
  type ResourceGraphClient,
} from '../../sources/index.js';
import type { EntityStateUpdate } from '../../store/models/entity-state.js';
import { linksForTicket, type LinkUpdate } from '../../store/models/links.js';
import { ticketMemoryBySysId } from '../cloud-tickets/memory.js';
import type { FlowContext } from '../kernel/flow.js';
import type { FlowMemory } from '../kernel/memory.js';
import { withTicketLock } from '../kernel/ticket-lock.js';
import { ArmAssignmentWriter } from '../kernel/writers/arm-assignment.js';
import { followedAssignments, ticketVersions, type FollowedAssignment } from './memory.js';
import type { TicketSyncConfig } from './config.js';

export type { TicketSyncConfig } from './config.js';

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

/** ticket-sync's own counters (created, updated, deleted and errors come from its decisions). */
export interface TicketSyncCounters {
  unchanged: number;
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
}

/** The summary of a ticket-sync poll. */
export type TicketSyncSummary = FlowSummary & TicketSyncCounters;

/** ticket-sync's own counters, at zero. */
export function emptyTicketSyncCounters(): TicketSyncCounters {
  return {
    unchanged: emptyFlowSummary().unchanged,
    tickets: 0,
    alreadyProcessed: 0,
    echoes: 0,
    conflicts: 0,
    assignmentsUnchanged: 0,
    ownerProblems: [],
  };
}

/** The remote clients the engine uses. */
export interface TicketSyncClients {
  readonly servicenow: ServiceNowClient;
  readonly arm: ArmClient;
  /**
   * For a poll's read-ahead of current assignments ({@link TicketSyncEngine.readAhead}), with the
   * subscriptions it is scoped to; without it each assignment is read through ARM.
   */
  readonly resourceGraph?: ResourceGraphClient;
  readonly subscriptions?: readonly string[];
}

/** Assignment ids a Resource Graph read-ahead query names (its `in~` list stays short). */
const READ_AHEAD_IDS = 100;

/** What the engine shares across engines (the webhook makes one engine per delivery). */
export interface TicketSyncShared {
  /** How long a user's email is trusted before it is read again. */
  readonly userCacheMs?: number;
  /** A user cache shared across engines. */
  readonly userCache?: Map<string, { wish: OwnerWish; at: number }>;
}

/** What was done with one delivered ticket version. */
export type TicketOutcome = 'synced' | 'processed' | 'echo' | 'notSnowline' | 'unlinked';

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
  private readonly users: Map<string, { wish: OwnerWish; at: number }>;
  private readonly userCacheMs: number;
  private readonly prefix: string;
  private readonly policy: TicketSyncPolicy;
  private readonly versions: FlowMemory<TicketMemory>;
  private readonly assignments: FlowMemory<FollowedAssignment>;
  private readonly userReads = new Map<string, Promise<OwnerWish>>();
  private readonly writer: ArmAssignmentWriter;
  /**
   * Current assignments read ahead for a page of tickets, by lower-cased assignment id (null:
   * Defender has none); each is used once, by the ticket version it was read for.
   */
  private readonly readAheadCache = new Map<string, GovernanceAssignment | null>();

  /**
   * @param summary the counters this engine adds to (a poll's; the webhook's per delivery)
   * @param shared what engines share across deliveries (the user cache)
   */
  constructor(
    private readonly context: FlowContext<TicketSyncConfig>,
    private readonly clients: TicketSyncClients,
    readonly summary: TicketSyncCounters = emptyTicketSyncCounters(),
    shared: TicketSyncShared = {},
  ) {
    this.prefix = correlationPrefix(context.integrationId);
    this.policy = policyOf(context.config);
    this.users = shared.userCache ?? new Map();
    this.userCacheMs = shared.userCacheMs ?? 60_000;
    const scope = { store: context.store, integrationId: context.integrationId, recorder: context.recorder };
    this.versions = ticketVersions(scope);
    this.assignments = followedAssignments(scope);
    this.writer = new ArmAssignmentWriter({ arm: clients.arm, recorder: context.recorder });
  }

  /** Processes one ticket version (serialised per ticket). */
  sync(ticket: TicketSnapshot): Promise<TicketOutcome> {
    return withTicketLock(`${this.context.integrationId}|${ticket.table}|${ticket.sysId}`, () =>
      this.syncNow(ticket),
    );
  }

  /** Records a ticket version that could not be synced (a malformed record, a failed request). */
  async reportError(key: string, error: Error): Promise<void> {
    this.context.logger.warn({ key, err: error }, 'ticket not synced');
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
    const ours = ticket.correlationId.startsWith(this.prefix);
    // A ticket without Snowline's correlation id is followed when cloud-tickets adopted it from
    // Defender's own ServiceNow integration: its link holds the sys_id (the correlation_id is not
    // rewritten).
    const adoptedLinks = ours ? undefined : await this.linksOf(ticket);
    if (adoptedLinks?.length === 0) return 'notSnowline';
    const memoryKey = `${ticket.table}:${ticket.sysId}`;
    const memory = (await this.versions.one(memoryKey))?.data;
    const arrival = arrivalOf(memory, ticket);
    if (arrival.kind === 'processed') {
      // A replay or an overlap re-read: not a new decision, so no ledger event either.
      this.summary.alreadyProcessed += 1;
      return 'processed';
    }
    const ticketKey = ours ? ticket.correlationId : memoryKey;
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

    const links = adoptedLinks ?? (await this.linksOf(ticket));
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
    const closed = isClosedIn(this.policy, ticket.table, ticket.state);
    const wasClosed = memory !== undefined && isClosedIn(this.policy, memory.table, memory.state);
    const assessmentIds = links.map((l) => l.assessment_id);
    const recorded = await this.assignments.get(assessmentIds);

    for (const link of links) {
      const id = link.assessment_id;
      const parsed = parseAssessmentId(id);
      if (!parsed) {
        await this.reportError(id, new InputError(`linked assessment id "${id}" is not an assessment id`));
        continue;
      }
      const assignmentKey = this.assignmentKeyOf(link, recorded.get(id)?.remoteSysId);
      const remembered: FollowedAssignment = recorded.get(id)?.data ?? {};
      // Re-read before write: the decision is made against what Defender has now.
      const assignmentRef = {
        resourceId: parsed.resourceId,
        assessmentKey: parsed.assessmentKey,
        assignmentKey,
      };
      const current = await this.currentAssignment(id, assignmentRef);
      // Removed for a closed ticket: by ticket-sync (recorded), or while ticket-sync last saw it closed.
      const removedForClosedTicket = remembered.removedForClosedTicket ?? wasClosed;
      const health =
        !current && !closed && removedForClosedTicket && this.policy.reopen === 'recreate'
          ? await this.health(parsed.resourceId, parsed.assessmentKey)
          : undefined;
      const decision = decideAssignment({
        policy: this.policy,
        ticket,
        memory,
        owner,
        current: current ? viewOf(current) : undefined,
        recorded: remembered.view && {
          owner: remembered.view.owner,
          ticketStatus: remembered.view.ticketStatus,
        },
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
      const now = this.context.clock.now().toISOString();
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
        await this.writer.remove(assignmentRef);
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
        const start: AssignmentBody | undefined = current
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
        const body = followTicket(
          start,
          {
            number: ticket.number,
            link: this.clients.servicenow.recordUrl(ticket.table, ticket.sysId),
            status: decision.ticketStatus,
          },
          decision.owner,
        );
        // A PUT replaces the whole assignment: the body is the one just read, with owner and status changed.
        await this.writer.put(assignmentRef, body);
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

  /**
   * Reads the current governance assignments of a page of changed tickets in one Resource Graph
   * query per {@link READ_AHEAD_IDS} assignments (`securityresources`, type
   * `microsoft.security/assessments/governanceassignments`, Microsoft Learn: Azure Resource Graph
   * table and resource type reference), instead of one ARM GET per assignment: a poll then costs
   * about one ARM request (the PUT or DELETE) per change. Versions already processed and echoes
   * are left out (they read nothing). Resource Graph is eventually consistent: an assignment a
   * person changed in Defender moments ago can still show its previous values, and the decision
   * is made against those (as it would be against a GET made just before that change).
   */
  async readAhead(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    const graph = this.clients.resourceGraph;
    // What an earlier page read and did not use (a version that failed) is not trusted later.
    this.readAheadCache.clear();
    if (!graph || this.context.dryRun) return;
    const snapshots: TicketSnapshot[] = [];
    for (const row of rows) {
      try {
        snapshots.push(ticketSnapshot(table, row));
      } catch {
        // A malformed row is reported when it is synced.
      }
    }
    const versions = await this.versions.get(snapshots.map((t) => `${t.table}:${t.sysId}`));
    const ids: string[] = [];
    for (const ticket of snapshots) {
      const memory = versions.get(`${ticket.table}:${ticket.sysId}`)?.data;
      if (arrivalOf(memory, ticket).kind !== 'new') continue;
      const links = await this.linksOf(ticket);
      const recorded = await this.assignments.get(links.map((l) => l.assessment_id));
      for (const link of links) {
        const key = this.assignmentKeyOf(link, recorded.get(link.assessment_id)?.remoteSysId);
        ids.push(`${link.assessment_id}/governanceAssignments/${key}`.toLowerCase());
      }
    }
    const scope = this.clients.subscriptions?.length
      ? { subscriptions: [...this.clients.subscriptions] }
      : {};
    for (let i = 0; i < ids.length; i += READ_AHEAD_IDS) {
      const chunk = ids.slice(i, i + READ_AHEAD_IDS);
      const found = new Map<string, GovernanceAssignment | null>(chunk.map((id) => [id, null]));
      const query = `securityresources | where type == 'microsoft.security/assessments/governanceassignments' | where id in~ (${chunk.map(kqlString).join(', ')}) | project id, name, type, properties`;
      try {
        for await (const page of graph.queryRecords(query, GovernanceAssignmentSchema, {
          ...scope,
          what: 'governance assignments',
        })) {
          for (const a of page.items) {
            const id = a.id.toLowerCase();
            if (found.has(id)) found.set(id, a);
          }
        }
      } catch (error) {
        if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
        // Without the read-ahead each assignment is read through ARM, as the webhook does.
        this.context.logger.warn({ err: error }, 'governance assignments not read ahead; reading each');
        continue;
      }
      for (const [id, assignment] of found) this.readAheadCache.set(id, assignment);
    }
  }

  /** The assignment as Defender holds it now: read ahead for this version, else through ARM. */
  private async currentAssignment(
    assessmentId: string,
    ref: { resourceId: string; assessmentKey: string; assignmentKey: string },
  ): Promise<GovernanceAssignment | undefined> {
    const id = `${assessmentId}/governanceAssignments/${ref.assignmentKey}`.toLowerCase();
    const ahead = this.readAheadCache.get(id);
    if (ahead !== undefined) {
      this.readAheadCache.delete(id);
      return ahead ?? undefined;
    }
    return this.writer.read(ref);
  }

  /**
   * The key of a linked assessment's assignment: an adopted one keeps the key Defender's
   * integration gave it (the link holds it, and ticket-sync's record of it once the link lost it
   * to a delete); Snowline's own is derived.
   */
  private assignmentKeyOf(
    link: { assessment_id: string; governance_assignment_id: string | null },
    recorded: string | null | undefined,
  ): string {
    return (
      link.governance_assignment_id ??
      recorded ??
      assignmentKeyFor(this.context.integrationId, link.assessment_id)
    );
  }

  /** The assessments linked to a ticket in the store (cloud-tickets wrote the links). */
  private linksOf(ticket: TicketSnapshot) {
    return linksForTicket(this.context.store.db, this.context.integrationId, ticket.sysId);
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
    this.context.logger.warn(
      { ticket: ticket.number, user },
      'assigned user has no email; Defender owner left as it is',
    );
    const note = `Snowline: the assigned user ${user} has no email address in ServiceNow, so the owner of the Defender for Cloud governance assignment(s) was left as it was. Add an email to the user record, or reassign the ticket.`;
    if (!this.context.dryRun && (await this.noteAlreadyWritten(ticket, note))) {
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
    if (!this.context.dryRun) {
      const record = await this.clients.servicenow.update(ticket.table, ticket.sysId, { work_notes: note });
      const after = ticketSnapshot(ticket.table, { ...record, correlation_id: ticket.correlationId });
      // Recorded from the write's response: the webhook and the next poll recognise this version.
      ownWrite = { modCount: after.modCount, state: after.state, assignedTo: after.assignedTo };
    }
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
      const notes = await this.clients.servicenow.listAll('sys_journal_field', {
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
    const now = this.context.clock.now().getTime();
    const cached = this.users.get(userSysId);
    if (cached && now - cached.at < this.userCacheMs) return cached.wish;
    // Tickets of a page are synced concurrently: one look-up per user, shared by all of them.
    const pending = this.userReads.get(userSysId);
    if (pending) return pending;
    const read = (async (): Promise<OwnerWish> => {
      const user = await this.clients.servicenow.get('sys_user', userSysId, [
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
    const assessment = await this.clients.arm.getAssessment(resourceId, assessmentKey);
    const code: string | undefined = assessment?.status.code;
    if (code === 'Healthy' || code === 'Unhealthy' || code === 'NotApplicable') return code;
    return 'unknown';
  }

  /**
   * The body cloud-tickets would write for a ticket it opened (its due date and grace period), to
   * recreate an assignment removed before ticket-sync recorded it (cloud-tickets removed it).
   */
  private async cloudTicketsBody(ticket: TicketSnapshot): Promise<AssignmentBody | undefined> {
    const memory = await ticketMemoryBySysId(this.context.store, this.context.integrationId, ticket.sysId);
    if (!memory?.dueDate) return undefined;
    return assignmentForTicket({
      dueDate: memory.dueDate,
      gracePeriod: memory.gracePeriod,
      ticket: { link: this.clients.servicenow.recordUrl(ticket.table, ticket.sysId) },
    });
  }

  // ---- recording --------------------------------------------------------------------------

  private ticketState(key: string, memory: TicketMemory): EntityStateUpdate {
    return this.versions.state(key, memory, {
      remoteTable: memory.table,
      remoteSysId: memory.sysId,
      lastSeenAt: this.context.clock.now().toISOString(),
    });
  }

  private assignmentState(id: string, assignmentKey: string, memory: FollowedAssignment): EntityStateUpdate {
    return this.assignments.state(id, memory, {
      remoteSysId: assignmentKey,
      lastSeenAt: this.context.clock.now().toISOString(),
    });
  }

  private async saveTicket(key: string, memory: TicketMemory): Promise<void> {
    await this.context.recorder.save({ states: { ticket: [this.ticketState(key, memory)] } });
  }

  /** Records a decision (after its write, in a real run) with the states and links it leaves behind. */
  private async decide(
    decision: Omit<PlanAction, 'flow'>,
    records: { tickets?: EntityStateUpdate[]; assignments?: EntityStateUpdate[]; links?: LinkUpdate[] } = {},
  ): Promise<void> {
    await this.context.recorder.decide(
      { flow: FLOW, ...decision },
      {
        states: { ticket: records.tickets ?? [], governanceAssignment: records.assignments ?? [] },
        links: records.links ?? [],
      },
    );
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
function bodyOf(a: GovernanceAssignment): AssignmentBody {
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
