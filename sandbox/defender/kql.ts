/**
 * A small, strict subset of KQL for the Resource Graph emulator: enough for the queries the
 * contract quotes (§5.3) and the Resource Graph examples, and nothing more. Anything outside the
 * subset is a {@link KqlError} (the API answers 400), never a silently wrong answer.
 *
 * Supported: `<table> | where <expr> | extend a = <expr>, ... | project a, b = <expr>, ...
 * | join kind=inner|leftouter (<query>) on <column> | order by <expr> [asc|desc], ... | sort by ...
 * | limit N | take N`; expressions with `==`, `!=`, `=~`, `!~`, `in`, `!in`, `in~`, `contains`,
 * `startswith`, `and`, `or`, parentheses, property paths (`properties.status.code`,
 * `nics[0].ipv4Address`, `tags['owner']`), string/number/bool literals, and the functions
 * `tostring`, `tolower`, `toupper`, `todatetime`, `toint`, `tolong`, `isnotempty`, `isempty`, `not`, `strcat`.
 */

export class KqlError extends Error {
  override readonly name = 'KqlError';
}

type Token =
  | { kind: 'ident'; value: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'op'; value: string; pos: number };

const OPERATORS = ['==', '!=', '=~', '!~', '|', ',', '(', ')', '[', ']', '.', '='];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== ch) {
        if (text[j] === '\\' && j + 1 < text.length) {
          const next = text[j + 1] as string;
          value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          j += 2;
        } else value += text[j++];
      }
      if (j >= text.length) throw new KqlError(`Unterminated string literal at position ${i}.`);
      tokens.push({ kind: 'string', value, pos: i });
      i = j + 1;
      continue;
    }
    if (/[0-9]/.test(ch)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'number', value: Number(m[0]), pos: i });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_$]/.test(ch)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$-]*/.exec(text.slice(i)) as RegExpExecArray;
      // `project-away` style names keep their dash; identifiers such as `a-b` are not in the subset.
      let word = m[0];
      if (word.includes('-') && !/^(project-away|project-rename|mv-expand|order|sort)/.test(word))
        word = word.split('-')[0] as string;
      // `in~` and `!in` are operators spelled with letters.
      if (word === 'in' && text[i + 2] === '~') {
        tokens.push({ kind: 'op', value: 'in~', pos: i });
        i += 3;
        continue;
      }
      tokens.push({ kind: 'ident', value: word, pos: i });
      i += word.length;
      continue;
    }
    if (ch === '!' && text.slice(i, i + 3) === '!in' && !/[A-Za-z0-9_]/.test(text[i + 3] ?? '')) {
      tokens.push({ kind: 'op', value: '!in', pos: i });
      i += 3;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new KqlError(`Unexpected character '${ch}' at position ${i}.`);
    tokens.push({ kind: 'op', value: op, pos: i });
    i += op.length;
  }
  return tokens;
}

/** An expression node. */
export type Expr =
  | { kind: 'literal'; value: unknown }
  | { kind: 'path'; root: string; steps: Array<string | number> }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'binary'; op: string; left: Expr; right: Expr }
  | { kind: 'in'; op: 'in' | '!in' | 'in~'; left: Expr; list: Expr[] };

export type Operator =
  | { kind: 'where'; expr: Expr }
  | { kind: 'extend'; columns: Array<{ name: string; expr: Expr }> }
  | { kind: 'project'; columns: Array<{ name: string; expr: Expr }> }
  | { kind: 'sort'; keys: Array<{ expr: Expr; descending: boolean }> }
  | { kind: 'join'; flavor: JoinFlavor; right: Query; on: string }
  | { kind: 'limit'; count: number };

/**
 * The `join` flavors the sandbox evaluates. Resource Graph supports `innerunique` (Kusto's
 * default), `inner` and `leftouter` (MicrosoftDocs/azure-docs
 * articles/governance/resource-graph/concepts/query-language.md, "Supported tabular/top level
 * operators"); `innerunique` keeps one left row per key, which the sandbox does not emulate, so
 * a join must name its kind.
 */
export type JoinFlavor = 'inner' | 'leftouter';

export interface Query {
  table: string;
  operators: Operator[];
}

