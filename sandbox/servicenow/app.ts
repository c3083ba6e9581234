/**
 * HTTP surface of the ServiceNow sandbox: Table, IRE, Batch, Aggregate, Import Set and OAuth
 * APIs, plus the `/_sandbox/*` control API. Every error uses the platform's envelope
 * `{"error":{"message","detail"},"status":"failure"}`; malformed input never crashes the server.
 */
import { Hono, type Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import {
  RateLimits,
  faultSchema,
  rateLimitSchema,
  type ApiName,
  type Faults,
  type Stats,
} from './control.js';
import { canonicalDump } from './dump.js';
import {
  ApiError,
  isApiError,
  seedSysIds,
  type Caller,
  type Instance,
  type RenderOptions,
} from './instance.js';
import { identifyReconcile, parseIreOptions } from './ire.js';
import { webhookSchema, type WebhookDispatcher } from './webhook.js';
import { compareValues } from './query.js';
import { pluginTables } from './schema.js';
import type { Row } from './store.js';

/** Body of `POST /_sandbox/import`: what `GET /_sandbox/export` answered. */
const snapshotSchema = z.object({
  records: z.array(z.object({ table: z.string().min(1), values: z.record(z.string(), z.string()) })),
  meta: z.record(z.string(), z.string()),
});

/** Options of the HTTP layer. */
export interface AppOptions {
  /** Largest accepted request body. UNVERIFIED: the platform's limit depends on properties; 10 MB is the Batch item maximum. */
  readonly maxBodyBytes?: number;
  /** Records used by `POST /_sandbox/reset` to re-seed. */
  readonly seed?: Record<string, Array<Record<string, string>>> | undefined;
  /**
   * Whether the `Link` header is left out when the result fits on one page. UNVERIFIED (one
   * reporter says so); default false: `first` and `last` are always sent.
   */
  readonly omitLinkOnSinglePage?: boolean;
}

/** Control objects shared by the app and the test harness. */
export interface SandboxControl {
  readonly instance: Instance;
  readonly stats: Stats;
  readonly faults: Faults;
  readonly rateLimits: RateLimits;
  readonly webhooks: WebhookDispatcher;
}

type Env = { Variables: { caller: Caller; api: ApiName; inner: boolean } };
type Ctx = Context<Env>;

const INNER_HEADER = 'x-snowline-sandbox-batch-inner';

function envelope(message: string, detail: string | null): string {
  return JSON.stringify({ error: { message, detail }, status: 'failure' });
}

/** The platform's REST responses always carry these cache headers. */
const cacheHeaders: Readonly<Record<string, string>> = {
  Pragma: 'no-store,no-cache',
  Expires: '0',
  'Cache-control': 'no-cache,no-store,must-revalidate,max-age=-1',
};

function errorResponse(
  status: number,
  message: string,
  detail: string | null,
  headers: Record<string, string> = {},
): Response {
  return new Response(envelope(message, detail), {
    status,
    headers: { 'content-type': 'application/json;charset=UTF-8', ...cacheHeaders, ...headers },
  });
}

const unauthenticated = (): Response =>
  errorResponse(401, 'User Not Authenticated', 'Required to provide Auth information');
const notFound = (): Response =>
  errorResponse(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
const aclDenied = (op: 'Insert' | 'Update' | 'Delete' | 'Read'): Response =>
  // UNVERIFIED for reads: the write variants are [OBS]; the read text follows their pattern.
  errorResponse(403, 'Operation Failed', `ACL Exception ${op} Failed due to security constraints`);

/**
 * Parses a JSON body. The platform's parser is lenient: the Batch API doc example sends
 * `{'urgency':'1', ...}` with single quotes, which a real instance accepts, so we accept that
 * form too (strings only); anything else malformed is a 400.
 */
export function parseLenientJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    if (!text.includes("'")) throw first;
    let out = '';
    let i = 0;
    while (i < text.length) {
      const ch = text[i] ?? '';
      if (ch === '"') {
        const end = findStringEnd(text, i, '"');
        out += text.slice(i, end + 1);
        i = end + 1;
      } else if (ch === "'") {
        const end = findStringEnd(text, i, "'");
        const inner = text.slice(i + 1, end).replace(/\\'/g, "'");
        out += JSON.stringify(inner);
        i = end + 1;
      } else {
        out += ch;
        i++;
      }
    }
    return JSON.parse(out);
  }
}

function findStringEnd(text: string, start: number, quote: string): number {
  for (let j = start + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === quote) return j;
  }
  throw new SyntaxError('Unterminated string');
}

