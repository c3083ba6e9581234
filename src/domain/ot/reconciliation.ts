import { CLASS_PARENTS } from './classes.js';

/**
 * Static reconciliation rules, as ServiceNow describes them (ServiceNow/ServiceNowDocs
 * markdown/servicenow-platform/configuration-management-database-cmdb/r_ReconciliationRulesPrinciples.md
 * and create-reconciliation-rule.md): which discovery sources may update which attributes of a
 * class, and in which priority. IRE applies them silently, dropping a value a source may not
 * write, so Snowline reads the rules and says which of its attributes they keep from it.
 */

/** One active record of `cmdb_reconciliation_definition`. */
export interface ReconciliationRule {
  /** The class the rule is defined on; it derives to the class's descendants. */
  readonly appliesTo: string;
  /** The discovery source the rule authorizes. */
  readonly source: string;
  /** "Smaller numbers designate higher priority." */
  readonly priority: number;
  /** The attributes it authorizes; empty for "Apply to all attributes". */
  readonly attributes: readonly string[];
}

/** An attribute of a class that a rule keeps from Snowline's source. */
export interface ReconciliationLimit {
  /** The class the deciding rules are defined on (Snowline writes it or a descendant). */
  readonly ruleClass: string;
  readonly attribute: string;
  /**
   * `not-authorized`: rules govern the attribute and none names Snowline's source, so IRE never
   * applies its value; `outranked`: a source of higher priority is authorized too, and once it
   * has set the attribute IRE keeps its value.
   */
  readonly kind: 'not-authorized' | 'outranked';
  /** The sources that win, by priority. */
  readonly owners: readonly { readonly source: string; readonly priority: number }[];
  /** The classes Snowline writes that the limit applies to. */
  readonly classes: readonly string[];
}

/**
 * Fields no rule can name ("system fields or … IRE specific fields such as the Discovery source",
 * create-reconciliation-rule.md), nor `last_discovered`, which IRE always updates (ire.md).
 */
function isReconcilable(field: string): boolean {
  return !field.startsWith('sys_') && field !== 'discovery_source' && field !== 'last_discovered';
}

/** The class and its ancestors, nearest first, ending at `cmdb_ci` (every CI class's root). */
function lineage(className: string): string[] {
  const chain: string[] = [];
  for (let c: string | undefined = className; c; c = CLASS_PARENTS[c]) chain.push(c);
  chain.push('cmdb_ci');
  return chain;
}

/**
 * The rules that decide one attribute of one class, by the pages' precedence: a rule for the
 * specific attribute beats an "all attributes" rule regardless of priority; between rules of the
 * same kind, the one defined on the nearest class (the class itself before a parent) decides;
 * rules on that one class share the attribute by priority. None when no rule governs it.
 */
export function decidingRules(
  rules: readonly ReconciliationRule[],
  className: string,
  attribute: string,
): readonly ReconciliationRule[] {
  const chain = lineage(className);
  for (const specific of [true, false]) {
    for (const level of chain) {
      const found = rules.filter(
        (r) =>
          r.appliesTo === level && (specific ? r.attributes.includes(attribute) : r.attributes.length === 0),
      );
      if (found.length) return found;
    }
  }
  return [];
}

/**
 * What the instance's rules keep from `source` among the attributes it writes (`written`: class →
 * attribute names), one entry per deciding rule class and attribute, with the classes it covers.
 *
 * @example
 * reconciliationLimits(
 *   [{ appliesTo: 'cmdb_ci_hardware', source: 'ServiceNow', priority: 10, attributes: ['name'] }],
 *   new Map([['cmdb_ci_ot_plc', new Set(['name', 'serial_number'])]]),
 *   'Snowline',
 * ); // [{ ruleClass: 'cmdb_ci_hardware', attribute: 'name', kind: 'not-authorized', … }]
 */
export function reconciliationLimits(
  rules: readonly ReconciliationRule[],
  written: ReadonlyMap<string, ReadonlySet<string>>,
  source: string,
): ReconciliationLimit[] {
  if (rules.length === 0) return [];
  const limits = new Map<string, ReconciliationLimit & { classes: string[] }>();
  for (const [className, attributes] of [...written].sort(([a], [b]) => a.localeCompare(b))) {
    for (const attribute of [...attributes].sort()) {
      if (!isReconcilable(attribute)) continue;
      const deciding = decidingRules(rules, className, attribute);
      if (deciding.length === 0) continue;
      const mine = deciding.filter((r) => r.source === source);
      const best = Math.min(...mine.map((r) => r.priority));
      const owners = deciding
        .filter((r) => r.source !== source && (mine.length === 0 || r.priority < best))
        .map((r) => ({ source: r.source, priority: r.priority }))
        .sort((a, b) => a.priority - b.priority);
      if (mine.length > 0 && owners.length === 0) continue;
      const ruleClass = deciding[0]!.appliesTo;
      const key = `${ruleClass}\u241f${attribute}`;
      const limit = limits.get(key) ?? {
        ruleClass,
        attribute,
        kind: mine.length === 0 ? ('not-authorized' as const) : ('outranked' as const),
        owners,
        classes: [],
      };
      limit.classes.push(className);
      limits.set(key, limit);
    }
  }
  return [...limits.values()];
}

/** The ledger's words for a limit. */
export function describeLimit(limit: ReconciliationLimit, source: string): string {
  const owners = limit.owners.map((o) => `${o.source} (priority ${o.priority})`).join(', ');
  const where = `${limit.attribute} of ${limit.classes.join(', ')}`;
  return limit.kind === 'not-authorized'
    ? `reconciliation rule on ${limit.ruleClass}: only ${owners} may update ${where}; IRE does not apply ${source}'s values`
    : `reconciliation rule on ${limit.ruleClass}: ${owners} outranks ${source} on ${where}; once it has set a CI's value, IRE keeps it`;
}
