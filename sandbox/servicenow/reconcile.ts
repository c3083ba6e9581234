/**
 * Static reconciliation rules: which discovery source may update which CI attribute, as [SND]
 * markdown/servicenow-platform/configuration-management-database-cmdb/r_ReconciliationRulesPrinciples.md,
 * create-reconciliation-rule.md and create-datasource-staleness-rule.md (same folder) describe
 * them. The decisions are pure; {@link loadReconciliation} reads the rules of an instance once per
 * IRE call. Dynamic rules (CMDB 360), filter conditions and rules on non-CMDB tables are not
 * modelled: a rule with a filter condition is refused when written ({@link ruleWriteError}).
 */
import type { Schema } from './schema.js';
import type { Instance } from './instance.js';
import type { Row } from './store.js';

/** One active record of `cmdb_reconciliation_definition`. */
export interface StaticRule {
  readonly sysId: string;
  /** The class the rule is defined on; it derives to the class's descendants. */
  readonly appliesTo: string;
  readonly source: string;
  /** "Smaller numbers designate higher priority." */
  readonly priority: number;
  /** Element names; empty when the rule applies to all attributes of the class. */
  readonly attributes: readonly string[];
  /** Attributes the source may overwrite with an empty value ("Update with null"). */
  readonly updateWithNull: readonly string[];
}

/** One active data refresh rule (`cmdb_datasource_staleness`). */
export interface DataRefreshRule {
  readonly appliesTo: string;
  readonly source: string;
  readonly effectiveDays: number;
}

/** A Data Source History entry: the last source that updated one attribute of a CI, and when. */
export interface LastUpdate {
  readonly source: string;
  /** `YYYY-MM-DD HH:mm:ss` UTC. */
  readonly updatedOn: string;
}

/** What IRE does with one attribute value of a payload item that updates an existing CI. */
export type AttributeDecision =
  | { readonly kind: 'ungoverned' }
  | {
      readonly kind: 'accept';
      readonly reason: 'first-update' | 'same-source' | 'not-lower-priority' | 'fills-empty' | 'stale';
    }
  | { readonly kind: 'drop'; readonly reason: 'unauthorized' | 'lower-priority' | 'null-over-value' };

/** The rules in force on an instance for one IRE call. */
export interface Reconciliation {
  readonly rules: readonly StaticRule[];
  readonly refreshRules: readonly DataRefreshRule[];
  /** `glide.reconciliation.override.null`: a lower-priority source may fill an empty field. */
  readonly overrideNull: boolean;
}

/**
 * Fields no rule can name: "You can't create a reconciliation rule for system fields or for
 * Identification and Reconciliation Engine (IRE) specific fields such as the Discovery source
 * (discovery_source) field" (create-reconciliation-rule.md). `last_discovered` is IRE's too: IRE
 * always updates it (ire.md). An "all attributes" rule therefore does not cover them either.
 */
export function isReconcilable(field: string): boolean {
  return !field.startsWith('sys_') && field !== 'discovery_source' && field !== 'last_discovered';
}

const list = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');

/**
 * "If you enter a value with a prefix that is valid and a suffix that is not, such as `15 x` — the
 * valid portion of the value is used ('15'). If the entire value is invalid — the default value of
 * 0 is used" (create-datasource-staleness-rule.md). UNVERIFIED unit: days (no page names it).
 */