const FUNCTIONS = new Set([
  'tostring',
  'tolower',
  'toupper',
  'todatetime',
  'toint',
  'tolong',
  'isnotempty',
  'isempty',
  'not',
  'strcat',
]);
const WORD_OPERATORS = new Set(['contains', 'startswith', 'has']);

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new KqlError('Unexpected end of query.');
    return t;
  }

  private isOp(value: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === 'op' && t.value === value;
  }

  private isWord(value: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === 'ident' && t.value === value;
  }

  private expectOp(value: string): void {
    const t = this.next();
    if (t.kind !== 'op' || t.value !== value) throw new KqlError(`Expected '${value}' at position ${t.pos}.`);
  }

  private ident(): string {
    const t = this.next();
    if (t.kind !== 'ident') throw new KqlError(`Expected a name at position ${t.pos}.`);
    return t.value;
  }

  /** A whole query, or (`nested`) the right side of a `join`, which ends at its `)`. */
  parseQuery(nested = false): Query {
    const table = this.ident();
    const operators: Operator[] = [];
    while (this.peek() && !(nested && this.isOp(')'))) {
      this.expectOp('|');
      const name = this.ident();
      switch (name) {
        case 'where':
          operators.push({ kind: 'where', expr: this.expr() });
          break;
        case 'extend':
          operators.push({ kind: 'extend', columns: this.columns(true) });
          break;
        case 'project':
          operators.push({ kind: 'project', columns: this.columns(false) });
          break;
        case 'order':
        case 'sort':
          operators.push({ kind: 'sort', keys: this.sortKeys(name) });
          break;
        case 'join':
          if (nested)
            throw new KqlError("A 'join' inside a join's right side is not supported by the sandbox.");
          operators.push(this.join());
          break;
        case 'limit':
        case 'take': {
          const t = this.next();
          if (t.kind !== 'number' || !Number.isInteger(t.value))
            throw new KqlError(`'${name}' needs an integer.`);
          operators.push({ kind: 'limit', count: t.value });
          break;
        }
        default:
          throw new KqlError(
            `The operator '${name}' is not supported by the sandbox's Resource Graph (supported: where, extend, project, join, order by, sort by, limit, take).`,
          );
      }
    }
    return { table, operators };
  }

  /** `join kind=inner|leftouter (<query>) on <column>`, after the `join`. */
  private join(): Extract<Operator, { kind: 'join' }> {
    if (!this.isWord('kind'))
      throw new KqlError(
        "'join' needs its kind in the sandbox (kind=inner or kind=leftouter): the default, innerunique, keeps one left row per key.",
      );
    this.next();
    this.expectOp('=');
    const flavor = this.ident();
    if (flavor !== 'inner' && flavor !== 'leftouter')
      throw new KqlError(`The join kind '${flavor}' is not supported by the sandbox (inner, leftouter).`);
    this.expectOp('(');
    const right = this.parseQuery(true);
    this.expectOp(')');
    if (!this.isWord('on')) throw new KqlError("'join' needs 'on': join kind=inner (query) on column.");
    this.next();
    const on = this.ident();
    if (on.startsWith('$') || this.isOp('.') || this.isOp('=='))
      throw new KqlError(
        "Only 'on <column>' (one column, same name on both sides) is supported by the sandbox.",
      );
    return { kind: 'join', flavor, right, on };
  }

  /**
   * `order by` / `sort by` keys. KQL sorts descending unless told `asc`, nulls first when
   * ascending and last when descending (Microsoft Learn, "sort operator",
   * https://learn.microsoft.com/kusto/query/sort-operator); `nulls first|last` is outside the subset.
   */
  private sortKeys(name: string): Array<{ expr: Expr; descending: boolean }> {
    if (!this.isWord('by')) throw new KqlError(`'${name}' needs 'by': ${name} by column asc.`);
    this.next();
    const keys: Array<{ expr: Expr; descending: boolean }> = [];
    do {
      const expr = this.expr();
      let descending = true;
      if (this.isWord('asc') || this.isWord('desc')) descending = this.ident() === 'desc';
      if (this.isWord('nulls')) throw new KqlError("'nulls first|last' is not supported by the sandbox.");
      keys.push({ expr, descending });
    } while (this.isOp(',') && this.next());
    return keys;
  }

  private columns(requireAlias: boolean): Array<{ name: string; expr: Expr }> {
    const out: Array<{ name: string; expr: Expr }> = [];
    do {
      if (this.peek()?.kind === 'ident' && this.isOp('=', 1)) {
        const name = this.ident();
        this.expectOp('=');
        out.push({ name, expr: this.expr() });
      } else {
        const expr = this.expr();
        if (requireAlias && expr.kind !== 'path')
          throw new KqlError("'extend' columns need a name: extend name = expression.");
        out.push({ name: defaultColumnName(expr), expr });
      }
    } while (this.isOp(',') && this.next());
    return out;
  }

  expr(): Expr {
    let left = this.andExpr();
    while (this.isWord('or')) {
      this.next();
      left = { kind: 'binary', op: 'or', left, right: this.andExpr() };
    }
    return left;
  }

  private andExpr(): Expr {
    let left = this.comparison();
    while (this.isWord('and')) {
      this.next();
      left = { kind: 'binary', op: 'and', left, right: this.comparison() };
    }
    return left;
  }

  private comparison(): Expr {
    const left = this.primary();
    const t = this.peek();
    if (!t) return left;
    if (t.kind === 'op' && ['==', '!=', '=~', '!~'].includes(t.value)) {
      this.next();
      return { kind: 'binary', op: t.value, left, right: this.primary() };
    }
    if (
      (t.kind === 'op' && (t.value === '!in' || t.value === 'in~')) ||
      (t.kind === 'ident' && t.value === 'in')
    ) {
      this.next();
      this.expectOp('(');
      const list: Expr[] = [];
      if (!this.isOp(')')) {
        do list.push(this.primary());
        while (this.isOp(',') && this.next());
      }
      this.expectOp(')');
      return { kind: 'in', op: t.value as 'in' | '!in' | 'in~', left, list };
    }
    if (t.kind === 'ident' && WORD_OPERATORS.has(t.value)) {
      this.next();
      return { kind: 'binary', op: t.value, left, right: this.primary() };
    }
    return left;
  }

  private primary(): Expr {
    const t = this.next();
    if (t.kind === 'string') return { kind: 'literal', value: t.value };
    if (t.kind === 'number') return { kind: 'literal', value: t.value };
    if (t.kind === 'op' && t.value === '(') {
      const e = this.expr();
      this.expectOp(')');
      return e;
    }
    if (t.kind !== 'ident') throw new KqlError(`Unexpected '${t.value}' at position ${t.pos}.`);
    if (t.value === 'true' || t.value === 'false') return { kind: 'literal', value: t.value === 'true' };
    if (this.isOp('(')) {
      if (!FUNCTIONS.has(t.value))
        throw new KqlError(`The function '${t.value}' is not supported by the sandbox's Resource Graph.`);
      this.next();
      const args: Expr[] = [];
      if (!this.isOp(')')) {
        do args.push(this.expr());
        while (this.isOp(',') && this.next());
      }
      this.expectOp(')');
      return { kind: 'call', name: t.value, args };
    }
    const steps: Array<string | number> = [];
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        steps.push(this.ident());
      } else if (this.isOp('[')) {
        this.next();
        const k = this.next();
        if (k.kind === 'number') steps.push(k.value);
        else if (k.kind === 'string') steps.push(k.value);
        else throw new KqlError(`Expected an index at position ${k.pos}.`);
        this.expectOp(']');
      } else break;
    }
    return { kind: 'path', root: t.value, steps };
  }
}

