import { manualGroupKey, parseAssessmentId } from '../../domain/tickets/rules.js';
import type { TicketTable } from '../../domain/tickets/tables.js';
import type { PlanAction } from '../../domain/plan.js';
import { ConflictError, InputError, NotFoundError } from '../../errors.js';
import { closedStatesOf } from '../../domain/tickets/tables.js';
import { withFlowConnections } from '../kernel/connections.js';
import type { FlowRunContext, FlowRunInput } from '../kernel/flow.js';
import { CloudTicketsRun, cloudTicketsFlow, cloudTicketsSummary } from './flow.js';
import type { TicketMemory } from './memory.js';
import { coveredAssessment } from './read.js';
import type {
  AppliedRule,
  CloudTicketsConfig,
  CloudTicketsDeps,
  DirectoryProblem,
  TicketGroup,
} from './types.js';

/** What a person asks for: a ticket for one assessment, as Defender's portal allows. */
export interface ManualTicketRequest {
  /** `<resourceId>/providers/Microsoft.Security/assessments/<assessmentKey>`. */
  readonly assessmentId: string;
  readonly table: TicketTable;
  /** assignment_group by name. */
  readonly group?: string;
  /** Owner email: the assignment owner, and assigned_to when it matches one active user. */
  readonly owner?: string;
  /** Days until remediationDueDate (default 30). */
  readonly dueDays?: number;
}

/** The ticket that covers the assessment, and what was done. */
export interface ManualTicketResult {
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
  readonly correlationId: string;
  readonly url: string;
  /** False when the ticket already existed for this request (asking twice opens one ticket). */
  readonly created: boolean;
  readonly directoryProblems: readonly DirectoryProblem[];
  readonly plan: readonly PlanAction[];
}

/** Default days to remediate a ticket created by hand. */
export const MANUAL_DUE_DAYS = 30;

/**
 * Creates a ticket for one Unhealthy assessment and links it with a governance assignment, as
 * flow cloud-tickets does for a rule (same correlation ids, same search before create, same
 * ledger), so the flow then keeps it in step and resolves it when the assessment is Healthy.
 * Asking again for the same assessment and table returns the same ticket.
 *
 * @throws InputError for a malformed id or an assessment that is not Unhealthy;
 *   NotFoundError when Defender has no such assessment; ConflictError when another open
 *   ticket already covers it.
 * @example
 * await createTicketForAssessment(input, deps, { assessmentId, table, owner: 'ana@contoso.com' })
 */
export async function createTicketForAssessment(
  input: FlowRunInput<CloudTicketsConfig>,
  run: CloudTicketsDeps,
  request: ManualTicketRequest,
): Promise<ManualTicketResult> {
  const parsed = parseAssessmentId(request.assessmentId);
  if (!parsed)
    throw new InputError(
      `"${request.assessmentId}" is not an assessment id; expected <resource id>/providers/Microsoft.Security/assessments/<assessment key>`,
    );
  const assessment = await run.arm.getAssessment(parsed.resourceId, parsed.assessmentKey, {
    expand: 'metadata',
    apiVersion: '2025-05-04',
  });
  if (!assessment) throw new NotFoundError(`Defender has no assessment ${request.assessmentId}`);
  if (assessment.status.code !== 'Unhealthy')
    throw new InputError(
      `assessment ${assessment.id} is ${assessment.status.code}: there is nothing to remediate, so no ticket was created`,
    );
  // The request's output is its plan: the one case where a real run keeps its decisions.
  const context = cloudTicketsFlow.context(input, { keepPlan: true });
  const flow = new CloudTicketsRun(context, run, cloudTicketsSummary());
  await flow.reader.loadLiveTickets();
  const key = manualGroupKey(request.table, assessment.id);
  await flow.loadMemories([key], [assessment.id]);
  const existing = flow.memoryFor(key);
  const covering = await flow.openTicketCovering(assessment.id);
  if (covering && covering.groupKey !== key)
    throw new ConflictError(
      `assessment ${assessment.id} is already covered by ${covering.number} (${covering.table}); resolve or close it first`,
    );
  if (existing?.status === 'open' && flow.isLiveAndOpen(existing)) {
    // Asking twice returns the ticket already open, unchanged (the flow keeps it in step).
    return {
      table: existing.table,
      sysId: existing.sysId,
      number: existing.number,
      correlationId: existing.correlationId,
      url: run.servicenow.recordUrl(existing.table, existing.sysId),
      created: false,
      directoryProblems: [],
      plan: [],
    };
  }
  const rule: AppliedRule = {
    name: 'manual',
    when: {},
    table: request.table,
    ...(request.group ? { assignmentGroup: request.group } : {}),
    ...(request.owner ? { owner: { type: 'email' as const, value: request.owner } } : {}),
    dueDays: request.dueDays ?? MANUAL_DUE_DAYS,
    gracePeriod: false,
    grouping: 'none',
  };
  const covered = coveredAssessment(assessment, undefined, parsed.subscriptionId);
  const group: TicketGroup = {
    key,
    rule,
    manual: true,
    assessments: [request.owner ? { ...covered, owner: request.owner } : covered],
    changes: { [assessment.id]: assessment.status.statusChangeDate?.toISOString() ?? null },
  };
  // A person asking again after the previous manual ticket was closed gets a new one at once:
  // the suppression of flow runs protects against automatic ping-pong, not against a request.
  let memory: TicketMemory | undefined;
  try {
    memory = existing
      ? await flow.tickets.openTicket(group, existing.generation + 1)
      : await flow.tickets.syncGroup(group, undefined);
  } finally {
    // Recorded before the answer, also when a later step failed: the ticket may exist already.
    await context.recorder.flush();
  }
  if (!memory) throw new ConflictError(`no ticket was created for ${assessment.id} (dry run)`);
  return {
    table: memory.table,
    sysId: memory.sysId,
    number: memory.number,
    correlationId: memory.correlationId,
    url: run.servicenow.recordUrl(memory.table, memory.sysId),
    created: context.recorder.decisionCounts().created > 0,
    directoryProblems: flow.summary.directoryProblems,
    plan: context.recorder.plan,
  };
}

/**
 * Creates a ticket by hand for one integration (the API's `POST /tickets` and `snowline ticket
 * create`): its clients are built for the request and closed after it.
 */
export async function createTicketForIntegration(
  context: Omit<FlowRunContext, 'runId' | 'dryRun'>,
  request: ManualTicketRequest,
): Promise<ManualTicketResult> {
  const config = cloudTicketsFlow.configOf(context.integration);
  const runContext: FlowRunContext = { ...context, runId: '', dryRun: false };
  return withFlowConnections(runContext, (connections) =>
    createTicketForAssessment(
      {
        integrationId: context.integration.id,
        config,
        store: context.store,
        clock: context.clock,
        logger: context.logger,
        counters: context.counters,
        runId: null,
        dryRun: false,
        closedStates: closedStatesOf(context.integration.flows.ticketSync?.closedStates),
      },
      cloudTicketsFlow.connect(connections, runContext),
      request,
    ),
  );
}
