import { contentHash } from '../../domain/hash.js';
import type { PlanAction } from '../../domain/plan.js';
import {
  assignmentForTicket,
  assignmentOwnerRule,
  sameAssignment,
  type AssignmentBody,
} from '../../domain/tickets/assignment.js';
import { assignmentKeyFor, parseAssessmentId, type CoveredAssessment } from '../../domain/tickets/rules.js';
import type { GovernanceAssignment } from '../../sources/index.js';
import { stateLabel } from '../../domain/tickets/tables.js';
import { ArmAssignmentWriter } from '../kernel/writers/arm-assignment.js';
import type { CloudTicketsRun } from './flow.js';
import type { TicketMemory } from './memory.js';
import type { OtherAssignment } from './types.js';

/**
 * The governance assignments of cloud-tickets, written through ARM: one per covered assessment,
 * PUT when its body changed (re-read first when the owner may have been changed by ticket-sync or
 * a person), DELETE when the assessment left its ticket or the ticket closed. A PUT replaces the
 * whole assignment and a DELETE of an absent one is answered 204, so both are safe to repeat.
 */
export class AssignmentKeeper {
  private readonly writer: ArmAssignmentWriter;

  constructor(private readonly t: CloudTicketsRun) {
    this.writer = new ArmAssignmentWriter({ arm: t.run.arm, recorder: t.run.recorder });
  }

  /** Writes the governance assignment of one covered assessment when its body changed. */
  async putAssignment(assessment: CoveredAssessment, memory: TicketMemory): Promise<void> {
    const id = assessment.id;
    const body = assignmentForTicket({
      owner: assessment.owner,
      dueDate: memory.dueDate,
      gracePeriod: memory.gracePeriod,
      ticket: {
        number: memory.number,
        link: this.t.run.servicenow.recordUrl(memory.table, memory.sysId),
        status: stateLabel(memory.table, memory.state),
      },
    });
    // The hash is of what this flow wants (its rule's owner included): it changes only when the
    // flow's own inputs change, never because ticket-sync or a person changed the assignment.
    const hash = contentHash(body);
    if (this.t.assignmentHashes.get(id) === hash) return;
    const assignmentKey = assignmentKeyFor(this.t.run.integrationId, id);
    const ruleOwner = assessment.owner ?? null;
    const update = Boolean(this.t.assignmentHashes.get(id));
    let write = true;
    let reason = `points at ${memory.number} (${stateLabel(memory.table, memory.state)}), owner ${assessment.owner ?? 'none'}, due ${memory.dueDate.slice(0, 10)}`;
    const ownerRule = assignmentOwnerRule({
      exists: update,
      recordedRuleOwner: this.t.assignmentOwners.get(id),
      ruleOwner,
    });
    if (ownerRule.kind === 'keepCurrent') {
      // The owner now is the one that changed last (ticket-sync following a reassignment in
      // ServiceNow, or a person in Defender) and is kept. Re-read before write.
      const current = await this.writer.read({
        resourceId: assessment.resourceId,
        assessmentKey: assessment.assessmentKey,
        assignmentKey,
      });
      if (current) {
        if (current.owner) body.owner = current.owner;
        else delete body.owner;
        reason = `points at ${memory.number} (${stateLabel(memory.table, memory.state)}), owner ${current.owner ?? 'none'} kept (the owner from the rule did not change), due ${memory.dueDate.slice(0, 10)}`;
        if (sameAssignment(bodyOfCurrent(current), body)) {
          write = false;
          reason = `${memory.number}: the assignment already has this body (owner ${current.owner ?? 'none'}, ${body.additionalData?.ticketStatus ?? 'no status'})`;
        }
      }
    }
    const action: Omit<PlanAction, 'flow' | 'side'> & { side: 'defender' } = {
      action: write ? (update ? 'update' : 'create') : 'skip',
      entity: 'governanceAssignment',
      key: assessment.id,
      side: 'defender',
      target: { id: `${assessment.id}/governanceAssignments/${assignmentKey}` },
      reason,
    };
    // A PUT replaces the whole assignment: the body carries every property Snowline keeps.
    if (write)
      await this.writer.put(
        { resourceId: assessment.resourceId, assessmentKey: assessment.assessmentKey, assignmentKey },
        body,
      );
    this.t.assignmentHashes.set(id, hash);
    this.t.assignmentOwners.set(id, ruleOwner);
    if (write) this.t.summary.assignmentsWritten += 1;
    await this.t.decide(action, {
      assignments: [
        {
          sourceKey: id,
          remoteSysId: assignmentKey,
          contentHash: hash,
          ...(write ? { lastWrittenAt: this.t.now.toISOString() } : {}),
          lastSeenAt: this.t.now.toISOString(),
          data: {
            resourceId: assessment.resourceId,
            assessmentKey: assessment.assessmentKey,
            groupKey: memory.groupKey,
            owner: ruleOwner,
          },
        },
      ],
      links: [linkOf(assessment, memory, assignmentKey, false)],
    });
  }