function defaultColumnName(expr: Expr): string {
  if (expr.kind === 'path') return [expr.root, ...expr.steps.map(String)].join('_');
  if (expr.kind === 'call' && expr.args[0]) return defaultColumnName(expr.args[0]);
  throw new KqlError('Computed project columns need a name: project name = expression.');
}

/** Parses a query; throws {@link KqlError} for anything outside the subset. */
export function parseKql(text: string): Query {
  if (typeof text !== 'string' || text.trim() === '') throw new KqlError('The query is empty.');
  return new Parser(tokenize(text)).parseQuery();
}

type Row = Record<string, unknown>;

function lookup(row: Row, expr: Extract<Expr, { kind: 'path' }>): unknown {
  let v: unknown = row[expr.root];
  if (!(expr.root in row)) {
    // KQL resolves column names case-sensitively; an unknown column is a query error in ARG.
    throw new KqlError(`The name '${expr.root}' does not refer to any known column.`);
  }
  for (const step of expr.steps) {
    if (v === null || v === undefined) return null;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v === undefined ? null : v;
}

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function equal(a: unknown, b: unknown, ci: boolean): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (typeof a === 'boolean' || typeof b === 'boolean') return str(a) === str(b);
  return ci ? str(a).toLowerCase() === str(b).toLowerCase() : str(a) === str(b);
}

