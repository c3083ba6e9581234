import type { Clock } from '../domain/clock.js';
import { isRateLimitedError, UpstreamError } from '../errors.js';
import type { ResilientHttpClient } from '../runtime/http/resilient-client.js';
import { safeUrl } from '../runtime/http/resilient-client.js';
import type { HttpResponse } from '../runtime/http/transport.js';
import { isRetryableNetworkError, isRetryableStatus } from '../runtime/http/retry.js';
import { encodeQuery, where, type QueryCondition } from './query.js';
import type { ServiceNowAuth } from './auth.js';
import type { SnRecord } from './values.js';

/** Options of a Table API read. */
export interface ListOptions {
  /** Encoded query, built with {@link encodeQuery}. */
  readonly query?: string;
  readonly fields?: readonly string[];
  /** Rows per request (`sysparm_limit`); default 1000. */
  readonly pageSize?: number;
  /** Display values: `false` (default), `true` or `all`. */
  readonly displayValue?: 'false' | 'true' | 'all';
  /** Skip the count query when the total is not needed (faster on large tables); default true. */
  readonly noCount?: boolean;
}

/** One request inside a Batch API call. */
export interface BatchItem {
  readonly id: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path relative to the instance, with its query string, e.g. `/api/now/table/incident`. */
  readonly url: string;
  readonly body?: unknown;
  /**
   * For an insert (POST): the field values that find the record it creates, e.g. `{ id:
   * 'CVE-2024-1234' }` or `{ cmdb_ci, vulnerability, source }`. They let {@link
   * ServiceNowClient.batch} re-send a Batch call that failed as a whole: the insert is searched
   * for first, and sent again only when it is not there.
   */
  readonly identity?: Readonly<Record<string, string>>;
}

/** The answer to one {@link BatchItem}. */
export interface BatchItemResult {
  readonly id: string;
  /** HTTP status of the inner request; 0 when the instance did not run it (unserviced). */
  readonly status: number;
  readonly body: unknown;
}

/** An IRE payload (see the contract: items, relations, referenceItems). */
export interface IrePayload {
  readonly items: readonly object[];
  readonly relations?: readonly object[];
  readonly referenceItems?: readonly object[];
}

/** One item of an IRE answer. Item-level failures come back with HTTP 200 and `errors`. */
export interface IreItemResult {
  readonly className: string;
  readonly operation: string;
  readonly sysId: string;
  readonly errors: readonly { readonly error: string; readonly message: string }[];
  readonly [key: string]: unknown;
}

/** The IRE answer. */
export interface IreResult {
  readonly items: readonly IreItemResult[];
  readonly relations: readonly IreItemResult[];
}

/** Options for {@link ServiceNowClient}. */
export interface ServiceNowClientOptions {
  readonly instanceUrl: string;
  readonly auth: ServiceNowAuth;
  readonly http: ResilientHttpClient;
  readonly clock: Clock;
}

/**
 * The ServiceNow REST client: Table API (reads that stream pages), IRE, Batch and Aggregate.
 * It knows only the remote API; flows map their records onto it. Every value it returns is as the
 * instance sent it (strings): parse at the edge with the helpers in `values.ts`.
 */
export class ServiceNowClient {
  readonly instanceUrl: string;

  constructor(private readonly options: ServiceNowClientOptions) {
    this.instanceUrl = options.instanceUrl.replace(/\/$/, '');
  }

