import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignmentKeyFor,
  correlationIdFor,
  CORRELATION_ID_MAX,
  groupKeyFor,
  highestSeverity,
  manualGroupKey,
  matchRule,
  parseAssessmentId,
  plainText,
  resourceTypeOf,
  rulesFromGovernanceRule,
  suppressionHolds,
  ticketContent,
  ticketNumberDigits,
  timeframeDays,
  type CoveredAssessment,
  type TicketRule,
} from './rules.js';

const SUB = '20ff7fc3-e762-44dd-bd96-b71116dcdc23';
const VM = `/subscriptions/${SUB}/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines/vm-1`;
const KEY = '4fb67663-9ab9-475d-b026-8c544cced439';

function assessment(over: Partial<CoveredAssessment> = {}): CoveredAssessment {
  const resourceId = over.resourceId ?? VM;
  const assessmentKey = over.assessmentKey ?? KEY;
  return {
    id: `${resourceId}/providers/Microsoft.Security/assessments/${assessmentKey}`,
    assessmentKey,
    resourceId,
    subscriptionId: SUB,
    resourceType: resourceTypeOf(resourceId),
    displayName: 'Machines should have vulnerability findings resolved',
    severity: 'High',
    categories: ['Compute'],
    remediation: 'Apply <b>the</b> patch: <a href="https://learn.microsoft.com/x">docs</a>',
    ...over,
  };
}

function rule(over: Partial<TicketRule> = {}): TicketRule {
  return {
    name: 'r',
    when: {},
    table: 'incident',
    dueDays: 30,
    gracePeriod: false,
    grouping: 'none',
    ...over,
  };
}

describe('matchRule', () => {
  it('takes the first rule whose conditions all hold', () => {
    const rules = [
      rule({ name: 'critical', when: { severities: ['Critical'] } }),
      rule({ name: 'high-compute', when: { severities: ['High'], categories: ['compute'] } }),
      rule({ name: 'any' }),
    ];
    expect(matchRule(rules, assessment())?.name).toBe('high-compute');
    expect(matchRule(rules, assessment({ severity: 'Critical' }))?.name).toBe('critical');
    expect(matchRule(rules, assessment({ severity: 'Low' }))?.name).toBe('any');
    expect(matchRule(rules.slice(0, 2), assessment({ severity: 'Low' }))).toBeUndefined();
  });

  it('matches a recommendation by key or display name, and subscriptions and resource types ignoring case', () => {
    expect(matchRule([rule({ when: { recommendations: [KEY.toUpperCase()] } })], assessment())).toBeDefined();
    expect(
      matchRule(
        [rule({ when: { recommendations: ['machines should have vulnerability findings resolved'] } })],
        assessment(),
      ),
    ).toBeDefined();
    expect(matchRule([rule({ when: { recommendations: ['other'] } })], assessment())).toBeUndefined();
    expect(matchRule([rule({ when: { subscriptions: [SUB.toUpperCase()] } })], assessment())).toBeDefined();
    expect(matchRule([rule({ when: { subscriptions: ['x'] } })], assessment())).toBeUndefined();
    expect(
      matchRule([rule({ when: { resourceTypes: ['microsoft.compute/virtualmachines'] } })], assessment()),
    ).toBeDefined();
    expect(
      matchRule([rule({ when: { resourceTypes: ['Microsoft.Storage/storageAccounts'] } })], assessment()),
    ).toBeUndefined();
  });

  it('never matches a rule some condition of which fails (property)', () => {
    const sev = fc.constantFrom('Low', 'Medium', 'High', 'Critical');
    fc.assert(
      fc.property(sev, fc.array(sev, { minLength: 1 }), (severity, severities) => {
        const matched = matchRule([rule({ when: { severities } })], assessment({ severity }));
        expect(matched !== undefined).toBe(severities.includes(severity));
      }),
    );
  });
});

describe('resource ids', () => {
  it('parses assessment ids and resource types', () => {
    expect(parseAssessmentId(`${VM}/providers/Microsoft.Security/assessments/${KEY}`)).toEqual({
      resourceId: VM,
      assessmentKey: KEY,
      subscriptionId: SUB,
      resourceType: 'Microsoft.Compute/virtualMachines',
    });
    expect(
      parseAssessmentId(`/subscriptions/${SUB}/providers/Microsoft.Security/assessments/${KEY}`)
        ?.resourceType,
    ).toBe('subscription');
    expect(parseAssessmentId('not an id')).toBeUndefined();
    expect(parseAssessmentId(`${VM}/providers/Microsoft.Security/assessments/`)).toBeUndefined();
    expect(
      resourceTypeOf(
        `/subscriptions/${SUB}/resourceGroups/g/providers/Microsoft.Sql/servers/s1/databases/d1`,
      ),
    ).toBe('Microsoft.Sql/servers/databases');
  });
});

