import {
  createHttpHeaders,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
} from '@azure/core-rest-pipeline';
import type { Clock } from '../../domain/clock.js';
import { InputError, UpstreamError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { HttpResponse } from '../../runtime/http/transport.js';
import type { RequestLimiter } from '../../runtime/http/limiter.js';
import { header } from '../../runtime/http/retry.js';
import type { z } from 'zod';
import { parseRecords, type SourcePage } from '../common.js';
import { armErrorOf, pauseQuietly } from './arm.js';

/**
 * Resource Graph api-version. 2024-04-01 is what `@azure/arm-resourcegraph` 5 sends; the
 * ServiceNow connector uses 2021-03-01; both take the same body and answer the same shape.
 */
export const RESOURCE_GRAPH_API_VERSION = '2024-04-01';

/** Resource Graph answers at most 1000 rows a page. */
export const MAX_RESOURCE_GRAPH_PAGE = 1000;

/** Upper bound on pages of one query, so that a `$skipToken` loop cannot hang a run. */
const MAX_PAGES = 100_000;

/** Options of one {@link ResourceGraphClient.query}. */
export interface ResourceGraphQueryOptions {
  readonly subscriptions?: readonly string[];
  readonly managementGroups?: readonly string[];
  /** Rows per page, 1 to 1000 (default 1000). */
  readonly pageSize?: number;
}

/** One row of an `objectArray` answer. */
export type ResourceGraphRow = Record<string, unknown>;

/** Options for {@link ResourceGraphClient}. */
export interface ResourceGraphClientOptions {
  readonly armUrl: string;
  readonly pipeline: Pipeline;
  readonly httpClient: HttpClient;
  readonly apiVersion?: string;
  readonly logger?: Logger;
}

/**
 * Azure Resource Graph (`POST /providers/Microsoft.ResourceGraph/resources`), paged with
 * `$skipToken`. Queries should `project id` (or sort on a unique column): Resource Graph pages
 * are only stable when rows can be ordered by it.
 *
 * @example
 * for await (const rows of graph.query("securityresources | where type == 'microsoft.security/assessments' | project id, name, properties", { subscriptions }))
 *   …
 */
export class ResourceGraphClient {
  private readonly url: string;

  constructor(private readonly options: ResourceGraphClientOptions) {
    const url = new URL('/providers/Microsoft.ResourceGraph/resources', options.armUrl);
    url.searchParams.set('api-version', options.apiVersion ?? RESOURCE_GRAPH_API_VERSION);
    this.url = url.toString();
  }

  /** Every page of rows of a KQL query, following `$skipToken` until there is none. */
  async *query(kql: string, options: ResourceGraphQueryOptions = {}): AsyncIterable<ResourceGraphRow[]> {
    for await (const rows of this.queryRows(kql, options))
      yield rows.filter((row): row is ResourceGraphRow => !!row && typeof row === 'object');
  }

  /**
   * Every page of a KQL query with its rows as sent, objects or not: a parser reports a row that
   * is not an object at its position in the page instead of never seeing it.
   */
  async *queryRows(kql: string, options: ResourceGraphQueryOptions = {}): AsyncIterable<unknown[]> {
    const pageSize = options.pageSize ?? MAX_RESOURCE_GRAPH_PAGE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_RESOURCE_GRAPH_PAGE) {
      throw new InputError(
        `Resource Graph page size must be an integer from 1 to ${MAX_RESOURCE_GRAPH_PAGE} (got ${pageSize})`,
      );
    }
    const seen = new Set<string>();
    let skipToken: string | undefined;
    for (let page = 0; ; page++) {
      if (page >= MAX_PAGES) {
        throw new UpstreamError(
          'resourcegraph',
          undefined,
          `Resource Graph paging did not end after ${MAX_PAGES} pages`,
          { retryable: false },
        );
      }
      const body = {
        ...(options.subscriptions?.length ? { subscriptions: options.subscriptions } : {}),
        ...(options.managementGroups?.length ? { managementGroups: options.managementGroups } : {}),
        query: kql,
        options: {
          $top: pageSize,
          resultFormat: 'objectArray',
          ...(skipToken ? { $skipToken: skipToken } : {}),
        },
      };
      const answer = await this.post(body);
      yield rowsOf(answer.data);
      const next = answer.$skipToken;
      if (typeof next !== 'string' || next === '') {
        if (answer.resultTruncated === 'true' || answer.resultTruncated === true) {
          this.options.logger?.warn(
            { service: 'resourcegraph', totalRecords: answer.totalRecords },
            'Resource Graph truncated the result without a $skipToken: project the id column so it can page',
          );
        }
        return;
      }
      if (seen.has(next)) {
        throw new UpstreamError('resourcegraph', 200, 'Resource Graph returned the same $skipToken twice', {
          retryable: false,
        });
      }
      seen.add(next);
      skipToken = next;
    }
  }

  /**
   * The rows of a query parsed with `schema`, page by page; a row that does not parse is a
   * problem entry of its page, not an error.
   */
  async *queryRecords<S extends z.ZodType>(
    kql: string,
    schema: S,
    options: ResourceGraphQueryOptions & { what?: string } = {},
  ): AsyncIterable<SourcePage<z.output<S>>> {
    for await (const rows of this.queryRows(kql, options)) {
      yield parseRecords(schema, rows, `resourcegraph ${options.what ?? 'query'}`);
    }
  }

  private async post(body: unknown): Promise<{
    data?: unknown;
    $skipToken?: unknown;
    resultTruncated?: unknown;
    totalRecords?: unknown;
  }> {
    const request = createPipelineRequest({
      url: this.url,
      method: 'POST',
      headers: createHttpHeaders({
        accept: 'application/json',
        'content-type': 'application/json; charset=utf-8',
      }),
      body: JSON.stringify(body),
    });
    const response = await this.options.pipeline.sendRequest(this.options.httpClient, request);
    if (response.status !== 200) {
      const error = armErrorOf(response, 'POST Resource Graph query');
      throw new UpstreamError(
        'resourcegraph',
        response.status,
        error.message.replace(/^ARM/, 'Resource Graph'),
        {
          code: 'UPSTREAM',
          cause: error,
        },
      );
    }
    try {
      return JSON.parse(response.bodyAsText ?? '') as { data?: unknown; $skipToken?: unknown };
    } catch (error) {
      throw new UpstreamError('resourcegraph', 200, 'Resource Graph answered with a body that is not JSON', {
        cause: error,
        retryable: false,
      });
    }
  }
}

