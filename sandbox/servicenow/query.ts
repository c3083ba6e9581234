/**
 * Encoded query (`sysparm_query`) parsing and evaluation (§1.6 of the contract).
 *
 * Grammar: `term ( '^' term | '^OR' term )* ( '^NQ' query )*` plus `ORDERBY<field>` /
 * `ORDERBYDESC<field>` tokens. A literal `^` inside a value is written `^^` (the platform's
 * escape), so the tokeniser reads `^^` as a character and a single `^` as a separator.
 * (The escape is documented by `GlideStringUtil.escapeQueryTermSeparator`, ServiceNowDocs
 * `api-reference/server-api-reference/GlideStringUtilScopedAPI.md`: "^" → "^^".)
 * Invalid terms (unknown field, unknown operator, unsupported `javascript:`) are ignored and the
 * rest still filters, as on a real instance (`glide.invalid_query.returns_no_rows=false`).
 */

/** Operators the sandbox evaluates. */
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
  | 'EMPTYSTRING'
  | 'ANYTHING'
  | 'BETWEEN'
  | 'INSTANCEOF'
  | 'SAMEAS'
  | 'NSAMEAS';

/** One `<field><operator><value>` condition. */
export interface QueryCondition {
  readonly field: string;
  readonly operator: QueryOperator;
  readonly value: string;
}

/** A sort clause. */
export interface QueryOrder {
  readonly field: string;
  readonly descending: boolean;
}

/**
 * A parsed encoded query: `groups` are joined by `^NQ` (OR of AND-groups); each group is a list
 * of terms joined by AND; each term is a list of conditions joined by `^OR`.
 */
export interface EncodedQuery {
  readonly groups: ReadonlyArray<ReadonlyArray<ReadonlyArray<QueryCondition>>>;
  readonly orderBy: readonly QueryOrder[];
  /** Raw terms that could not be parsed (ignored, as the platform does). */
  readonly ignored: readonly string[];
}

/** Keyword and symbol operators in matching priority order (longest/most specific first). */
const operatorTable: ReadonlyArray<readonly [string, QueryOperator]> = [
  ['ISNOTEMPTY', 'ISNOTEMPTY'],
  ['ISEMPTY', 'ISEMPTY'],
  ['EMPTYSTRING', 'EMPTYSTRING'],
  ['ANYTHING', 'ANYTHING'],
  ['INSTANCEOF', 'INSTANCEOF'],
  ['NOT IN', 'NOT IN'],
  ['NOT LIKE', 'NOT LIKE'],
  ['NSAMEAS', 'NSAMEAS'],
  ['SAMEAS', 'SAMEAS'],
  ['IN', 'IN'],
  ['LIKE', 'LIKE'],
  ['STARTSWITH', 'STARTSWITH'],
  ['ENDSWITH', 'ENDSWITH'],
  ['BETWEEN', 'BETWEEN'],
  ['!=', '!='],
  ['>=', '>='],
  ['<=', '<='],
  ['=', '='],
  ['>', '>'],
  ['<', '<'],
  ['!*', 'NOT LIKE'],
  ['*', 'LIKE'],
  ['%', 'ENDSWITH'],
];

const noValueOperators = new Set<QueryOperator>(['ISEMPTY', 'ISNOTEMPTY', 'EMPTYSTRING', 'ANYTHING']);
const fieldPath = /^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*/;

/**
 * Escapes a value for use in an encoded query: `^` becomes `^^`.
 *
 * @example
 * `short_description=${escapeQueryValue('a^b')}` // 'short_description=a^^b'
 */
export function escapeQueryValue(value: string): string {
  return value.replace(/\^/g, '^^');
}

/** Splits on single `^` separators, turning `^^` into a literal `^`. */
function tokenize(query: string): string[] {
  const tokens: string[] = [];
  let current = '';
  for (let i = 0; i < query.length; i++) {
    const ch = query[i];
    if (ch === '^') {
      if (query[i + 1] === '^') {
        current += '^';
        i++;
      } else {
        tokens.push(current);
        current = '';
      }
    } else {
      current += ch;
    }
  }
  tokens.push(current);
  return tokens;
}

