import { createHash } from 'node:crypto';
import type { TicketTable } from './tables.js';

/**
 * Pure rules of flow cloud-tickets: which rule covers an assessment, which ticket it belongs to,
 * the ticket's correlation id and content, and how each table is resolved. No I/O.
 */

/** How covered assessments are gathered into tickets. */
export type Grouping = 'none' | 'recommendation' | 'resource' | 'owner';

/** Who owns an assessment: a fixed email, or the value of a resource tag (Defender's Manually / ByTag). */
export type OwnerSource =
  { readonly type: 'email'; readonly value: string } | { readonly type: 'tag'; readonly value: string };

/** One ticket rule (the `flows.cloudTickets.rules[]` entry, defaults applied). */
export interface TicketRule {
  readonly name: string;
  readonly when: {
    readonly severities?: readonly string[] | undefined;
    readonly recommendations?: readonly string[] | undefined;
    readonly subscriptions?: readonly string[] | undefined;
    readonly resourceTypes?: readonly string[] | undefined;
    readonly categories?: readonly string[] | undefined;
  };
  readonly table: TicketTable;
  readonly assignmentGroup?: string | undefined;
  readonly caller?: string | undefined;
  readonly owner?: OwnerSource | undefined;
  readonly dueDays: number;
  readonly gracePeriod: boolean;
  readonly grouping: Grouping;
}

/** What the rules and the ticket text need to know of one assessment (recommendation × resource). */
export interface CoveredAssessment {
  /** `<resourceId>/providers/Microsoft.Security/assessments/<assessmentKey>`. */
  readonly id: string;
  readonly assessmentKey: string;
  readonly resourceId: string;
  readonly subscriptionId: string;
  /** `Microsoft.Compute/virtualMachines`, or `subscription` for a subscription-level assessment. */
  readonly resourceType: string;
  readonly displayName: string;
  readonly severity: string;
  readonly categories: readonly string[];
  readonly description?: string | undefined;
  readonly remediation?: string | undefined;
  readonly portalLink?: string | undefined;
  /** The owner email this assessment resolves to (from the rule's owner source), if any. */
  readonly owner?: string | undefined;
}

/**
 * The first rule whose every condition holds for the assessment, or undefined. Absent
 * conditions match anything; string comparisons ignore case (ARM ids and types are
 * case-insensitive).
 *
 * @example
 * matchRule(rules, { severity: 'High', ... })?.name // 'high-critical'
 */
export function matchRule<R extends TicketRule>(
  rules: readonly R[],
  assessment: Pick<
    CoveredAssessment,
    'assessmentKey' | 'displayName' | 'severity' | 'subscriptionId' | 'resourceType' | 'categories'
  >,
): R | undefined {
  const has = (list: readonly string[] | undefined, ...values: readonly string[]): boolean =>
    list === undefined ||
    list.some((item) => values.some((value) => item.toLowerCase() === value.toLowerCase()));
  return rules.find(
    (rule) =>
      has(rule.when.severities, assessment.severity) &&
      has(rule.when.recommendations, assessment.assessmentKey, assessment.displayName) &&
      has(rule.when.subscriptions, assessment.subscriptionId) &&
      has(rule.when.resourceTypes, assessment.resourceType) &&
      has(rule.when.categories, ...assessment.categories),
  );
}

/** Splits an assessment id into the resource it is about and the assessment key. */
export function parseAssessmentId(
  id: string,
): { resourceId: string; assessmentKey: string; subscriptionId: string; resourceType: string } | undefined {
  const marker = '/providers/microsoft.security/assessments/';
  const at = id.toLowerCase().lastIndexOf(marker);
  if (at <= 0) return undefined;
  const resourceId = id.slice(0, at);
  const assessmentKey = id.slice(at + marker.length);
  if (!assessmentKey || assessmentKey.includes('/')) return undefined;
  const subscription = /^\/?subscriptions\/([^/]+)/i.exec(resourceId);
  if (!subscription) return undefined;
  return {
    resourceId,
    assessmentKey,
    subscriptionId: subscription[1]!,
    resourceType: resourceTypeOf(resourceId),
  };
}

/**
 * The resource type of an ARM resource id: `Microsoft.Compute/virtualMachines` for
 * `/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1`,
 * `subscription` for `/subscriptions/s`, `resourceGroup` for a resource group.
 */
