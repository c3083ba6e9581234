import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compileQuery,
  escapeQueryValue,
  evaluateScriptValue,
  formatEncodedQuery,
  parseEncodedQuery,
  type QueryCondition,
  type QueryOperator,
  type QueryRuntime,
} from './query.js';

type Rec = Record<string, string>;

const runtime = (now = new Date('2026-01-10T12:00:00Z')): QueryRuntime<Rec> => ({
  get: (row, path) => row[path] ?? '',
  isValidField: (path) => /^[a-z_.]+$/.test(path) && path !== 'bogus',
  isInstanceOf: (cls, ancestor) =>
    cls === ancestor || (ancestor === 'cmdb_ci_ot' && cls.startsWith('cmdb_ci_ot_')),
  script: { now, userSysId: 'u1', userName: 'me' },
});

const filter = (query: string, rows: Rec[], now?: Date): Rec[] => {
  const q = compileQuery(parseEncodedQuery(query), runtime(now));
  const out = rows.filter(q.matches);
  return q.compare ? out.sort(q.compare) : out;
};

const rows: Rec[] = [
  {
    number: 'INC1',
    state: '1',
    priority: '1',
    short_description: 'SAP down',
    caller: '',
    sys_class_name: 'cmdb_ci_ot_plc',
    opened: '2026-01-09 10:00:00',
  },
  {
    number: 'INC2',
    state: '2',
    priority: '2',
    short_description: 'Printer',
    caller: 'abc',
    sys_class_name: 'cmdb_ci_linux_server',
    opened: '2026-01-01 10:00:00',
  },
  {
    number: 'INC3',
    state: '7',
    priority: '10',
    short_description: 'mail outage',
    caller: 'x',
    sys_class_name: 'cmdb_ci_ot',
    opened: '2025-12-01 10:00:00',
  },
];

describe('parseEncodedQuery', () => {
  it('splits AND, OR and NQ groups and sort clauses', () => {
    const q = parseEncodedQuery(
      'active=true^priority=1^ORpriority=2^NQstate=7^ORDERBYnumber^ORDERBYDESCcategory^EQ',
    );
    expect(q.groups).toEqual([
      [
        [{ field: 'active', operator: '=', value: 'true' }],
        [
          { field: 'priority', operator: '=', value: '1' },
          { field: 'priority', operator: '=', value: '2' },
        ],
      ],
      [[{ field: 'state', operator: '=', value: '7' }]],
    ]);
    expect(q.orderBy).toEqual([
      { field: 'number', descending: false },
      { field: 'category', descending: true },
    ]);
  });

  it('recognises every documented operator', () => {
    const cases: Array<[string, QueryOperator, string]> = [
      ['state!=1', '!=', '1'],
      ['impact<=2', '<=', '2'],
      ['impact>=2', '>=', '2'],
      ['impact<2', '<', '2'],
      ['impact>2', '>', '2'],
      ['stateIN1,2,3', 'IN', '1,2,3'],
      ['stateNOT IN6,7', 'NOT IN', '6,7'],
      ['short_descriptionLIKESAP', 'LIKE', 'SAP'],
      ['short_descriptionNOT LIKESAP', 'NOT LIKE', 'SAP'],
      ['nameSTARTSWITHlnx', 'STARTSWITH', 'lnx'],
      ['nameENDSWITHoutage', 'ENDSWITH', 'outage'],
      ['caller_idISEMPTY', 'ISEMPTY', ''],
      ['caller_idISNOTEMPTY', 'ISNOTEMPTY', ''],
      ['countBETWEEN1@3', 'BETWEEN', '1@3'],
      ['sys_class_nameINSTANCEOFcmdb_ci_ot', 'INSTANCEOF', 'cmdb_ci_ot'],
      ['caller_id.email=a=b@x', '=', 'a=b@x'],
    ];
    for (const [text, operator, value] of cases) {
      const c = parseEncodedQuery(text).groups[0]?.[0]?.[0];
      expect(c?.operator, text).toBe(operator);
      expect(c?.value, text).toBe(value);
    }
  });

  it('reads ^^ as a literal caret', () => {
    const q = parseEncodedQuery('short_description=a^^b^state=1');
    expect(q.groups[0]).toEqual([
      [{ field: 'short_description', operator: '=', value: 'a^b' }],
      [{ field: 'state', operator: '=', value: '1' }],
    ]);
  });

  it('ignores unparseable terms and keeps the rest', () => {
    const q = parseEncodedQuery('Bad Term^state=1');
    expect(q.ignored).toEqual(['Bad Term']);
    expect(q.groups[0]).toHaveLength(1);
  });
});