function classify(path: string): ApiName {
  if (path === '/oauth_token.do') return 'oauth';
  if (/^\/api\/now\/(v[12]\/)?table\//.test(path)) return 'table';
  if (/^\/api\/now\/(v1\/)?identifyreconcile/.test(path)) return 'ire';
  if (/^\/api\/now\/v1\/batch/.test(path)) return 'batch';
  if (/^\/api\/now\/(v1\/)?stats\//.test(path)) return 'aggregate';
  if (/^\/api\/now\/(v1\/)?import\//.test(path)) return 'import';
  return 'other';
}

function isWriteRequest(api: ApiName, method: string, path: string): boolean {
  if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) return false;
  if (api === 'ire') return !/\/query(Enhanced)?$/.test(path);
  return api === 'table' || api === 'batch' || api === 'import';
}

const boolParam = (v: string | undefined): boolean => v === 'true';

/** Staging table → transform map (the platform's transform maps, minimal). UNVERIFIED sample maps. */
export interface TransformMap {
  readonly name: string;
  readonly target: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly coalesce: string;
}

/** The transform maps of the two staging tables the contract's examples use. */
export const defaultTransformMaps: Readonly<Record<string, TransformMap>> = {
  imp_user: {
    name: 'User',
    target: 'sys_user',
    fields: { first_name: 'first_name', last_name: 'last_name', email: 'email', user_id: 'user_name' },
    coalesce: 'user_name',
  },
  u_employee_import_set_table: {
    name: 'Employee',
    target: 'sys_user',
    fields: { u_name: 'name', u_id: 'user_name' },
    coalesce: 'user_name',
  },
};

/**
 * Builds the hono app over one instance. Usable in-process (`app.request(...)`) or served with
 * `listen()` from `sandbox/common/serve.ts`.
 */
export function buildApp(control: SandboxControl, options: AppOptions = {}): Hono<Env> {
  const { instance, stats, faults, rateLimits, webhooks } = control;
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const app = new Hono<Env>();

  app.onError((err) => {
    if (isApiError(err)) return errorResponse(err.status, err.message, err.detail, err.headers);
    return errorResponse(
      500,
      'Exception while executing request: ' + (err instanceof Error ? err.message : String(err)),
      'Exception while executing request. Check logs for error trace or enable glide.rest.debug property to verify REST request processing',
    );
  });
  app.notFound(() => errorResponse(400, 'Requested URI does not represent any resource', null));

  // ------------------------------------------------------------------ control API (no auth)
  registerControl(app, control, options);

  // ------------------------------------------------------------------ cross-cutting: method override, stats, faults, auth, rate limits
  app.use('*', async (c, next) => {
    const path = c.req.path;
    if (path.startsWith('/_sandbox')) return next();
    const override = c.req.header('x-http-method-override');
    if (override && override.toUpperCase() !== c.req.method) {
      const headers = new Headers(c.req.raw.headers);
      headers.delete('x-http-method-override');
      const method = override.toUpperCase();
      const init: RequestInit = { method, headers };
      if (!['GET', 'HEAD'].includes(method)) init.body = await c.req.raw.arrayBuffer();
      return app.fetch(new Request(c.req.url, init), c.env);
    }
    const inner =
      c.req.header(INNER_HEADER) === '1' &&
      (c.env as { batchInner?: boolean } | undefined)?.batchInner === true;
    const api = classify(path);
    const method = c.req.method;
    const write = isWriteRequest(api, method, path);
    stats.count(api, method, write, inner);
    if (!inner) await stats.journal.record(c.req.raw);
    c.set('api', api);
    c.set('inner', inner);
    if (!inner) {
      const latency = faults.latency();
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      const fault = faults.decide(api);
      if (fault.kind === 'reset') {
        const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
        if (socket) {
          socket.destroy();
          return new Response(null, { status: 500 });
        }
        return errorResponse(500, 'Connection reset (sandbox fault injection)', null);
      }
      if (fault.kind === '500') {
        return errorResponse(
          500,
          'Exception while executing request: null',
          'Exception while executing request: null Check logs for error trace or enable glide.rest.debug property to verify REST request processing',
        );
      }
      if (fault.kind === '429') {
        return errorResponse(
          429,
          'Rate limit exceeded',
          `Rate limit of 0 requests per hour for ${RateLimits.label(api)} exceeded`,
          {
            'Retry-After': String(fault.retryAfter),
          },
        );
      }
    }
    if (api !== 'oauth') {
      const caller = authenticate(c);
      if (!caller) return unauthenticated();
      c.set('caller', caller);
      if (!inner) {
        const rl = rateLimits.check(api, method, caller.userName, instance.clock.now().getTime());
        if (rl?.denied) {
          return errorResponse(
            429,
            'Rate limit exceeded',
            `Rate limit of ${rl.limit} requests per hour for ${RateLimits.label(api)} exceeded`,
            {
              ...rl.headers,
              'Retry-After': String(rl.retryAfter),
            },
          );
        }
        if (rl) for (const [k, v] of Object.entries(rl.headers)) c.header(k, v);
      }
    }
    if (!write && !inner && api !== 'oauth' && faults.isHeldRead()) {
      // Held before it is processed: the client waits for an answer (late by `holdMs`, or never).
      if (await faults.hold()) {
        (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.destroy();
        return new Response(null, { status: 500 });
      }
    }
    const held = write && !inner && faults.isHeldWrite();
    for (const [k, v] of Object.entries(cacheHeaders)) c.header(k, v);
    await next();
    const heldStatus = held ? faults.heldWriteStatus() : undefined;
    if (heldStatus !== undefined) {
      // Committed, answered as failed: the hazard of re-sending a write that did not say it succeeded.
      c.res = errorResponse(
        heldStatus,
        'Exception while executing request: null',
        'Exception while executing request: null Check logs for error trace or enable glide.rest.debug property to verify REST request processing',
      );
    } else if (held) {
      const released = await faults.hold();
      if (released) {
        const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
        socket?.destroy();
      }
    }
  });

  function authenticate(c: Ctx): Caller | undefined {
    const h = c.req.header('authorization') ?? '';
    if (h.startsWith('Basic ')) {
      const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i < 0) return undefined;
      return instance.basicAuth(decoded.slice(0, i), decoded.slice(i + 1));
    }
    if (h.startsWith('Bearer ')) return instance.bearerAuth(h.slice(7).trim());
    return undefined;
  }

  /** Reads and parses a JSON body with content-type and size checks. */
  async function readJson(c: Ctx): Promise<unknown> {
    const type = c.req.header('content-type');
    if (!type)
      throw new ApiError(
        400,
        'Request header Content-Type is missing',
        'POST, PUT and PATCH requests need Content-Type: application/json',
      );
    if (!/application\/json/i.test(type)) {
      // UNVERIFIED: the sandbox speaks JSON only (a real instance also accepts application/xml).
      throw new ApiError(
        415,
        'Unsupported Media Type',
        `Content-Type ${type} is not supported; use application/json`,
      );
    }
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > maxBody)
      throw new ApiError(413, 'Request entity too large', `The request body exceeds ${maxBody} bytes`);
    const buf = await c.req.arrayBuffer();
    if (buf.byteLength > maxBody)
      throw new ApiError(413, 'Request entity too large', `The request body exceeds ${maxBody} bytes`);
    const text = new TextDecoder().decode(buf);
    if (text.trim() === '') throw new ApiError(400, 'Exception while reading request', 'Empty request body');
    try {
      return parseLenientJson(text);
    } catch {
      // UNVERIFIED detail text; the platform reports a decoding failure with this message.
      throw new ApiError(
        400,
        'Exception while reading request',
        'Cannot decode: the request body is not valid JSON',
      );
    }
  }

  function renderOptions(c: Ctx): RenderOptions {
    const fields = c.req.query('sysparm_fields');
    const dv = c.req.query('sysparm_display_value');
    return {
      baseUrl: new URL(c.req.url).origin,
      fields: fields
        ? fields
            .split(',')
            .map((f) => f.trim())
            .filter(Boolean)
        : undefined,
      displayValue: dv === 'true' ? 'true' : dv === 'all' ? 'all' : 'false',
      excludeReferenceLink: boolParam(c.req.query('sysparm_exclude_reference_link')),
    };
  }

  function requireTable(table: string): void {
    if (!instance.hasTable(table)) throw new ApiError(400, `Invalid table ${table}`, null);
  }

  const json = (c: Ctx, body: unknown, status = 200): Response =>
    c.newResponse(JSON.stringify(body), status as 200, { 'content-type': 'application/json;charset=UTF-8' });

  // ------------------------------------------------------------------ Table API
  for (const prefix of ['/api/now/table', '/api/now/v1/table', '/api/now/v2/table']) {
    const v1 = prefix.includes('/v1/');
    app.get(`${prefix}/:table`, (c) => {
      const table = c.req.param('table');
      requireTable(table);
      const caller = c.get('caller');
      if (!instance.canRead(caller, table)) return aclDenied('Read');
      let query = c.req.query('sysparm_query') ?? '';
      if (!c.req.query('sysparm_query')) {
        // name=value pairs are the alternative to sysparm_query (exclusive with it).
        const pairs = Object.entries(c.req.query()).filter(
          ([k]) => !k.startsWith('sysparm_') && instance.schema.acceptsField(table, k),
        );
        query = pairs.map(([k, v]) => `${k}=${v.replace(/\^/g, '^^')}`).join('^');
      }
      const limitRaw = Number(c.req.query('sysparm_limit'));
      const limit = Number.isInteger(limitRaw) && limitRaw > 0 ? limitRaw : 10000;
      const offsetRaw = Number(c.req.query('sysparm_offset'));
      const offset = Number.isInteger(offsetRaw) && offsetRaw > 0 ? offsetRaw : 0;
      const rows = instance.select(table, query, caller);
      const total = rows.length;
      const page = rows.slice(offset, offset + limit);
      if (v1 && page.length === 0) return notFound();
      if (!boolParam(c.req.query('sysparm_no_count'))) c.header('X-Total-Count', String(total));
      if (
        !boolParam(c.req.query('sysparm_suppress_pagination_header')) &&
        !(options.omitLinkOnSinglePage && total <= limit)
      ) {
        c.header('Link', linkHeader(c.req.url, offset, limit, total));
      }
      const ro = renderOptions(c);
      c.header('content-type', 'application/json;charset=UTF-8');
      if (c.req.method === 'HEAD') return c.body(null);
      return c.body(streamRecords(page, (r) => instance.render(r, ro)));
    });
    app.get(`${prefix}/:table/:sys_id`, (c) => {
      const table = c.req.param('table');
      requireTable(table);
      const caller = c.get('caller');
      if (!instance.canRead(caller, table)) return aclDenied('Read');
      const row = instance.store.getIn(table, c.req.param('sys_id'));
      if (!row || !instance.canReadRow(caller, row)) return notFound();
      return json(c, { result: instance.render(row, renderOptions(c)) });
    });
    app.post(`${prefix}/:table`, async (c) => {
      const table = c.req.param('table');
      requireTable(table);
      const caller = c.get('caller');
      let body = await readJson(c);
      // An array is not a bulk insert: only the first record is processed [DOC].
      if (Array.isArray(body)) body = body[0];
      if (!body || typeof body !== 'object')
        throw new ApiError(400, 'Exception while reading request', 'The request body must be a JSON object');
      if (!instance.canWrite(caller, table)) return aclDenied('Insert');
      const row = instance.insert(table, body as Record<string, unknown>, caller);
      const location = `${new URL(c.req.url).origin}/api/now/table/${table}/${row.values.sys_id}`;
      c.header('Location', location);
      if (boolParam(c.req.header('x-no-response-body'))) return c.body(null, 201);
      return json(c, { result: instance.render(row, renderOptions(c)) }, 201);
    });
    const update = async (c: Ctx): Promise<Response> => {
      const table = c.req.param('table') ?? '';
      requireTable(table);
      const caller = c.get('caller');
      const body = await readJson(c);
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new ApiError(400, 'Exception while reading request', 'The request body must be a JSON object');
      const row = instance.store.getIn(table, c.req.param('sys_id') ?? '');
      if (!row || !instance.canReadRow(caller, row)) return notFound();
      if (!instance.canWrite(caller, row.table)) return aclDenied('Update');
      // PUT is a partial update like PATCH (UNVERIFIED, widely relied on).
      instance.update(row, body as Record<string, unknown>, caller);
      if (boolParam(c.req.header('x-no-response-body'))) return c.body(null, 200);
      return json(c, { result: instance.render(row, renderOptions(c)) });
    };
    app.put(`${prefix}/:table/:sys_id`, update);
    app.patch(`${prefix}/:table/:sys_id`, update);
    app.delete(`${prefix}/:table/:sys_id`, (c) => {
      const table = c.req.param('table');
      requireTable(table);
      const caller = c.get('caller');
      const row = instance.store.getIn(table, c.req.param('sys_id'));
      if (!row || !instance.canReadRow(caller, row)) return notFound();
      if (!instance.canWrite(caller, row.table)) return aclDenied('Delete');
      instance.delete(row);
      return c.body(null, 204);
    });
  }

  // ------------------------------------------------------------------ IRE
  for (const prefix of ['/api/now/identifyreconcile', '/api/now/v1/identifyreconcile']) {
    const variants: Array<[string, boolean, boolean]> = [
      ['', true, false],
      ['/query', false, false],
      ['/enhanced', true, true],
      ['/queryEnhanced', false, true],
    ];
    for (const [suffix, commit, enhanced] of variants) {
      app.post(prefix + suffix, async (c) => {
        const caller = c.get('caller');
        if (!['itil', 'asset', 'admin'].some((r) => caller.roles.has(r))) {
          return errorResponse(
            403,
            'User Not Authorized',
            'The identifyreconcile API needs the itil or asset role',
          );
        }
        const body = await readJson(c);
        if (
          !body ||
          typeof body !== 'object' ||
          Array.isArray(body) ||
          !Array.isArray((body as { items?: unknown }).items)
        ) {
          throw new ApiError(400, 'Invalid payload', 'The payload must be a JSON object with an items array');
        }
        if (commit) stats.ireItems((body as { items: unknown[] }).items.length);
        const result = instance.store.transaction(() =>
          identifyReconcile(instance, body, {
            commit,
            enhanced,
            options: parseIreOptions(c.req.query('options')),
            dataSource: c.req.query('sysparm_data_source'),
            caller,
          }),
        );
        return json(c, result);
      });
    }
  }

  // ------------------------------------------------------------------ Aggregate API
  for (const prefix of ['/api/now/stats', '/api/now/v1/stats']) {
    app.get(`${prefix}/:table`, (c) => {
      const table = c.req.param('table');
      requireTable(table);
      const caller = c.get('caller');
      if (!instance.canRead(caller, table)) return aclDenied('Read');
      const rows = instance.select(table, c.req.query('sysparm_query') ?? '', caller);
      const csv = (k: string): string[] =>
        (c.req.query(k) ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((f) => f && instance.isValidPath(table, f));
      const groupBy = csv('sysparm_group_by');
      const aggs: Array<[string, string[]]> = [
        ['avg', csv('sysparm_avg_fields')],
        ['min', csv('sysparm_min_fields')],
        ['max', csv('sysparm_max_fields')],
        ['sum', csv('sysparm_sum_fields')],
      ];
      const wantCount = boolParam(c.req.query('sysparm_count')) || aggs.every(([, f]) => f.length === 0);
      const statsOf = (group: Row[]): Record<string, unknown> => {
        const s: Record<string, unknown> = {};
        if (wantCount) s.count = String(group.length);
        for (const [kind, fields] of aggs) {
          if (!fields.length) continue;
          const o: Record<string, string> = {};
          for (const f of fields) {
            const nums = group.map((r) => instance.valueAt(r, f)).filter((v) => v !== '');
            if (kind === 'min' || kind === 'max') {
              const sorted = [...nums].sort(compareValues);
              o[f] = (kind === 'min' ? sorted[0] : sorted[sorted.length - 1]) ?? '';
            } else {
              const sum = nums.reduce((a, v) => a + (Number(v) || 0), 0);
              // Averages are strings with 4 decimals in the doc example.
              o[f] = kind === 'avg' ? (nums.length ? (sum / nums.length).toFixed(4) : '') : String(sum);
            }
          }
          s[kind] = o;
        }
        return s;
      };
      if (!groupBy.length) return json(c, { result: { stats: statsOf(rows) } });
      const groups = new Map<string, Row[]>();
      for (const r of rows) {
        const key = JSON.stringify(groupBy.map((f) => instance.valueAt(r, f)));
        const g = groups.get(key);
        if (g) g.push(r);
        else groups.set(key, [r]);
      }
      const dv =
        c.req.query('sysparm_display_value') === 'true' || c.req.query('sysparm_display_value') === 'all';
      let result = [...groups.entries()].map(([key, g]) => {
        const values = JSON.parse(key) as string[];
        const first = g[0] as Row;
        return {
          stats: statsOf(g),
          groupby_fields: groupBy.map((field, i) => {
            const entry: Record<string, string> = { field, value: values[i] ?? '' };
            if (dv)
              entry.display_value = (
                instance.render(first, {
                  baseUrl: '',
                  fields: [field],
                  displayValue: 'all',
                  excludeReferenceLink: true,
                })[field] as { display_value: string }
              ).display_value;
            return entry;
          }),
          count: g.length,
        };
      });
      const having = c.req.query('sysparm_having');
      if (having) {
        const [agg, , op, value] = having.split('^');
        if (agg === 'count' && op && value !== undefined) {
          const n = Number(value);
          const test: Record<string, (x: number) => boolean> = {
            '>': (x) => x > n,
            '<': (x) => x < n,
            '=': (x) => x === n,
            '>=': (x) => x >= n,
            '<=': (x) => x <= n,
            '!=': (x) => x !== n,
          };
          const t = test[op];
          if (t) result = result.filter((r) => t(r.count));
        }
      }
      if ((c.req.query('sysparm_order_by') ?? '').toUpperCase() === 'COUNT')
        result.sort((a, b) => b.count - a.count);
      return json(c, {
        result: result.map(({ stats: s, groupby_fields }) => ({ stats: s, groupby_fields })),
      });
    });
  }

  // ------------------------------------------------------------------ Import Set API
  const transformMaps = defaultTransformMaps;
  const importTable = (staging: string): void => {
    if (
      !instance.schema.has(staging) ||
      !instance.schema.isA(staging, 'sys_import_set_row') ||
      staging === 'sys_import_set_row'
    ) {
      throw new ApiError(400, `Invalid table ${staging}`, null);
    }
  };
  const transformRow = (
    staging: string,
    row: Row,
    caller: Caller,
    baseUrl: string,
  ): Record<string, string> | undefined => {
    const map = transformMaps[staging];
    if (!map) return undefined;
    const target: Record<string, string> = {};
    for (const [src, dst] of Object.entries(map.fields))
      if (row.values[src] !== undefined) target[dst] = row.values[src] ?? '';
    const coalesceValue = target[map.coalesce] ?? '';
    const existing = coalesceValue
      ? instance.store.findBy(map.target, map.coalesce, coalesceValue)[0]
      : undefined;
    let status: string;
    let rec: Row;
    if (existing) {
      const before = existing.values.sys_mod_count;
      rec = instance.update(existing, target, caller);
      status = rec.values.sys_mod_count === before ? 'ignored' : 'updated';
    } else {
      rec = instance.insert(map.target, target, caller);
      status = 'inserted';
    }
    instance.store.update(row, {
      sys_import_state: status,
      sys_target_sys_id: rec.values.sys_id ?? '',
      sys_target_table: map.target,
      sys_transform_map: map.name,
    });
    return transformResult(row, baseUrl) ?? {};
  };
  const transformResult = (row: Row, baseUrl: string): Record<string, string> | undefined => {
    const map = transformMaps[row.table];
    if (!map || !row.values.sys_target_sys_id) return undefined;
    const target = instance.store.get(row.values.sys_target_sys_id);
    const displayName = instance.schema.displayField(map.target);
    return {
      transform_map: map.name,
      table: map.target,
      display_name: displayName,
      display_value: target?.values[displayName] ?? '',
      record_link: `${baseUrl}/api/now/table/${map.target}/${row.values.sys_target_sys_id}`,
      status: row.values.sys_import_state ?? '',
      sys_id: row.values.sys_target_sys_id,
    };
  };
  const newImportSet = (staging: string, caller: Caller, mode: string): Row =>
    instance.insert('sys_import_set', { table_name: staging, mode }, caller);
  for (const prefix of ['/api/now/import', '/api/now/v1/import']) {
    app.post(`${prefix}/:staging/insertMultiple`, async (c) => {
      const staging = c.req.param('staging');
      importTable(staging);
      const caller = c.get('caller');
      if (!instance.canWrite(caller, staging)) return aclDenied('Insert');
      const body = (await readJson(c)) as { records?: unknown };
      if (!body || typeof body !== 'object' || !Array.isArray(body.records)) {
        throw new ApiError(400, 'Exception while reading request', 'The body must be {"records":[...]}');
      }
      const set = newImportSet(staging, caller, 'asynchronous');
      const multi =
        c.req.query('multi_import_set_id') ||
        instance.insert('sys_import_set', { table_name: staging, mode: 'multi' }, caller).values.sys_id ||
        '';
      const rows: Row[] = [];
      for (const rec of body.records as unknown[]) {
        if (!rec || typeof rec !== 'object') continue;
        const values: Record<string, string> = { sys_import_set: set.values.sys_id ?? '' };
        // Keys may be column names or column labels ("Address" → u_address).
        for (const [k, v] of Object.entries(rec as Record<string, unknown>)) {
          const column =
            instance.schema.acceptsField(staging, k) && !/[A-Z ]/.test(k)
              ? k
              : `u_${k.toLowerCase().replace(/[^a-z0-9]+/g, '_')}`;
          values[column] = v === null || v === undefined ? '' : String(v);
        }
        rows.push(instance.insert(staging, values, caller));
      }
      const baseUrl = new URL(c.req.url).origin;
      // The transform runs asynchronously by default [DOC].
      setImmediate(() => {
        for (const r of rows) {
          try {
            transformRow(staging, r, caller, baseUrl);
          } catch (err) {
            instance.store.update(r, {
              sys_import_state: 'error',
              sys_import_state_comment: err instanceof Error ? err.message : String(err),
            });
          }
        }
        instance.store.update(set, { state: 'processed' });
      });
      return json(c, { import_set_id: set.values.sys_id, multi_import_set_id: multi }, 201);
    });
    app.post(`${prefix}/:staging`, async (c) => {
      const staging = c.req.param('staging');
      importTable(staging);
      const caller = c.get('caller');
      if (!instance.canWrite(caller, staging)) return aclDenied('Insert');
      const body = await readJson(c);
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw new ApiError(400, 'Exception while reading request', 'The request body must be a JSON object');
      const set = newImportSet(staging, caller, 'synchronous');
      const row = instance.insert(
        staging,
        { ...(body as Record<string, unknown>), sys_import_set: set.values.sys_id ?? '' },
        caller,
      );
      const baseUrl = new URL(c.req.url).origin;
      let result: Record<string, string> | undefined;
      try {
        result = transformRow(staging, row, caller, baseUrl);
      } catch (err) {
        const message = isApiError(err) ? `${err.message}: ${err.detail ?? ''}` : String(err);
        instance.store.update(row, { sys_import_state: 'error', sys_import_state_comment: message });
        result = {
          staging_table: staging,
          status: 'error',
          error_message: message,
          sys_id: row.values.sys_id ?? '',
        };
      }
      instance.store.update(set, { state: 'processed' });
      // No transform map: the row stays in the staging table, reported as skipped (UNVERIFIED).
      const results = result
        ? [result]
        : [{ status: 'skipped', staging_table: staging, sys_id: row.values.sys_id ?? '' }];
      return json(c, { import_set: set.values.number, staging_table: staging, result: results }, 201);
    });
    app.get(`${prefix}/:staging/:sys_id`, (c) => {
      const staging = c.req.param('staging');
      importTable(staging);
      const row = instance.store.getIn(staging, c.req.param('sys_id'));
      if (!row) return notFound();
      const set = instance.store.get(row.values.sys_import_set ?? '');
      const result = transformResult(row, new URL(c.req.url).origin);
      return json(c, {
        import_set: set?.values.number ?? '',
        staging_table: staging,
        result: result ? [result] : [],
      });
    });
  }

  // ------------------------------------------------------------------ User Role Inheritance API (used by the Batch doc example)
  app.get('/api/global/user_role_inheritance', (c) => {
    const caller = c.get('caller');
    const result = { user_name: caller.userName, roles: [...caller.roles].sort().join(',') };
    if (/application\/xml/.test(c.req.header('accept') ?? '')) {
      const xml = `<?xml version="1.0" encoding="UTF-8"?><response><result>${Object.entries(result)
        .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
        .join('')}</result></response>`;
      return c.newResponse(xml, 200, { 'content-type': 'application/xml; charset=UTF-8' });
    }
    return json(c, { result });
  });

  // ------------------------------------------------------------------ Batch API
  app.post('/api/now/v1/batch', async (c) => {
    const body = (await readJson(c)) as { batch_request_id?: unknown; rest_requests?: unknown };
    if (!body || typeof body !== 'object' || !Array.isArray(body.rest_requests)) {
      throw new ApiError(400, 'Exception while reading request', 'The body must have a rest_requests array');
    }
    const origin = new URL(c.req.url).origin;
    const serviced: unknown[] = [];
    const unserviced: string[] = [];
    for (const raw of body.rest_requests as unknown[]) {
      const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
      const id = String(r.id ?? '');
      const method = String(r.method ?? '').toUpperCase();
      const url = String(r.url ?? '');
      if (!id || !method || !url.startsWith('/')) {
        unserviced.push(id);
        continue;
      }
      const headers = new Headers();
      if (Array.isArray(r.headers)) {
        for (const h of r.headers as Array<{ name?: unknown; value?: unknown }>) {
          if (h && typeof h.name === 'string' && typeof h.value === 'string') headers.set(h.name, h.value);
        }
      }
      headers.set('authorization', c.req.header('authorization') ?? '');
      headers.set(INNER_HEADER, '1');
      const init: RequestInit = { method, headers };
      if (typeof r.body === 'string' && !['GET', 'HEAD'].includes(method)) {
        const decoded = Buffer.from(r.body, 'base64');
        init.body = decoded;
        headers.set('content-length', String(decoded.byteLength));
      }
      const started = Date.now();
      const res = await app.fetch(new Request(origin + url, init), { batchInner: true });
      const text = Buffer.from(await res.arrayBuffer());
      const responseHeaders = new Headers(res.headers);
      responseHeaders.set('content-length', String(text.byteLength));
      const item: Record<string, unknown> = {
        id,
        body: text.toString('base64'),
        status_code: res.status,
        status_text: statusText(res.status),
        headers:
          r.exclude_response_headers === true
            ? []
            : [...responseHeaders.entries()].map(([name, value]) => ({ name, value })),
        execution_time: Date.now() - started,
      };
      if (res.status >= 400) {
        try {
          item.error_message =
            (JSON.parse(text.toString('utf8')) as { error?: { message?: string } }).error?.message ?? '';
        } catch {
          item.error_message = '';
        }
      }
      serviced.push(item);
    }
    return json(c, {
      batch_request_id: body.batch_request_id ?? '',
      serviced_requests: serviced,
      unserviced_requests: unserviced,
    });
  });

  // ------------------------------------------------------------------ OAuth
  app.post('/oauth_token.do', async (c) => {
    const text = await c.req.text();
    const form = Object.fromEntries(new URLSearchParams(text));
    const token = instance.issueToken(form);
    if (!token) {
      return c.newResponse(
        JSON.stringify({ error_description: 'access_denied', error: 'server_error' }),
        401,
        { 'content-type': 'application/json;charset=UTF-8' },
      );
    }
    return json(c, token);
  });

  void webhooks;
  return app;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    204: 'No Content',
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
  };
  return texts[status] ?? '';
}

/** `Link` header: first, prev (not on the first page), next (not on the last), last. */
function linkHeader(requestUrl: string, offset: number, limit: number, total: number): string {
  const at = (o: number): string => {
    const u = new URL(requestUrl);
    // As on the wire: every original parameter, then sysparm_offset and sysparm_limit.
    u.searchParams.delete('sysparm_offset');
    u.searchParams.delete('sysparm_limit');
    u.searchParams.append('sysparm_offset', String(o));
    u.searchParams.append('sysparm_limit', String(limit));
    return `<${u.toString()}>`;
  };
  // UNVERIFIED: `last` = floor((total-1)/limit)*limit.
  const last = total > 0 ? Math.floor((total - 1) / limit) * limit : 0;
  const parts = [`${at(0)};rel="first"`];
  if (offset > 0) parts.push(`${at(Math.max(0, offset - limit))};rel="prev"`);
  if (offset + limit < total) parts.push(`${at(offset + limit)};rel="next"`);
  parts.push(`${at(last)};rel="last"`);
  return parts.join(',');
}

/** Streams `{"result":[...]}` in chunks, so a large page is never one big string. */
function streamRecords(rows: readonly Row[], render: (r: Row) => unknown): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i === 0) controller.enqueue(encoder.encode('{"result":['));
      const end = Math.min(rows.length, i + 200);
      const parts: string[] = [];
      for (; i < end; i++) parts.push((i > 0 ? ',' : '') + JSON.stringify(render(rows[i] as Row)));
      if (parts.length) controller.enqueue(encoder.encode(parts.join('')));
      if (i >= rows.length) {
        controller.enqueue(encoder.encode(']}'));
        controller.close();
      }
    },
  });
}

