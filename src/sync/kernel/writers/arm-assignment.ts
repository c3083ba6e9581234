import type { AssignmentBody } from '../../../domain/tickets/assignment.js';
import type { ArmClient, GovernanceAssignment } from '../../../sources/index.js';
import type { Recorder } from '../recorder.js';

/** Where a governance assignment lives: on an assessment of a resource, under Snowline's key. */
export interface AssignmentTarget {
  readonly resourceId: string;
  readonly assessmentKey: string;
  readonly assignmentKey: string;
}

/**
 * Writes Defender for Cloud governance assignments through ARM, for every flow that keeps them
 * (cloud-tickets opens them, ticket-sync makes them follow their ticket). Its re-send rules: a PUT
 * replaces the whole assignment (so the body carries every property to keep, and repeating it
 * after a crash changes nothing), and a DELETE of an assignment that is already gone is answered
 * 204 (so repeating it is harmless too); there is no batching in ARM. A dry run reads and sends
 * nothing. The caller records each decision through its recorder once the write returned.
 *
 * @example
 * const current = await writer.read(target); // re-read before write
 * await writer.put(target, followTicket(current, ticket, owner));
 */
export class ArmAssignmentWriter {
  constructor(private readonly options: { readonly arm: ArmClient; readonly recorder: Recorder }) {}

  /** The assignment as Defender holds it now, or undefined when absent. */
  read(target: AssignmentTarget): Promise<GovernanceAssignment | undefined> {
    return this.options.arm.getGovernanceAssignment(
      target.resourceId,
      target.assessmentKey,
      target.assignmentKey,
    );
  }

  /** Creates or replaces the assignment (nothing in a dry run). */
  async put(target: AssignmentTarget, body: AssignmentBody): Promise<void> {
    if (this.options.recorder.dryRun) return;
    await this.options.arm.putGovernanceAssignment(
      target.resourceId,
      target.assessmentKey,
      target.assignmentKey,
      body,
    );
  }

  /** Deletes the assignment (nothing in a dry run); one already gone counts as deleted. */
  async remove(target: AssignmentTarget): Promise<void> {
    if (this.options.recorder.dryRun) return;
    await this.options.arm.deleteGovernanceAssignment(
      target.resourceId,
      target.assessmentKey,
      target.assignmentKey,
    );
  }
}
