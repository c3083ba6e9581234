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
import type { CloudTicketsRun } from './flow.js';
import type { TicketMemory } from './memory.js';
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
  constructor(private readonly t: CloudTicketsRun) {}

  /**
   * Every ticket of this integration on the instance, by correlation id: the "search before
   * create" of every group at once, and the state of each ticket (to notice one a person closed).
   */
  async loadLiveTickets(tables: readonly TicketTable[] = TICKET_TABLES): Promise<void> {
    const prefix = correlationPrefix(this.t.run.integrationId);
    for (const table of tables) {
      for await (const page of this.t.run.servicenow.list(table, {
        query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', prefix)] }),
        fields: ['sys_id', 'number', 'state', 'correlation_id'],
      })) {
        for (const row of page) {
          const correlationId = stringValue(row.correlation_id);
          if (!correlationId?.startsWith(prefix)) continue;
          this.t.live.set(correlationId, {
            table,
            sysId: row.sys_id,
            number: stringValue(row.number) ?? '',
            state: stringValue(row.state) ?? '',
          });
        }
      }
    }
    await this.loadAdoptedTickets(tables);
  }

  /**
   * The adopted tickets (Defender's own integration opened them; their correlation_id is not
   * Snowline's) by sys_id, 100 a query, under the correlation id their memory carries: so a
   * person closing one is noticed on the next run like for Snowline's own tickets.
   */
  private async loadAdoptedTickets(tables: readonly TicketTable[]): Promise<void> {
    for (const table of tables) {
      const bySysId = new Map(
        [...this.t.memories.values()]
          .filter((m) => m.adopted && m.table === table)
          .map((m) => [m.sysId, m.correlationId] as const),
      );
      for (const row of await this.ticketsBySysId(table, [...bySysId.keys()]))
        this.t.live.set(bySysId.get(row.sysId)!, row);
    }
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
   * integration did), by lower-cased assessment id, for the covered assessments no ticket of
   * Snowline's covers yet. One ARM list per (subscription, recommendation): at a subscription
   * scope ARM lists the assignments of every resource (contract §3.1). Assessments Snowline
   * already tracks are not asked about again, so a settled estate costs no request here.
   */
  async otherAssignments(assessments: readonly CoveredAssessment[]): Promise<Map<string, OtherAssignment>> {
    const wanted = new Set(assessments.map((a) => a.id.toLowerCase()));
    const scopes = new Map<string, { subscriptionId: string; assessmentKey: string }>();
    for (const a of assessments) scopes.set(`${a.subscriptionId}|${a.assessmentKey}`.toLowerCase(), a);
    const found = new Map<string, OtherAssignment>();
    for (const { subscriptionId, assessmentKey } of scopes.values()) {
      for await (const page of this.t.run.arm.listGovernanceAssignments(
        `subscriptions/${subscriptionId}`,
        assessmentKey,
      )) {
        for (const g of page.items) {
          const id = g.assessmentId?.toLowerCase();
          if (!id || !wanted.has(id) || found.has(id)) continue;
          if (!carriesOtherTicket(g, assignmentKeyFor(this.t.run.integrationId, id))) continue;
          found.set(id, {
            assignmentKey: g.assignmentKey,
            owner: g.owner,
            remediationDueDate: g.remediationDueDate,
            isGracePeriod: g.isGracePeriod,
            ticketNumber: g.additionalData?.ticketNumber,
            ticketLink: g.additionalData?.ticketLink,
            ticketStatus: g.additionalData?.ticketStatus,
          });
        }
      }
    }
    return found;
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

  async readAssessments(): Promise<{
    groups: Map<string, TicketGroup>;
    seen: Map<string, SeenStatus>;
  }> {
    const metadata = new Map<string, AssessmentMetadata>();
    for await (const page of this.t.run.arm.listAssessmentMetadata(ASSESSMENTS_API_VERSION))
      for (const m of page.items) metadata.set(m.assessmentKey.toLowerCase(), m);

    const remembered = new Set<string>();
    // Tickets that keep their assessments whatever the rules say: one created by hand (until
    // resolved) and one adopted from Defender's own integration (for good: it is reopened or
    // superseded like any other).
    const heldByAssessment = new Map<string, TicketMemory>();
    for (const memory of this.t.memories.values()) {
      for (const id of Object.keys(memory.assessments)) remembered.add(id);
      const adopted = memory.groupKey.startsWith(adoptedGroupKey(''));
      if ((memory.manual && memory.status !== 'resolved') || adopted)
        for (const id of Object.keys(memory.assessments)) heldByAssessment.set(id, memory);
    }

    const seen = new Map<string, SeenStatus>();
    const covered: {
      assessment: CoveredAssessment;
      rule: AppliedRule;
      manual: boolean;
      change: string | null;
    }[] = [];
    const coveredIds = new Set<string>();
    for await (const { page, subscriptionId: listed } of this.assessmentPages()) {
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
      for (const a of page.items) {
        const subscriptionId = listed ?? parseAssessmentId(a.id)?.subscriptionId;
        if (!subscriptionId) continue;
        const id = a.id;
        const change = a.status.statusChangeDate?.toISOString() ?? null;
        if (remembered.has(id)) seen.set(id, { code: a.status.code, statusChangeDate: change });
        if (a.status.code !== 'Unhealthy' || !a.resourceId) continue;
        // An assessment listed twice in one read (the same id, or in another case: ARM ids are
        // case-insensitive) is one assessment: its first listing is covered, once.
        if (coveredIds.has(id.toLowerCase())) continue;
        coveredIds.add(id.toLowerCase());
        const meta = metadata.get(a.assessmentKey.toLowerCase());
        const assessment = coveredAssessment(a, meta, subscriptionId);
        const held = heldByAssessment.get(id);
        if (held) {
          covered.push({ assessment, rule: held.rule, manual: held.manual ?? false, change });
          continue;
        }
        const rule = matchRule(this.t.rules, assessment);
        if (rule) covered.push({ assessment, rule, manual: false, change });
      }
    }
    this.t.summary.covered = covered.length;

    const owners = await this.ownersByTag(
      covered.map((c) => ({ rule: c.rule, resourceId: c.assessment.resourceId })),
    );
    const others = await this.otherAssignments(
      covered.filter((c) => !remembered.has(c.assessment.id)).map((c) => c.assessment),
    );
    const groups = new Map<string, TicketGroup>();
    for (const c of covered) {
      const owner = ownerOf(c.rule.owner, owners.get(c.assessment.resourceId.toLowerCase()));
      const assessment: CoveredAssessment = owner ? { ...c.assessment, owner } : c.assessment;
      const other = others.get(assessment.id.toLowerCase());
      const key =
        heldByAssessment.get(assessment.id)?.groupKey ??
        (other ? adoptedGroupKey(assessment.id) : groupKeyFor(c.rule, assessment));
      const group = groups.get(key) ?? {
        key,
        rule: c.rule,
        manual: c.manual,
        assessments: [],
        changes: {},
        ...(other ? { other } : {}),
      };
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
   * The tags of the resources whose rule takes the owner from a tag, through Resource Graph's
   * `resources` table (ARM assessments carry no tags), 100 ids a query.
   */
  async ownersByTag(
    items: readonly { rule: AppliedRule; resourceId: string }[],
  ): Promise<Map<string, Record<string, string>>> {
    const tags = new Map<string, Record<string, string>>();
    const graph = this.t.run.resourceGraph;
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
      const scope = this.t.run.config.managementGroups.length
        ? { managementGroups: [...this.t.run.config.managementGroups] }
        : { subscriptions: [...this.t.run.subscriptions] };
      for await (const rows of graph.query(query, scope)) {
        for (const row of rows) {
          if (typeof row.id !== 'string' || !row.tags || typeof row.tags !== 'object') continue;
          tags.set(row.id.toLowerCase(), row.tags as Record<string, string>);
        }
      }
    }
    return tags;
  }
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
