import { InputError } from '../errors.js';

/** Operators Snowline writes in encoded queries. */
export type QueryOperator =
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'IN'
  | 'NOT IN'
  | 'LIKE'
  | 'NOT LIKE'
  | 'STARTSWITH'
  | 'ENDSWITH'
  | 'ISEMPTY'
  | 'ISNOTEMPTY'
  | 'INSTANCEOF';

/** One condition: field, operator and value (a list for IN / NOT IN; none for ISEMPTY / ISNOTEMPTY). */
export interface QueryCondition {
  readonly field: string;
  readonly operator: QueryOperator;
  readonly value?: string | readonly string[];
}

const FIELD = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/;

/**
 * Escapes a value for an encoded query. `^` separates conditions, so a literal `^` is written
 * `^^`; after that no value can start a new condition (`^NQ…`, `^OR…`, `^ORDERBY…`).
 * A value starting with `javascript:` would be *evaluated on the instance*: it is refused.
 *
 * Source of `^^`: ServiceNowDocs `api-reference/server-api-reference/GlideStringUtilScopedAPI.md`,
 * `GlideStringUtil.escapeQueryTermSeparator`: "Replaces query term separators "^" with their
 * escape sequence "^^"" (example `test^Test` → `test^^Test`). Operators inside a value (`=`,
 * `LIKE`, `STARTSWITH`) need no escape: a condition is `<field><operator><value>`
 * (`platform-user-interface/c_EncodedQueryStrings.md`), the field is one of ours and the value
 * runs to the next separator. UNVERIFIED (searched ServiceNowDocs for "escape", "caret",
 * "encoded query", "sysparm_query"): how the instance treats a newline or a comma inside an `=`
 * value, and whether the Table API's name-value filter (`&email=value`, c_TableAPI.md, exclusive
 * with sysparm_query) takes a value verbatim; callers that look a Defender value up also check
 * the rows they get (see cloud-tickets/directory.ts).
 */
export function escapeQueryValue(value: string, field = 'value'): string {
  if (/^\s*javascript:/i.test(value)) {
    throw new InputError(
      `the value of ${field} starts with "javascript:", which ServiceNow would evaluate as a script; refusing to query with it`,
    );
  }
  return value.replace(/\^/g, '^^');
}

function encodeCondition(condition: QueryCondition): string {
  const { field, operator, value } = condition;
  if (!FIELD.test(field))
    throw new InputError(`"${field}" is not a ServiceNow field name (lowercase letters, digits, _ and dots)`);
  if (operator === 'ISEMPTY' || operator === 'ISNOTEMPTY') return `${field}${operator}`;
  if (operator === 'IN' || operator === 'NOT IN') {
    const list = typeof value === 'string' ? [value] : (value ?? []);
    if (list.length === 0) throw new InputError(`${field} ${operator} needs at least one value`);
    for (const item of list) {
      // IN lists are comma-separated with no escape for a comma: such a value can not be listed.
      if (item.includes(','))
        throw new InputError(
          `a value of ${field} contains a comma, which an IN list can not hold; query it with =`,
        );
    }
    return `${field}${operator}${list.map((item) => escapeQueryValue(item, field)).join(',')}`;
  }
  if (typeof value !== 'string') throw new InputError(`${field}${operator} needs one value`);
  return `${field}${operator}${escapeQueryValue(value, field)}`;
}

/**
 * Builds an encoded query (`sysparm_query`) from AND-ed conditions, optional OR-groups joined by
 * `^NQ`, and sort fields. Values are escaped so that no value can add a condition.
 *
 * @example
 * encodeQuery({ where: [{ field: 'correlation_id', operator: '=', value: id }], orderBy: ['sys_updated_on'] })
 * // 'correlation_id=snowline:plant-a:…^ORDERBYsys_updated_on'
 */
export function encodeQuery(query: {
  readonly where?: readonly QueryCondition[];
  /** Alternative AND-groups: the result matches `where` OR any of these (`^NQ`). */
  readonly orGroups?: readonly (readonly QueryCondition[])[];
  readonly orderBy?: readonly string[];
  readonly orderByDesc?: readonly string[];
}): string {
  const groups = [query.where ?? [], ...(query.orGroups ?? [])].filter((g) => g.length > 0);
  const parts = groups.map((group) => group.map(encodeCondition).join('^'));
  let text = parts.join('^NQ');
  const sorts = [
    ...(query.orderBy ?? []).map((f) => ({ f, d: 'ORDERBY' })),
    ...(query.orderByDesc ?? []).map((f) => ({ f, d: 'ORDERBYDESC' })),
  ];
  for (const { f, d } of sorts) {
    if (!FIELD.test(f)) throw new InputError(`"${f}" is not a ServiceNow field name`);
    text += `${text ? '^' : ''}${d}${f}`;
  }
  return text;
}

/** Shorthand for one condition. */
export function where(
  field: string,
  operator: QueryOperator,
  value?: string | readonly string[],
): QueryCondition {
  return value === undefined ? { field, operator } : { field, operator, value };
}