/** Parses one `<field><op><value>` term; undefined when it is not a valid condition. */
export function parseCondition(term: string): QueryCondition | undefined {
  const m = fieldPath.exec(term);
  if (!m) return undefined;
  const field = m[0];
  const rest = term.slice(field.length);
  for (const [keyword, operator] of operatorTable) {
    if (rest.startsWith(keyword)) {
      const value = rest.slice(keyword.length);
      return { field, operator, value: noValueOperators.has(operator) ? '' : value };
    }
  }
  return undefined;
}

/**
 * Parses an encoded query.
 *
 * @example
 * parseEncodedQuery('active=true^priority=1^ORpriority=2^ORDERBYDESCnumber')
 */
export function parseEncodedQuery(query: string): EncodedQuery {
  const groups: QueryCondition[][][] = [];
  const orderBy: QueryOrder[] = [];
  const ignored: string[] = [];
  let group: QueryCondition[][] = [];
  if (query === '') return { groups, orderBy, ignored };
  const tokens = tokenize(query);
  tokens.forEach((raw, index) => {
    let token = raw;
    let isOr = false;
    if (index > 0 && token.startsWith('NQ')) {
      if (group.length) groups.push(group);
      group = [];
      token = token.slice(2);
    }
    if (token.startsWith('ORDERBYDESC')) {
      orderBy.push({ field: token.slice('ORDERBYDESC'.length), descending: true });
      return;
    }
    if (token.startsWith('ORDERBY')) {
      orderBy.push({ field: token.slice('ORDERBY'.length), descending: false });
      return;
    }
    if (token === 'EQ' || token === '') return;
    if (index > 0 && token.startsWith('OR')) {
      isOr = true;
      token = token.slice(2);
    }
    const condition = parseCondition(token);
    if (!condition) {
      ignored.push(raw);
      return;
    }
    const last = group[group.length - 1];
    if (isOr && last) last.push(condition);
    else group.push([condition]);
  });
  if (group.length) groups.push(group);
  return { groups, orderBy, ignored };
}

/** Serialises conditions back to an encoded query (values escaped). Inverse of {@link parseEncodedQuery}. */
export function formatEncodedQuery(query: Pick<EncodedQuery, 'groups' | 'orderBy'>): string {
  const groups = query.groups.map((g) =>
    g
      .map((term) => term.map((c) => `${c.field}${c.operator}${escapeQueryValue(c.value)}`).join('^OR'))
      .join('^'),
  );
  const order = query.orderBy.map((o) => `${o.descending ? 'ORDERBYDESC' : 'ORDERBY'}${o.field}`);
  return [groups.join('^NQ'), ...order].filter((s) => s !== '').join('^');
}

// ---------------------------------------------------------------- javascript: values

/** `YYYY-MM-DD HH:mm:ss` in UTC, the platform's stored date-time format. */
export function formatDateTime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

function startOfDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

function endOfDay(d: Date): Date {
  return new Date(startOfDay(d).getTime() + 86_399_000);
}

/** Context needed to evaluate `javascript:` values. */
export interface ScriptContext {
  readonly now: Date;
  readonly userSysId: string;
  readonly userName: string;
}

/**
 * Evaluates the `javascript:gs.*` expressions an integration uses in queries. Dates are in UTC
 * (sandbox users have time zone GMT). Returns undefined for an unsupported script, which makes
 * the term ignored, as the platform does with invalid parts.
 */