  /**
   * Reads a table page by page. Follows `Link: rel="next"` when the instance sends it and else
   * stops on a page shorter than the page size, so an exact multiple of the page size costs one
   * extra (empty) request and never loses or repeats a row.
   */
  async *list<T extends SnRecord = SnRecord>(table: string, options: ListOptions = {}): AsyncGenerator<T[]> {
    const pageSize = options.pageSize ?? 1000;
    const params = new URLSearchParams();
    if (options.query) params.set('sysparm_query', options.query);
    if (options.fields) params.set('sysparm_fields', options.fields.join(','));
    params.set('sysparm_limit', String(pageSize));
    params.set('sysparm_offset', '0');
    params.set('sysparm_exclude_reference_link', 'true');
    if (options.displayValue) params.set('sysparm_display_value', options.displayValue);
    if (options.noCount ?? true) params.set('sysparm_no_count', 'true');
    const base = `${this.instanceUrl}/api/now/table/${encodeURIComponent(table)}`;
    let url: string | undefined = `${base}?${params}`;
    while (url) {
      const response = await this.request('GET', url);
      const rows = (this.json(response, 'GET', url) as { result: T[] }).result;
      if (rows.length > 0) yield rows;
      const next = nextLink(response.headers.link);
      if (next) {
        url = new URL(next, this.instanceUrl).toString();
      } else if (rows.length < pageSize) {
        url = undefined;
      } else {
        // No Link header (some instances omit it): step the offset of the page just read by a
        // whole page, not by the rows received, which ACLs may have thinned.
        const offset = Number(new URL(url).searchParams.get('sysparm_offset') ?? 0) + pageSize;
        params.set('sysparm_offset', String(offset));
        url = `${base}?${params}`;
      }
    }
  }

  /** Every row of a read, collected (for small reads: choice lists, a handful of users). */
  async listAll<T extends SnRecord = SnRecord>(table: string, options: ListOptions = {}): Promise<T[]> {
    const all: T[] = [];
    for await (const page of this.list<T>(table, options)) all.push(...page);
    return all;
  }

  /**
   * The rows whose `field` is one of `values` (and that meet `also`), read `chunk` values per
   * query. An IN list has no escape for a comma, so a value with one is asked for alone with `=`.
   *
   * @example
   * await client.listWhereIn('sys_object_source', 'id', keys, ['sys_id', 'id'], [where('name', '=', 'Snowline')]);
   */
  async listWhereIn<T extends SnRecord = SnRecord>(
    table: string,
    field: string,
    values: readonly string[],
    fields: readonly string[],
    also: readonly QueryCondition[] = [],
    chunk = 100,
  ): Promise<T[]> {
    const rows: T[] = [];
    const read = async (condition: QueryCondition) => {
      for await (const page of this.list<T>(table, {
        query: encodeQuery({ where: [...also, condition] }),
        fields,
      }))
        rows.push(...page);
    };
    const unique = [...new Set(values)];
    const listable = unique.filter((v) => !v.includes(','));
    for (let i = 0; i < listable.length; i += chunk)
      await read(where(field, 'IN', listable.slice(i, i + chunk)));
    for (const value of unique.filter((v) => v.includes(','))) await read(where(field, '=', value));
    return rows;
  }

  /** Which of these tables the instance has, read from the dictionary (`sys_db_object`). */
  async existingTables(names: readonly string[]): Promise<Set<string>> {
    const rows = await this.listAll('sys_db_object', {
      query: encodeQuery({ where: [where('name', 'IN', names)] }),
      fields: ['name'],
    });
    return new Set(rows.map((r) => String(r.name)));
  }

  /** One record by sys_id, or undefined when it does not exist (or an ACL hides it). */
  async get<T extends SnRecord = SnRecord>(
    table: string,
    sysId: string,
    fields?: readonly string[],
  ): Promise<T | undefined> {
    const params = new URLSearchParams({ sysparm_exclude_reference_link: 'true' });
    if (fields) params.set('sysparm_fields', fields.join(','));
    const url = `${this.tableUrl(table)}/${encodeURIComponent(sysId)}?${params}`;
    const response = await this.request('GET', url);
    if (response.status === 404) return undefined;
    return (this.json(response, 'GET', url) as { result: T }).result;
  }

  /** Inserts one record; resolves with it as stored (number, sys_id, defaults). */
  async create<T extends SnRecord = SnRecord>(table: string, values: Record<string, unknown>): Promise<T> {
    const url = `${this.tableUrl(table)}?sysparm_exclude_reference_link=true`;
    const response = await this.request('POST', url, values);
    return (this.json(response, 'POST', url) as { result: T }).result;
  }

