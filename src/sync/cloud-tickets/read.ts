import { z } from 'zod';
import {
  adoptedGroupKey,
  assignmentKeyFor,
  groupKeyFor,
  matchRule,
  parseAssessmentId,
  resourceTypeOf,
  rulesFromGovernanceRule,
  correlationPrefix,
  type CoveredAssessment,
  type OwnerSource,
} from '../../domain/tickets/rules.js';
import { TICKET_TABLES, type TicketTable } from '../../domain/tickets/tables.js';
import { carriesOtherTicket, ticketLinkTarget, type TicketLinkTarget } from '../../domain/tickets/vendor.js';
import { InputError } from '../../errors.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { stringValue } from '../../servicenow/values.js';
import { AssessmentSchema } from '../../sources/azure/models.js';
import {
  GOVERNANCE_API_VERSION,
  kqlString,
  type Assessment,
  type AssessmentMetadata,
  type SourcePage,
} from '../../sources/index.js';
import type { RunScratch, ScratchRow } from '../../store/models/scratch.js';
import { eachInLanes, readAhead } from '../kernel/lanes.js';
import type { CloudTicketsRun } from './flow.js';
import { ticketMemory, type TicketMemory } from './memory.js';
import {
  ASSESSMENTS_API_VERSION,
  type AppliedRule,
  type LiveTicket,
  type OtherAssignment,
  type SeenStatus,
  type TicketGroup,
} from './types.js';

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

/**
 * What cloud-tickets reads: the tickets of this integration on the instance (by correlation id),
 * the assessments with their metadata, the adopted governance rules, and the owner tags of
 * resources; and how covered assessments group into tickets.
 */
export class AssessmentReader {
  /** The metadata catalogue, by lower-cased assessment key (a few hundred recommendations). */
  private readonly metadata = new Map<string, AssessmentMetadata>();

  constructor(private readonly t: CloudTicketsRun) {}

  /**
   * Every ticket of this integration on the instance, by correlation id: the "search before
   * create" of every group at once, and the state of each ticket (to notice one a person closed).
   * Each page goes to `into` (the run's scratch in a flow run; the run's map by default).
   */
  async loadLiveTickets(
    into: (found: readonly (readonly [string, LiveTicket])[]) => Promise<void> = async (found) => {
      for (const [correlationId, ticket] of found) this.t.live.set(correlationId, ticket);
    },
    tables: readonly TicketTable[] = TICKET_TABLES,
  ): Promise<void> {
    const prefix = correlationPrefix(this.t.run.integrationId);
    for (const table of tables) {
      for await (const page of this.t.run.servicenow.list(table, {
        query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', prefix)] }),
        fields: ['sys_id', 'number', 'state', 'correlation_id'],
      })) {
        const found: [string, LiveTicket][] = [];
        for (const row of page) {
          const correlationId = stringValue(row.correlation_id);
          if (!correlationId?.startsWith(prefix)) continue;
          found.push([
            correlationId,
            {
              table,
              sysId: row.sys_id,
              number: stringValue(row.number) ?? '',
              state: stringValue(row.state) ?? '',
            },
          ]);
        }
        await into(found);
      }
    }
    await this.loadAdoptedTickets(tables, into);
  }

  /**
   * The adopted tickets (Defender's own integration opened them; their correlation_id is not
   * Snowline's) by sys_id, 100 a query, under the correlation id their memory carries: so a
   * person closing one is noticed on the next run like for Snowline's own tickets. The memories
   * are read a page at a time; only the adopted ones' sys_ids are kept.
   */
  private async loadAdoptedTickets(
    tables: readonly TicketTable[],
    into: (found: readonly (readonly [string, LiveTicket])[]) => Promise<void>,
  ): Promise<void> {
    const adopted = new Map<TicketTable, Map<string, string>>();
    for await (const page of ticketMemory(this.t.scope).all())
      for (const { data: m } of page) {
        if (!m?.adopted || !tables.includes(m.table) || !this.owns(m)) continue;
        const bySysId = adopted.get(m.table) ?? new Map<string, string>();
        adopted.set(m.table, bySysId);
        bySysId.set(m.sysId, m.correlationId);
      }
    for (const table of tables) {
      const bySysId = adopted.get(table) ?? new Map<string, string>();
      const rows = await this.ticketsBySysId(table, [...bySysId.keys()]);
      await into(rows.map((row) => [bySysId.get(row.sysId)!, row] as const));
    }
  }

