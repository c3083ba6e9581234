import type { BatchItemResult } from './client.js';
import type { SnRecord } from './values.js';

/**
 * Reading the answer to one request of a Batch API call
 * (ServiceNow/ServiceNowDocs markdown/api-reference/rest-apis/batch-api.md): each
 * inner request has its own status, and one the instance did not run (`unserviced_requests`,
 * e.g. the batch hit its 30 s timeout) comes back with status 0.
 */

/** The record a successful inner Table API request answered with, if any. */
export function batchRecord(result: BatchItemResult): SnRecord | undefined {
  return (result.body as { result?: SnRecord } | null)?.result;
}

/**
 * Why an inner request failed, in words for the ledger and the log, or undefined when it
 * succeeded (2xx).
 *
 * @example
 * batchFailure({ id: '1', status: 403, body: { error: { message: 'Data Policy Exception' } } });
 * // 'ServiceNow answered 403 (Data Policy Exception)'
 */
export function batchFailure(result: BatchItemResult): string | undefined {
  if (result.status >= 200 && result.status < 300) return undefined;
  if (result.status === 0) return 'the instance did not run the request (unserviced in the batch)';
  const said = (result.body as { error?: { message?: string; detail?: string } } | null)?.error;
  const detail = said ? [said.message, said.detail].filter(Boolean).join(': ') : '';
  return `ServiceNow answered ${result.status}${detail ? ` (${detail})` : ''}`;
}