  /** Changes the given fields of one record (PATCH: the others stay as they are). */
  async update<T extends SnRecord = SnRecord>(
    table: string,
    sysId: string,
    values: Record<string, unknown>,
  ): Promise<T> {
    const url = `${this.tableUrl(table)}/${encodeURIComponent(sysId)}?sysparm_exclude_reference_link=true`;
    const response = await this.request('PATCH', url, values, true);
    return (this.json(response, 'PATCH', url) as { result: T }).result;
  }

  /** Deletes one record; resolves false when it was already gone. */
  async delete(table: string, sysId: string): Promise<boolean> {
    const url = `${this.tableUrl(table)}/${encodeURIComponent(sysId)}`;
    const response = await this.request('DELETE', url);
    if (response.status === 404) return false;
    if (response.status !== 204 && response.status !== 200) throw this.error(response, 'DELETE', url);
    return true;
  }

  /**
   * Sends a payload to the Identification and Reconciliation Engine. `simulate` uses `/query`,
   * which identifies without committing (what `--dry-run` uses). Item errors are in the result.
   */
  async identifyReconcile(
    payload: IrePayload,
    options: { dataSource: string; simulate?: boolean },
  ): Promise<IreResult> {
    const path = options.simulate ? '/api/now/identifyreconcile/query' : '/api/now/identifyreconcile';
    const url = `${this.instanceUrl}${path}?sysparm_data_source=${encodeURIComponent(options.dataSource)}`;
    // IRE identifies before it writes: sending the same payload twice cannot duplicate a CI.
    const response = await this.request('POST', url, payload, true);
    const result = (
      this.json(response, 'POST', url) as { result: { items?: IreItemResult[]; relations?: IreItemResult[] } }
    ).result;
    const normalise = (item: IreItemResult): IreItemResult => ({ ...item, errors: item.errors ?? [] });
    return { items: (result.items ?? []).map(normalise), relations: (result.relations ?? []).map(normalise) };
  }

  /**
   * Sends several requests in one Batch API call (bodies travel base64-encoded). Items the
   * instance did not run come back with status 0.
   *
   * A call that failed as a whole (a 5xx, a reset) may have been partly applied on the instance
   * before it failed (ServiceNow/ServiceNowDocs markdown/api-reference/rest-apis/batch-api.md:
   * each inner request has its own status, and a batch stopped by a limit lists the ones it did
   * not run), so it is re-sent only where that can not duplicate a record:
   * - a call with no insert (reads, and PATCH / PUT / DELETE by sys_id, which set the same values
   *   however often they run) is re-sent as it is, with the usual backoff;
   * - a call with inserts is re-sent only when every insert carries its `identity`: after the
   *   backoff, the inserts are searched for by it; one found was applied (it is answered as
   *   created, with the record found), and only the others are sent again. When the failure
   *   leaves open whether the instance is still running the call (no answer, or a gateway's
   *   502 / 504), the search waits until the call is certainly over: the Batch API's quota kills
   *   a call after 30 s, so nothing it holds can commit after the search has looked.
   * Any other failure, or the last attempt's, is thrown, as for any request.
   */
  async batch(
    items: readonly BatchItem[],
    options: { idempotent?: boolean } = {},
  ): Promise<BatchItemResult[]> {
    if (items.length === 0) return [];
    const inserts = items.filter((item) => item.method === 'POST');
    const idempotent = options.idempotent ?? inserts.length === 0;
    if (idempotent || inserts.some((item) => !item.identity)) return this.sendBatch(items, idempotent);

    const answered = new Map<string, BatchItemResult>();
    let pending: readonly BatchItem[] = items;
    for (let failures = 0; pending.length > 0;) {
      const sentAt = performance.now();
      try {
        for (const result of await this.sendBatch(pending, false)) answered.set(result.id, result);
        break;
      } catch (error) {
        await this.waitBeforeSearch(error, failures++, sentAt, this.batchUrl(), 'batch', 'its inserts are');
        const applied = await this.findInserted(pending.filter((item) => item.method === 'POST'));
        for (const [id, record] of applied) answered.set(id, { id, status: 201, body: { result: record } });
        pending = pending.filter((item) => !applied.has(item.id));
      }
    }
    return items.map((item) => answered.get(item.id) ?? { id: item.id, status: 0, body: null });
  }