  /** True when the run (or its part, when split per subscription) keeps this remembered ticket. */
  private owns(memory: TicketMemory): boolean {
    return this.t.run.ownsTicket?.(memory) ?? true;
  }

  /** The tickets of `table` with these sys_ids, 100 a query. */
  async ticketsBySysId(table: TicketTable, sysIds: readonly string[]): Promise<LiveTicket[]> {
    const found: LiveTicket[] = [];
    for (let i = 0; i < sysIds.length; i += 100) {
      const rows = await this.t.run.servicenow.listAll(table, {
        query: encodeQuery({ where: [where('sys_id', 'IN', sysIds.slice(i, i + 100))] }),
        fields: ['sys_id', 'number', 'state'],
      });
      for (const row of rows) found.push(liveTicket(table, row));
    }
    return found;
  }

  /**
   * The tickets an assignment of Defender's own integration may point at: by the link's sys_id
   * when it has one, else every ticket whose number ends with `ticketNumber`'s digits (the caller
   * keeps exact matches only), in the link's table when it names one, else in all three.
   */
  async ticketsForOther(other: OtherAssignment, target: TicketLinkTarget): Promise<LiveTicket[]> {
    const tables = target.kind === 'thisInstance' && target.table ? [target.table] : TICKET_TABLES;
    const found: LiveTicket[] = [];
    for (const table of tables) {
      if (target.kind === 'thisInstance' && target.sysId) {
        found.push(...(await this.ticketsBySysId(table, [target.sysId])));
        continue;
      }
      if (other.ticketNumber === undefined) continue;
      const rows = await this.t.run.servicenow.listAll(table, {
        query: encodeQuery({ where: [where('number', 'ENDSWITH', String(other.ticketNumber))] }),
        fields: ['sys_id', 'number', 'state'],
      });
      for (const row of rows) found.push(liveTicket(table, row));
    }
    return found;
  }

  /**
   * Governance assignments with a ServiceNow ticket that Snowline did not make (Defender's own
   * integration did), by lower-cased assessment id (scratch `other`), for the covered assessments
   * no ticket of Snowline's covers yet (scratch `wanted`). One ARM list per (subscription,
   * recommendation) (scratch `scope`): at a subscription scope ARM lists the assignments of every
   * resource (contract §3.1). Assessments Snowline already tracks are not asked about again, so a
   * settled estate costs no request here.
   */
  private async otherAssignments(scratch: RunScratch): Promise<void> {
    for await (const keys of scratch.keys(SCRATCH.scope, 500)) {
      const scopes = await scratch.get<{ subscriptionId: string; assessmentKey: string }>(
        SCRATCH.scope,
        keys,
      );
      // The scopes' lists are independent (an assessment is in one scope only): they go
      // `concurrency` at once instead of one round trip after another; each one's pages in order.
      await eachInLanes(
        [...scopes.values()].map((v) => v!),
        this.t.run.config.concurrency,
        async (scope) => {
          const { subscriptionId, assessmentKey } = scope;
          for await (const page of this.t.run.arm.listGovernanceAssignments(
            `subscriptions/${subscriptionId}`,
            assessmentKey,
          )) {
            const ids = page.items
              .map((g) => g.assessmentId?.toLowerCase())
              .filter((id): id is string => !!id);
            const wanted = await scratch.get(SCRATCH.wanted, ids);
            const found: ScratchRow<StoredOther>[] = [];
            for (const g of page.items) {
              const id = g.assessmentId?.toLowerCase();
              if (!id || !wanted.has(id)) continue;
              if (!carriesOtherTicket(g, assignmentKeyFor(this.t.run.integrationId, id))) continue;
              found.push({
                key: id,
                data: {
                  assignmentKey: g.assignmentKey,
                  owner: g.owner,
                  remediationDueDate: g.remediationDueDate.toISOString(),
                  isGracePeriod: g.isGracePeriod,
                  ticketNumber: g.additionalData?.ticketNumber,
                  ticketLink: g.additionalData?.ticketLink,
                  ticketStatus: g.additionalData?.ticketStatus,
                },
              });
            }
            // The first assignment with a ticket found for an assessment is the one adopted.
            await scratch.put(SCRATCH.other, found, 'keep');
          }
        },
      );
    }
  }

