import { contentHash } from '../../domain/hash.js';
import type { PlanAction } from '../../domain/plan.js';
import {
  correlationIdFor,
  dueDate,
  suppressionHolds,
  ticketContent,
  type TicketContent,
} from '../../domain/tickets/rules.js';
import {
  TICKET_TABLE_SPECS,
  closeSteps,
  isClosedState,
  reopenUpdate,
  stateLabel,
  type TicketTable,
} from '../../domain/tickets/tables.js';
import { matchTicket } from '../../domain/tickets/vendor.js';
import { batchFailure, batchRecord } from '../../servicenow/batch.js';
import type { BatchItemResult } from '../../servicenow/client.js';
import { stringValue, type SnRecord } from '../../servicenow/values.js';
import { createAllIfAbsent, createIfAbsent } from '../../store/correlation-lock.js';
import { eachInLanes } from '../kernel/lanes.js';
import type { DirectoryMatch } from './directory.js';
import type { CloudTicketsRun } from './flow.js';
import type { TicketMemory } from './memory.js';
import type { DirectoryProblem, LiveTicket, OtherAssignment, SeenStatus, TicketGroup } from './types.js';

/**
 * The tickets of cloud-tickets: opened (or adopted by correlation id), kept in step with their
 * group, reopened or superseded by a new generation, resolved per table when every assessment is
 * Healthy, and noticed when a person closed one.
 */
export class TicketKeeper {
  constructor(private readonly t: CloudTicketsRun) {}