  /**
   * Inserts one record with the Table API by the protocol {@link batch} follows for inserts: a
   * create whose answer was lost (a 5xx, a reset, a gateway timeout) may have been committed, so it
   * is re-sent only after a search by `identity` (the values that find it) shows it is not there,
   * and a found record is its answer. For single records that need not spend the instance's Batch
   * API budget (a company, a hardware model). After an answer that leaves the insert possibly still
   * running, the search waits as {@link batch} does (UNVERIFIED for the Table API: the docs give
   * the Batch API's 30 s quota, not a Table API one).
   *
   * @example
   * const company = await client.createOnce('core_company', { name, manufacturer: 'true' }, { name });
   */
  async createOnce<T extends SnRecord = SnRecord>(
    table: string,
    values: Record<string, unknown>,
    identity: Readonly<Record<string, string>>,
  ): Promise<T> {
    for (let failures = 0; ;) {
      const sentAt = performance.now();
      try {
        return await this.create<T>(table, values);
      } catch (error) {
        await this.waitBeforeSearch(error, failures++, sentAt, this.tableUrl(table), 'insert', 'it is');
        const found = await this.findInserted([
          { id: '1', method: 'POST', url: `/api/now/table/${encodeURIComponent(table)}`, identity },
        ]);
        if (found.has('1')) return found.get('1') as T;
      }
    }
  }

  /**
   * After a failed call that carried inserts: rethrows what a re-send can not mend (or the last
   * attempt's failure), else waits the backoff — and, when the call may still be running, until it
   * is certainly over — before the caller searches for its inserts.
   */
  private async waitBeforeSearch(
    error: unknown,
    failures: number,
    sentAt: number,
    url: string,
    what: 'batch' | 'insert',
    searched: string,
  ): Promise<void> {
    const failure = batchFailureKind(error);
    if (!failure || failures + 1 >= this.options.http.maxAttempts) throw error;
    const settleMs = failure === 'maybe-running' ? BATCH_SETTLE_MS - (performance.now() - sentAt) : 0;
    await this.options.http.backoffBeforeRetry(
      failures,
      { method: 'POST', url },
      `${what} ${failure === 'maybe-running' ? 'unanswered' : 'failed'}; ${searched} searched for before it is re-sent`,
      settleMs,
    );
  }

  /**
   * The records the inserts created, by item id, for those already on the instance: searched by
   * their identity, with the fields each insert asked for (its `sysparm_fields`), so a found
   * record reads as the insert's own answer would have.
   */
  private async findInserted(inserts: readonly BatchItem[]): Promise<Map<string, SnRecord>> {
    const found = new Map<string, SnRecord>();
    const groups = new Map<string, BatchItem[]>();
    for (const item of inserts) {
      const key = `${insertTable(item.url)}|${Object.keys(item.identity ?? {})
        .sort()
        .join(',')}`;
      groups.set(key, [...(groups.get(key) ?? []), item]);
    }
    for (const group of groups.values()) {
      const table = insertTable(group[0]!.url);
      const fields = Object.keys(group[0]!.identity!);
      const wanted = new Set(['sys_id', ...fields]);
      for (const item of group) for (const field of requestedFields(item.url)) wanted.add(field);
      for (let i = 0; i < group.length; i += INSERT_SEARCH_CHUNK) {
        const chunk = group.slice(i, i + INSERT_SEARCH_CHUNK);
        // An IN list can not hold a value with a comma: such inserts are searched one by one.
        const listable = fields.every((f) => chunk.every((item) => !item.identity![f]!.includes(',')));
        for (const part of listable ? [chunk] : chunk.map((item) => [item])) {
          const rows = await this.listAll(table, {
            query: encodeQuery({
              where: fields.map((field) => {
                const values = [...new Set(part.map((item) => item.identity![field]!))];
                return values.length === 1 ? where(field, '=', values[0]!) : where(field, 'IN', values);
              }),
              orderBy: ['sys_created_on'],
            }),
            fields: [...wanted],
          });
          for (const item of part) {
            // The oldest match wins, as in the flows' own search before create.
            const row = rows.find((r) => fields.every((f) => fieldText(r[f]) === item.identity![f]));
            if (row) found.set(item.id, row);
          }
        }
      }
    }
    return found;
  }

