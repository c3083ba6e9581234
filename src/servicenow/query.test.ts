import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { encodeQuery, where } from './query.js';

/**
 * A reference reading of an encoded query, as the platform reads it: `^^` is a literal `^`, a
 * lone `^` separates conditions, `NQ` after a separator starts a new OR-group.
 */
function conditions(query: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < query.length; i++) {
    if (query[i] === '^' && query[i + 1] === '^') {
      current += '^';
      i++;
    } else if (query[i] === '^') {
      out.push(current);
      current = '';
    } else {
      current += query[i];
    }
  }
  out.push(current);
  return out;
}

describe('encoded query builder', () => {
  it('never lets a value add a condition, and keeps the value intact', () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom(
        '',
        '^',
        '^^',
        'a^NQactive=false',
        'x^ORnumber=1',
        '^ORDERBYsys_id',
        'a=b',
        '==',
        'é^ü',
        '😀^',
      ),
    );
    fc.assert(
      fc.property(
        value,
        fc.constantFrom('=', '!=', 'LIKE', 'STARTSWITH', '>=') as fc.Arbitrary<'='>,
        (v, op) => {
          fc.pre(!/^\s*javascript:/i.test(v));
          const query = encodeQuery({
            where: [where('correlation_id', op, v), where('active', '=', 'true')],
          });
          const parts = conditions(query);
          expect(parts).toEqual([`correlation_id${op}${v}`, 'active=true']);
        },
      ),
    );
  });

  it('escapes every IN item and refuses values an IN list can not hold', () => {
    expect(encodeQuery({ where: [where('state', 'IN', ['6', '7^8'])] })).toBe('stateIN6,7^^8');
    expect(() => encodeQuery({ where: [where('name', 'IN', ['a,b'])] })).toThrow(InputError);
    expect(() => encodeQuery({ where: [where('name', 'IN', [])] })).toThrow(InputError);
  });

  it('joins OR-groups with ^NQ and appends sorts', () => {
    expect(
      encodeQuery({
        where: [
          where('sys_updated_on', '>=', '2026-11-01 00:00:00'),
          where('correlation_id', 'STARTSWITH', 'snowline:'),
        ],
        orGroups: [[where('sys_id', '=', 'abc')]],
        orderBy: ['sys_updated_on'],
        orderByDesc: ['sys_id'],
      }),
    ).toBe(
      'sys_updated_on>=2026-11-01 00:00:00^correlation_idSTARTSWITHsnowline:^NQsys_id=abc^ORDERBYsys_updated_on^ORDERBYDESCsys_id',
    );
    expect(encodeQuery({ where: [where('assigned_to', 'ISEMPTY')] })).toBe('assigned_toISEMPTY');
  });

  it('refuses javascript: values, which the instance would evaluate, and bad field names', () => {
    expect(() => encodeQuery({ where: [where('name', '=', 'javascript:gs.getUserID()')] })).toThrow(
      /evaluate as a script/,
    );
    expect(() => encodeQuery({ where: [where('name=x^active', '=', '1')] })).toThrow(
      /not a ServiceNow field name/,
    );
    expect(() => encodeQuery({ orderBy: ['ORDERBYx^y'] })).toThrow(InputError);
  });
});