describe('grouping and correlation ids', () => {
  const other = `/subscriptions/${SUB}/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines/vm-2`;
  const a1 = assessment();
  const a2 = assessment({ resourceId: other });
  const b1 = assessment({ assessmentKey: '1195afff-c881-495e-9bc5-1486211ae03f' });

  it('puts assessments in one ticket per grouping key', () => {
    const key = (grouping: TicketRule['grouping'], a: CoveredAssessment) =>
      groupKeyFor(rule({ grouping }), a);
    expect(key('none', a1)).not.toBe(key('none', a2));
    expect(key('recommendation', a1)).toBe(key('recommendation', a2));
    expect(key('recommendation', a1)).not.toBe(key('recommendation', b1));
    expect(key('resource', a1)).toBe(key('resource', b1));
    expect(key('resource', a1)).not.toBe(key('resource', a2));
    expect(key('owner', { ...a1, owner: 'ana@x' })).toBe(key('owner', { ...b1, owner: 'ana@x' }));
    expect(key('owner', { ...a1, owner: 'ana@x' })).not.toBe(key('owner', { ...a2, owner: 'bo@x' }));
    // The rule is part of the key; case is not.
    expect(groupKeyFor(rule({ name: 'x' }), a1)).not.toBe(groupKeyFor(rule({ name: 'y' }), a1));
    expect(key('none', a1)).toBe(key('none', { ...a1, id: a1.id.toUpperCase() }));
    expect(manualGroupKey('incident', a1.id)).not.toBe(manualGroupKey('problem', a1.id));
  });

  it('keeps correlation ids within 100 characters, stable, and distinct per group and generation (property)', () => {
    const integrationId = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
    fc.assert(
      fc.property(
        integrationId,
        fc.string(),
        fc.string(),
        fc.integer({ min: 1, max: 10_000 }),
        (id, k1, k2, gen) => {
          const c = correlationIdFor(id, k1, gen);
          expect(c.length).toBeLessThanOrEqual(CORRELATION_ID_MAX);
          expect(c.startsWith(`snowline:${id}:ct:`)).toBe(true);
          // No text of the group key (resource ids, recommendation keys) reaches a correlation_id query.
          expect(c.slice(`snowline:${id}:ct:`.length)).toMatch(/^[A-Za-z0-9_-]{20}$/);
          expect(correlationIdFor(id, k1, gen)).toBe(c);
          if (k1 !== k2) expect(correlationIdFor(id, k2, gen)).not.toBe(c);
          expect(correlationIdFor(id, k1, gen + 1)).not.toBe(c);
        },
      ),
    );
  });

  it('derives a GUID-shaped assignment key from the assessment, whatever its case', () => {
    const k = assignmentKeyFor('plant-a', a1.id);
    expect(k).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(assignmentKeyFor('plant-a', a1.id.toUpperCase())).toBe(k);
    expect(assignmentKeyFor('plant-b', a1.id)).not.toBe(k);
  });
});

describe('ticket numbers and states', () => {
  it('reduces a ticket number to its digits as an int32', () => {
    expect(ticketNumberDigits('INC0010002')).toBe(10002);
    expect(ticketNumberDigits('PRB0010002')).toBe(10002);
    expect(ticketNumberDigits('CHG0000000')).toBe(0);
    expect(ticketNumberDigits('INC')).toBeUndefined();
    expect(ticketNumberDigits('INC99999999999')).toBeUndefined();
  });
});

describe('ticket content', () => {
  const impactUrgency = {
    Critical: { impact: 1, urgency: 1 },
    High: { impact: 1, urgency: 2 },
    Medium: { impact: 2, urgency: 2 },
    Low: { impact: 3, urgency: 3 },
  };

  it('describes the recommendation, resources, severity, remediation and portal link', () => {
    const c = ticketContent([assessment({ owner: 'ana@contoso.com' })], { impactUrgency });
    expect(c.short_description).toBe(
      '[Defender for Cloud] High: Machines should have vulnerability findings resolved (vm-1)',
    );
    expect(c.description).toContain(VM);
    expect(c.description).toContain('owner ana@contoso.com');
    expect(c.description).toContain('Severity: High');
    expect(c.description).toContain(
      'Remediation steps: Apply the patch: docs (https://learn.microsoft.com/x)',
    );
    expect(c.description).toContain(`RecommendationsBlade/assessmentKey/${KEY}`);
    expect([c.impact, c.urgency]).toEqual(['1', '2']);
    expect(c.correlation_display.length).toBeLessThanOrEqual(100);
  });

  it('lists every resource of a group, takes the highest severity, and does not depend on order', () => {
    const a = assessment({ severity: 'Medium' });
    const b = assessment({ resourceId: VM.replace('vm-1', 'vm-2'), severity: 'Critical' });
    const c1 = ticketContent([a, b], { impactUrgency });
    const c2 = ticketContent([b, a], { impactUrgency });
    expect(c1).toEqual(c2);
    expect(c1.short_description).toContain('Critical');
    expect(c1.short_description).toContain('2 resources');
    expect(c1.description).toContain('vm-1');
    expect(c1.description).toContain('vm-2');
    expect([c1.impact, c1.urgency]).toEqual(['1', '1']);
  });

  it('ranks severities and strips HTML', () => {
    expect(highestSeverity(['Low', 'High', 'Medium'])).toBe('High');
    expect(highestSeverity(['odd', 'Low'])).toBe('Low');
    expect(plainText('a<br/>b &amp; <i>c</i>')).toBe('a\nb & c');
  });
});