  /** One Batch API call, as it is. */
  private async sendBatch(items: readonly BatchItem[], idempotent: boolean): Promise<BatchItemResult[]> {
    const url = this.batchUrl();
    const body = {
      batch_request_id: `snowline-${this.options.clock.now().getTime()}`,
      rest_requests: items.map((item) => ({
        id: item.id,
        method: item.method,
        url: item.url,
        headers: [
          { name: 'Content-Type', value: 'application/json' },
          { name: 'Accept', value: 'application/json' },
        ],
        exclude_response_headers: true,
        ...(item.body === undefined
          ? {}
          : { body: Buffer.from(JSON.stringify(item.body)).toString('base64') }),
      })),
    };
    const response = await this.request('POST', url, body, idempotent);
    const answer = this.json(response, 'POST', url) as {
      serviced_requests?: { id: string; status_code: number; body?: string }[];
      unserviced_requests?: string[];
    };
    const byId = new Map<string, BatchItemResult>();
    for (const served of answer.serviced_requests ?? []) {
      const text = served.body ? Buffer.from(served.body, 'base64').toString('utf8') : '';
      byId.set(served.id, { id: served.id, status: served.status_code, body: text ? safeJson(text) : null });
    }
    return items.map((item) => byId.get(item.id) ?? { id: item.id, status: 0, body: null });
  }

  /** Counts records (`/api/now/stats`), optionally grouped by fields. */
  async count(
    table: string,
    options: { query?: string; groupBy?: readonly string[] } = {},
  ): Promise<number | Map<string, number>> {
    const params = new URLSearchParams({ sysparm_count: 'true' });
    if (options.query) params.set('sysparm_query', options.query);
    if (options.groupBy?.length) params.set('sysparm_group_by', options.groupBy.join(','));
    const url = `${this.instanceUrl}/api/now/stats/${encodeURIComponent(table)}?${params}`;
    const response = await this.request('GET', url);
    const result = (this.json(response, 'GET', url) as { result: unknown }).result;
    if (!options.groupBy?.length) return Number((result as { stats: { count: string } }).stats.count);
    const groups = new Map<string, number>();
    for (const row of result as { stats: { count: string }; groupby_fields: { value: string }[] }[]) {
      groups.set(row.groupby_fields.map((g) => g.value).join('|'), Number(row.stats.count));
    }
    return groups;
  }

  /** The URL of a record on the instance, for people (tickets' links, the dashboard). */
  recordUrl(table: string, sysId: string): string {
    return `${this.instanceUrl}/nav_to.do?uri=${encodeURIComponent(`${table}.do?sys_id=${sysId}`)}`;
  }

  private batchUrl(): string {
    return `${this.instanceUrl}/api/now/v1/batch`;
  }

  private tableUrl(table: string): string {
    return `${this.instanceUrl}/api/now/table/${encodeURIComponent(table)}`;
  }