  /** Brings the ticket of a group (and its assignments) in line with the covered assessments. */
  async syncGroup(group: TicketGroup, memory: TicketMemory | undefined): Promise<TicketMemory | undefined> {
    if (!memory) return this.openTicket(group, 1);
    if (memory.status === 'closedByPerson') {
      const holds = suppressionHolds({
        closedAt: new Date(memory.closedAt ?? memory.createdAt),
        now: this.t.now,
        coolOffDays: this.t.run.config.coolOffDays,
        recorded: memory.assessments,
        current: group.changes,
      });
      if (holds) {
        this.t.summary.suppressed += 1;
        await this.t.decide({
          action: 'skip',
          entity: 'ticket',
          key: memory.correlationId,
          target: { table: memory.table, id: memory.sysId },
          reason: `${memory.number} was closed by a person while Defender still reports it Unhealthy; no new ticket until an assessment turns Healthy and Unhealthy again or ${this.t.run.config.coolOffDays} days pass`,
        });
        return memory;
      }
      return this.openTicket(group, memory.generation + 1);
    }
    if (memory.status === 'resolved') {
      const live = this.t.live.get(memory.correlationId);
      const update =
        this.t.run.config.reopen === 'reopen' && live
          ? reopenUpdate(
              memory.table,
              live.state,
              'Defender for Cloud reports this recommendation Unhealthy again; reopened by Snowline.',
            )
          : undefined;
      if (!live || !update) return this.openTicket(group, memory.generation + 1);
      const action: Omit<PlanAction, 'flow' | 'side'> = {
        action: 'reopen',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table: memory.table, id: memory.sysId },
        reason: `${memory.number} was resolved by Snowline and Defender reports it Unhealthy again (reopen policy: reopen)`,
      };
      if (this.t.run.dryRun) {
        await this.t.decide(action);
        return memory;
      }
      const record = await this.t.run.servicenow.update(memory.table, memory.sysId, update);
      const reopened: TicketMemory = {
        ...memory,
        status: 'open',
        state: stringValue(record.state) ?? update.state!,
      };
      delete (reopened as { closedAt?: string }).closedAt;
      this.t.live.set(memory.correlationId, { ...live, state: reopened.state });
      await this.t.decide(action, {
        tickets: [this.t.ticketState(reopened, this.t.contentHashes.get(memory.groupKey) ?? null)],
      });
      return this.syncOpen(group, reopened);
    }
    const live = this.t.live.get(memory.correlationId);
    if (!live && this.t.run.config.onTicketDeleted === 'recreate') {
      // The finding is still open and its ticket is gone: a new ticket, saying why.
      const next = correlationIdFor(this.t.run.integrationId, group.key, memory.generation + 1);
      this.t.run.recorder.noteRepair(
        'ticket',
        next,
        `${memory.number} was deleted on the instance while Defender still reports it Unhealthy (onTicketDeleted: recreate)`,
      );
      return this.openTicket(group, memory.generation + 1);
    }
    if (!live || isClosedState(memory.table, live.state, this.t.run.closedStates)) {
      await this.noticePersonClosed(memory, group.changes, live);
      return memory;
    }
    return this.syncOpen(group, { ...memory, state: live.state });
  }

  /** Opens (or, when the instance already has it, adopts) the ticket of a group. */
  async openTicket(group: TicketGroup, generation: number): Promise<TicketMemory | undefined> {
    if (group.other) return this.adoptTicket(group, group.other);
    const correlationId = correlationIdFor(this.t.run.integrationId, group.key, generation);
    const table = group.rule.table;
    const content = ticketContent(group.assessments, {
      impactUrgency: this.t.run.config.impactUrgency,
    });
    const hash = contentHash(content);
    const found = this.t.live.get(correlationId);
    const base = this.memoryBase(group, generation, found?.table ?? table);
    if (found) {
      // Written by an earlier run that stopped before recording it: adopt, never duplicate.
      const memory: TicketMemory = { ...base, sysId: found.sysId, number: found.number, state: found.state };
      await this.t.decide(
        {
          action: 'skip',
          entity: 'ticket',
          key: correlationId,
          target: { table: found.table, id: found.sysId },
          reason: `${found.number} already carries this correlation id (written by an earlier run that did not finish); adopted, not created again`,
        },
        { tickets: [this.t.ticketState(memory, null)] },
      );
      return this.syncGroup(group, memory);
    }
    const reason = createReason(group, generation);
    if (this.t.run.dryRun) {
      await this.t.decide({
        action: 'create',
        entity: 'ticket',
        key: correlationId,
        target: { table },
        reason,
      });
      for (const a of group.assessments)
        await this.t.decide({
          action: 'create',
          entity: 'governanceAssignment',
          key: a.id,
          side: 'defender',
          target: { id: a.id },
          reason: `links the assessment to the new ${table}`,
        });
      return undefined;
    }
    const outcome = await createIfAbsent(
      this.t.run.store,
      correlationId,
      async () => (await this.t.reader.findTickets(table, [correlationId])).get(correlationId),
      async () =>
        this.t.run.servicenow.create(table, await this.newTicketValues(group, correlationId, content)),
    );
    if ('existing' in outcome) {
      // Another worker created it after this run loaded the tickets: adopt it (the branch above).
      this.t.live.set(correlationId, outcome.existing);
      return this.openTicket(group, generation);
    }
    const memory = await this.recordCreated(group, generation, outcome.created, hash, reason);
    return this.syncOpen(group, memory);
  }

  /**
   * Adopts the ticket of an assessment that already has a governance assignment from Defender's
   * own ServiceNow integration: the ticket is found on this instance (by the link's sys_id, else
   * by its number) and tracked by its sys_id; nothing is written to it or to the assignment, and
   * no second ticket or assignment is made. A ticket that can not be told for sure (no link to
   * this instance, no such number, several tickets with its digits) is not adopted and not
   * duplicated either: a skip with the reason, looked at again next run.
   */
  async adoptTicket(group: TicketGroup, other: OtherAssignment): Promise<TicketMemory | undefined> {
    const assessment = group.assessments[0]!;
    const correlationId = correlationIdFor(this.t.run.integrationId, group.key, 1);
    const made = `${assessment.id} already has governance assignment ${other.assignmentKey} with a ServiceNow ticket (ticketNumber ${other.ticketNumber ?? 'none'}, ticketLink ${other.ticketLink ?? 'none'}), made outside Snowline`;
    const target = this.t.reader.linkTarget(other);
    const candidates =
      target.kind === 'thisInstance' ? await this.t.reader.ticketsForOther(other, target) : [];
    const match =
      target.kind === 'thisInstance'
        ? matchTicket(other, target, candidates)
        : {
            kind: 'none' as const,
            why:
              target.kind === 'otherInstance'
                ? `its link points at another instance (${target.host})`
                : 'it has no link to this instance',
          };
    if (match.kind !== 'one') {
      await this.t.decide({
        action: 'skip',
        entity: 'ticket',
        key: correlationId,
        target: { table: group.rule.table },
        reason: `${made}; not adopted (${match.why}), and no second ticket or assignment is made`,
      });
      return undefined;
    }
    const found = candidates.find((c) => c.sysId === match.ticket.sysId)!;
    const memory: TicketMemory = {
      ...this.memoryBase(group, 1, found.table),
      dueDate: other.remediationDueDate.toISOString(),
      gracePeriod: other.isGracePeriod ?? group.rule.gracePeriod,
      sysId: found.sysId,
      number: found.number,
      state: found.state,
      adopted: true,
    };
    this.t.live.set(correlationId, found);
    this.t.createdThisRun.add(group.key);
    this.t.summary.adopted += 1;
    await this.t.decide(
      {
        action: 'adopt',
        entity: 'ticket',
        key: correlationId,
        target: { table: found.table, id: found.sysId },
        reason: `${found.number} (found by ${match.by}): ${made}; adopted and tracked by its sys_id, its correlation_id left as it is, no second ticket`,
      },
      { tickets: [this.t.ticketState(memory, null)] },
    );
    await this.t.assignments.adoptAssignment(assessment, memory, other);
    return this.syncGroup(group, memory);
  }

  /** Records a ticket this run created: its memory, the live ticket, the decision and its hash. */
  private async recordCreated(
    group: TicketGroup,
    generation: number,
    record: SnRecord,
    hash: string,
    reason: string,
  ): Promise<TicketMemory> {
    const table = group.rule.table;
    const memory: TicketMemory = {
      ...this.memoryBase(group, generation, table),
      sysId: record.sys_id,
      number: stringValue(record.number) ?? '',
      state: stringValue(record.state) ?? '',
    };
    this.t.live.set(memory.correlationId, {
      table,
      sysId: memory.sysId,
      number: memory.number,
      state: memory.state,
    });
    this.t.createdThisRun.add(group.key);
    await this.t.decide(
      {
        action: 'create',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table, id: memory.sysId },
        reason: `${memory.number}: ${reason}`,
      },
      { tickets: [this.t.ticketState(memory, hash)] },
    );
    this.t.contentHashes.set(group.key, hash);
    return memory;
  }

  /** What every new ticket's memory starts with. */
  memoryBase(group: TicketGroup, generation: number, table: TicketTable) {
    return {
      groupKey: group.key,
      generation,
      correlationId: correlationIdFor(this.t.run.integrationId, group.key, generation),
      table,
      status: 'open' as const,
      createdAt: this.t.now.toISOString(),
      dueDate: dueDate(this.t.now, group.rule.dueDays).toISOString(),
      gracePeriod: group.rule.gracePeriod,
      assessments: {},
      rule: group.rule,
      owner: soleOwner(group),
      ...(group.manual ? { manual: true } : {}),
    };
  }

  /** The fields of a new ticket: its content, correlation id, and the directory look-ups (with notes). */
  async newTicketValues(
    group: TicketGroup,
    correlationId: string,
    content: TicketContent,
  ): Promise<Record<string, unknown>> {
    const { values, notes } = await this.directoryValues(group, correlationId);
    return {
      ...content,
      correlation_id: correlationId,
      ...values,
      ...(notes.length ? { work_notes: notes.join('\n') } : {}),
    };
  }

  /**
   * Creates the first ticket of new groups in one Batch API call (a real run; a dry run plans them
   * one by one in {@link openTicket}). Each request carries its correlation id, and the instance was
   * searched for every correlation id before ({@link loadLiveTickets}): a group whose ticket exists
   * is left to {@link openTicket}, which adopts it, so a batch cut short by a crash is never
   * repeated into duplicates. Returns the groups whose ticket could not be created (recorded as
   * errors; tried again next run).
   */
  async createTickets(groups: readonly (TicketGroup | undefined)[]): Promise<Set<string>> {
    const failed = new Set<string>();
    if (this.t.run.dryRun) return failed;
    const fresh: {
      group: TicketGroup;
      correlationId: string;
      content: TicketContent;
      values: Record<string, unknown>;
    }[] = [];
    for (const group of groups) {
      // An assessment whose ticket Defender's own integration made is adopted, never created.
      if (!group || group.other) continue;
      const correlationId = correlationIdFor(this.t.run.integrationId, group.key, 1);
      if (this.t.live.has(correlationId)) continue;
      const content = ticketContent(group.assessments, { impactUrgency: this.t.run.config.impactUrgency });
      let values: Record<string, unknown> | undefined;
      await this.t.guard(group.key, async () => {
        values = await this.newTicketValues(group, correlationId, content);
      });
      if (values) fresh.push({ group, correlationId, content, values });
      else failed.add(group.key);
    }
    if (fresh.length === 0) return failed;
    // Under the correlation locks (PostgreSQL): a ticket another worker created since this run
    // loaded the tickets is adopted by openTicket, not created twice.
    const { existing, created } = await createAllIfAbsent(
      this.t.run.store,
      fresh.map((f) => f.correlationId),
      async (ids) => {
        const found = new Map<string, LiveTicket>();
        for (const table of new Set(fresh.map((f) => f.group.rule.table))) {
          const ofTable = fresh.filter((f) => f.group.rule.table === table && ids.includes(f.correlationId));
          for (const [id, ticket] of await this.t.reader.findTickets(
            table,
            ofTable.map((f) => f.correlationId),
          ))
            found.set(id, ticket);
        }
        return found;
      },
      (absent) => this.sendCreates(fresh.filter((f) => absent.includes(f.correlationId))),
    );
    for (const [correlationId, ticket] of existing) this.t.live.set(correlationId, ticket);
    for (const { group, correlationId, content } of fresh) {
      const result = created.get(correlationId);
      if (!result) continue;
      const record = batchRecord(result);
      const why =
        batchFailure(result) ?? (record?.sys_id ? undefined : 'ServiceNow answered without a sys_id');
      if (why || !record) {
        failed.add(group.key);
        const reason = `the ticket could not be created: ${why}`.slice(0, 2000);
        this.t.run.logger.warn({ group: group.key, reason }, 'ticket not synced');
        await this.t.decide({ action: 'error', entity: 'ticket', key: group.key, reason });
        continue;
      }
      await this.recordCreated(group, 1, record, contentHash(content), createReason(group, 1));
    }
    return failed;
  }

  /**
   * Creates tickets in one Batch API call; returns each request's result by correlation id. A
   * call that fails as a whole (a 500, a reset) is re-sent by the client after searching for the
   * tickets by correlation id; one that still fails counts as failed for each ticket (whatever the
   * instance committed carries its correlation id: the next run adopts it).
   */
  async sendCreates(
    fresh: readonly { group: TicketGroup; correlationId: string; values: Record<string, unknown> }[],
  ): Promise<Map<string, BatchItemResult>> {
    const results = await this.t.batch.send(
      fresh.map((f) => ({
        method: 'POST' as const,
        url: `/api/now/table/${f.group.rule.table}?sysparm_fields=sys_id,number,state&sysparm_exclude_reference_link=true`,
        body: f.values,
        // A ticket is found by its correlation id, so a Batch call that failed as a whole is
        // re-sent by the client after a search, without creating a ticket twice.
        identity: { correlation_id: f.correlationId },
      })),
    );
    return new Map(fresh.map((f, n) => [f.correlationId, results[n]!]));
  }

  /**
   * Keeps an open ticket in step: its content when the group changed, one assignment per
   * covered assessment, and the removal of assignments of assessments that left the group.
   */
  async syncOpen(group: TicketGroup, memory: TicketMemory): Promise<TicketMemory> {
    if (memory.adopted) return this.keepAdopted(group, memory);
    const content = ticketContent(group.assessments, {
      impactUrgency: this.t.run.config.impactUrgency,
    });
    const hash = contentHash(content);
    const contentChanged = this.t.contentHashes.get(group.key) !== hash;
    const owner = await this.ownerChange(group, memory);
    let current: TicketMemory = { ...memory, owner: owner.owner, assessments: { ...memory.assessments } };
    if (contentChanged || owner.write) {
      // One PATCH carries both the new content and the new assignee.
      const action: Omit<PlanAction, 'flow' | 'side'> = {
        action: 'update',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table: memory.table, id: memory.sysId },
        reason: `${memory.number}: ${[
          contentChanged ? 'the covered assessments or their recommendation changed' : undefined,
          owner.write?.reason,
        ]
          .filter(Boolean)
          .join('; ')}`,
      };
      if (!this.t.run.dryRun)
        await this.t.run.servicenow.update(memory.table, memory.sysId, {
          ...(contentChanged ? content : {}),
          ...owner.write?.values,
        });
      this.t.contentHashes.set(group.key, hash);
      await this.t.decide(action, { tickets: [this.t.ticketState(current, hash)] });
    } else {
      if (!this.t.createdThisRun.has(group.key)) this.t.summary.unchanged += 1;
      if (owner.owner !== memory.owner) await this.t.saveMemory(current);
    }
    const ids = new Set(group.assessments.map((a) => a.id));
    // `current` is replaced right after each write answers, before anything else awaits, so the
    // memory saved last holds every assessment written so far, whatever order the answers came in.
    await this.inLanes(
      Object.keys(memory.assessments).filter((id) => !ids.has(id)),
      async (id) => {
        await this.t.assignments.removeAssignment(
          id,
          memory,
          'the assessment is no longer Unhealthy and covered by this ticket',
        );
        const { [id]: _gone, ...rest } = current.assessments;
        current = { ...current, assessments: rest };
        await this.t.saveMemory(current);
      },
    );
    const ticket = current;
    await this.inLanes(group.assessments, async (a) => {
      await this.t.assignments.putAssignment(a, ticket);
      const id = a.id;
      if (current.assessments[id] !== group.changes[id]) {
        current = { ...current, assessments: { ...current.assessments, [id]: group.changes[id] ?? null } };
        await this.t.saveMemory(current);
      }
    });
    return current;
  }

  /**
   * Keeps an open adopted ticket: Defender's own integration wrote its content, assignee and
   * assignment, so nothing is rewritten (ticket-sync mirrors its status and assignee onto the
   * assignment); only the assessment's status change date is remembered.
   */
  private async keepAdopted(group: TicketGroup, memory: TicketMemory): Promise<TicketMemory> {
    if (!this.t.createdThisRun.has(group.key)) this.t.summary.unchanged += 1;
    const assessments = { ...memory.assessments };
    for (const a of group.assessments) assessments[a.id] = group.changes[a.id] ?? null;
    const current = { ...memory, assessments };
    if (JSON.stringify(assessments) !== JSON.stringify(memory.assessments)) await this.t.saveMemory(current);
    return current;
  }

  /** Resolves a ticket whose assessments are all Healthy, NotApplicable or gone. */
  async closeIfHealthy(memory: TicketMemory, seen: Map<string, SeenStatus>): Promise<void> {
    const ids = Object.keys(memory.assessments);
    const unhealthy = ids.filter((id) => seen.get(id)?.code === 'Unhealthy');
    if (unhealthy.length > 0) {
      await this.t.decide({
        action: 'skip',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table: memory.table, id: memory.sysId },
        reason: `${memory.number}: ${unhealthy.length} assessment(s) still Unhealthy but no rule covers them any more; the ticket is left as it is`,
      });
      return;
    }
    const live = this.t.live.get(memory.correlationId);
    if (!live || isClosedState(memory.table, live.state, this.t.run.closedStates)) {
      // Closed on the instance before Defender reported it Healthy: a person fixed and closed it.
      await this.noticePersonClosed(memory, {}, live, 'resolved');
      return;
    }
    const states = ids.map((id) => seen.get(id)?.code ?? 'no longer reported');
    const steps = closeSteps(memory.table, live.state, this.t.run.config.close, this.t.run.closedStates);
    const action: Omit<PlanAction, 'flow' | 'side'> = {
      action: 'resolve',
      entity: 'ticket',
      key: memory.correlationId,
      target: { table: memory.table, id: memory.sysId },
      reason: `${memory.number}: every assessment is ${[...new Set(states)].join(' or ')} (${memory.table} ${
        steps.at(-1)?.kind === 'note' ? 'in Review: work note only' : 'closed per its table'
      })`,
    };
    let state = live.state;
    if (!this.t.run.dryRun) {
      for (const step of steps) {
        const record = await this.t.run.servicenow.update(memory.table, memory.sysId, { ...step.values });
        state = stringValue(record.state) ?? state;
      }
    }
    const resolved: TicketMemory = {
      ...memory,
      status: 'resolved',
      state,
      closedAt: this.t.now.toISOString(),
    };
    this.t.live.set(memory.correlationId, { ...live, state });
    await this.t.decide(action, {
      tickets: [this.t.ticketState(resolved, this.t.contentHashes.get(memory.groupKey) ?? null)],
    });
    await this.inLanes([...ids], (id) =>
      this.t.assignments.removeAssignment(id, resolved, 'the ticket was resolved'),
    );
  }

  /** Records that a ticket was closed (or deleted) on the instance by someone else. */
  async noticePersonClosed(
    memory: TicketMemory,
    changes: Record<string, string | null>,
    live: LiveTicket | undefined,
    status: 'closedByPerson' | 'resolved' = 'closedByPerson',
  ): Promise<void> {
    const closed: TicketMemory = {
      ...memory,
      status,
      state: live?.state ?? memory.state,
      closedAt: this.t.now.toISOString(),
      assessments: { ...memory.assessments, ...changes },
    };
    await this.t.decide(
      {
        action: 'skip',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table: memory.table, id: memory.sysId },
        reason: `${memory.number} was ${live ? `closed on the instance (${stateLabel(memory.table, live.state)})` : 'deleted on the instance'}${
          status === 'closedByPerson'
            ? ` while Defender still reports it Unhealthy; no new ticket until it turns Healthy and Unhealthy again${live ? '' : ' (onTicketDeleted: record)'}`
            : ''
        }`,
      },
      {
        tickets: [
          {
            ...this.t.ticketState(closed, this.t.contentHashes.get(memory.groupKey) ?? null),
            // A deleted ticket is no record of Snowline's on the instance any more: the store
            // check does not look for it (src/sync/kernel/drift.ts).
            ...(live ? {} : { retiredAt: this.t.now.toISOString() }),
          },
        ],
      },
    );
    await this.inLanes(Object.keys(memory.assessments), (id) =>
      this.t.assignments.removeAssignment(id, closed, 'the ticket was closed on the instance'),
    );
  }

  /**
   * Runs `work` on a ticket's assessments, `concurrency` at once: a ticket may cover thousands of
   * assessments, one governance-assignment request each (ARM has no batch), and waiting for each
   * in turn left the other lanes idle behind the largest ticket. ARM's in-flight bound still caps
   * the requests; a dry run keeps one lane, so its plan keeps its order.
   */
  private inLanes<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
    return eachInLanes(items, this.t.run.dryRun ? 1 : this.t.run.config.concurrency, work);
  }

  /** assigned_to, assignment_group and caller_id, each only when it resolves to exactly one record. */
  async directoryValues(
    group: TicketGroup,
    ticket: string,
  ): Promise<{ values: Record<string, string>; notes: string[] }> {
    const values: Record<string, string> = {};
    const notes: string[] = [];
    const report = (kind: DirectoryProblem['kind'], value: string, match: DirectoryMatch) =>
      this.reportDirectory(kind, value, match, ticket, notes, 'was left empty');
    const owners = [...new Set(group.assessments.map((a) => a.owner).filter((o): o is string => !!o))];
    if (owners.length === 1) {
      const match = await this.t.directory.user(this.t.run.servicenow, owners[0]!);
      if (match.kind === 'one') values.assigned_to = match.sysId;
      else report('owner', owners[0]!, match);
    } else if (owners.length > 1) {
      notes.push(
        `Snowline: the resources of this ticket have ${owners.length} owners (${owners.join(', ')}); assigned_to was left empty.`,
      );
    }
    if (group.rule.assignmentGroup) {
      const match = await this.t.directory.group(this.t.run.servicenow, group.rule.assignmentGroup);
      if (match.kind === 'one') values.assignment_group = match.sysId;
      else report('assignmentGroup', group.rule.assignmentGroup, match);
    }
    if (group.rule.caller && TICKET_TABLE_SPECS[group.rule.table].hasCaller) {
      const match = await this.t.directory.user(this.t.run.servicenow, group.rule.caller);
      if (match.kind === 'one') values.caller_id = match.sysId;
      else report('caller', group.rule.caller, match);
    }
    return { values, notes };
  }

  /** Reports a look-up that did not find exactly one active record, and notes it for the ticket. */
  reportDirectory(
    kind: DirectoryProblem['kind'],
    value: string,
    match: DirectoryMatch,
    ticket: string,
    notes: string[],
    outcome: string,
  ): void {
    const matches = match.kind === 'several' ? match.count : 0;
    this.t.summary.directoryProblems.push({ kind, value, matches, ticket });
    notes.push(
      matches === 0
        ? `Snowline: no active ServiceNow ${kind === 'assignmentGroup' ? 'group' : 'user'} matches ${kind} "${value}"; the field ${outcome}.`
        : `Snowline: ${matches} active ServiceNow records match ${kind} "${value}"; the field ${outcome} rather than guessed.`,
    );
    this.t.run.logger.warn(
      { kind, value, matches, ticket },
      `${kind} not resolved to exactly one ServiceNow record`,
    );
  }

  /**
   * What follows from a change of the owner Defender gives the ticket's resources (the rule's
   * email, or the resource's owner tag): `assigned_to` becomes the new owner's user. Only a change
   * of that owner writes, so a person who reassigned the ticket in ServiceNow is not overruled run
   * after run. A new owner with no or several active users is reported and noted on the ticket,
   * and `assigned_to` is left as it is; no single owner any more (none, or several) writes nothing.
   */
  async ownerChange(
    group: TicketGroup,
    memory: TicketMemory,
  ): Promise<{ owner: string | null; write?: { values: Record<string, string>; reason: string } }> {
    const owner = soleOwner(group);
    // Recorded before Snowline kept the owner (nothing to compare with), or nobody to assign.
    if (memory.owner === owner || memory.owner === undefined || owner === null) return { owner };
    const values: Record<string, string> = {};
    const notes: string[] = [];
    const before = memory.owner ?? 'none';
    const match = await this.t.directory.user(this.t.run.servicenow, owner);
    if (match.kind === 'one') {
      values.assigned_to = match.sysId;
      notes.push(
        `Snowline: the owner in Defender for Cloud changed from ${before} to ${owner}; assigned to them.`,
      );
    } else {
      this.reportDirectory(
        'owner',
        owner,
        match,
        memory.correlationId,
        notes,
        'assigned_to was left as it is',
      );
    }
    values.work_notes = notes.join('\n');
    return {
      owner,
      write: {
        values,
        reason: `the owner in Defender changed from ${before} to ${owner}${
          match.kind === 'one' ? '' : ' (no single active user matches: assigned_to left as it is)'
        }`,
      },
    };
  }
}

/** Why a group gets a new ticket, in the words of the plan and the ledger. */
function createReason(group: TicketGroup, generation: number): string {
  return `${group.assessments.length} Unhealthy assessment(s) covered by rule ${group.rule.name}${
    group.rule.grouping !== 'none' && !group.manual ? ` (grouped by ${group.rule.grouping})` : ''
  }${generation > 1 ? `; generation ${generation}: the previous ticket was closed` : ''}`;
}

/** The one owner of a group's resources, or null when they have none or several (assigned_to stays empty). */
function soleOwner(group: TicketGroup): string | null {
  const owners = new Set(group.assessments.map((a) => a.owner).filter((o): o is string => !!o));
  return owners.size === 1 ? [...owners][0]! : null;
}