describe('suppression after a person closed a ticket', () => {
  const closedAt = new Date('2026-01-10T00:00:00Z');
  const recorded = { a: '2026-01-01T00:00:00.000Z' };

  it('holds while the assessments are unchanged and the cool-off runs', () => {
    expect(
      suppressionHolds({
        closedAt,
        now: new Date('2026-01-20T00:00:00Z'),
        coolOffDays: 30,
        recorded,
        current: recorded,
      }),
    ).toBe(true);
  });

  it('ends when an assessment went Healthy and came back, when a new one joins, or after the cool-off', () => {
    const later = new Date('2026-01-20T00:00:00Z');
    expect(
      suppressionHolds({
        closedAt,
        now: later,
        coolOffDays: 30,
        recorded,
        current: { a: '2026-01-15T00:00:00.000Z' },
      }),
    ).toBe(false);
    expect(
      suppressionHolds({
        closedAt,
        now: later,
        coolOffDays: 30,
        recorded,
        current: { ...recorded, b: null },
      }),
    ).toBe(false);
    expect(
      suppressionHolds({
        closedAt,
        now: new Date('2026-02-10T00:00:00Z'),
        coolOffDays: 30,
        recorded,
        current: recorded,
      }),
    ).toBe(false);
  });
});

describe('adopting governance rules of ruleType ServiceNow', () => {
  const base = {
    name: 'AD9A8E26-29d9-4829-bb30-e597a58cdbb8',
    properties: {
      ruleType: 'ServiceNow',
      rulePriority: 200,
      remediationTimeframe: '7.00:00:00',
      isGracePeriod: true,
      ownerSource: { type: 'ByTag', value: 'owner' },
      conditionSets: [
        {
          conditions: [
            {
              property: '$.AssessmentKey',
              value: `["${KEY}", "fe83f80b-073d-4ccf-93d9-6797eb870201"]`,
              operator: 'In',
            },
            { property: '$.Metadata.Severity', value: 'High', operator: 'Equals' },
          ],
        },
      ],
    },
  };

  it('turns each condition set into a rule with its owner source, timeframe and grace period', () => {
    const { rules, skipped } = rulesFromGovernanceRule(base, 'problem');
    expect(skipped).toEqual([]);
    expect(rules).toEqual([
      {
        name: 'gov-ad9a8e26',
        when: { recommendations: [KEY, 'fe83f80b-073d-4ccf-93d9-6797eb870201'], severities: ['High'] },
        table: 'problem',
        owner: { type: 'tag', value: 'owner' },
        dueDays: 7,
        gracePeriod: true,
        grouping: 'none',
      },
    ]);
    expect(matchRule(rules, assessment())).toBeDefined();
    expect(matchRule(rules, assessment({ severity: 'Low' }))).toBeUndefined();
  });

  it('ignores other rule types, disabled rules and sets with conditions it can not evaluate', () => {
    expect(
      rulesFromGovernanceRule(
        { ...base, properties: { ...base.properties, ruleType: 'Integrated' } },
        'incident',
      ).rules,
    ).toEqual([]);
    expect(
      rulesFromGovernanceRule({ ...base, properties: { ...base.properties, isDisabled: true } }, 'incident')
        .rules,
    ).toEqual([]);
    const odd = rulesFromGovernanceRule(
      {
        ...base,
        properties: {
          ...base.properties,
          ownerSource: { type: 'Manually', value: 'ana@contoso.com' },
          conditionSets: [
            { conditions: [{ property: '$.Metadata.Category', value: 'Compute', operator: 'Equals' }] },
            { conditions: [{ property: '$.Metadata.Severity', value: '["Low","Medium"]', operator: 'In' }] },
          ],
        },
      },
      'incident',
    );
    expect(odd.skipped).toHaveLength(1);
    expect(odd.rules.map((r) => [r.name, r.when, r.owner])).toEqual([
      ['gov-ad9a8e26-1', { severities: ['Low', 'Medium'] }, { type: 'email', value: 'ana@contoso.com' }],
    ]);
  });

  it('reads remediation timeframes as whole days', () => {
    expect(timeframeDays('7.00:00:00')).toBe(7);
    expect(timeframeDays('0.12:00:00')).toBe(1);
    expect(timeframeDays('7 days')).toBeUndefined();
  });
});