export function evaluateScriptValue(value: string, ctx: ScriptContext): string | undefined {
  if (!value.startsWith('javascript:')) return value;
  const expr = value.slice('javascript:'.length).trim().replace(/;$/, '');
  const now = ctx.now.getTime();
  const call = /^gs\.(\w+)\(([^)]*)\)$/.exec(expr);
  if (!call) return undefined;
  const fn = call[1] ?? '';
  const args = (call[2] ?? '')
    .split(',')
    .map((a) => a.trim().replace(/^['"]|['"]$/g, ''))
    .filter((a) => a !== '');
  const n = Number(args[0] ?? '0');
  const ago = (ms: number): Date => new Date(now - ms * (Number.isFinite(n) ? n : 0));
  const H = 3_600_000;
  const M = 60_000;
  const DAY = 86_400_000;
  const fmt = formatDateTime;
  switch (fn) {
    case 'getUserID':
      return ctx.userSysId;
    case 'getUserName':
      return ctx.userName;
    case 'nowDateTime':
    case 'now':
      return fmt(ctx.now);
    case 'daysAgo':
      return fmt(ago(DAY));
    case 'daysAgoStart':
      return fmt(startOfDay(ago(DAY)));
    case 'daysAgoEnd':
      return fmt(endOfDay(ago(DAY)));
    case 'hoursAgo':
      return fmt(ago(H));
    case 'hoursAgoStart': {
      const d = ago(H);
      return fmt(new Date(Math.floor(d.getTime() / H) * H));
    }
    case 'hoursAgoEnd': {
      const d = ago(H);
      return fmt(new Date(Math.floor(d.getTime() / H) * H + H - 1000));
    }
    case 'minutesAgo':
      return fmt(ago(M));
    case 'minutesAgoStart': {
      const d = ago(M);
      return fmt(new Date(Math.floor(d.getTime() / M) * M));
    }
    case 'minutesAgoEnd': {
      const d = ago(M);
      return fmt(new Date(Math.floor(d.getTime() / M) * M + M - 1000));
    }
    case 'monthsAgo':
    case 'monthsAgoStart':
    case 'monthsAgoEnd': {
      const d = new Date(ctx.now);
      d.setUTCMonth(d.getUTCMonth() - (Number.isFinite(n) ? n : 0));
      if (fn === 'monthsAgo') return fmt(d);
      const start = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
      if (fn === 'monthsAgoStart') return fmt(start);
      return fmt(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - 1000));
    }
    case 'yearsAgo': {
      const d = new Date(ctx.now);
      d.setUTCFullYear(d.getUTCFullYear() - (Number.isFinite(n) ? n : 0));
      return fmt(d);
    }
    case 'beginningOfToday':
      return fmt(startOfDay(ctx.now));
    case 'endOfToday':
      return fmt(endOfDay(ctx.now));
    case 'beginningOfYesterday':
      return fmt(startOfDay(new Date(now - DAY)));
    case 'endOfYesterday':
      return fmt(endOfDay(new Date(now - DAY)));
    case 'beginningOfTomorrow':
      return fmt(startOfDay(new Date(now + DAY)));
    case 'endOfTomorrow':
      return fmt(endOfDay(new Date(now + DAY)));
    case 'dateGenerate':
      return args.length >= 2 ? `${args[0]} ${args[1]}` : undefined;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- evaluation

/** What the evaluator needs from the store. */
export interface QueryRuntime<R> {
  /** Value of a (possibly dot-walked) field of a row; '' when absent. */
  get(row: R, path: string): string;
  /** Whether a field path is valid on the queried table (invalid terms are ignored). */
  isValidField(path: string): boolean;
  /** Whether `className` is `ancestor` or one of its descendants. */
  isInstanceOf(className: string, ancestor: string): boolean;
  readonly script: ScriptContext;
}

const numeric = /^-?\d+(?:\.\d+)?$/;

/** Compares two stored values: numerically when both are numbers, else lexically (dates sort lexically). */
export function compareValues(a: string, b: string): number {
  if (numeric.test(a) && numeric.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

type Predicate<R> = (row: R) => boolean;

function compileCondition<R>(c: QueryCondition, rt: QueryRuntime<R>): Predicate<R> | undefined {
  if (!rt.isValidField(c.field)) return undefined;
  const get = (row: R): string => rt.get(row, c.field);
  const field = c.field;
  const resolved = c.operator === 'BETWEEN' ? c.value : evaluateScriptValue(c.value, rt.script);
  if (resolved === undefined) return undefined;
  const v = resolved;
  // UNVERIFIED: LIKE/STARTSWITH/ENDSWITH compare case-insensitively (MySQL collation on real
  // instances); equality is exact.
  const lower = v.toLowerCase();
  switch (c.operator) {
    case '=':
      return (r) => get(r) === v;
    case '!=':
      return (r) => get(r) !== v;
    case '<':
      return (r) => get(r) !== '' && compareValues(get(r), v) < 0;
    case '<=':
      return (r) => get(r) !== '' && compareValues(get(r), v) <= 0;
    case '>':
      return (r) => get(r) !== '' && compareValues(get(r), v) > 0;
    case '>=':
      return (r) => get(r) !== '' && compareValues(get(r), v) >= 0;
    case 'IN': {
      const set = new Set(v.split(','));
      return (r) => set.has(get(r));
    }
    case 'NOT IN': {
      const set = new Set(v.split(','));
      return (r) => !set.has(get(r));
    }
    case 'LIKE':
      return (r) => get(r).toLowerCase().includes(lower);
    case 'NOT LIKE':
      return (r) => !get(r).toLowerCase().includes(lower);
    case 'STARTSWITH':
      return (r) => get(r).toLowerCase().startsWith(lower);
    case 'ENDSWITH':
      return (r) => get(r).toLowerCase().endsWith(lower);
    case 'ISEMPTY':
    case 'EMPTYSTRING':
      return (r) => get(r) === '';
    case 'ISNOTEMPTY':
      return (r) => get(r) !== '';
    case 'ANYTHING':
      return () => true;
    case 'BETWEEN': {
      const parts = v.split('@');
      if (parts.length !== 2) return undefined;
      const lo = evaluateScriptValue(parts[0] ?? '', rt.script);
      const hi = evaluateScriptValue(parts[1] ?? '', rt.script);
      if (lo === undefined || hi === undefined) return undefined;
      return (r) => {
        const x = get(r);
        return x !== '' && compareValues(x, lo) >= 0 && compareValues(x, hi) <= 0;
      };
    }
    case 'INSTANCEOF':
      return (r) => rt.isInstanceOf(get(r), v);
    case 'SAMEAS':
      if (!rt.isValidField(v)) return undefined;
      return (r) => get(r) === rt.get(r, v);
    case 'NSAMEAS':
      if (!rt.isValidField(v)) return undefined;
      return (r) => get(r) !== rt.get(r, v);
    default: {
      const never: never = c.operator;
      void field;
      return never;
    }
  }
}

/** A compiled query: a row predicate and a comparator for `ORDERBY` clauses. */
export interface CompiledQuery<R> {
  readonly matches: Predicate<R>;
  /** Undefined when the query has no valid sort clause. */
  readonly compare: ((a: R, b: R) => number) | undefined;
  /** Top-level `field=value` equality usable for an index lookup (single group, AND term). */
  readonly equalities: ReadonlyArray<readonly [string, string]>;
}

/** Compiles a parsed query against a runtime; invalid terms are dropped. */
export function compileQuery<R>(q: EncodedQuery, rt: QueryRuntime<R>): CompiledQuery<R> {
  const groups: Predicate<R>[][][] = [];
  for (const g of q.groups) {
    const terms: Predicate<R>[][] = [];
    for (const term of g) {
      const ors = term.map((c) => compileCondition(c, rt)).filter((p): p is Predicate<R> => p !== undefined);
      if (ors.length) terms.push([...ors]);
    }
    groups.push(terms);
  }
  const matches: Predicate<R> =
    groups.length === 0
      ? () => true
      : (row) => groups.some((terms) => terms.every((ors) => ors.some((p) => p(row))));
  const sorts = q.orderBy.filter((o) => rt.isValidField(o.field));
  const compare = sorts.length
    ? (a: R, b: R): number => {
        for (const s of sorts) {
          const d = compareValues(rt.get(a, s.field), rt.get(b, s.field));
          if (d !== 0) return s.descending ? -d : d;
        }
        return 0;
      }
    : undefined;
  const equalities: Array<readonly [string, string]> = [];
  const only = q.groups.length === 1 ? q.groups[0] : undefined;
  if (only) {
    for (const term of only) {
      const c = term[0];
      if (
        term.length === 1 &&
        c &&
        c.operator === '=' &&
        !c.field.includes('.') &&
        !c.value.startsWith('javascript:') &&
        rt.isValidField(c.field)
      ) {
        equalities.push([c.field, c.value]);
      }
    }
  }
  return { matches, compare, equalities };
}