const literalSets = new WeakMap<Expr, Set<string> | null>();

/**
 * The values of an `in` list made only of literals, as {@link equal} compares them (their text,
 * lower-cased for `in~`), computed once per parsed query: a `where id in~ (…100 ids…)` over tens
 * of thousands of rows would otherwise compare every row with every id. Null when the list holds
 * anything else (a column, a call), which is then evaluated per row.
 */
function literalSet(expr: Extract<Expr, { kind: 'in' }>): Set<string> | null {
  let set = literalSets.get(expr);
  if (set !== undefined) return set;
  set = expr.list.every((e) => e.kind === 'literal')
    ? new Set(
        expr.list
          .map((e) => (e as Extract<Expr, { kind: 'literal' }>).value)
          .filter((value) => value !== null && value !== undefined)
          .map((value) => (expr.op === 'in~' ? str(value).toLowerCase() : str(value))),
      )
    : null;
  literalSets.set(expr, set);
  return set;
}

/** Evaluates an expression on a row. */
export function evaluate(expr: Expr, row: Row): unknown {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'path':
      return lookup(row, expr);
    case 'in': {
      const v = evaluate(expr.left, row);
      const ci = expr.op === 'in~';
      const literals = literalSet(expr);
      const hit = literals
        ? v !== null && v !== undefined && literals.has(ci ? str(v).toLowerCase() : str(v))
        : expr.list.some((e) => equal(v, evaluate(e, row), ci));
      return expr.op === '!in' ? !hit : hit;
    }
    case 'binary': {
      if (expr.op === 'and') return truthy(evaluate(expr.left, row)) && truthy(evaluate(expr.right, row));
      if (expr.op === 'or') return truthy(evaluate(expr.left, row)) || truthy(evaluate(expr.right, row));
      const l = evaluate(expr.left, row);
      const r = evaluate(expr.right, row);
      switch (expr.op) {
        case '==':
          return equal(l, r, false);
        case '!=':
          return !equal(l, r, false);
        case '=~':
          return equal(l, r, true);
        case '!~':
          return !equal(l, r, true);
        case 'contains':
          return str(l).toLowerCase().includes(str(r).toLowerCase());
        case 'has':
          return new RegExp(`(^|[^A-Za-z0-9])${escapeRegex(str(r))}($|[^A-Za-z0-9])`, 'i').test(str(l));
        case 'startswith':
          return str(l).toLowerCase().startsWith(str(r).toLowerCase());
      }
      throw new KqlError(`Unknown operator '${expr.op}'.`);
    }
    case 'call': {
      const args = expr.args.map((a) => evaluate(a, row));
      const arity = expr.name === 'strcat' ? -1 : 1;
      if (arity === 1 && args.length !== 1) throw new KqlError(`'${expr.name}' takes one argument.`);
      const v = args[0];
      switch (expr.name) {
        case 'tostring':
          return str(v);
        case 'tolower':
          return str(v).toLowerCase();
        case 'toupper':
          return str(v).toUpperCase();
        case 'todatetime': {
          if (v === null || v === undefined || v === '') return null;
          const ms = Date.parse(str(v).replace(/\.(\d{3})\d+/, '.$1'));
          return Number.isNaN(ms) ? null : new Date(ms).toISOString();
        }
        case 'toint':
        case 'tolong': {
          const n = typeof v === 'number' ? v : Number.parseInt(str(v), 10);
          return Number.isFinite(n) ? Math.trunc(n) : null;
        }
        case 'isnotempty':
          return v !== null && v !== undefined && str(v) !== '';
        case 'isempty':
          return v === null || v === undefined || str(v) === '';
        case 'not':
          return !truthy(v);
        case 'strcat':
          return args.map(str).join('');
      }
      throw new KqlError(`The function '${expr.name}' is not supported.`);
    }
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function truthy(v: unknown): boolean {
  return v === true;
}

/**
 * Applies the row-wise operators (everything but `limit`; `sort` leaves a row as it is) to one
 * row; `null` when a `where` drops it.
 */
export function applyRowOperators(operators: readonly Operator[], row: Row): Row | null {
  let current = row;
  for (const op of operators) {
    if (op.kind === 'where') {
      if (!truthy(evaluate(op.expr, current))) return null;
    } else if (op.kind === 'extend') {
      const next = { ...current };
      for (const c of op.columns) next[c.name] = evaluate(c.expr, current);
      current = next;
    } else if (op.kind === 'project') {
      const next: Row = {};
      for (const c of op.columns) next[c.name] = evaluate(c.expr, current);
      current = next;
    } else if (op.kind === 'join') {
      const joined = joinRow(op, current);
      if (!joined) return null;
      current = joined;
    }
  }
  return current;
}

/** A join's right side, evaluated once per query: its rows by key, and its columns. */
interface JoinLookup {
  readonly byKey: Map<string, Row[]>;
  readonly columns: readonly string[];
}

const joinLookups = new WeakMap<Operator, JoinLookup>();

/**
 * Evaluates the right side of every `join` of a parsed query with `rowsOf` (the caller's table
 * scan), before its rows are: the lookups are kept with the parsed query.
 */
export function resolveJoins(query: Query, rowsOf: (right: Query) => Row[]): void {
  for (const op of query.operators) {
    if (op.kind !== 'join' || joinLookups.has(op)) continue;
    const rows = rowsOf(op.right);
    const byKey = new Map<string, Row[]>();
    for (const row of rows) {
      if (!(op.on in row))
        throw new KqlError(`The join column '${op.on}' is not a column of the join's right side.`);
      const key = row[op.on];
      // Kusto matches no null key (Microsoft Learn, "join operator").
      if (key === null || key === undefined) continue;
      const list = byKey.get(str(key));
      if (list) list.push(row);
      else byKey.set(str(key), [row]);
    }
    // The right side's columns, also when it has no row: its last project names them.
    const project = [...op.right.operators].reverse().find((o) => o.kind === 'project');
    const columns = project
      ? project.columns.map((c) => c.name)
      : [...new Set(rows.flatMap((r) => Object.keys(r)))];
    joinLookups.set(op, { byKey, columns });
  }
}

/** A test on one property path of a row that a caller can read without building the row. */
export interface PathTest {
  readonly path: string;
  test(value: unknown): boolean;
}

/**
 * The tests a row must pass that read one property path each: every `<path> == 'literal'` or
 * `tostring(<path>) == 'literal'` of the `where`s before the first other operator (terms joined by
 * `and`), and the key of an inner join ({@link innerJoinKey}). A caller that can read those paths
 * without building a row skips the rows that fail one: the query would drop them anyway.
 */
export function pathTests(query: Query): PathTest[] {
  const tests: PathTest[] = [];
  for (const op of query.operators) {
    if (op.kind !== 'where') break;
    for (const term of conjuncts(op.expr)) {
      if (term.kind !== 'binary' || term.op !== '==' || term.right.kind !== 'literal') continue;
      const read = pathRead(term.left);
      if (!read) continue;
      const literal = term.right.value;
      tests.push({ path: read.path, test: (value) => equal(read.value(value), literal, false) });
    }
  }
  const join = innerJoinKey(query);
  if (join) tests.push({ path: join.path, test: join.canMatch });
  return tests;
}

/**
 * An expression that reads one property path, `<path>` or `tostring(<path>)`: the dotted path,
 * and the expression's value for a value found there. Null for any other expression.
 */
function pathRead(expr: Expr | undefined): { path: string; value(found: unknown): unknown } | null {
  const asText = expr?.kind === 'call' && expr.name === 'tostring' && expr.args.length === 1;
  const path = asText ? (expr as Extract<Expr, { kind: 'call' }>).args[0] : expr;
  if (path?.kind !== 'path' || !path.steps.every((s) => typeof s === 'string')) return null;
  return { path: [path.root, ...path.steps].join('.'), value: (found) => (asText ? str(found) : found) };
}

/** The terms of an `and` chain. */
function conjuncts(expr: Expr): Expr[] {
  return expr.kind === 'binary' && expr.op === 'and'
    ? [...conjuncts(expr.left), ...conjuncts(expr.right)]
    : [expr];
}

/**
 * For a query whose first `join` is `inner` and comes after `where`s and `extend`s only, with its
 * column made by `extend <column> = tostring(<path>)` (or `= <path>`): the path, and whether a
 * value found there can match the join's right side. A caller that can read that path of a row
 * without building the row skips the rows that the join would drop anyway. Null otherwise.
 */
export function innerJoinKey(query: Query): { path: string; canMatch(value: unknown): boolean } | null {
  const at = query.operators.findIndex((o) => o.kind === 'join');
  const op = query.operators[at];
  if (!op || op.kind !== 'join' || op.flavor !== 'inner') return null;
  let source: Expr | undefined;
  for (const before of query.operators.slice(0, at)) {
    if (before.kind === 'where') continue;
    if (before.kind !== 'extend') return null;
    for (const column of before.columns) if (column.name === op.on) source = column.expr;
  }
  const read = pathRead(source);
  if (!read) return null;
  return {
    path: read.path,
    canMatch: (value) => {
      const key = read.value(value);
      const lookup = joinLookups.get(op);
      if (!lookup) throw new KqlError("The join's right side was not evaluated.");
      return key !== null && key !== undefined && lookup.byKey.has(str(key));
    },
  };
}

/**
 * One left row joined with its right row: the right side's columns added, a name the left row
 * already has suffixed `1` (as Kusto names them); a `leftouter` row without a match gets them
 * null. A key that more than one right row has is refused rather than answered row by row.
 */
function joinRow(op: Extract<Operator, { kind: 'join' }>, left: Row): Row | null {
  const lookup = joinLookups.get(op);
  if (!lookup) throw new KqlError("The join's right side was not evaluated.");
  if (!(op.on in left))
    throw new KqlError(`The join column '${op.on}' is not a column of the join's left side.`);
  const key = left[op.on];
  const matches = key === null || key === undefined ? undefined : lookup.byKey.get(str(key));
  if (matches && matches.length > 1)
    throw new KqlError(
      `The join's right side has ${matches.length} rows for '${str(key)}': a key with more than one right row is not supported by the sandbox.`,
    );
  const right = matches?.[0];
  if (!right && op.flavor === 'inner') return null;
  const joined: Row = { ...left };
  for (const column of lookup.columns) {
    let name = column;
    for (let n = 1; name in joined; n++) name = `${column}${n}`;
    joined[name] = right ? (right[column] ?? null) : null;
  }
  return joined;
}

/**
 * Compares two rows' sort-key values as KQL orders them: numbers by value, anything else as
 * strings by ordinal, a missing value (null) before any other in ascending order.
 */
export function compareSortValues(a: unknown, b: unknown): number {
  const missing = (v: unknown) => v === null || v === undefined || v === '';
  if (missing(a) || missing(b)) return missing(a) === missing(b) ? 0 : missing(a) ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = str(a);
  const y = str(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The sort keys of one row under a query's `sort` operator (evaluated on the row as the
 * operators before the sort left it); `null` when the query does not sort.
 */
export function sortKeysOf(operators: readonly Operator[], row: Row): unknown[] | null {
  const at = operators.findIndex((o) => o.kind === 'sort');
  if (at < 0) return null;
  const before = applyRowOperators(operators.slice(0, at), row);
  const sort = operators[at] as Extract<Operator, { kind: 'sort' }>;
  return before ? sort.keys.map((k) => evaluate(k.expr, before)) : null;
}

/**
 * The `type` values a query can match, if its first `where` pins `type` with `==`, `=~` or
 * `in` (lets the emulator skip whole tables of rows); `null` when it cannot tell.
 */
export function pinnedTypes(query: Query): string[] | null {
  const first = query.operators[0];
  if (first?.kind !== 'where') return null;
  const found = typesIn(first.expr);
  return found;
}

function typesIn(e: Expr): string[] | null {
  if (e.kind === 'binary' && e.op === 'and') return typesIn(e.left) ?? typesIn(e.right);
  const isType = (x: Expr) => x.kind === 'path' && x.root === 'type' && x.steps.length === 0;
  if (
    e.kind === 'binary' &&
    (e.op === '==' || e.op === '=~') &&
    isType(e.left) &&
    e.right.kind === 'literal'
  ) {
    return [str(e.right.value).toLowerCase()];
  }
  if (e.kind === 'in' && e.op !== '!in' && isType(e.left) && e.list.every((x) => x.kind === 'literal')) {
    return e.list.map((x) => str((x as { value: unknown }).value).toLowerCase());
  }
  return null;
}