// ---------------------------------------------------------------------- control API

const clockSchema = z.union([
  z.object({ now: z.string().datetime({ offset: true }) }),
  z.object({ advanceSeconds: z.number() }),
]);
const propertiesSchema = z.record(z.string().min(1), z.union([z.string(), z.boolean(), z.number()]));
/** Body of `POST /_sandbox/config`: the switches a running sandbox may change (a reset restores the start config). */
const runtimeConfigSchema = z
  .object({
    enforceStateModels: z.boolean(),
    vrStaleDays: z.number().int().min(0),
    vrSkipDeferred: z.boolean(),
    vrRollup: z.boolean(),
    absentPlugins: z.array(z.enum(Object.keys(pluginTables) as [string, ...string[]])),
  })
  .partial()
  .strict();
const userSchema = z.object({
  user_name: z.string().min(1),
  password: z.string().min(1),
  roles: z.array(z.string()).default([]),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  email: z.string().optional(),
});

function registerControl(app: Hono<Env>, control: SandboxControl, options: AppOptions): void {
  const { instance, stats, faults, rateLimits, webhooks } = control;
  const body = async (c: Context): Promise<unknown> => {
    const text = await c.req.text();
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(400, 'Invalid JSON', 'The control API takes JSON bodies');
    }
  };
  const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (!r.success)
      throw new ApiError(
        400,
        'Invalid control request',
        r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    return r.data;
  };
  app.get('/_sandbox/stats', (c) => c.json(stats.snapshot()));
  app.post('/_sandbox/stats/reset', (c) => {
    stats.reset();
    return c.json(stats.snapshot());
  });
  app.get('/_sandbox/journal', (c) => c.json(stats.journal.toJSON()));
  app.post('/_sandbox/journal', async (c) => {
    stats.journal.enable(parse(z.object({ enabled: z.boolean() }), await body(c)).enabled);
    return c.json({ enabled: stats.journal.enabled });
  });
  app.post('/_sandbox/sys-ids', async (c) => {
    const { seed } = parse(z.object({ seed: z.string().min(1).nullable() }), await body(c));
    seedSysIds(seed);
    return c.json({ seed });
  });
  app.get('/_sandbox/faults', (c) => c.json(faults.current()));
  app.post('/_sandbox/faults', async (c) => {
    faults.configure(parse(faultSchema, await body(c)));
    return c.json(faults.current());
  });
  app.get('/_sandbox/rate-limits', (c) => c.json({ rules: rateLimits.list() }));
  app.post('/_sandbox/rate-limits', async (c) =>
    c.json({ rules: rateLimits.set(parse(rateLimitSchema, await body(c)).rules) }),
  );
  app.get('/_sandbox/clock', (c) => c.json({ now: instance.clock.now().toISOString() }));
  app.post('/_sandbox/clock', async (c) => {
    const input = parse(clockSchema, await body(c));
    if ('now' in input) instance.clock.set(new Date(input.now));
    else instance.clock.advance(input.advanceSeconds);
    return c.json({ now: instance.clock.now().toISOString() });
  });
  app.post('/_sandbox/reset', async (c) => {
    faults.reset();
    rateLimits.reset();
    stats.reset();
    await webhooks.clear();
    instance.reset(options.seed);
    return c.json({ reset: true });
  });
  // An instance's data, whole: `export` from one instance and `import` into another is a clone
  // as ServiceNow makes one: "Clone copies data and metadata from one ServiceNow instance (source
  // instance) to another ServiceNow instance (target instance)"; the target keeps its URL and,
  // through data preservers, "instance-specific authentication settings" (ServiceNow/ServiceNowDocs
  // markdown/platform-administration/system-clone-landing.md, data-preservation.md). `import`
  // of an earlier `export` of the same instance is a restore from backup.
  app.get('/_sandbox/export', (c) => c.json(instance.store.snapshot()));
  app.post('/_sandbox/import', async (c) => {
    const input = parse(snapshotSchema, await body(c));
    faults.reset();
    stats.reset();
    instance.replaceData(input);
    return c.json({ imported: input.records.length });
  });
  app.post('/_sandbox/seed', async (c) => {
    const input = parse(z.record(z.string(), z.array(z.record(z.string(), z.unknown()))), await body(c));
    return c.json({ result: instance.seed(input) });
  });
  app.post('/_sandbox/users', async (c) => {
    const u = parse(userSchema, await body(c));
    const sys = instance.system();
    const existing = instance.store.findBy('sys_user', 'user_name', u.user_name)[0];
    const user =
      existing ??
      instance.insert(
        'sys_user',
        {
          user_name: u.user_name,
          first_name: u.first_name ?? '',
          last_name: u.last_name ?? '',
          email: u.email ?? '',
        },
        sys,
      );
    for (const name of u.roles) {
      const role =
        instance.store.findBy('sys_user_role', 'name', name)[0] ??
        instance.insert('sys_user_role', { name }, sys);
      const has = instance.store
        .findBy('sys_user_has_role', 'user', user.values.sys_id ?? '')
        .some((r) => r.values.role === role.values.sys_id);
      if (!has)
        instance.insert('sys_user_has_role', { user: user.values.sys_id, role: role.values.sys_id }, sys);
    }
    instance.setPassword(u.user_name, u.password);
    return c.json({ sys_id: user.values.sys_id, user_name: u.user_name });
  });
  app.get('/_sandbox/dump', (c) => {
    const tables = (c.req.query('tables') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of tables) if (!instance.schema.has(t)) throw new ApiError(400, `Invalid table ${t}`, null);
    const keep = new Set((c.req.query('keep') ?? '').split(',').filter(Boolean));
    return c.json(canonicalDump(instance, tables, keep));
  });
  app.get('/_sandbox/webhooks', (c) => c.json(webhooks.list()));
  app.post('/_sandbox/webhooks', async (c) => {
    const input = parse(webhookSchema, await body(c));
    for (const t of input.tables)
      if (!instance.schema.has(t)) throw new ApiError(400, `Invalid table ${t}`, null);
    return c.json(webhooks.register(input), 201);
  });
  app.delete('/_sandbox/webhooks', async (c) => {
    await webhooks.clear();
    return c.json({ cleared: true });
  });
  app.post('/_sandbox/jobs/vr-auto-close', (c) => c.json(instance.runVrAutoClose(instance.system())));
  app.post('/_sandbox/jobs/table-cleanup', (c) => c.json(instance.runTableCleanup()));
  // Behaviour switches for contract gaps, e.g. {"vrRollup": false}; answers the config in force.
  app.get('/_sandbox/config', (c) => c.json(instance.config));
  app.post('/_sandbox/config', async (c) =>
    c.json(instance.configure(parse(runtimeConfigSchema, await body(c)))),
  );
  // System properties (sys_properties) are an admin's to change: tests set them here, e.g.
  // {"glide.class.switch.enabled": false}. Answers every defined property.
  app.get('/_sandbox/properties', (c) => c.json(instance.properties()));
  app.post('/_sandbox/properties', async (c) => {
    const input = parse(propertiesSchema, await body(c));
    for (const [name, value] of Object.entries(input)) instance.setProperty(name, String(value));
    return c.json(instance.properties());
  });
}