export function resourceTypeOf(resourceId: string): string {
  const parts = resourceId.replace(/^\//, '').split('/');
  const providers = parts.map((p) => p.toLowerCase()).lastIndexOf('providers');
  if (providers === -1) return parts.length <= 2 ? 'subscription' : 'resourceGroup';
  const namespace = parts[providers + 1] ?? '';
  const types: string[] = [];
  // After the namespace, segments alternate type / name: type1/name1/type2/name2…
  for (let i = providers + 2; i < parts.length; i += 2) types.push(parts[i]!);
  return [namespace, ...types].join('/');
}

/**
 * The key of the ticket an assessment belongs to under a rule: the rule, and per grouping the
 * assessment, the (subscription, recommendation), the resource or the (subscription, owner).
 * Keys are lower-cased: ARM ids differ in case between APIs.
 */
export function groupKeyFor(
  rule: Pick<TicketRule, 'name' | 'grouping'>,
  assessment: CoveredAssessment,
): string {
  const parts: string[] = (() => {
    switch (rule.grouping) {
      case 'none':
        return ['a', assessment.id];
      case 'recommendation':
        return ['r', assessment.subscriptionId, assessment.assessmentKey];
      case 'resource':
        return ['res', assessment.resourceId];
      case 'owner':
        return ['o', assessment.subscriptionId, assessment.owner ?? '(no owner)'];
    }
  })();
  return [`rule=${rule.name}`, ...parts].join('|').toLowerCase();
}

/** The key of a ticket created by hand for one assessment (`snowline ticket create`). */
export function manualGroupKey(table: TicketTable, assessmentId: string): string {
  return ['manual', table, 'a', assessmentId].join('|').toLowerCase();
}

/**
 * The key of a ticket Snowline adopted from Defender's own ServiceNow integration: one assessment
 * each, as that integration opens them (one ticket per assigned resource).
 */
export function adoptedGroupKey(assessmentId: string): string {
  return ['adopted', 'a', assessmentId].join('|').toLowerCase();
}

/** Longest `correlation_id` ServiceNow tickets hold. */
export const CORRELATION_ID_MAX = 100;

/**
 * The prefix every correlation id of one integration starts with, whichever flow wrote it
 * (cloud-tickets `ct:`, ot-alerts `oa:`): what the push-mode business rule filters on.
 */
export function integrationCorrelationPrefix(integrationId: string): string {
  return `snowline:${integrationId}:`;
}

/** The prefix of every correlation id cloud-tickets writes on tickets of one integration. */
export function correlationPrefix(integrationId: string): string {
  return `${integrationCorrelationPrefix(integrationId)}ct:`;
}

/**
 * The stable correlation id of a ticket: namespaced by integration, then a hash of the group
 * key and the ticket's generation (a group gets a new ticket, generation + 1, when its previous
 * one was closed and can not be reopened). At most 96 characters for a 63-character
 * integration id, so always within ServiceNow's 100.
 *
 * @example
 * correlationIdFor('plant-a', 'rule=high|r|sub|key', 1) // 'snowline:plant-a:ct:Xr3…'
 */
export function correlationIdFor(integrationId: string, groupKey: string, generation: number): string {
  const hash = createHash('sha256').update(`${groupKey}#${generation}`).digest('base64url').slice(0, 20);
  return `${correlationPrefix(integrationId)}${hash}`;
}

/**
 * A governance assignment key (a GUID, chosen by the caller) derived from the integration and
 * the assessment, so that a retried PUT after a crash replaces the same assignment.
 */
export function assignmentKeyFor(integrationId: string, assessmentId: string): string {
  const hex = createHash('sha256').update(`${integrationId}|${assessmentId.toLowerCase()}`).digest('hex');
  // A version-4-shaped GUID (variant bits set) so that strict validators accept it.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * `additionalData.ticketNumber`: the digits of a ticket number as an int32 ≥ 0
 * (`INC0010002` → 10002). Undefined when there are no digits or they exceed int32.
 */
export function ticketNumberDigits(number: string): number | undefined {
  const digits = number.replace(/\D/g, '');
  if (digits === '') return undefined;
  const value = Number(digits);
  return Number.isSafeInteger(value) && value <= 2_147_483_647 ? value : undefined;
}

/** Severity → impact and urgency. */
export type ImpactUrgencyMap = Readonly<
  Record<'Critical' | 'High' | 'Medium' | 'Low', { impact: number; urgency: number }>
>;

/** The fields Snowline owns on a ticket: written on create, and again only when they change. */
export interface TicketContent {
  readonly short_description: string;
  readonly description: string;
  readonly impact: string;
  readonly urgency: string;
  readonly correlation_display: string;
}

const SEVERITY_ORDER = ['Critical', 'High', 'Medium', 'Low'];

/** The highest severity among several (unknown values rank last). */
export function highestSeverity(severities: readonly string[]): string {
  let best = severities[0] ?? 'Low';
  for (const s of severities) {
    const rank = (x: string) => (SEVERITY_ORDER.indexOf(x) === -1 ? 99 : SEVERITY_ORDER.indexOf(x));
    if (rank(s) < rank(best)) best = s;
  }
  return best;
}

/** Removes HTML tags and collapses entities that Defender's remediation text carries. */
export function plainText(html: string): string {
  return html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/gi, '$2 ($1)')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .trim();
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The Azure portal link of an assessment, from the assessment or built from its key. */
export function portalLinkOf(assessment: Pick<CoveredAssessment, 'portalLink' | 'assessmentKey'>): string {
  if (assessment.portalLink) {
    return /^https?:\/\//.test(assessment.portalLink)
      ? assessment.portalLink
      : `https://${assessment.portalLink}`;
  }
  return `https://portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/${assessment.assessmentKey}`;
}

/** Most resources a grouped ticket's description lists one by one (the rest are counted). */
export const MAX_LISTED_RESOURCES = 200;

/**
 * The content of the ticket covering a group of assessments: short description, a description
 * with the recommendation(s), the resources, severity, remediation steps and the portal link;
 * impact and urgency from the highest severity. Deterministic (assessments sorted by id), so
 * its hash changes only when what the ticket says changes.
 */
export function ticketContent(
  assessments: readonly CoveredAssessment[],
  options: { readonly impactUrgency: ImpactUrgencyMap },
): TicketContent {
  const sorted = [...assessments].sort((a, b) => (a.id.toLowerCase() < b.id.toLowerCase() ? -1 : 1));
  const first = sorted[0]!;
  const severity = highestSeverity(sorted.map((a) => a.severity));
  const recommendations = [...new Map(sorted.map((a) => [a.assessmentKey.toLowerCase(), a])).values()];
  const resources = [...new Set(sorted.map((a) => a.resourceId))];
  const resourceName = (id: string) => id.split('/').filter(Boolean).at(-1) ?? id;
  const subject =
    recommendations.length === 1
      ? first.displayName
      : `${recommendations.length} recommendations on ${resources.length === 1 ? resourceName(first.resourceId) : `${resources.length} resources`}`;
  const where =
    resources.length === 1
      ? resourceName(first.resourceId)
      : `${resources.length} resources in subscription ${first.subscriptionId}`;
  const short = truncate(`[Defender for Cloud] ${severity}: ${subject} (${where})`, 160);

  const lines: string[] = [];
  for (const rec of recommendations) {
    const own = sorted.filter((a) => a.assessmentKey.toLowerCase() === rec.assessmentKey.toLowerCase());
    lines.push(`Recommendation: ${rec.displayName}`);
    lines.push(`Severity: ${rec.severity}`);
    lines.push(`Assessment key: ${rec.assessmentKey}`);
    if (rec.categories.length) lines.push(`Categories: ${rec.categories.join(', ')}`);
    lines.push(`Azure portal: ${portalLinkOf(rec)}`);
    if (rec.description) lines.push('', `Description: ${plainText(rec.description)}`);
    if (rec.remediation) lines.push('', `Remediation steps: ${plainText(rec.remediation)}`);
    lines.push('', `Affected resources (${own.length}):`);
    for (const a of own.slice(0, MAX_LISTED_RESOURCES))
      lines.push(`- ${a.resourceId}${a.owner ? ` (owner ${a.owner})` : ''}`);
    if (own.length > MAX_LISTED_RESOURCES) lines.push(`- … and ${own.length - MAX_LISTED_RESOURCES} more`);
    lines.push('');
  }
  lines.push(
    'Opened and kept up to date by Snowline; it is resolved when Defender reports every resource Healthy.',
  );
  const iu = options.impactUrgency[severity as keyof ImpactUrgencyMap] ?? options.impactUrgency.Low;
  return {
    short_description: short,
    description: lines.join('\n'),
    impact: String(iu.impact),
    urgency: String(iu.urgency),
    correlation_display: truncate(
      `Defender for Cloud: ${recommendations.length === 1 ? first.displayName : subject}`,
      100,
    ),
  };
}

/** The due date of a ticket's assignments: its creation plus the rule's days. */
export function dueDate(createdAt: Date, dueDays: number): Date {
  return new Date(createdAt.getTime() + dueDays * 24 * 3600 * 1000);
}

/**
 * Whether a ticket a person closed while its assessments were Unhealthy still holds back a new
 * one: yes, unless an assessment's status changed since (it went Healthy and came back; Defender
 * moves `statusChangeDate`) or the cool-off has passed.
 */
export function suppressionHolds(input: {
  readonly closedAt: Date;
  readonly now: Date;
  readonly coolOffDays: number;
  /** statusChangeDate per assessment id when the closing was noticed. */
  readonly recorded: Readonly<Record<string, string | null>>;
  /** statusChangeDate per assessment id now. */
  readonly current: Readonly<Record<string, string | null>>;
}): boolean {
  if (input.now.getTime() - input.closedAt.getTime() >= input.coolOffDays * 24 * 3600 * 1000) return false;
  for (const [id, change] of Object.entries(input.current)) {
    const before = input.recorded[id];
    if (before === undefined) return false;
    if ((change ?? '') !== (before ?? '') && (change ?? '') > (before ?? '')) return false;
  }
  return true;
}

/** A Defender governance rule as listed by ARM (2022-01-01-preview), the fields Snowline reads. */
export interface GovernanceRuleInput {
  /** The rule id (a GUID, the resource name). */
  readonly name: string;
  readonly properties: {
    readonly displayName?: string | undefined;
    readonly ruleType?: string | undefined;
    readonly isDisabled?: boolean | null | undefined;
    readonly rulePriority?: number | undefined;
    readonly remediationTimeframe?: string | null | undefined;
    readonly isGracePeriod?: boolean | null | undefined;
    readonly ownerSource?: { readonly type?: string; readonly value?: string } | null | undefined;
    readonly conditionSets?: readonly unknown[] | null | undefined;
  };
}

/** Days of a governance `remediationTimeframe` (`d.hh:mm:ss`), rounded up to whole days. */
export function timeframeDays(timeframe: string | null | undefined): number | undefined {
  const m = /^(\d+)\.(\d{2}):(\d{2}):(\d{2})$/.exec(timeframe ?? '');
  if (!m) return undefined;
  const [, d, h, min, s] = m.map(Number) as [number, number, number, number, number];
  return d + (h > 0 || min > 0 || s > 0 ? 1 : 0);
}

/** The values of one condition: `Equals` takes one value, `In` a JSON array written as a string. */
function conditionValues(condition: { value?: unknown; operator?: unknown }): string[] | undefined {
  const { value, operator } = condition;
  if (typeof value !== 'string') return undefined;
  if (operator === 'Equals') return [value];
  if (operator !== 'In') return undefined;
  try {
    const list: unknown = JSON.parse(value);
    return Array.isArray(list) && list.every((v) => typeof v === 'string') ? (list as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Ticket rules equivalent to an enabled governance rule of `ruleType: ServiceNow`: one rule per
 * condition set (sets are ORed, conditions within a set ANDed), on `$.AssessmentKey` and
 * `$.Metadata.Severity` with `Equals` or `In` (the only forms the public examples show), the
 * owner from `ownerSource` (ByTag → the tag, Manually → the email), due days from
 * `remediationTimeframe`, `isGracePeriod`, one ticket per assessment. The rule's ticket type has
 * no public schema, so the table is the caller's choice. A set with any other condition is
 * reported in `skipped` and yields no rule, rather than matching more than Defender would.
 */
export function rulesFromGovernanceRule(
  rule: GovernanceRuleInput,
  table: TicketTable,
): { rules: TicketRule[]; skipped: string[] } {
  const p = rule.properties;
  if (p.ruleType !== 'ServiceNow' || p.isDisabled === true) return { rules: [], skipped: [] };
  const owner: OwnerSource | undefined =
    p.ownerSource?.type === 'ByTag' && p.ownerSource.value
      ? { type: 'tag', value: p.ownerSource.value }
      : p.ownerSource?.type === 'Manually' && p.ownerSource.value
        ? { type: 'email', value: p.ownerSource.value }
        : undefined;
  const sets = Array.isArray(p.conditionSets) ? p.conditionSets : [];
  const rules: TicketRule[] = [];
  const skipped: string[] = [];
  sets.forEach((set, index) => {
    const conditions = (set as { conditions?: unknown } | null)?.conditions;
    if (!Array.isArray(conditions) || conditions.length === 0) {
      skipped.push(`condition set ${index} has no conditions`);
      return;
    }
    const when: { severities?: string[]; recommendations?: string[] } = {};
    for (const c of conditions as { property?: unknown; value?: unknown; operator?: unknown }[]) {
      const values = conditionValues(c);
      if (values && c.property === '$.Metadata.Severity') when.severities = values;
      else if (values && c.property === '$.AssessmentKey') when.recommendations = values;
      else {
        skipped.push(`condition set ${index}: unsupported condition ${JSON.stringify(c)}`);
        return;
      }
    }
    rules.push({
      name: `gov-${rule.name.slice(0, 8)}${sets.length > 1 ? `-${index}` : ''}`.toLowerCase(),
      when,
      table,
      ...(owner ? { owner } : {}),
      dueDays: timeframeDays(p.remediationTimeframe) ?? 30,
      gracePeriod: p.isGracePeriod === true,
      grouping: 'none',
    });
  });
  return { rules, skipped };
}