  /**
   * Takes over the governance assignment Defender's own ServiceNow integration made for an
   * assessment, next to its ticket ({@link TicketKeeper.adoptTicket}): nothing is written; the
   * assignment is remembered under its own key and linked to the ticket by sys_id, so that
   * closing the ticket removes it (here and in ticket-sync) as it would one of Snowline's.
   */
  async adoptAssignment(
    assessment: CoveredAssessment,
    memory: TicketMemory,
    other: OtherAssignment,
  ): Promise<void> {
    const id = assessment.id;
    const hash = contentHash(other);
    this.t.assignmentHashes.set(id, hash);
    this.t.assignmentKeys.set(id, other.assignmentKey);
    await this.t.decide(
      {
        action: 'adopt',
        entity: 'governanceAssignment',
        key: id,
        side: 'defender',
        target: { id: `${id}/governanceAssignments/${other.assignmentKey}` },
        reason: `made by Defender for Cloud's own ServiceNow integration for ${memory.number} (owner ${other.owner ?? 'none'}, ${other.ticketStatus ?? 'no status'}); adopted as it is, no second assignment`,
      },
      {
        assignments: [
          {
            sourceKey: id,
            remoteSysId: other.assignmentKey,
            contentHash: hash,
            lastSeenAt: this.t.now.toISOString(),
            data: {
              resourceId: assessment.resourceId,
              assessmentKey: assessment.assessmentKey,
              groupKey: memory.groupKey,
              assignmentKey: other.assignmentKey,
            },
          },
        ],
        // Tracked by sys_id: the ticket's correlation_id is not Snowline's and is not rewritten.
        links: [linkOf(assessment, memory, other.assignmentKey, true)],
      },
    );
  }

  /** Deletes the governance assignment of an assessment that no longer needs it. */
  async removeAssignment(id: string, memory: TicketMemory, why: string): Promise<void> {
    const parsed = parseAssessmentId(id);
    if (!this.t.assignmentHashes.get(id) || !parsed) return;
    const assignmentKey = this.t.assignmentKeyOf(id);
    await this.writer.remove({
      resourceId: parsed.resourceId,
      assessmentKey: parsed.assessmentKey,
      assignmentKey,
    });
    this.t.assignmentHashes.set(id, null);
    await this.t.decide(
      {
        action: 'delete',
        entity: 'governanceAssignment',
        key: id,
        side: 'defender',
        target: { id: `${id}/governanceAssignments/${assignmentKey}` },
        reason: `${memory.number}: ${why}`,
      },
      {
        assignments: [{ sourceKey: id, contentHash: null, lastWrittenAt: this.t.now.toISOString() }],
        links: [{ assessmentId: id, governanceAssignmentId: null }],
      },
    );
  }
}

/** The part of an assignment as read that {@link sameAssignment} compares. */
function bodyOfCurrent(current: GovernanceAssignment): AssignmentBody {
  return {
    ...(current.owner ? { owner: current.owner } : {}),
    remediationDueDate: current.remediationDueDate.toISOString(),
    ...(current.isGracePeriod !== undefined ? { isGracePeriod: current.isGracePeriod } : {}),
    ...(current.governanceEmailNotification
      ? { governanceEmailNotification: current.governanceEmailNotification }
      : {}),
    ...(current.additionalData ? { additionalData: { ...current.additionalData } } : {}),
  };
}

/**
 * The link of an assessment's assignment to its ticket. An adopted ticket (Defender's own
 * ServiceNow integration made it) is tracked by sys_id: its correlation_id is not Snowline's.
 */
function linkOf(
  assessment: CoveredAssessment,
  memory: TicketMemory,
  assignmentKey: string,
  adopted: boolean,
) {
  return {
    assessmentId: assessment.id,
    subscriptionId: assessment.subscriptionId,
    ticketTable: memory.table,
    ticketSysId: memory.sysId,
    ticketNumber: memory.number,
    correlationId: adopted ? null : memory.correlationId,
    governanceAssignmentId: assignmentKey,
    adopted,
  };
}
