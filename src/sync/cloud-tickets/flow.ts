import type { FlowSummary } from '../../domain/flows.js';
import type { PlanAction } from '../../domain/plan.js';
import { assignmentKeyFor, correlationIdFor, parseAssessmentId } from '../../domain/tickets/rules.js';
import { isClosedState } from '../../domain/tickets/tables.js';
import { isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { EntityStateUpdate } from '../../store/models/entity-state.js';
import type { LinkUpdate } from '../../store/models/links.js';
import { forgetEntities } from '../../store/models/owned.js';
import { RunScratch } from '../../store/models/scratch.js';
import { defineFlow, PLAN_PART, SWEEP_PART, type FlowContext } from '../kernel/flow.js';
import { eachInLanes } from '../kernel/lanes.js';
import type { MemoryScope } from '../kernel/memory.js';
import { BatchWriter } from '../kernel/writers/batch.js';
import { AssignmentKeeper } from './assignments.js';
import { ServiceNowDirectory } from './directory.js';
import { assignmentMemory, ticketMemory, type TicketMemory } from './memory.js';
import { AssessmentReader, SCRATCH } from './read.js';
import { TicketKeeper } from './tickets.js';
import type {
  AppliedRule,
  CloudTicketsConfig,
  CloudTicketsCounters,
  CloudTicketsDeps,
  LiveTicket,
  SeenStatus,
  TicketGroup,
} from './types.js';

export type {
  CloudTicketsConfig,
  CloudTicketsCounters,
  CloudTicketsDeps,
  DirectoryProblem,
} from './types.js';
export type { TicketMemory } from './memory.js';

/** The summary of a cloud-tickets run. */
export type CloudTicketsSummary = FlowSummary & CloudTicketsCounters;

const FLOW = 'cloud-tickets' as const;

/** cloud-tickets' own counters, at zero. */
export function cloudTicketsSummary(): CloudTicketsCounters {
  return {
    unchanged: 0,
    covered: 0,
    groups: 0,
    assignmentsWritten: 0,
    suppressed: 0,
    reopened: 0,
    adopted: 0,
    directoryProblems: [],
  };
}

/** One directory per integration, so user and group look-ups are cached across runs (with a TTL). */
const directories = new Map<string, ServiceNowDirectory>();

/**
 * Flow cloud-tickets: Unhealthy Defender for Cloud assessments → ServiceNow tickets, each
 * linked to a governance assignment per assessment.
 *
 * Reads the metadata catalogue and every assessment of the configured subscriptions at
 * api-version 2025-05-04 (Critical exists only there), applies the rules (first match wins) and
 * groups covered assessments into tickets ({@link AssessmentReader}). Every ticket carries a
 * correlation id derived from its group key; the instance is searched by that id before anything
 * is created, so a retry after a crash adopts the ticket instead of duplicating it
 * ({@link TicketKeeper}). Tickets and assignments carry content hashes: an unchanged ticket sends
 * nothing. A ticket whose assessments are all Healthy or NotApplicable is resolved per its table
 * and its assignments removed ({@link AssignmentKeeper}); one a person closed while Unhealthy holds
 * back a new one. A dry run reads, plans, and writes nothing.
 */
export const cloudTicketsFlow = defineFlow({
  flow: FLOW,
  config: (integration) => integration.flows.cloudTickets,
  // Every run reads all its tickets by correlation id and decides about a deleted one itself
  // (`onTicketDeleted`); the verification pass adds its governance assignments in Defender.
  owns: { check: ['ticket'], verify: [], links: true },
  summary: cloudTicketsSummary,
  // With several workers, a run splits into one part per subscription (docs/scale-out.md). Every
  // grouping falls within one subscription (groupKeyFor in domain/tickets/rules.ts: the assessment,
  // the resource, or the subscription with the recommendation or the owner), so each ticket's
  // assessments are all its part's: a part reads its subscription's assessments and keeps the
  // tickets of that subscription; the sweep resolves the tickets of subscriptions no longer
  // configured (their assessments are no longer reported), as a whole run does. Runs whole when
  // assessments come from management groups through Resource Graph (one read across subscriptions).
  parts: (config, integration) =>
    config.managementGroups.length === 0
      ? integration.defender.subscriptions.map((id) => `${SUBSCRIPTION_PART}${id}`)
      : undefined,
  // Tickets are what a person counts; of the assignments, only their removal is.
  countAs: (action) => {
    if (action.action === 'error') return 'errors';
    if (action.entity === 'governanceAssignment') return action.action === 'delete' ? 'deleted' : undefined;
    const byKind = { create: 'created', update: 'updated', reopen: 'updated', resolve: 'resolved' } as const;
    return byKind[action.action as keyof typeof byKind];
  },
  connect: ({ servicenow, defender }, { integration, clock, part }, config): CloudTicketsDeps => {
    const key = `${integration.id}|${config.directoryCacheMinutes}`;
    const directory =
      directories.get(key) ?? new ServiceNowDirectory(clock, config.directoryCacheMinutes * 60_000);
    directories.set(key, directory);
    const all = integration.defender.subscriptions;
    const own = part?.startsWith(SUBSCRIPTION_PART) ? part.slice(SUBSCRIPTION_PART.length) : undefined;
    const configured = new Set(all.map((id) => id.toLowerCase()));
    return {
      subscriptions: part === undefined ? all : own ? [own] : [],
      ...(part === undefined
        ? {}
        : {
            ownsTicket: (ticket: TicketMemory) => {
              const subscription = subscriptionOfTicket(ticket);
              if (own) return subscription === own.toLowerCase();
              return part === SWEEP_PART && (subscription === undefined || !configured.has(subscription));
            },
          }),
      arm: defender.arm,
      resourceGraph: defender.resourceGraph,
      servicenow,
      directory,
    };
  },
  async run(context, deps, summary) {
    await new CloudTicketsRun(context, deps, summary).execute();
  },
  verify: (context, deps) => verifyAssignments(context, deps),
});

/** The prefix of a part of a run split per subscription: `subscription:<id>`. */
const SUBSCRIPTION_PART = 'subscription:';

/** The subscription (lower case) of a remembered ticket's assessments; undefined when it names none. */
function subscriptionOfTicket(ticket: TicketMemory): string | undefined {
  for (const id of Object.keys(ticket.assessments)) {
    const subscription = parseAssessmentId(id)?.subscriptionId;
    if (subscription) return subscription.toLowerCase();
  }
  return undefined;
}

/**
 * The verification of cloud-tickets' governance assignments: each one Snowline wrote for a ticket
 * that is still open is looked for in Defender (one ARM list per subscription and recommendation,
 * as {@link AssessmentReader.otherAssignments} reads them); one that is gone (removed in the
 * portal, say) is forgotten, so the run writes it again and says why. Adopted assignments are
 * Defender's own integration's and are not re-created.
 */
async function verifyAssignments(
  context: FlowContext<CloudTicketsConfig>,
  deps: CloudTicketsDeps,
): Promise<{ checked: number; missing: number }> {
  const scope = { store: context.store, integrationId: context.integrationId, recorder: context.recorder };
  const open = new Set<string>();
  for await (const page of ticketMemory(scope).all())
    for (const t of page) if (t.data?.status === 'open' && !t.data.adopted) open.add(t.key);
  const wanted = new Map<string, { assessmentId: string; key: string }[]>();
  for await (const page of assignmentMemory(scope).all()) {
    for (const a of page) {
      const data = a.data;
      if (!data?.resourceId || !data.assessmentKey || !data.groupKey || data.assignmentKey) continue;
      if (!open.has(data.groupKey)) continue;
      const subscription = parseAssessmentId(a.key)?.subscriptionId;
      if (!subscription) continue;
      const at = `${subscription}|${data.assessmentKey}`;
      const list = wanted.get(at) ?? [];
      list.push({ assessmentId: a.key, key: a.remoteSysId ?? '' });
      wanted.set(at, list);
    }
  }
  let checked = 0;
  let missing = 0;
  const gone: string[] = [];
  for (const [at, assignments] of wanted) {
    const [subscription, assessmentKey] = at.split('|') as [string, string];
    const present = new Set<string>();
    for await (const page of deps.arm.listGovernanceAssignments(
      `subscriptions/${subscription}`,
      assessmentKey,
    ))
      for (const g of page.items) present.add(`${g.assessmentId?.toLowerCase()}|${g.assignmentKey}`);
    for (const a of assignments) {
      checked += 1;
      if (present.has(`${a.assessmentId.toLowerCase()}|${a.key}`)) continue;
      missing += 1;
      const reason = `verification: governance assignment ${a.key} of ${a.assessmentId} is gone from Defender while its ticket is open; written again`;
      if (context.dryRun)
        await context.recorder.decide({
          flow: FLOW,
          side: 'defender',
          action: 'create',
          entity: 'governanceAssignment',
          key: a.assessmentId,
          target: { id: `${a.assessmentId}/governanceAssignments/${a.key}` },
          reason,
        });
      else {
        context.recorder.noteRepair('governanceAssignment', a.assessmentId, reason);
        gone.push(a.assessmentId);
      }
    }
  }
  if (gone.length > 0)
    await forgetEntities(
      context.store.db,
      { integrationId: context.integrationId, flow: FLOW, entity: 'governanceAssignment' },
      gone,
    );
  return { checked, missing };
}

/**
 * Values of one chunk of groups, read from the store when the chunk starts. A real run records
 * what it changes, so the next chunk reads it back; a dry run records nothing, so it keeps what
 * it set (only that: what it planned) and lays it over what the store says.
 */
class ChunkMap<V> extends Map<string, V> {
  private readonly kept = new Map<string, V>();
  private keep = false;

  /** Keeps what is set from now on across chunks (a dry run). */
  keepSets(): this {
    this.keep = true;
    return this;
  }

  override set(key: string, value: V): this {
    if (this.keep) this.kept.set(key, value);
    return super.set(key, value);
  }

  /** Starts a chunk: these keys' values as stored, what this run set winning. */
  fill(keys: Iterable<string>, stored: ReadonlyMap<string, V>): void {
    super.clear();
    for (const key of keys) {
      if (this.kept.has(key)) super.set(key, this.kept.get(key)!);
      else if (stored.has(key)) super.set(key, stored.get(key)!);
    }
  }
}

/**
 * The state of one cloud-tickets run, shared by its parts: what the store remembers, what the
 * instance holds, and the rules. A run reads its assessments into a scratch in the store and
 * then works through the groups a chunk at a time, reading each chunk's ticket memories, live
 * tickets and assignment states from the store: what it holds at once is one chunk, not the
 * estate. {@link createTicketForAssessment} drives the same parts for one ticket created by hand.
 */
export class CloudTicketsRun {
  readonly now: Date;
  readonly directory: ServiceNowDirectory;
  /** The context and the clients in one place, as the parts read them. */
  readonly run: FlowContext<CloudTicketsConfig> & CloudTicketsDeps;
  /** Where the run's memories are read (the recorder's queued records overlaid). */
  readonly scope: Omit<MemoryScope, 'flow'>;
  readonly reader: AssessmentReader;
  readonly tickets: TicketKeeper;
  readonly assignments: AssignmentKeeper;
  readonly batch: BatchWriter;
  /** The live tickets of the current chunk (of every ticket, for a ticket created by hand), by correlation id. */
  live = new Map<string, LiveTicket>();
  /** Groups whose ticket this run created: counted as created, not again as unchanged (current chunk). */
  readonly createdThisRun = new Set<string>();
  /** The ticket memories of the current chunk, by group key. */
  memories = new Map<string, TicketMemory>();
  /** Recorded assignment hashes, by assessment id (of the current chunk's assessments). */
  readonly assignmentHashes = new ChunkMap<string | null>();
  /**
   * The owner each assignment was last written with from its rule (the rule's email or the
   * resource's owner tag), by assessment id; undefined for assignments recorded before Snowline
   * kept it.
   */
  readonly assignmentOwners = new ChunkMap<string | null>();
  /** The keys of adopted assignments (Defender's integration chose them), by assessment id. */
  readonly assignmentKeys = new ChunkMap<string>();
  /** The recorded content hashes of the current chunk's tickets, by group key. */
  contentHashes = new Map<string, string | null>();
  /** The configured rules, then the adopted governance rules. */
  rules: readonly AppliedRule[] = [];

  constructor(
    context: FlowContext<CloudTicketsConfig>,
    deps: CloudTicketsDeps,
    readonly summary: CloudTicketsCounters,
  ) {
    this.run = { ...context, ...deps };
    this.scope = { store: context.store, integrationId: context.integrationId, recorder: context.recorder };
    this.now = context.clock.now();
    this.directory =
      deps.directory ?? new ServiceNowDirectory(context.clock, context.config.directoryCacheMinutes * 60_000);
    this.reader = new AssessmentReader(this);
    this.tickets = new TicketKeeper(this);
    this.assignments = new AssignmentKeeper(this);
    this.batch = new BatchWriter({
      flow: FLOW,
      servicenow: deps.servicenow,
      recorder: context.recorder,
      batchSize: context.config.batchSize,
    });
    if (context.dryRun) {
      this.assignmentHashes.keepSets();
      this.assignmentOwners.keepSets();
      this.assignmentKeys.keepSets();
    }
  }

  async execute(): Promise<void> {
    // A split run's plan part has nothing of its own: the store check and a verification ran before it.
    if (this.run.part === PLAN_PART) return;
    // Its sweep reads nothing unless a ticket of a subscription no longer configured is left.
    if (this.run.part === SWEEP_PART && !(await this.ownsAnyTicket())) return;
    this.rules = [...this.run.config.rules, ...(await this.reader.adoptedGovernanceRules())];
    const scratch = await RunScratch.open(
      this.run.store.db,
      { integrationId: this.run.integrationId, flow: FLOW },
      () => this.run.clock.now(),
    );
    try {
      await this.reader.loadLiveTickets((found) =>
        scratch.put(
          SCRATCH.live,
          found.map(([key, data]) => ({ key, data })),
        ),
      );
      await this.reader.stageAssessments(scratch);
      // Group keys and memory keys in order, a Batch call's worth at a time.
      for await (const chunk of scratch.keys(SCRATCH.key, this.run.config.batchSize)) {
        const groups = await this.reader.groupsOf(scratch, chunk);
        const seen = await this.loadChunk(scratch, chunk, groups);
        // The chunk's new tickets go in one Batch API call; each is then kept in step on its own.
        const failed = await this.tickets.createTickets(
          chunk.filter((key) => !this.memories.has(key)).map((key) => groups.get(key)!),
        );
        // Groups are independent: their ticket and assignment writes are kept in flight up to ARM's
        // bound (ARM has no batch for assignments: one PUT each). A dry run keeps its plan in order.
        const lanes = this.run.dryRun ? 1 : this.run.config.concurrency;
        await eachInLanes(
          chunk.filter((key) => !failed.has(key)),
          lanes,
          (key) =>
            this.guard(key, async () => {
              const group = groups.get(key);
              const memory = this.memories.get(key);
              if (group) await this.tickets.syncGroup(group, memory);
              else if (memory?.status === 'open') await this.tickets.closeIfHealthy(memory, seen);
            }),
        );
      }
    } finally {
      await scratch.close();
    }
    this.summary.reopened = this.run.recorder.tally('ticket', 'reopen');
  }

  /**
   * Reads what one chunk of group keys needs: the ticket memories, their live tickets (current,
   * first and next generation), the assignment states of every assessment the groups and memories
   * name; returns the statuses read this run of the memories' assessments.
   */
  private async loadChunk(
    scratch: RunScratch,
    keys: readonly string[],
    groups: ReadonlyMap<string, TicketGroup>,
  ): Promise<Map<string, SeenStatus>> {
    this.createdThisRun.clear();
    const ids = new Set<string>();
    for (const group of groups.values()) for (const a of group.assessments) ids.add(a.id);
    await this.loadMemories(keys, ids);
    const correlationIds = new Set<string>();
    for (const key of keys) {
      correlationIds.add(correlationIdFor(this.run.integrationId, key, 1));
      const memory = this.memories.get(key);
      if (!memory) continue;
      correlationIds.add(memory.correlationId);
      correlationIds.add(correlationIdFor(this.run.integrationId, key, memory.generation + 1));
    }
    this.live = new Map();
    for (const [id, ticket] of await scratch.get<LiveTicket>(SCRATCH.live, correlationIds))
      this.live.set(id, ticket!);
    const remembered = [...this.memories.values()].flatMap((m) => Object.keys(m.assessments));
    const seen = new Map<string, SeenStatus>();
    for (const [id, status] of await scratch.get<SeenStatus>(SCRATCH.seen, remembered)) seen.set(id, status!);
    return seen;
  }

  /** True when this part of a split run keeps a remembered ticket (every run whole does, if there is one). */
  private async ownsAnyTicket(): Promise<boolean> {
    for await (const page of ticketMemory(this.scope).all())
      if (page.some((t) => t.data && (this.run.ownsTicket?.(t.data) ?? true))) return true;
    return false;
  }

  /** What the store remembers of a group key's ticket (after {@link loadMemories}). */
  memoryFor(groupKey: string): TicketMemory | undefined {
    return this.memories.get(groupKey);
  }

  /** True when the instance holds the ticket and it is not Resolved, Closed or Canceled (after `loadLiveTickets`). */
  isLiveAndOpen(memory: TicketMemory): boolean {
    const live = this.live.get(memory.correlationId);
    return live !== undefined && !isClosedState(live.table, live.state, this.run.closedStates);
  }

  /** The open ticket whose assignments cover an assessment, if any (the memories read a page at a time). */
  async openTicketCovering(assessmentId: string): Promise<TicketMemory | undefined> {
    const id = assessmentId.toLowerCase();
    for await (const page of ticketMemory(this.scope).all())
      for (const { data: m } of page)
        if (m?.status === 'open' && Object.keys(m.assessments).some((k) => k.toLowerCase() === id)) return m;
    return undefined;
  }

  /**
   * Reads what the store remembers of these group keys' tickets and of the assignments of these
   * assessments and of every assessment those tickets remember.
   */
  async loadMemories(keys: readonly string[], assessmentIds: Iterable<string> = []): Promise<void> {
    this.memories = new Map();
    this.contentHashes = new Map();
    for (const [key, ticket] of await ticketMemory(this.scope).get(keys)) {
      if (!ticket.data) continue;
      this.memories.set(key, ticket.data);
      this.contentHashes.set(key, ticket.contentHash);
    }
    const ids = new Set(assessmentIds);
    for (const memory of this.memories.values())
      for (const id of Object.keys(memory.assessments)) ids.add(id);
    const hashes = new Map<string, string | null>();
    const owners = new Map<string, string | null>();
    const adoptedKeys = new Map<string, string>();
    for (const [id, assignment] of await assignmentMemory(this.scope).get([...ids])) {
      hashes.set(id, assignment.contentHash);
      if (assignment.data?.owner !== undefined) owners.set(id, assignment.data.owner);
      if (assignment.data?.assignmentKey) adoptedKeys.set(id, assignment.data.assignmentKey);
    }
    this.assignmentHashes.fill(ids, hashes);
    this.assignmentOwners.fill(ids, owners);
    this.assignmentKeys.fill(ids, adoptedKeys);
  }

  ticketState(memory: TicketMemory, hash: string | null): EntityStateUpdate {
    return {
      sourceKey: memory.groupKey,
      remoteTable: memory.table,
      remoteSysId: memory.sysId,
      contentHash: hash,
      lastSeenAt: this.now.toISOString(),
      lastWrittenAt: this.now.toISOString(),
      retiredAt: null,
      data: memory,
    };
  }

  async saveMemory(memory: TicketMemory): Promise<void> {
    this.memories.set(memory.groupKey, memory);
    await this.run.recorder.save({ states: { ticket: [{ sourceKey: memory.groupKey, data: memory }] } });
  }

  /** The key of an assessment's assignment: the adopted one's, else the one Snowline derives. */
  assignmentKeyOf(assessmentId: string): string {
    return this.assignmentKeys.get(assessmentId) ?? assignmentKeyFor(this.run.integrationId, assessmentId);
  }

  /** Records a decision (after its write, in a real run) with the ticket and assignment states and links it leaves. */
  async decide(
    decision: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] },
    records: { tickets?: EntityStateUpdate[]; assignments?: EntityStateUpdate[]; links?: LinkUpdate[] } = {},
  ): Promise<void> {
    for (const t of records.tickets ?? []) this.memories.set(t.sourceKey, t.data as TicketMemory);
    await this.run.recorder.decide(
      { flow: FLOW, side: 'servicenow', ...decision },
      {
        states: { ticket: records.tickets ?? [], governanceAssignment: records.assignments ?? [] },
        links: records.links ?? [],
      },
    );
  }

  /** Runs one ticket's work; an error other than a rate limit is recorded and the run goes on. */
  async guard(key: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
      const reason = `${error.code}: ${error.message}`.slice(0, 2000);
      this.run.logger.warn({ group: key, err: error }, 'ticket not synced');
      await this.decide({ action: 'error', entity: 'ticket', key, reason });
    }
  }
}
