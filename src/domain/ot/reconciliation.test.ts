import { describe, expect, it } from 'vitest';
import {
  decidingRules,
  describeLimit,
  reconciliationLimits,
  type ReconciliationRule,
} from './reconciliation.js';

/**
 * The examples of ServiceNow/ServiceNowDocs
 * markdown/servicenow-platform/configuration-management-database-cmdb/r_ReconciliationRulesPrinciples.md
 * ("Examples of static reconciliation rules", rules #1–#3) and the precedence order of
 * create-reconciliation-rule.md.
 */
const rule1: ReconciliationRule = {
  appliesTo: 'cmdb_ci_computer',
  source: 'Discovery',
  priority: 10,
  attributes: ['name'],
};
const rule2: ReconciliationRule = {
  appliesTo: 'cmdb_ci_linux_server',
  source: 'ServiceWatch',
  priority: 10,
  attributes: ['name'],
};
const rule3: ReconciliationRule = {
  appliesTo: 'cmdb_ci_linux_server',
  source: 'ServiceWatch',
  priority: 100,
  attributes: [],
};
const sources = (rules: readonly ReconciliationRule[]) => rules.map((r) => r.source);

describe('deciding rules', () => {
  it('derives a rule to child classes (rule #1 on a Linux server)', () => {
    expect(sources(decidingRules([rule1], 'cmdb_ci_linux_server', 'name'))).toEqual(['Discovery']);
    expect(decidingRules([rule1], 'cmdb_ci_linux_server', 'os')).toEqual([]);
  });

  it('lets a specific-attribute rule beat an all-attributes rule, whatever the class level (#1 + #3)', () => {
    expect(sources(decidingRules([rule1, rule3], 'cmdb_ci_linux_server', 'name'))).toEqual(['Discovery']);
    expect(sources(decidingRules([rule1, rule3], 'cmdb_ci_linux_server', 'os'))).toEqual(['ServiceWatch']);
  });

  it("lets a child class's rule override its parent's (#1 + #2)", () => {
    expect(sources(decidingRules([rule1, rule2], 'cmdb_ci_linux_server', 'name'))).toEqual(['ServiceWatch']);
    expect(sources(decidingRules([rule1, rule2], 'cmdb_ci_win_server', 'name'))).toEqual(['Discovery']);
  });
});

describe('what the rules keep from Snowline', () => {
  const written = new Map([
    ['cmdb_ci_ot_plc', new Set(['name', 'serial_number', 'last_discovered', 'discovery_source'])],
    ['cmdb_ci_win_server', new Set(['name', 'os'])],
  ]);

  it('reports an attribute only other sources may update, once per rule, with the classes it covers', () => {
    const rule = { appliesTo: 'cmdb_ci_hardware', source: 'ServiceNow', priority: 10, attributes: ['name'] };
    const limits = reconciliationLimits([rule], written, 'Snowline');
    expect(limits).toEqual([
      {
        ruleClass: 'cmdb_ci_hardware',
        attribute: 'name',
        kind: 'not-authorized',
        owners: [{ source: 'ServiceNow', priority: 10 }],
        classes: ['cmdb_ci_ot_plc', 'cmdb_ci_win_server'],
      },
    ]);
    expect(describeLimit(limits[0]!, 'Snowline')).toBe(
      "reconciliation rule on cmdb_ci_hardware: only ServiceNow (priority 10) may update name of cmdb_ci_ot_plc, cmdb_ci_win_server; IRE does not apply Snowline's values",
    );
  });

  it('reports a higher-priority source sharing an attribute, and nothing where Snowline ranks first', () => {
    const rules = [
      { appliesTo: 'cmdb_ci_hardware', source: 'ServiceNow', priority: 10, attributes: ['name'] },
      { appliesTo: 'cmdb_ci_hardware', source: 'Snowline', priority: 20, attributes: ['name'] },
      { appliesTo: 'cmdb_ci_hardware', source: 'SCCM', priority: 30, attributes: ['serial_number'] },
      { appliesTo: 'cmdb_ci_hardware', source: 'Snowline', priority: 5, attributes: ['serial_number'] },
    ];
    const limits = reconciliationLimits(rules, written, 'Snowline');
    expect(limits.map((l) => [l.attribute, l.kind, l.owners.map((o) => o.source)])).toEqual([
      ['name', 'outranked', ['ServiceNow']],
    ]);
  });

  it('never counts the fields no rule may name (discovery_source, last_discovered, sys_ fields)', () => {
    const all = { appliesTo: 'cmdb_ci', source: 'ServiceNow', priority: 1, attributes: [] };
    const limits = reconciliationLimits([all], written, 'Snowline');
    expect(limits.map((l) => l.attribute).sort()).toEqual(['name', 'os', 'serial_number']);
  });
});