export function effectiveDays(text: string | undefined): number {
  const m = /^\s*(\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

/** The active rules of an instance, or undefined when there are none (IRE then reconciles nothing). */
export function loadReconciliation(instance: Instance): Reconciliation | undefined {
  const active = (r: Row): boolean => r.values.active !== 'false';
  const rules = [...instance.store.scan('cmdb_reconciliation_definition')]
    .filter(active)
    .map((r): StaticRule => ({
      sysId: r.values.sys_id ?? '',
      appliesTo: r.values.applies_to ?? '',
      source: r.values.discovery_source ?? '',
      priority: Number(r.values.priority || '0'),
      attributes: list(r.values.attributes),
      updateWithNull: list(r.values.null_update),
    }));
  if (rules.length === 0) return undefined;
  const refreshRules = [...instance.store.scan('cmdb_datasource_staleness')]
    .filter(active)
    .map((r): DataRefreshRule => ({
      appliesTo: r.values.applies_to ?? '',
      source: r.values.discovery_source ?? '',
      effectiveDays: effectiveDays(r.values.duration),
    }));
  return {
    rules,
    refreshRules,
    overrideNull: instance.property('glide.reconciliation.override.null') !== 'false',
  };
}

/**
 * The rules that decide `attribute` of a CI of `className`, all at one level (they coexist:
 * "Overlapping static reconciliation rules … can coexist and do not exclude each other"):
 *
 * 1. "Rule configured for a specific attribute, has precedence over rule set with Apply to all
 *    attributes (regardless of priority value)";
 * 2. then "the rule that is specific directly for the class has precedence over the derived
 *    rule" — rules derive to child classes, and the nearest class that has any wins;
 * 3. priorities order the rules left (decided by {@link decideAttribute}).
 *
 * Empty when no rule covers the attribute: any source may update it.
 */
export function governingRules(
  schema: Schema,
  className: string,
  attribute: string,
  rules: readonly StaticRule[],
): readonly StaticRule[] {
  if (!isReconcilable(attribute)) return [];
  const ancestry = schema.ancestry(className);
  for (const specific of [true, false]) {
    for (const level of ancestry) {
      const found = rules.filter(
        (r) =>
          r.appliesTo === level && (specific ? r.attributes.includes(attribute) : r.attributes.length === 0),
      );
      if (found.length) return found;
    }
  }
  return [];
}

/** Input of {@link decideAttribute}. */
export interface AttributeUpdate {
  readonly attribute: string;
  /** The payload's value ('' is null). */
  readonly value: string;
  /** The CI's value now. */
  readonly current: string;
  /** The data source of the payload. */
  readonly source: string;
  /** The rules that decide this attribute ({@link governingRules}). */
  readonly rules: readonly StaticRule[];
  /** The Data Source History entry of this attribute, if any. */
  readonly last: LastUpdate | undefined;
  /** Whether {@link last}'s source is stale for this CI ({@link isStale}). */
  readonly lastIsStale: boolean;
  readonly overrideNull: boolean;
}

/**
 * Whether a payload may update one attribute of an existing CI (create-reconciliation-rule.md):
 *
 * - a source without a rule among the governing ones is not authorized: "Discovery sources
 *   without a reconciliation rule are assigned the lowest priority", and a rule grants "exclusive
 *   authority … All other discovery sources are prevented from updating" the attribute
 *   (r_ReconciliationRulesPrinciples.md) — except that `glide.reconciliation.override.null`
 *   (default true) lets a lower-priority source fill an empty field (properties-id-reconciliation.md);
 * - "authorized discovery sources cannot overwrite a non-null value with a null value", unless
 *   the rule's Update with Null lists the attribute;
 * - "After an authorized discovery source updates an attribute, subsequent updates are accepted
 *   only from the same discovery source or from a discovery source with a higher priority", unless
 *   "the lower priority source is the first source updating the CI" (read here as: no history for
 *   the attribute yet — UNVERIFIED reading of a list the page introduces with "these two conditions
 *   are met", taken as either) or the CI is stale for the last source per a data refresh rule.
 *   A last source that has no governing rule ranks lowest.
 *
 * Dropped values are left out of the update silently: the API's output has no field for them
 * (c_IdentifyReconcileAPI.md lists errors, warnings and reclassification `info` only).
 *
 * @example
 * decideAttribute({ attribute: 'name', value: 'plc-7', current: 'plc7.corp', source: 'Snowline',
 *   rules: [{ source: 'ServiceNow', priority: 10, … }], last: { source: 'ServiceNow', … },
 *   lastIsStale: false, overrideNull: true });
 * // → { kind: 'drop', reason: 'unauthorized' }
 */
export function decideAttribute(u: AttributeUpdate): AttributeDecision {
  if (u.rules.length === 0) return { kind: 'ungoverned' };
  const priorityOf = (source: string): number =>
    Math.min(...u.rules.filter((r) => r.source === source).map((r) => r.priority));
  const own = u.rules.filter((r) => r.source === u.source);
  const empty = u.current === '';
  if (own.length === 0)
    return empty && u.value !== '' && u.overrideNull
      ? { kind: 'accept', reason: 'fills-empty' }
      : { kind: 'drop', reason: 'unauthorized' };
  if (u.value === '' && !empty && !own.some((r) => r.updateWithNull.includes(u.attribute)))
    return { kind: 'drop', reason: 'null-over-value' };
  if (!u.last) return { kind: 'accept', reason: 'first-update' };
  if (u.last.source === u.source) return { kind: 'accept', reason: 'same-source' };
  // Infinity for a last source without a governing rule: it has the lowest priority.
  if (priorityOf(u.source) <= priorityOf(u.last.source))
    return { kind: 'accept', reason: 'not-lower-priority' };
  if (empty && u.overrideNull) return { kind: 'accept', reason: 'fills-empty' };
  if (u.lastIsStale) return { kind: 'accept', reason: 'stale' };
  return { kind: 'drop', reason: 'lower-priority' };
}

/**
 * "A CI attribute is determined to be stale if it was not updated by the latest discovery source
 * to update the CI, within a time period … the Effective Duration time in the data refresh rule
 * for the class for the discovery source"; "When set to 0 (default), the CI is determined to be
 * stale … immediately after an update" (create-reconciliation-rule.md,
 * create-datasource-staleness-rule.md). Without a refresh rule for that source and class (or an
 * ancestor), nothing is stale. Times are `YYYY-MM-DD HH:mm:ss` UTC.
 */
export function isStale(
  schema: Schema,
  className: string,
  last: LastUpdate,
  refreshRules: readonly DataRefreshRule[],
  now: string,
): boolean {
  const ancestry = schema.ancestry(className);
  const rule = ancestry
    .map((level) => refreshRules.find((r) => r.appliesTo === level && r.source === last.source))
    .find((r) => r !== undefined);
  if (!rule) return false;
  const ms = (t: string): number => Date.parse(`${t.replace(' ', 'T')}Z`);
  return ms(now) - ms(last.updatedOn) >= rule.effectiveDays * 86_400_000;
}

/** The result of {@link reconcileUpdate}. */
export interface ReconciledUpdate {
  /** The payload values IRE may write. */
  readonly accepted: Record<string, string>;
  /** Governed attributes this source updated: their Data Source History becomes this source. */
  readonly recorded: readonly string[];
  readonly dropped: ReadonlyArray<{ readonly attribute: string; readonly reason: string }>;
}

/**
 * Applies the rules to every value of a payload item that updates the CI `current` of class
 * `className`. `history` gives the Data Source History of the CI by attribute.
 */
export function reconcileUpdate(
  schema: Schema,
  reconciliation: Reconciliation,
  update: {
    readonly className: string;
    readonly source: string;
    readonly values: Readonly<Record<string, string>>;
    readonly current: Readonly<Record<string, string>>;
    readonly history: ReadonlyMap<string, LastUpdate>;
    readonly now: string;
  },
): ReconciledUpdate {
  const accepted: Record<string, string> = {};
  const recorded: string[] = [];
  const dropped: { attribute: string; reason: string }[] = [];
  for (const [attribute, value] of Object.entries(update.values)) {
    const rules = governingRules(schema, update.className, attribute, reconciliation.rules);
    const last = update.history.get(attribute);
    const decision = decideAttribute({
      attribute,
      value,
      current: update.current[attribute] ?? '',
      source: update.source,
      rules,
      last,
      lastIsStale:
        last !== undefined &&
        isStale(schema, update.className, last, reconciliation.refreshRules, update.now),
      overrideNull: reconciliation.overrideNull,
    });
    if (decision.kind === 'drop') {
      dropped.push({ attribute, reason: decision.reason });
      continue;
    }
    accepted[attribute] = value;
    if (decision.kind === 'accept') recorded.push(attribute);
  }
  return { accepted, recorded, dropped };
}

/** The governed attributes of an inserted CI with a value: the inserting source is their first writer. */
export function governedOnInsert(
  schema: Schema,
  reconciliation: Reconciliation,
  className: string,
  values: Readonly<Record<string, string>>,
): string[] {
  return Object.entries(values)
    .filter(([a, v]) => v !== '' && governingRules(schema, className, a, reconciliation.rules).length > 0)
    .map(([a]) => a);
}

/**
 * Why a `cmdb_reconciliation_definition` record may not be written, or undefined. `sources` are
 * the instance's `cmdb_ci.discovery_source` choices.
 *
 * - "You can't create a reconciliation rule for system fields or for … IRE specific fields such as
 *   the Discovery source (discovery_source) field. Also, reconciliation rules can't be dot-walked"
 *   (create-reconciliation-rule.md);
 * - the sandbox models rules on CMDB classes only, and does not evaluate filter conditions, so a
 *   rule on another table or with a condition is refused rather than silently ignored.
 */
export function ruleWriteError(
  schema: Schema,
  values: Readonly<Record<string, string>>,
  sources: ReadonlySet<string>,
): string | undefined {
  const appliesTo = values.applies_to ?? '';
  if (!schema.has(appliesTo) || !schema.isA(appliesTo, 'cmdb_ci'))
    return `Reconciliation rule: [${appliesTo}] is not a CMDB class (the sandbox models rules on CMDB classes only)`;
  const source = values.discovery_source ?? '';
  if (!sources.has(source))
    return `Reconciliation rule: [${source}] is not a choice of [discovery_source] in table [cmdb_ci]`;
  if (!/^\d+$/.test(values.priority ?? ''))
    return `Reconciliation rule: priority [${values.priority ?? ''}] is not a whole number`;
  for (const attribute of [...list(values.attributes), ...list(values.null_update)]) {
    if (attribute.includes('.')) return `Reconciliation rule: attributes can't be dot-walked [${attribute}]`;
    if (!isReconcilable(attribute))
      return `Reconciliation rule: no rule can be created for the system or IRE field [${attribute}]`;
    if (!schema.acceptsField(appliesTo, attribute))
      return `Reconciliation rule: [${attribute}] is not a field of [${appliesTo}]`;
  }
  if ((values.condition ?? '') !== '')
    return 'Reconciliation rule: filter conditions are not supported by the sandbox';
  return undefined;
}