  /** Where an adopted assignment's link points, against this integration's instance. */
  linkTarget(other: OtherAssignment): TicketLinkTarget {
    return ticketLinkTarget(other.ticketLink, this.t.run.servicenow.instanceUrl);
  }

  /** The tickets of `table` carrying these correlation ids on the instance now (under the correlation locks). */
  async findTickets(table: TicketTable, correlationIds: readonly string[]): Promise<Map<string, LiveTicket>> {
    const rows = await this.t.run.servicenow.listAll(table, {
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
   * Reads every assessment a page at a time and groups the covered ones through the run's scratch,
   * so that what is held at once is a page, not the estate:
   *
   * 1. the assessment ids the ticket memories remember (`remembered`, with the ticket that holds
   *    them whatever the rules say: one created by hand until resolved, one adopted for good) and
   *    the group keys of the memories (`key`);
   * 2. per page of assessments: the status of remembered ones (`seen`), the Unhealthy ones a rule
   *    (or their holding ticket) covers in read order (`covered`), the resources whose owner is a
   *    tag (`tagResource`), and the scopes and ids to look for other integrations' assignments in
   *    (`scope`, `wanted`);
   * 3. the owner tags, 100 resources a Resource Graph query in id order, and the other
   *    integrations' assignments, one ARM list per scope: the same requests as when every covered
   *    assessment was held;
   * 4. each covered assessment with its owner and group key (`grouped`, sorted by group key then
   *    read order), and the group keys (`key`, `group`).
   *
   * {@link groupsOf} then reads the groups of a chunk of keys back.
   */
  async stageAssessments(scratch: RunScratch): Promise<void> {
    for await (const page of this.t.run.arm.listAssessmentMetadata(ASSESSMENTS_API_VERSION))
      for (const m of page.items) this.metadata.set(m.assessmentKey.toLowerCase(), m);
    await this.stageMemories(scratch);

    let seq = 0;
    // An assessment listed twice in one read (the same id, or in another case: ARM ids are
    // case-insensitive) is one assessment: its first listing is covered, once. The one set held
    // for the whole read: an id per covered assessment (about 10 MB at 50,000 covered).
    const coveredIds = new Set<string>();
    for await (const { page, subscriptionId: listed } of readAhead(this.assessmentPages())) {
      for (const problem of page.problems) {
        this.t.run.logger.warn({ problem: problem.error.message }, 'malformed assessment skipped');
        // One ledger event per record, keyed by its id when it has one, else by its position in the page.
        await this.t.decide({
          action: 'error',
          entity: 'assessment',
          key: problem.key ?? `record ${problem.index}`,
          reason:
            `malformed assessment record skipped (${problem.source}, record ${problem.index}): ${problem.error.message}`.slice(
              0,
              2000,
            ),
          side: 'defender',
        });
      }
      const remembered = await scratch.get<RememberedAssessment>(
        SCRATCH.remembered,
        page.items.map((a) => a.id),
      );
      const seen: ScratchRow<SeenStatus>[] = [];
      const covered: ScratchRow<StagedAssessment>[] = [];
      const tagResources: ScratchRow[] = [];
      const scopes: ScratchRow<{ subscriptionId: string; assessmentKey: string }>[] = [];
      const wanted: ScratchRow[] = [];
      for (const a of page.items) {
        const subscriptionId = listed ?? parseAssessmentId(a.id)?.subscriptionId;
        if (!subscriptionId) continue;
        const id = a.id;
        const change = a.status.statusChangeDate?.toISOString() ?? null;
        const isRemembered = remembered.has(id);
        if (isRemembered) seen.push({ key: id, data: { code: a.status.code, statusChangeDate: change } });
        if (a.status.code !== 'Unhealthy' || !a.resourceId) continue;
        if (coveredIds.has(id.toLowerCase())) continue;
        coveredIds.add(id.toLowerCase());
        const meta = this.metadata.get(a.assessmentKey.toLowerCase());
        const assessment = coveredAssessment(a, meta, subscriptionId);
        const held = remembered.get(id)?.held;
        const ruleIndex = held ? -1 : matchRuleIndex(this.t.rules, assessment);
        if (ruleIndex === undefined) continue;
        const rule = held ? held.rule : this.t.rules[ruleIndex]!;
        seq += 1;
        covered.push({
          key: seqKey(seq),
          seq,
          data: {
            assessment: {
              id,
              assessmentKey: a.assessmentKey,
              resourceId: a.resourceId,
              displayName: a.displayName,
              portalLink: a.portalLink,
              // The catalogue's metadata is kept once for the run; a record's own only without it.
              ...(meta ? {} : { metadata: a.metadata }),
            },
            subscriptionId,
            ...(held ? { held } : { ruleIndex }),
            change,
          },
        });
        if (rule.owner?.type === 'tag' && resourceTypeOf(assessment.resourceId) !== 'subscription')
          tagResources.push({ key: assessment.resourceId.toLowerCase() });
        if (!isRemembered) {
          scopes.push({
            key: `${assessment.subscriptionId}|${assessment.assessmentKey}`.toLowerCase(),
            data: { subscriptionId: assessment.subscriptionId, assessmentKey: assessment.assessmentKey },
          });
          wanted.push({ key: id.toLowerCase() });
        }
      }
      await scratch.put(SCRATCH.seen, seen);
      await scratch.put(SCRATCH.covered, covered);
      await scratch.put(SCRATCH.tagResource, tagResources, 'keep');
      await scratch.put(SCRATCH.scope, scopes);
      await scratch.put(SCRATCH.wanted, wanted, 'keep');
    }
    this.t.summary.covered = seq;

    await this.ownersByTag(scratch);
    await this.otherAssignments(scratch);
    await this.groupCovered(scratch);
    this.t.summary.groups = await scratch.count(SCRATCH.group);
  }

  /** Step 1 of {@link stageAssessments}: what the ticket memories remember, a page at a time. */
  private async stageMemories(scratch: RunScratch): Promise<void> {
    for await (const page of ticketMemory(this.t.scope).all()) {
      const keys: ScratchRow[] = [];
      const remembered: ScratchRow<RememberedAssessment>[] = [];
      const held: ScratchRow<RememberedAssessment>[] = [];
      for (const { key, data: memory } of page) {
        // A part of a run split per subscription keeps its own tickets only.
        if (!memory || !this.owns(memory)) continue;
        keys.push({ key });
        const adopted = memory.groupKey.startsWith(adoptedGroupKey(''));
        const holds = (memory.manual && memory.status !== 'resolved') || adopted;
        for (const id of Object.keys(memory.assessments)) {
          remembered.push({ key: id, data: {} });
          if (holds)
            held.push({
              key: id,
              data: {
                held: { groupKey: memory.groupKey, rule: memory.rule, manual: memory.manual ?? false },
              },
            });
        }
      }
      await scratch.put(SCRATCH.key, keys, 'keep');
      // An assessment two tickets hold is held by the later one (in key order), as before.
      await scratch.put(SCRATCH.remembered, remembered, 'keep');
      await scratch.put(SCRATCH.remembered, held, 'replace');
    }
  }

  /** Step 4 of {@link stageAssessments}: each covered assessment's owner and group key. */
  private async groupCovered(scratch: RunScratch): Promise<void> {
    for await (const rows of scratch.bySeq<StagedAssessment>(SCRATCH.covered, 1000)) {
      const staged = rows.map((r) => ({ seq: r.seq, data: r.data! }));
      const tags = await scratch.get<Record<string, string>>(
        SCRATCH.tags,
        staged.map((s) => s.data.assessment.resourceId.toLowerCase()),
      );
      const others = await scratch.get<StoredOther>(
        SCRATCH.other,
        staged.map((s) => s.data.assessment.id.toLowerCase()),
      );
      const grouped: ScratchRow<GroupedAssessment>[] = [];
      const keys: ScratchRow[] = [];
      for (const { seq, data } of staged) {
        const rule = this.ruleOf(data);
        const plain = this.assessmentOf(data);
        const owner = ownerOf(rule.owner, tags.get(plain.resourceId.toLowerCase()));
        const assessment: CoveredAssessment = owner ? { ...plain, owner } : plain;
        const other = others.get(assessment.id.toLowerCase());
        const key =
          data.held?.groupKey ?? (other ? adoptedGroupKey(assessment.id) : groupKeyFor(rule, assessment));
        grouped.push({
          key: seqKey(seq),
          seq,
          sortKey: key,
          data: { ...data, ...(owner ? { owner } : {}), ...(other ? { other } : {}) },
        });
        keys.push({ key });
      }
      await scratch.put(SCRATCH.grouped, grouped);
      await scratch.put(SCRATCH.key, keys, 'keep');
      await scratch.put(SCRATCH.group, keys, 'keep');
    }
  }

  /**
   * The groups of these keys as {@link stageAssessments} left them: their covered assessments in
   * read order, under the rule (and adoption) of the first.
   */
  async groupsOf(scratch: RunScratch, keys: readonly string[]): Promise<Map<string, TicketGroup>> {
    const groups = new Map<string, TicketGroup>();
    for (const { sortKey: key, data } of await scratch.bySortKeys<GroupedAssessment>(SCRATCH.grouped, keys)) {
      const c = data!;
      const plain = this.assessmentOf(c);
      const assessment: CoveredAssessment = c.owner ? { ...plain, owner: c.owner } : plain;
      const other = c.other ? otherOf(c.other) : undefined;
      const group = groups.get(key) ?? {
        key,
        rule: this.ruleOf(c),
        manual: c.held?.manual ?? false,
        assessments: [],
        changes: {},
        ...(other ? { other } : {}),
      };
      group.assessments.push(assessment);
      group.changes[assessment.id] = c.change;
      groups.set(key, group);
    }
    return groups;
  }

  private ruleOf(staged: StagedAssessment): AppliedRule {
    return staged.held ? staged.held.rule : this.t.rules[staged.ruleIndex!]!;
  }

  private assessmentOf(staged: StagedAssessment): CoveredAssessment {
    const a = staged.assessment;
    return coveredAssessment(a, this.metadata.get(a.assessmentKey.toLowerCase()), staged.subscriptionId);
  }

  /**
   * Ticket rules equivalent to the enabled governance rules of `ruleType: ServiceNow` at the read
   * scopes (each management group, else each subscription, whose rules apply to it only), in
   * `rulePriority` order. Conditions Snowline can not evaluate are logged and the set ignored.
   */
  async adoptedGovernanceRules(): Promise<AppliedRule[]> {
    const policy = this.t.run.config.governanceRules;
    if (!policy.adopt) return [];
    const scopes = this.t.run.config.managementGroups.length
      ? this.t.run.config.managementGroups.map((mg) => ({
          path: `/providers/Microsoft.Management/managementGroups/${encodeURIComponent(mg)}`,
          subscription: undefined,
        }))
      : this.t.run.subscriptions.map((id) => ({
          path: `/subscriptions/${encodeURIComponent(id)}`,
          subscription: id,
        }));
    const adopted: AppliedRule[] = [];
    for (const scope of scopes) {
      const found: { priority: number; rules: AppliedRule[] }[] = [];
      for await (const page of this.t.run.arm.listAll(
        `${scope.path}/providers/Microsoft.Security/governanceRules`,
        GOVERNANCE_API_VERSION,
        GovernanceRuleSchema,
        `governance rules of ${scope.path}`,
      )) {
        for (const rule of page.items) {
          const { rules, skipped } = rulesFromGovernanceRule(rule, policy.table);
          for (const why of skipped)
            this.t.run.logger.warn(
              { governanceRule: rule.name, why },
              'governance rule condition not adopted',
            );
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
  async *assessmentPages(): AsyncIterable<{
    page: SourcePage<Assessment>;
    subscriptionId: string | undefined;
  }> {
    const groups = this.t.run.config.managementGroups;
    if (groups.length > 0) {
      if (!this.t.run.resourceGraph)
        throw new InputError('flows.cloudTickets.managementGroups needs a Resource Graph client');
      const query =
        "securityresources | where type == 'microsoft.security/assessments' | project id, name, properties";
      for await (const page of this.t.run.resourceGraph.queryRecords(query, AssessmentSchema, {
        managementGroups: [...groups],
        what: 'assessments',
      }))
        yield { page, subscriptionId: undefined };
      return;
    }
    for (const subscriptionId of this.t.run.subscriptions)
      for await (const page of this.t.run.arm.listAssessments(subscriptionId, ASSESSMENTS_API_VERSION))
        yield { page, subscriptionId };
  }

  /**
   * The tags of the resources whose rule takes the owner from a tag (scratch `tagResource`, one
   * row per lower-cased id), through Resource Graph's `resources` table (ARM assessments carry no
   * tags), 100 ids a query in id order, into scratch `tags`.
   */
  private async ownersByTag(scratch: RunScratch): Promise<void> {
    const graph = this.t.run.resourceGraph;
    if (!graph) return;
    for await (const chunk of scratch.keys(SCRATCH.tagResource, 100)) {
      const query = `resources | where id in~ (${chunk.map(kqlString).join(', ')}) | project id, tags`;
      const scope = this.t.run.config.managementGroups.length
        ? { managementGroups: [...this.t.run.config.managementGroups] }
        : { subscriptions: [...this.t.run.subscriptions] };
      for await (const rows of graph.query(query, scope)) {
        const tags: ScratchRow<Record<string, string>>[] = [];
        for (const row of rows) {
          if (typeof row.id !== 'string' || !row.tags || typeof row.tags !== 'object') continue;
          tags.push({ key: row.id.toLowerCase(), data: row.tags as Record<string, string> });
        }
        await scratch.put(SCRATCH.tags, tags);
      }
    }
  }
}

/** The kinds of scratch rows cloud-tickets keeps while it reads (see {@link AssessmentReader.stageAssessments}). */
export const SCRATCH = {
  remembered: 'remembered',
  seen: 'seen',
  covered: 'covered',
  tagResource: 'tagResource',
  tags: 'tags',
  scope: 'scope',
  wanted: 'wanted',
  other: 'other',
  grouped: 'grouped',
  key: 'key',
  group: 'group',
  live: 'live',
} as const;

/** An assessment id a ticket memory remembers, with the ticket that holds it whatever the rules say. */
interface RememberedAssessment {
  readonly held?: { readonly groupKey: string; readonly rule: AppliedRule; readonly manual: boolean };
}

/** A covered assessment as staged: its own fields (the catalogue's metadata is the run's), its rule and change date. */
interface StagedAssessment {
  readonly assessment: {
    readonly id: string;
    readonly assessmentKey: string;
    readonly resourceId: string;
    readonly displayName?: string | undefined;
    readonly portalLink?: string | undefined;
    readonly metadata?: Assessment['metadata'];
  };
  readonly subscriptionId: string;
  /** The index of the covering rule in the run's rules; absent when a ticket holds it. */
  readonly ruleIndex?: number;
  readonly held?: RememberedAssessment['held'];
  readonly change: string | null;
}

/** A staged assessment with its owner and, when another integration's assignment has a ticket, that assignment. */
interface GroupedAssessment extends StagedAssessment {
  readonly owner?: string;
  readonly other?: StoredOther;
}

/** An {@link OtherAssignment} as scratch JSON (its due date as ISO text). */
type StoredOther = Omit<OtherAssignment, 'remediationDueDate'> & { readonly remediationDueDate: string };

function otherOf(stored: StoredOther): OtherAssignment {
  return { ...stored, remediationDueDate: new Date(stored.remediationDueDate) };
}

/** The index of the first rule that covers an assessment (first match wins), undefined for none. */
function matchRuleIndex(rules: readonly AppliedRule[], assessment: CoveredAssessment): number | undefined {
  const rule = matchRule(rules, assessment);
  return rule ? rules.indexOf(rule) : undefined;
}

/** A scratch key that sorts like the number (read order). */
function seqKey(seq: number): string {
  return String(seq).padStart(12, '0');
}

function liveTicket(
  table: TicketTable,
  row: { sys_id: string; number?: unknown; state?: unknown },
): LiveTicket {
  return {
    table,
    sysId: row.sys_id,
    number: stringValue(row.number) ?? '',
    state: stringValue(row.state) ?? '',
  };
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
