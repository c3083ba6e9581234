import { z } from 'zod';
import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { emptyFlowSummary, type FlowSummary } from '../../domain/flows.js';
import { contentHash } from '../../domain/hash.js';
import type { PlanAction } from '../../domain/plan.js';
import {
  assignmentKeyFor,
  correlationIdFor,
  correlationPrefix,
  dueDate,
  groupKeyFor,
  matchRule,
  parseAssessmentId,
  resourceTypeOf,
  rulesFromGovernanceRule,
  suppressionHolds,
  ticketContent,
  ticketNumberDigits,
  type CoveredAssessment,
  type OwnerSource,
  type TicketContent,
  type TicketRule,
} from '../../domain/tickets/rules.js';
import {
  TICKET_TABLES,
  TICKET_TABLE_SPECS,
  closeSteps,
  isClosedState,
  reopenUpdate,
  stateLabel,
  type ClosedStates,
  type TicketTable,
} from '../../domain/tickets/tables.js';
import { InputError, isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import { executeFlow } from '../execute.js';
import { createAllIfAbsent, createIfAbsent } from '../../store/correlation-lock.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import { batchFailure, batchRecord } from '../../servicenow/batch.js';
import type { BatchItemResult, ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { stringValue } from '../../servicenow/values.js';
import type {
  ArmClient,
  Assessment,
  AssessmentMetadata,
  GovernanceAssignment,
  GovernanceAssignmentInput,
  SourcePage,
} from '../../sources/index.js';
import { AssessmentSchema } from '../../sources/azure/models.js';
import { GOVERNANCE_API_VERSION } from '../../sources/index.js';
import { kqlString, type ResourceGraphClient } from '../../sources/index.js';
import { upsertEntityStates, type EntityStateUpdate } from '../../store/models/entity-state.js';
import { appendLedgerEvents, ledgerEntryFor } from '../../store/models/ledger.js';
import { upsertLink, type LinkUpdate } from '../../store/models/links.js';
import type { Store } from '../../store/store.js';
import { ServiceNowDirectory, type DirectoryMatch } from './directory.js';

/** The flow's configuration section, with defaults applied. */
export type CloudTicketsConfig = NonNullable<IntegrationConfig['flows']['cloudTickets']>;

/** What one cloud-tickets run needs. */
export interface CloudTicketsRun {
  readonly integrationId: string;
  readonly config: CloudTicketsConfig;
  /** Subscriptions whose assessments are read (`defender.subscriptions`). */
  readonly subscriptions: readonly string[];
  /** Per table, the states in which a ticket is Resolved, Closed or Canceled (as configured for the integration). */
  readonly closedStates: ClosedStates;
  readonly arm: ArmClient;
  /** For owner tags of resources (`resources` table); without it, tag owners stay unknown. */
  readonly resourceGraph?: ResourceGraphClient;
  readonly servicenow: ServiceNowClient;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: RequestCounters;
  readonly runId: string | null;
  readonly dryRun: boolean;
  /** A directory shared across runs (its cache has a TTL); one per run when absent. */
  readonly directory?: ServiceNowDirectory;
}

/** An owner, assignment group or caller that did not resolve to exactly one active record. */
export interface DirectoryProblem {
  readonly kind: 'owner' | 'caller' | 'assignmentGroup';
  readonly value: string;
  /** 0 when nothing matched, else how many records did. */
  readonly matches: number;
  readonly ticket: string;
}

/** The run's summary and its plan. */
export interface CloudTicketsResult {
  readonly summary: FlowSummary & {
    /** Unhealthy assessments a rule covers. */
    covered: number;
    /** Tickets the rules call for this run. */
    groups: number;
    assignmentsWritten: number;
    /** Tickets a person closed while Unhealthy that still hold back a new one. */
    suppressed: number;
    reopened: number;
    directoryProblems: DirectoryProblem[];
  };
  readonly plan: PlanAction[];
}

const FLOW = 'cloud-tickets' as const;

/** The fields of a governance rule Snowline reads; the rest passes through. */
const GovernanceRuleSchema = z.looseObject({
  name: z.string(),
  properties: z.looseObject({
    displayName: z.string().optional(),
    ruleType: z.string().optional(),
    isDisabled: z.boolean().nullish(),
    rulePriority: z.number().optional(),
    remediationTimeframe: z.string().nullish(),
    isGracePeriod: z.boolean().nullish(),
    ownerSource: z.looseObject({ type: z.string().optional(), value: z.string().optional() }).nullish(),
    conditionSets: z.array(z.unknown()).nullish(),
  }),
});
const API_VERSION = '2025-05-04' as const;

/** A rule as the flow applies it: a config rule, or the settings of a ticket created by hand. */
export type AppliedRule = TicketRule;

/** What the store remembers of one ticket (entity `ticket`, keyed by its group key). */
export interface TicketMemory {
  readonly groupKey: string;
  readonly generation: number;
  readonly correlationId: string;
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
  /** `open`: Snowline keeps it in step; `resolved`: Snowline closed it; `closedByPerson`: closed while Unhealthy. */
  readonly status: 'open' | 'resolved' | 'closedByPerson';
  readonly state: string;
  readonly createdAt: string;
  readonly dueDate: string;
  readonly gracePeriod: boolean;
  /** statusChangeDate per covered assessment id, as last seen. */
  readonly assessments: Readonly<Record<string, string | null>>;
  readonly closedAt?: string;
  /** The rule (or manual settings) the ticket was opened under. */
  readonly rule: AppliedRule;
  readonly manual?: boolean;
  /**
   * The owner (email) Defender gave the ticket's resources when Snowline last set `assigned_to`;
   * null when they had none or several. A ticket recorded before Snowline kept it has none.
   */
  readonly owner?: string | null;
}

/** A live ticket found on the instance by correlation id. */
interface LiveTicket {
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
  readonly state: string;
}

/** The covered assessments of one ticket this run, under the rule that covers them. */
export interface TicketGroup {
  readonly key: string;
  readonly rule: AppliedRule;
  readonly manual: boolean;
  readonly assessments: CoveredAssessment[];
  /** statusChangeDate per assessment id. */
  readonly changes: Record<string, string | null>;
}

interface SeenStatus {
  readonly code: string;
  readonly statusChangeDate: string | null;
}

/**
 * Flow cloud-tickets: Unhealthy Defender for Cloud assessments → ServiceNow tickets, each
 * linked to a governance assignment per assessment.
 *
 * Reads the metadata catalogue and every assessment of the configured subscriptions at
 * api-version 2025-05-04 (Critical exists only there), applies the rules (first match wins) and
 * groups covered assessments into tickets. Every ticket carries a correlation id derived from
 * its group key; the instance is searched by that id before anything is created, so a retry
 * after a crash adopts the ticket instead of duplicating it. Tickets and assignments carry
 * content hashes: an unchanged ticket sends nothing. A ticket whose assessments are all Healthy
 * or NotApplicable is resolved per its table and its assignments removed; one a person closed
 * while Unhealthy holds back a new ticket (see {@link suppressionHolds}). A dry run reads,
 * plans, and writes nothing.
 */
export async function runCloudTickets(run: CloudTicketsRun): Promise<CloudTicketsResult> {
  return executeFlow(new CloudTicketsFlow(run), run);
}

/** The engine of one run; {@link createTicketForAssessment} drives the same class for one ticket. */
export class CloudTicketsFlow {
  readonly summary: CloudTicketsResult['summary'] = {
    ...emptyFlowSummary(),
    covered: 0,
    groups: 0,
    assignmentsWritten: 0,
    suppressed: 0,
    reopened: 0,
    directoryProblems: [],
  };
  readonly plan: PlanAction[] = [];
  private readonly now: Date;
  private readonly directory: ServiceNowDirectory;
  private live = new Map<string, LiveTicket>();
  /** Groups whose ticket this run created: counted as created, not again as unchanged. */
  private readonly createdThisRun = new Set<string>();
  private memories = new Map<string, TicketMemory>();
  /** Recorded assignment hashes, by lower-cased assessment id. */
  private assignmentHashes = new Map<string, string | null>();
  /**
   * The owner each assignment was last written with from its rule (the rule's email or the
   * resource's owner tag), by assessment id; undefined for assignments recorded before Snowline
   * kept it.
   */
  private assignmentOwners = new Map<string, string | null>();
  private contentHashes = new Map<string, string | null>();
  /** The configured rules, then the adopted governance rules. */
  private rules: readonly AppliedRule[] = [];

  /**
   * @param options.keepPlan keep every decision in {@link plan} in a real run too (a ticket
   * created by hand: one ticket's decisions). A flow run keeps its plan only when dry: a real run
   * records each decision in the ledger, and holding one action per assignment of a large estate
   * in memory as well would grow with the estate.
   */
  constructor(
    private readonly run: CloudTicketsRun,
    private readonly options: { readonly keepPlan?: boolean } = {},
  ) {
    this.now = run.clock.now();
    this.directory =
      run.directory ?? new ServiceNowDirectory(run.clock, run.config.directoryCacheMinutes * 60_000);
  }

  async execute(): Promise<void> {
    this.rules = [...this.run.config.rules, ...(await this.adoptedGovernanceRules())];
    await this.loadMemories();
    await this.loadLiveTickets();
    const { groups, seen } = await this.readAssessments();
    this.summary.groups = groups.size;
    const keys = [...new Set([...groups.keys(), ...this.memories.keys()])].sort();
    const size = this.run.config.batchSize;
    for (let i = 0; i < keys.length; i += size) {
      const chunk = keys.slice(i, i + size);
      // The chunk's new tickets go in one Batch API call; each is then kept in step on its own.
      const failed = await this.createTickets(
        chunk.filter((key) => !this.memories.has(key)).map((key) => groups.get(key)!),
      );
      for (const key of chunk) {
        if (failed.has(key)) continue;
        await this.guard(key, async () => {
          const group = groups.get(key);
          const memory = this.memories.get(key);
          if (group) await this.syncGroup(group, memory);
          else if (memory?.status === 'open') await this.closeIfHealthy(memory, seen);
        });
      }
    }
  }

  /** What the store remembers of the ticket of a group key (after {@link loadMemories}). */
  memoryFor(groupKey: string): TicketMemory | undefined {
    return this.memories.get(groupKey);
  }

  /** True when the instance holds the ticket and it is not Resolved, Closed or Canceled (after {@link loadLiveTickets}). */
  isLiveAndOpen(memory: TicketMemory): boolean {
    const live = this.live.get(memory.correlationId);
    return live !== undefined && !isClosedState(live.table, live.state, this.run.closedStates);
  }

  /** The open ticket whose assignments cover an assessment, if any (after {@link loadMemories}). */
  openTicketCovering(assessmentId: string): TicketMemory | undefined {
    const id = assessmentId.toLowerCase();
    return [...this.memories.values()].find(
      (m) => m.status === 'open' && Object.keys(m.assessments).some((k) => k.toLowerCase() === id),
    );
  }

  // ---- reading ----------------------------------------------------------------------------

  /** Loads what the store remembers of tickets and assignments. */
  async loadMemories(): Promise<void> {
    const rows = await this.run.store.db
      .selectFrom('entity_state')
      .selectAll()
      .where('integration_id', '=', this.run.integrationId)
      .where('flow', '=', FLOW)
      .where('entity', 'in', ['ticket', 'governanceAssignment'])
      .execute();
    for (const row of rows) {
      if (row.entity === 'governanceAssignment') {
        this.assignmentHashes.set(row.source_key, row.content_hash);
        const owner = row.data ? (JSON.parse(row.data) as { owner?: string | null }).owner : undefined;
        if (owner !== undefined) this.assignmentOwners.set(row.source_key, owner);
      } else if (row.data) {
        this.memories.set(row.source_key, JSON.parse(row.data) as TicketMemory);
        this.contentHashes.set(row.source_key, row.content_hash);
      }
    }
  }

  /**
   * Every ticket of this integration on the instance, by correlation id: the "search before
   * create" of every group at once, and the state of each ticket (to notice one a person closed).
   */
  async loadLiveTickets(tables: readonly TicketTable[] = TICKET_TABLES): Promise<void> {
    const prefix = correlationPrefix(this.run.integrationId);
    for (const table of tables) {
      for await (const page of this.run.servicenow.list(table, {
        query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', prefix)] }),
        fields: ['sys_id', 'number', 'state', 'correlation_id'],
      })) {
        for (const row of page) {
          const correlationId = stringValue(row.correlation_id);
          if (!correlationId?.startsWith(prefix)) continue;
          this.live.set(correlationId, {
            table,
            sysId: row.sys_id,
            number: stringValue(row.number) ?? '',
            state: stringValue(row.state) ?? '',
          });
        }
      }
    }
  }

  private async readAssessments(): Promise<{
    groups: Map<string, TicketGroup>;
    seen: Map<string, SeenStatus>;
  }> {
    const metadata = new Map<string, AssessmentMetadata>();
    for await (const page of this.run.arm.listAssessmentMetadata(API_VERSION))
      for (const m of page.items) metadata.set(m.assessmentKey.toLowerCase(), m);

    const remembered = new Set<string>();
    const manualByAssessment = new Map<string, TicketMemory>();
    for (const memory of this.memories.values()) {
      for (const id of Object.keys(memory.assessments)) remembered.add(id);
      if (memory.manual && memory.status !== 'resolved')
        for (const id of Object.keys(memory.assessments)) manualByAssessment.set(id, memory);
    }

    const seen = new Map<string, SeenStatus>();
    const covered: {
      assessment: CoveredAssessment;
      rule: AppliedRule;
      manual: boolean;
      change: string | null;
    }[] = [];
    for await (const { page, subscriptionId: listed } of this.assessmentPages()) {
      for (const problem of page.problems)
        this.run.logger.warn({ problem: problem.error.message }, 'malformed assessment skipped');
      for (const a of page.items) {
        const subscriptionId = listed ?? parseAssessmentId(a.id)?.subscriptionId;
        if (!subscriptionId) continue;
        const id = a.id;
        const change = a.status.statusChangeDate?.toISOString() ?? null;
        if (remembered.has(id)) seen.set(id, { code: a.status.code, statusChangeDate: change });
        if (a.status.code !== 'Unhealthy' || !a.resourceId) continue;
        const meta = metadata.get(a.assessmentKey.toLowerCase());
        const assessment = coveredAssessment(a, meta, subscriptionId);
        const manual = manualByAssessment.get(id);
        if (manual) {
          covered.push({ assessment, rule: manual.rule, manual: true, change });
          continue;
        }
        const rule = matchRule(this.rules, assessment);
        if (rule) covered.push({ assessment, rule, manual: false, change });
      }
    }
    this.summary.covered = covered.length;

    const owners = await this.ownersByTag(
      covered.map((c) => ({ rule: c.rule, resourceId: c.assessment.resourceId })),
    );
    const groups = new Map<string, TicketGroup>();
    for (const c of covered) {
      const owner = ownerOf(c.rule.owner, owners.get(c.assessment.resourceId.toLowerCase()));
      const assessment: CoveredAssessment = owner ? { ...c.assessment, owner } : c.assessment;
      const key = c.manual
        ? manualByAssessment.get(assessment.id)!.groupKey
        : groupKeyFor(c.rule, assessment);
      const group = groups.get(key) ?? { key, rule: c.rule, manual: c.manual, assessments: [], changes: {} };
      group.assessments.push(assessment);
      group.changes[assessment.id] = c.change;
      groups.set(key, group);
    }
    return { groups, seen };
  }

  /**
   * Ticket rules equivalent to the enabled governance rules of `ruleType: ServiceNow` at the read
   * scopes (each management group, else each subscription, whose rules apply to it only), in
   * `rulePriority` order. Conditions Snowline can not evaluate are logged and the set ignored.
   */
  private async adoptedGovernanceRules(): Promise<AppliedRule[]> {
    const policy = this.run.config.governanceRules;
    if (!policy.adopt) return [];
    const scopes = this.run.config.managementGroups.length
      ? this.run.config.managementGroups.map((mg) => ({
          path: `/providers/Microsoft.Management/managementGroups/${encodeURIComponent(mg)}`,
          subscription: undefined,
        }))
      : this.run.subscriptions.map((id) => ({
          path: `/subscriptions/${encodeURIComponent(id)}`,
          subscription: id,
        }));
    const adopted: AppliedRule[] = [];
    for (const scope of scopes) {
      const found: { priority: number; rules: AppliedRule[] }[] = [];
      for await (const page of this.run.arm.listAll(
        `${scope.path}/providers/Microsoft.Security/governanceRules`,
        GOVERNANCE_API_VERSION,
        GovernanceRuleSchema,
        `governance rules of ${scope.path}`,
      )) {
        for (const rule of page.items) {
          const { rules, skipped } = rulesFromGovernanceRule(rule, policy.table);
          for (const why of skipped)
            this.run.logger.warn({ governanceRule: rule.name, why }, 'governance rule condition not adopted');
          found.push({
            priority: rule.properties.rulePriority ?? 1000,
            rules: rules.map((r) =>
              scope.subscription ? { ...r, when: { ...r.when, subscriptions: [scope.subscription] } } : r,
            ),
          });
        }
      }
      found.sort((a, b) => a.priority - b.priority);
      for (const f of found) adopted.push(...f.rules);
    }
    return adopted;
  }

  /**
   * Pages of assessments: per configured management group through Resource Graph
   * (`securityresources`, metadata inline at the 2025-05-04 level), else per subscription
   * through ARM at 2025-05-04.
   */
  private async *assessmentPages(): AsyncIterable<{
    page: SourcePage<Assessment>;
    subscriptionId: string | undefined;
  }> {
    const groups = this.run.config.managementGroups;
    if (groups.length > 0) {
      if (!this.run.resourceGraph)
        throw new InputError('flows.cloudTickets.managementGroups needs a Resource Graph client');
      const query =
        "securityresources | where type == 'microsoft.security/assessments' | project id, name, properties";
      for await (const page of this.run.resourceGraph.queryRecords(query, AssessmentSchema, {
        managementGroups: [...groups],
        what: 'assessments',
      }))
        yield { page, subscriptionId: undefined };
      return;
    }
    for (const subscriptionId of this.run.subscriptions)
      for await (const page of this.run.arm.listAssessments(subscriptionId, API_VERSION))
        yield { page, subscriptionId };
  }

  /**
   * The tags of the resources whose rule takes the owner from a tag, through Resource Graph's
   * `resources` table (ARM assessments carry no tags), 100 ids a query.
   */
  private async ownersByTag(
    items: readonly { rule: AppliedRule; resourceId: string }[],
  ): Promise<Map<string, Record<string, string>>> {
    const tags = new Map<string, Record<string, string>>();
    const graph = this.run.resourceGraph;
    if (!graph) return tags;
    const ids = [
      ...new Set(
        items
          .filter((i) => i.rule.owner?.type === 'tag' && resourceTypeOf(i.resourceId) !== 'subscription')
          .map((i) => i.resourceId.toLowerCase()),
      ),
    ].sort();
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      const query = `resources | where id in~ (${chunk.map(kqlString).join(', ')}) | project id, tags`;
      const scope = this.run.config.managementGroups.length
        ? { managementGroups: [...this.run.config.managementGroups] }
        : { subscriptions: [...this.run.subscriptions] };
      for await (const rows of graph.query(query, scope)) {
        for (const row of rows) {
          if (typeof row.id !== 'string' || !row.tags || typeof row.tags !== 'object') continue;
          tags.set(row.id.toLowerCase(), row.tags as Record<string, string>);
        }
      }
    }
    return tags;
  }

  // ---- deciding and writing -----------------------------------------------------------------

  /** Brings the ticket of a group (and its assignments) in line with the covered assessments. */
  async syncGroup(group: TicketGroup, memory: TicketMemory | undefined): Promise<TicketMemory | undefined> {
    if (!memory) return this.openTicket(group, 1);
    if (memory.status === 'closedByPerson') {
      const holds = suppressionHolds({
        closedAt: new Date(memory.closedAt ?? memory.createdAt),
        now: this.now,
        coolOffDays: this.run.config.coolOffDays,
        recorded: memory.assessments,
        current: group.changes,
      });
      if (holds) {
        this.summary.suppressed += 1;
        await this.decide({
          action: 'skip',
          entity: 'ticket',
          key: memory.correlationId,
          target: { table: memory.table, id: memory.sysId },
          reason: `${memory.number} was closed by a person while Defender still reports it Unhealthy; no new ticket until an assessment turns Healthy and Unhealthy again or ${this.run.config.coolOffDays} days pass`,
        });
        return memory;
      }
      return this.openTicket(group, memory.generation + 1);
    }
    if (memory.status === 'resolved') {
      const live = this.live.get(memory.correlationId);
      const update =
        this.run.config.reopen === 'reopen' && live
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
      if (this.run.dryRun) {
        await this.decide(action);
        return memory;
      }
      const record = await this.run.servicenow.update(memory.table, memory.sysId, update);
      const reopened: TicketMemory = {
        ...memory,
        status: 'open',
        state: stringValue(record.state) ?? update.state!,
      };
      delete (reopened as { closedAt?: string }).closedAt;
      this.live.set(memory.correlationId, { ...live, state: reopened.state });
      this.summary.updated += 1;
      this.summary.reopened += 1;
      await this.decide(action, {
        tickets: [this.ticketState(reopened, this.contentHashes.get(memory.groupKey) ?? null)],
      });
      return this.syncOpen(group, reopened);
    }
    const live = this.live.get(memory.correlationId);
    if (!live || isClosedState(memory.table, live.state, this.run.closedStates)) {
      await this.noticePersonClosed(memory, group.changes, live);
      return memory;
    }
    return this.syncOpen(group, { ...memory, state: live.state });
  }

  /** Opens (or, when the instance already has it, adopts) the ticket of a group. */
  async openTicket(group: TicketGroup, generation: number): Promise<TicketMemory | undefined> {
    const correlationId = correlationIdFor(this.run.integrationId, group.key, generation);
    const table = group.rule.table;
    const content = ticketContent(group.assessments, {
      impactUrgency: this.run.config.impactUrgency,
    });
    const hash = contentHash(content);
    const found = this.live.get(correlationId);
    const base = this.memoryBase(group, generation, found?.table ?? table);
    if (found) {
      // Written by an earlier run that stopped before recording it: adopt, never duplicate.
      const memory: TicketMemory = { ...base, sysId: found.sysId, number: found.number, state: found.state };
      await this.decide(
        {
          action: 'skip',
          entity: 'ticket',
          key: correlationId,
          target: { table: found.table, id: found.sysId },
          reason: `${found.number} already carries this correlation id (written by an earlier run that did not finish); adopted, not created again`,
        },
        { tickets: [this.ticketState(memory, null)] },
      );
      return this.syncGroup(group, memory);
    }
    const reason = createReason(group, generation);
    if (this.run.dryRun) {
      await this.decide({
        action: 'create',
        entity: 'ticket',
        key: correlationId,
        target: { table },
        reason,
      });
      this.summary.created += 1;
      for (const a of group.assessments)
        await this.decide({
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
      this.run.store,
      correlationId,
      async () => (await this.findTickets(table, [correlationId])).get(correlationId),
      async () =>
        this.run.servicenow.create(table, await this.newTicketValues(group, correlationId, content)),
    );
    if ('existing' in outcome) {
      // Another worker created it after this run loaded the tickets: adopt it (the branch above).
      this.live.set(correlationId, outcome.existing);
      return this.openTicket(group, generation);
    }
    const record = outcome.created;
    const memory: TicketMemory = {
      ...base,
      sysId: record.sys_id,
      number: stringValue(record.number) ?? '',
      state: stringValue(record.state) ?? '',
    };
    this.live.set(correlationId, { table, sysId: memory.sysId, number: memory.number, state: memory.state });
    this.summary.created += 1;
    this.createdThisRun.add(group.key);
    await this.decide(
      {
        action: 'create',
        entity: 'ticket',
        key: correlationId,
        target: { table, id: memory.sysId },
        reason: `${memory.number}: ${reason}`,
      },
      { tickets: [this.ticketState(memory, hash)] },
    );
    this.contentHashes.set(group.key, hash);
    return this.syncOpen(group, memory);
  }

  /** What every new ticket's memory starts with. */
  private memoryBase(group: TicketGroup, generation: number, table: TicketTable) {
    return {
      groupKey: group.key,
      generation,
      correlationId: correlationIdFor(this.run.integrationId, group.key, generation),
      table,
      status: 'open' as const,
      createdAt: this.now.toISOString(),
      dueDate: dueDate(this.now, group.rule.dueDays).toISOString(),
      gracePeriod: group.rule.gracePeriod,
      assessments: {},
      rule: group.rule,
      owner: soleOwner(group),
      ...(group.manual ? { manual: true } : {}),
    };
  }

  /** The fields of a new ticket: its content, correlation id, and the directory look-ups (with notes). */
  private async newTicketValues(
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
  private async createTickets(groups: readonly (TicketGroup | undefined)[]): Promise<Set<string>> {
    const failed = new Set<string>();
    if (this.run.dryRun) return failed;
    const fresh: {
      group: TicketGroup;
      correlationId: string;
      content: TicketContent;
      values: Record<string, unknown>;
    }[] = [];
    for (const group of groups) {
      if (!group) continue;
      const correlationId = correlationIdFor(this.run.integrationId, group.key, 1);
      if (this.live.has(correlationId)) continue;
      const content = ticketContent(group.assessments, { impactUrgency: this.run.config.impactUrgency });
      let values: Record<string, unknown> | undefined;
      await this.guard(group.key, async () => {
        values = await this.newTicketValues(group, correlationId, content);
      });
      if (values) fresh.push({ group, correlationId, content, values });
      else failed.add(group.key);
    }
    if (fresh.length === 0) return failed;
    // Under the correlation locks (PostgreSQL): a ticket another worker created since this run
    // loaded the tickets is adopted by openTicket, not created twice.
    const { existing, created } = await createAllIfAbsent(
      this.run.store,
      fresh.map((f) => f.correlationId),
      async (ids) => {
        const found = new Map<string, LiveTicket>();
        for (const table of new Set(fresh.map((f) => f.group.rule.table))) {
          const ofTable = fresh.filter((f) => f.group.rule.table === table && ids.includes(f.correlationId));
          for (const [id, ticket] of await this.findTickets(
            table,
            ofTable.map((f) => f.correlationId),
          ))
            found.set(id, ticket);
        }
        return found;
      },
      (absent) => this.sendCreates(fresh.filter((f) => absent.includes(f.correlationId))),
    );
    for (const [correlationId, ticket] of existing) this.live.set(correlationId, ticket);
    for (const { group, correlationId, content } of fresh) {
      const result = created.get(correlationId);
      if (!result) continue;
      const record = batchRecord(result);
      const why =
        batchFailure(result) ?? (record?.sys_id ? undefined : 'ServiceNow answered without a sys_id');
      if (why || !record) {
        failed.add(group.key);
        this.summary.errors += 1;
        const reason = `the ticket could not be created: ${why}`.slice(0, 2000);
        this.run.logger.warn({ group: group.key, error: reason }, 'ticket not synced');
        await this.decide({ action: 'error', entity: 'ticket', key: group.key, reason });
        continue;
      }
      const table = group.rule.table;
      const memory: TicketMemory = {
        ...this.memoryBase(group, 1, table),
        sysId: record.sys_id,
        number: stringValue(record.number) ?? '',
        state: stringValue(record.state) ?? '',
      };
      this.live.set(correlationId, {
        table,
        sysId: memory.sysId,
        number: memory.number,
        state: memory.state,
      });
      this.summary.created += 1;
      this.createdThisRun.add(group.key);
      const hash = contentHash(content);
      await this.decide(
        {
          action: 'create',
          entity: 'ticket',
          key: correlationId,
          target: { table, id: memory.sysId },
          reason: `${memory.number}: ${createReason(group, 1)}`,
        },
        { tickets: [this.ticketState(memory, hash)] },
      );
      this.contentHashes.set(group.key, hash);
    }
    return failed;
  }

  /**
   * Creates tickets in one Batch API call; returns each request's result by correlation id. A
   * call that fails as a whole (a 500, a reset) is re-sent by the client after searching for the
   * tickets by correlation id; one that still fails counts as failed for each ticket (whatever the
   * instance committed carries its correlation id: the next run adopts it).
   */
  private async sendCreates(
    fresh: readonly { group: TicketGroup; correlationId: string; values: Record<string, unknown> }[],
  ): Promise<Map<string, BatchItemResult>> {
    let results: BatchItemResult[];
    try {
      results = fresh.length
        ? await this.run.servicenow.batch(
            fresh.map((f, n) => ({
              id: String(n + 1),
              method: 'POST',
              url: `/api/now/table/${f.group.rule.table}?sysparm_fields=sys_id,number,state&sysparm_exclude_reference_link=true`,
              body: f.values,
              // A ticket is found by its correlation id, so a Batch call that failed as a whole is
              // re-sent by the client after a search, without creating a ticket twice.
              identity: { correlation_id: f.correlationId },
            })),
          )
        : [];
    } catch (error) {
      if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
      results = fresh.map((_, n) => ({
        id: String(n + 1),
        status: -1,
        body: { error: { message: `${error.code}: ${error.message}` } },
      }));
    }
    return new Map(fresh.map((f, n) => [f.correlationId, results[n]!]));
  }

  /** The tickets of `table` carrying these correlation ids on the instance now (under the correlation locks). */
  private async findTickets(
    table: TicketTable,
    correlationIds: readonly string[],
  ): Promise<Map<string, LiveTicket>> {
    const rows = await this.run.servicenow.listAll(table, {
      query: encodeQuery({ where: [where('correlation_id', 'IN', correlationIds)] }),
      fields: ['sys_id', 'number', 'state', 'correlation_id'],
    });
    const found = new Map<string, LiveTicket>();
    for (const row of rows) {
      const correlationId = stringValue(row.correlation_id);
      if (correlationId && correlationIds.includes(correlationId))
        found.set(correlationId, {
          table,
          sysId: row.sys_id,
          number: stringValue(row.number) ?? '',
          state: stringValue(row.state) ?? '',
        });
    }
    return found;
  }

  /**
   * Keeps an open ticket in step: its content when the group changed, one assignment per
   * covered assessment, and the removal of assignments of assessments that left the group.
   */
  private async syncOpen(group: TicketGroup, memory: TicketMemory): Promise<TicketMemory> {
    const content = ticketContent(group.assessments, {
      impactUrgency: this.run.config.impactUrgency,
    });
    const hash = contentHash(content);
    const contentChanged = this.contentHashes.get(group.key) !== hash;
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
      if (!this.run.dryRun)
        await this.run.servicenow.update(memory.table, memory.sysId, {
          ...(contentChanged ? content : {}),
          ...owner.write?.values,
        });
      this.summary.updated += 1;
      this.contentHashes.set(group.key, hash);
      await this.decide(action, { tickets: [this.ticketState(current, hash)] });
    } else {
      if (!this.createdThisRun.has(group.key)) this.summary.unchanged += 1;
      if (owner.owner !== memory.owner) await this.saveMemory(current);
    }
    const ids = new Set(group.assessments.map((a) => a.id));
    for (const [id] of Object.entries(memory.assessments)) {
      if (ids.has(id)) continue;
      await this.removeAssignment(
        id,
        memory,
        'the assessment is no longer Unhealthy and covered by this ticket',
      );
      const { [id]: _gone, ...rest } = current.assessments;
      current = { ...current, assessments: rest };
      await this.saveMemory(current);
    }
    for (const a of group.assessments) {
      await this.putAssignment(a, current);
      const id = a.id;
      if (current.assessments[id] !== group.changes[id]) {
        current = { ...current, assessments: { ...current.assessments, [id]: group.changes[id] ?? null } };
        await this.saveMemory(current);
      }
    }
    return current;
  }

  /** Writes the governance assignment of one covered assessment when its body changed. */
  private async putAssignment(assessment: CoveredAssessment, memory: TicketMemory): Promise<void> {
    const id = assessment.id;
    const body: GovernanceAssignmentInput = {
      ...(assessment.owner ? { owner: assessment.owner } : {}),
      remediationDueDate: memory.dueDate,
      isGracePeriod: memory.gracePeriod,
      governanceEmailNotification: {
        disableManagerEmailNotification: true,
        disableOwnerEmailNotification: true,
      },
      additionalData: {
        ...(ticketNumberDigits(memory.number) !== undefined
          ? { ticketNumber: ticketNumberDigits(memory.number)! }
          : {}),
        ticketLink: this.run.servicenow.recordUrl(memory.table, memory.sysId),
        ticketStatus: stateLabel(memory.table, memory.state),
      },
    };
    // The hash is of what this flow wants (its rule's owner included): it changes only when the
    // flow's own inputs change, never because ticket-sync or a person changed the assignment.
    const hash = contentHash(body);
    if (this.assignmentHashes.get(id) === hash) return;
    const assignmentKey = assignmentKeyFor(this.run.integrationId, id);
    const ruleOwner = assessment.owner ?? null;
    const update = Boolean(this.assignmentHashes.get(id));
    let write = true;
    let reason = `points at ${memory.number} (${stateLabel(memory.table, memory.state)}), owner ${assessment.owner ?? 'none'}, due ${memory.dueDate.slice(0, 10)}`;
    const recordedOwner = this.assignmentOwners.get(id);
    if (update && (recordedOwner === undefined || recordedOwner === ruleOwner)) {
      // The owner Defender gives the resources did not change since this flow last wrote the
      // assignment, so its owner now is the one that changed last (ticket-sync following a
      // reassignment in ServiceNow, or a person in Defender) and is kept. Re-read before write.
      const current = await this.run.arm.getGovernanceAssignment(
        assessment.resourceId,
        assessment.assessmentKey,
        assignmentKey,
      );
      if (current) {
        if (current.owner) body.owner = current.owner;
        else delete body.owner;
        reason = `points at ${memory.number} (${stateLabel(memory.table, memory.state)}), owner ${current.owner ?? 'none'} kept (the owner from the rule did not change), due ${memory.dueDate.slice(0, 10)}`;
        if (sameAssignment(current, body)) {
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
    if (write && !this.run.dryRun) {
      // A PUT replaces the whole assignment: the body carries every property Snowline keeps.
      await this.run.arm.putGovernanceAssignment(
        assessment.resourceId,
        assessment.assessmentKey,
        assignmentKey,
        body,
      );
    }
    this.assignmentHashes.set(id, hash);
    this.assignmentOwners.set(id, ruleOwner);
    if (write) this.summary.assignmentsWritten += 1;
    await this.decide(action, {
      assignments: [
        {
          sourceKey: id,
          remoteSysId: assignmentKey,
          contentHash: hash,
          ...(write ? { lastWrittenAt: this.now.toISOString() } : {}),
          lastSeenAt: this.now.toISOString(),
          data: {
            resourceId: assessment.resourceId,
            assessmentKey: assessment.assessmentKey,
            groupKey: memory.groupKey,
            owner: ruleOwner,
          },
        },
      ],
      links: [
        {
          assessmentId: id,
          subscriptionId: assessment.subscriptionId,
          ticketTable: memory.table,
          ticketSysId: memory.sysId,
          ticketNumber: memory.number,
          correlationId: memory.correlationId,
          governanceAssignmentId: assignmentKey,
        },
      ],
    });
  }

  /** Deletes the governance assignment of an assessment that no longer needs it. */
  private async removeAssignment(id: string, memory: TicketMemory, why: string): Promise<void> {
    const parsed = parseAssessmentId(id);
    if (!this.assignmentHashes.get(id) || !parsed) return;
    const assignmentKey = assignmentKeyFor(this.run.integrationId, id);
    if (!this.run.dryRun)
      await this.run.arm.deleteGovernanceAssignment(parsed.resourceId, parsed.assessmentKey, assignmentKey);
    this.assignmentHashes.set(id, null);
    this.summary.deleted += 1;
    await this.decide(
      {
        action: 'delete',
        entity: 'governanceAssignment',
        key: id,
        side: 'defender',
        target: { id: `${id}/governanceAssignments/${assignmentKey}` },
        reason: `${memory.number}: ${why}`,
      },
      {
        assignments: [{ sourceKey: id, contentHash: null, lastWrittenAt: this.now.toISOString() }],
        links: [{ assessmentId: id, governanceAssignmentId: null }],
      },
    );
  }

  /** Resolves a ticket whose assessments are all Healthy, NotApplicable or gone. */
  private async closeIfHealthy(memory: TicketMemory, seen: Map<string, SeenStatus>): Promise<void> {
    const ids = Object.keys(memory.assessments);
    const unhealthy = ids.filter((id) => seen.get(id)?.code === 'Unhealthy');
    if (unhealthy.length > 0) {
      await this.decide({
        action: 'skip',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table: memory.table, id: memory.sysId },
        reason: `${memory.number}: ${unhealthy.length} assessment(s) still Unhealthy but no rule covers them any more; the ticket is left as it is`,
      });
      return;
    }
    const live = this.live.get(memory.correlationId);
    if (!live || isClosedState(memory.table, live.state, this.run.closedStates)) {
      // Closed on the instance before Defender reported it Healthy: a person fixed and closed it.
      await this.noticePersonClosed(memory, {}, live, 'resolved');
      return;
    }
    const states = ids.map((id) => seen.get(id)?.code ?? 'no longer reported');
    const steps = closeSteps(memory.table, live.state, this.run.config.close, this.run.closedStates);
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
    if (!this.run.dryRun) {
      for (const step of steps) {
        const record = await this.run.servicenow.update(memory.table, memory.sysId, { ...step.values });
        state = stringValue(record.state) ?? state;
      }
    }
    this.summary.resolved += 1;
    const resolved: TicketMemory = { ...memory, status: 'resolved', state, closedAt: this.now.toISOString() };
    this.live.set(memory.correlationId, { ...live, state });
    await this.decide(action, {
      tickets: [this.ticketState(resolved, this.contentHashes.get(memory.groupKey) ?? null)],
    });
    for (const id of ids) await this.removeAssignment(id, resolved, 'the ticket was resolved');
  }

  /** Records that a ticket was closed (or deleted) on the instance by someone else. */
  private async noticePersonClosed(
    memory: TicketMemory,
    changes: Record<string, string | null>,
    live: LiveTicket | undefined,
    status: 'closedByPerson' | 'resolved' = 'closedByPerson',
  ): Promise<void> {
    const closed: TicketMemory = {
      ...memory,
      status,
      state: live?.state ?? memory.state,
      closedAt: this.now.toISOString(),
      assessments: { ...memory.assessments, ...changes },
    };
    await this.decide(
      {
        action: 'skip',
        entity: 'ticket',
        key: memory.correlationId,
        target: { table: memory.table, id: memory.sysId },
        reason: `${memory.number} was ${live ? `closed on the instance (${stateLabel(memory.table, live.state)})` : 'deleted on the instance'}${
          status === 'closedByPerson'
            ? ' while Defender still reports it Unhealthy; no new ticket until it turns Healthy and Unhealthy again'
            : ''
        }`,
      },
      { tickets: [this.ticketState(closed, this.contentHashes.get(memory.groupKey) ?? null)] },
    );
    for (const id of Object.keys(memory.assessments))
      await this.removeAssignment(id, closed, 'the ticket was closed on the instance');
  }

  /** assigned_to, assignment_group and caller_id, each only when it resolves to exactly one record. */
  private async directoryValues(
    group: TicketGroup,
    ticket: string,
  ): Promise<{ values: Record<string, string>; notes: string[] }> {
    const values: Record<string, string> = {};
    const notes: string[] = [];
    const report = (kind: DirectoryProblem['kind'], value: string, match: DirectoryMatch) =>
      this.reportDirectory(kind, value, match, ticket, notes, 'was left empty');
    const owners = [...new Set(group.assessments.map((a) => a.owner).filter((o): o is string => !!o))];
    if (owners.length === 1) {
      const match = await this.directory.user(this.run.servicenow, owners[0]!);
      if (match.kind === 'one') values.assigned_to = match.sysId;
      else report('owner', owners[0]!, match);
    } else if (owners.length > 1) {
      notes.push(
        `Snowline: the resources of this ticket have ${owners.length} owners (${owners.join(', ')}); assigned_to was left empty.`,
      );
    }
    if (group.rule.assignmentGroup) {
      const match = await this.directory.group(this.run.servicenow, group.rule.assignmentGroup);
      if (match.kind === 'one') values.assignment_group = match.sysId;
      else report('assignmentGroup', group.rule.assignmentGroup, match);
    }
    if (group.rule.caller && TICKET_TABLE_SPECS[group.rule.table].hasCaller) {
      const match = await this.directory.user(this.run.servicenow, group.rule.caller);
      if (match.kind === 'one') values.caller_id = match.sysId;
      else report('caller', group.rule.caller, match);
    }
    return { values, notes };
  }

  /** Reports a look-up that did not find exactly one active record, and notes it for the ticket. */
  private reportDirectory(
    kind: DirectoryProblem['kind'],
    value: string,
    match: DirectoryMatch,
    ticket: string,
    notes: string[],
    outcome: string,
  ): void {
    const matches = match.kind === 'several' ? match.count : 0;
    this.summary.directoryProblems.push({ kind, value, matches, ticket });
    notes.push(
      matches === 0
        ? `Snowline: no active ServiceNow ${kind === 'assignmentGroup' ? 'group' : 'user'} matches ${kind} "${value}"; the field ${outcome}.`
        : `Snowline: ${matches} active ServiceNow records match ${kind} "${value}"; the field ${outcome} rather than guessed.`,
    );
    this.run.logger.warn(
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
  private async ownerChange(
    group: TicketGroup,
    memory: TicketMemory,
  ): Promise<{ owner: string | null; write?: { values: Record<string, string>; reason: string } }> {
    const owner = soleOwner(group);
    // Recorded before Snowline kept the owner (nothing to compare with), or nobody to assign.
    if (memory.owner === owner || memory.owner === undefined || owner === null) return { owner };
    const values: Record<string, string> = {};
    const notes: string[] = [];
    const before = memory.owner ?? 'none';
    const match = await this.directory.user(this.run.servicenow, owner);
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

  // ---- recording --------------------------------------------------------------------------

  private ticketState(memory: TicketMemory, hash: string | null): EntityStateUpdate {
    return {
      sourceKey: memory.groupKey,
      remoteTable: memory.table,
      remoteSysId: memory.sysId,
      contentHash: hash,
      lastSeenAt: this.now.toISOString(),
      lastWrittenAt: this.now.toISOString(),
      data: memory,
    };
  }

  private async saveMemory(memory: TicketMemory): Promise<void> {
    this.memories.set(memory.groupKey, memory);
    if (this.run.dryRun) return;
    await upsertEntityStates(this.run.store.db, this.ref('ticket'), [
      { sourceKey: memory.groupKey, data: memory },
    ]);
  }

  /**
   * Adds a decision to the plan and, in a real run, records it after its write: the ledger
   * event, the entity states and the links, in one transaction.
   */
  private async decide(
    decision: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] },
    records: { tickets?: EntityStateUpdate[]; assignments?: EntityStateUpdate[]; links?: LinkUpdate[] } = {},
  ): Promise<void> {
    const action: PlanAction = { flow: FLOW, side: 'servicenow', ...decision };
    if (this.run.dryRun || this.options.keepPlan) this.plan.push(action);
    for (const t of records.tickets ?? []) this.memories.set(t.sourceKey, t.data as TicketMemory);
    if (this.run.dryRun) return;
    await this.run.store.db.transaction().execute(async (trx) => {
      if (records.tickets?.length) await upsertEntityStates(trx, this.ref('ticket'), records.tickets);
      if (records.assignments?.length)
        await upsertEntityStates(trx, this.ref('governanceAssignment'), records.assignments);
      for (const link of records.links ?? [])
        await upsertLink(trx, this.run.clock, this.run.integrationId, link);
      await appendLedgerEvents(
        trx,
        this.run.clock,
        { integrationId: this.run.integrationId, runId: this.run.runId },
        [ledgerEntryFor(action)],
      );
    });
  }

  /** Runs one ticket's work; an error other than a rate limit is recorded and the run goes on. */
  private async guard(key: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
      this.summary.errors += 1;
      const reason = `${error.code}: ${error.message}`.slice(0, 2000);
      this.run.logger.warn({ group: key, error: reason }, 'ticket not synced');
      await this.decide({ action: 'error', entity: 'ticket', key, reason });
    }
  }

  private ref(entity: string) {
    return { integrationId: this.run.integrationId, flow: FLOW, entity };
  }
}

/** The covered-assessment view of an ARM assessment and its metadata. */
export function coveredAssessment(
  a: {
    id: string;
    assessmentKey: string;
    resourceId?: string | undefined;
    displayName?: string | undefined;
    portalLink?: string | undefined;
    metadata?:
      | {
          displayName: string;
          severity: string;
          categories: string[];
          description?: string | undefined;
          remediationDescription?: string | undefined;
        }
      | undefined;
  },
  meta:
    | Pick<
        AssessmentMetadata,
        'displayName' | 'severity' | 'categories' | 'description' | 'remediationDescription'
      >
    | undefined,
  subscriptionId: string,
): CoveredAssessment {
  const m = meta ?? a.metadata;
  const resourceId = a.resourceId ?? '';
  return {
    id: a.id,
    assessmentKey: a.assessmentKey,
    resourceId,
    subscriptionId,
    resourceType: resourceTypeOf(resourceId),
    displayName: m?.displayName ?? a.displayName ?? a.assessmentKey,
    severity: m?.severity ?? 'Low',
    categories: m?.categories ?? [],
    description: m?.description,
    remediation: m?.remediationDescription,
    portalLink: a.portalLink,
  };
}

/** Why a group gets a new ticket, in the words of the plan and the ledger. */
function createReason(group: TicketGroup, generation: number): string {
  return `${group.assessments.length} Unhealthy assessment(s) covered by rule ${group.rule.name}${
    group.rule.grouping !== 'none' && !group.manual ? ` (grouped by ${group.rule.grouping})` : ''
  }${generation > 1 ? `; generation ${generation}: the previous ticket was closed` : ''}`;
}

/** True when the assignment as read already has every value of the body cloud-tickets would PUT. */
function sameAssignment(current: GovernanceAssignment, body: GovernanceAssignmentInput): boolean {
  const a = current.additionalData;
  const b = body.additionalData;
  return (
    (current.owner ?? '').toLowerCase() === (body.owner ?? '').toLowerCase() &&
    current.remediationDueDate.getTime() === new Date(body.remediationDueDate).getTime() &&
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

/** The one owner of a group's resources, or null when they have none or several (assigned_to stays empty). */
function soleOwner(group: TicketGroup): string | null {
  const owners = new Set(group.assessments.map((a) => a.owner).filter((o): o is string => !!o));
  return owners.size === 1 ? [...owners][0]! : null;
}

function ownerOf(
  source: OwnerSource | undefined,
  tags: Record<string, string> | undefined,
): string | undefined {
  if (!source) return undefined;
  if (source.type === 'email') return source.value;
  const found = Object.entries(tags ?? {}).find(([k]) => k.toLowerCase() === source.value.toLowerCase());
  return found && typeof found[1] === 'string' && found[1] !== '' ? found[1] : undefined;
}