describe('evaluation', () => {
  it('filters with each operator family', () => {
    expect(filter('state=1', rows).map((r) => r.number)).toEqual(['INC1']);
    expect(filter('stateIN1,2', rows)).toHaveLength(2);
    expect(filter('stateNOT IN1,2', rows).map((r) => r.number)).toEqual(['INC3']);
    expect(filter('priority>2', rows).map((r) => r.number)).toEqual(['INC3']);
    expect(filter('short_descriptionLIKEsap', rows).map((r) => r.number)).toEqual(['INC1']);
    expect(filter('short_descriptionNOT LIKEsap', rows)).toHaveLength(2);
    expect(filter('short_descriptionSTARTSWITHprint', rows).map((r) => r.number)).toEqual(['INC2']);
    expect(filter('short_descriptionENDSWITHOUTAGE', rows).map((r) => r.number)).toEqual(['INC3']);
    expect(filter('callerISEMPTY', rows).map((r) => r.number)).toEqual(['INC1']);
    expect(filter('callerISNOTEMPTY', rows)).toHaveLength(2);
    expect(filter('priorityBETWEEN2@10', rows).map((r) => r.number)).toEqual(['INC2', 'INC3']);
    expect(filter('sys_class_nameINSTANCEOFcmdb_ci_ot', rows).map((r) => r.number)).toEqual(['INC1', 'INC3']);
    expect(filter('state=1^NQstate=7', rows).map((r) => r.number)).toEqual(['INC1', 'INC3']);
    expect(filter('state=2^ORstate=7^priority=10', rows).map((r) => r.number)).toEqual(['INC3']);
  });

  it('ignores terms on unknown fields, as the platform does', () => {
    expect(filter('bogus=1^state=2', rows).map((r) => r.number)).toEqual(['INC2']);
  });

  it('sorts numerically and descending', () => {
    expect(filter('ORDERBYDESCpriority', rows).map((r) => r.number)).toEqual(['INC3', 'INC2', 'INC1']);
    expect(filter('ORDERBYpriority', rows).map((r) => r.number)).toEqual(['INC1', 'INC2', 'INC3']);
  });

  it('evaluates javascript:gs date helpers against the given clock', () => {
    const now = new Date('2026-01-10T12:00:00Z');
    const ctx = { now, userSysId: 'u1', userName: 'me' };
    expect(evaluateScriptValue('javascript:gs.daysAgo(2)', ctx)).toBe('2026-01-08 12:00:00');
    expect(evaluateScriptValue('javascript:gs.daysAgoStart(1)', ctx)).toBe('2026-01-09 00:00:00');
    expect(evaluateScriptValue('javascript:gs.daysAgoEnd(1)', ctx)).toBe('2026-01-09 23:59:59');
    expect(evaluateScriptValue('javascript:gs.hoursAgo(3)', ctx)).toBe('2026-01-10 09:00:00');
    expect(evaluateScriptValue('javascript:gs.minutesAgo(30)', ctx)).toBe('2026-01-10 11:30:00');
    expect(evaluateScriptValue('javascript:gs.beginningOfToday()', ctx)).toBe('2026-01-10 00:00:00');
    expect(evaluateScriptValue('javascript:gs.endOfToday()', ctx)).toBe('2026-01-10 23:59:59');
    expect(evaluateScriptValue("javascript:gs.dateGenerate('2026-01-01','10:00:00')", ctx)).toBe(
      '2026-01-01 10:00:00',
    );
    expect(evaluateScriptValue('javascript:gs.getUserID()', ctx)).toBe('u1');
    expect(evaluateScriptValue('javascript:gs.doSomethingElse()', ctx)).toBeUndefined();
    expect(filter('opened>javascript:gs.daysAgo(2)', rows, now).map((r) => r.number)).toEqual(['INC1']);
    expect(filter('opened>=javascript:gs.beginningOfToday()', rows, now)).toHaveLength(0);
    expect(
      filter('openedBETWEENjavascript:gs.daysAgoStart(10)@javascript:gs.daysAgoEnd(0)', rows, now).map(
        (r) => r.number,
      ),
    ).toEqual(['INC1', 'INC2']);
    // an unsupported script makes the term ignored, not the whole query
    expect(filter('opened>javascript:gs.unknown()^state=1', rows, now).map((r) => r.number)).toEqual([
      'INC1',
    ]);
  });
});

describe('the ^^ escape (property)', () => {
  const fields = ['short_description', 'name', 'caller_id.email', 'u_custom'];
  // `<` and `>` are left out: `a<` + `=x` reads as `a<=x` on the platform too (a grammar
  // ambiguity, not an escaping problem).
  const operators: QueryOperator[] = [
    '=',
    '!=',
    'LIKE',
    'NOT LIKE',
    'STARTSWITH',
    'ENDSWITH',
    '<=',
    '>=',
    'NOT IN',
  ];
  const value = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme' }),
    fc.constantFrom(
      '',
      '^',
      '^^',
      '^OR',
      '^NQ',
      'a^ORb=c',
      '=',
      'x=y',
      'ORDERBYx',
      'EQ',
      '^EQ',
      'é^ü',
      '日本^語',
      'a^',
    ),
  );
  const condition = fc.record({
    field: fc.constantFrom(...fields),
    operator: fc.constantFrom(...operators),
    value,
  });

  it('values round-trip and never add a condition', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.array(condition, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
          { minLength: 1, maxLength: 3 },
        ),
        (groups) => {
          const text = formatEncodedQuery({ groups, orderBy: [] });
          const parsed = parseEncodedQuery(text);
          expect(parsed.ignored).toEqual([]);
          expect(parsed.groups).toEqual(groups);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a single escaped value gives exactly one condition with that value', () => {
    fc.assert(
      fc.property(value, (v) => {
        const parsed = parseEncodedQuery(`short_description=${escapeQueryValue(v)}`);
        const all: QueryCondition[] = parsed.groups.flat(2);
        expect(all).toEqual([{ field: 'short_description', operator: '=', value: v }]);
        const matched = filter(`short_description=${escapeQueryValue(v)}`, [
          { short_description: v },
          { short_description: `${v}x` },
        ]);
        expect(matched).toEqual([{ short_description: v }]);
      }),
      { numRuns: 400 },
    );
  });
});
