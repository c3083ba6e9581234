import { UpstreamError } from '../../errors.js';
import type { ResilientHttpClient } from '../../runtime/http/resilient-client.js';
import { joinUrl, readJson } from '../common.js';

/** An appliance: how it is named in messages, its URL, its raw token and where that is configured. */
export interface OtTarget {
  readonly label: string;
  readonly url: string;
  readonly token: string;
  readonly configKey: string;
}

/**
 * A GET against a sensor or management console: the raw token in `Authorization` (no `Bearer`
 * prefix: the on-premises APIs reject it), retries and limits from the shared retry loop, and a
 * non-2xx answer mapped to an {@link UpstreamError} that names the appliance.
 *
 * @returns the parsed JSON body, or `undefined` on a 404 when `notFound` is `undefined`.
 */
export function otGet(
  http: ResilientHttpClient,
  target: OtTarget,
  path: string,
  options: { notFound?: 'undefined' } = {},
): Promise<unknown> {
  return otSend(http, target, 'GET', path, undefined, options);
}

/** A request with a JSON body against a sensor or console, answered as {@link otGet} answers. */
export async function otSend(
  http: ResilientHttpClient,
  target: OtTarget,
  method: 'GET' | 'PUT',
  path: string,
  body: unknown,
  options: { notFound?: 'undefined' } = {},
): Promise<unknown> {
  const url = joinUrl(target.url, path);
  const response = await http.send({
    method,
    url,
    headers: {
      authorization: target.token,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const what = `${method} ${path.split('?')[0]}`;
  if (response.status === 404 && options.notFound === 'undefined') return undefined;
  if (response.status < 200 || response.status >= 300) {
    const detail = errorText(response.body.toString('utf8'));
    const hint =
      response.status === 401 || response.status === 403
        ? ` (the API token was refused: check ${target.configKey})`
        : '';
    throw new UpstreamError(
      http.service,
      response.status,
      `${target.label} answered ${response.status} to ${what}${detail ? `: ${detail}` : ''}${hint}`,
    );
  }
  return readJson(response, http.service, what);
}

/** The on-premises APIs answer errors as `{"error": "..."}` or as plain text ("Failure – error"). */
function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Plain text: quoted as is, shortened.
  }
  return body.replace(/\s+/g, ' ').trim().slice(0, 200);
}