  private async request(
    method: string,
    url: string,
    body?: unknown,
    idempotent?: boolean,
  ): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        Accept: 'application/json',
        ...(await this.options.auth.headers()),
      };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const response = await this.options.http.send({
        method,
        url,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(idempotent === undefined ? {} : { idempotent }),
      });
      // A 401 with OAuth means the token was revoked or expired early: get a new one once.
      if (response.status === 401 && this.options.auth.renewable && attempt === 0) {
        this.options.auth.invalidate();
        continue;
      }
      return response;
    }
  }

  private json(response: HttpResponse, method: string, url: string): unknown {
    if (response.status < 200 || response.status >= 300) throw this.error(response, method, url);
    try {
      return JSON.parse(response.body.toString('utf8'));
    } catch (error) {
      throw new UpstreamError(
        'servicenow',
        response.status,
        `ServiceNow sent a body that is not JSON to ${method} ${safeUrl(url)}`,
        {
          cause: error,
          retryable: false,
        },
      );
    }
  }

  private error(response: HttpResponse, method: string, url: string): UpstreamError {
    const envelope = safeJson(response.body.toString('utf8')) as {
      error?: { message?: string; detail?: string | null };
    } | null;
    const said = [envelope?.error?.message, envelope?.error?.detail].filter(Boolean).join(': ');
    const hint =
      response.status === 401
        ? '; check the ServiceNow credentials'
        : response.status === 403
          ? '; the integration user lacks a role for this table, or a data policy refused the change'
          : '';
    return new UpstreamError(
      'servicenow',
      response.status,
      `ServiceNow answered ${response.status} to ${method} ${safeUrl(url)}${said ? ` (${said.replace(/\s+/g, ' ').trim()})` : ''}${hint}`,
      { code: response.status === 401 ? 'AUTH' : response.status === 403 ? 'FORBIDDEN' : 'UPSTREAM' },
    );
  }
}

/**
 * Longest a Batch API call can still be running on the instance after it was sent: the platform's
 * "REST Batch API request timeout" quota kills it at 30 s
 * (ServiceNow/ServiceNowDocs markdown/api-reference/rest-apis/batch-api.md); 5 s more for the kill to
 * land.
 */
export const BATCH_SETTLE_MS = 35_000;

/** Inserts searched for in one read after a failed Batch call. */
const INSERT_SEARCH_CHUNK = 50;

/**
 * Whether a failed Batch call may be re-sent (after its inserts are searched for), and whether
 * the instance may still be running it: `over` when the instance itself answered 500 or 503 (its
 * transaction ended), `maybe-running` when no answer came (reset, closed connection, timeout) or a
 * gateway answered 502 / 504 / 408 for it. Undefined for a failure a re-send can not mend.
 */
function batchFailureKind(error: unknown): 'over' | 'maybe-running' | undefined {
  if (!(error instanceof UpstreamError) || isRateLimitedError(error)) return undefined;
  if (error.status === undefined) return isRetryableNetworkError(error.cause) ? 'maybe-running' : undefined;
  if (error.status === 500 || error.status === 503) return 'over';
  return isRetryableStatus(error.status) && error.status !== 429 ? 'maybe-running' : undefined;
}

/** The table of a Table API insert's URL (`/api/now/table/<table>?…`). */
function insertTable(url: string): string {
  const match = /\/api\/now\/(?:v\d+\/)?table\/([^/?]+)/.exec(url);
  if (!match) throw new Error(`a Batch insert with an identity must be a Table API POST, not ${url}`);
  return decodeURIComponent(match[1]!);
}

/** The `sysparm_fields` of a request URL. */
function requestedFields(url: string): string[] {
  const fields = new URL(url, 'https://instance.invalid').searchParams.get('sysparm_fields');
  return fields ? fields.split(',').filter(Boolean) : [];
}

/** A field as text, whether the instance sent a plain value or a reference object. */
function fieldText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return (value as { value?: string } | null | undefined)?.value;
}

/** The `rel="next"` URL of a Link header, if any. */
export function nextLink(link: string | string[] | undefined): string | undefined {
  const text = Array.isArray(link) ? link.join(',') : link;
  if (!text) return undefined;
  for (const part of text.split(/,(?=\s*<)/)) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (match) return match[1];
  }
  return undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