/** Rows of an answer: `objectArray` as asked, or a `table` answer turned into objects. */
function rowsOf(data: unknown): unknown[] {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    const table = data as { columns?: Array<{ name?: unknown }>; rows?: unknown[][] };
    if (Array.isArray(table.columns) && Array.isArray(table.rows)) {
      const names = table.columns.map((c, i) => (typeof c.name === 'string' ? c.name : `column${i}`));
      return table.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
    }
  }
  throw new UpstreamError('resourcegraph', 200, 'Resource Graph answered without a "data" array', {
    retryable: false,
  });
}

/**
 * Watches Resource Graph's per-user quota (`x-ms-user-quota-remaining`,
 * `x-ms-user-quota-resets-after` as `hh:mm:ss`) and pauses the limiter until the window
 * resets when none is left; a reset further away than the limiter accepts defers the run.
 */
export function resourceGraphQuotaObserver(
  limiter: RequestLimiter,
  clock: Clock,
): (response: HttpResponse) => void {
  return (response) => {
    const remaining = header(response.headers, 'x-ms-user-quota-remaining');
    if (remaining === undefined || Number(remaining) > 0) return;
    const resetsAfter = header(response.headers, 'x-ms-user-quota-resets-after');
    const match = resetsAfter ? /^(\d+):(\d{2}):(\d{2})(\.\d+)?$/.exec(resetsAfter.trim()) : null;
    if (!match) return;
    const ms = (Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3])) * 1000;
    if (ms > 0)
      pauseQuietly(limiter, new Date(clock.now().getTime() + ms), 'Resource Graph user quota spent');
  };
}
