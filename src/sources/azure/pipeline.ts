import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { TokenCredential } from '@azure/identity';
import {
  bearerTokenAuthenticationPolicy,
  createHttpHeaders,
  createPipelineFromOptions,
  decompressResponsePolicyName,
  exponentialRetryPolicyName,
  systemErrorRetryPolicyName,
  throttlingRetryPolicyName,
  type HttpClient,
  type Pipeline,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { UpstreamError } from '../../errors.js';
import { header } from '../../runtime/http/retry.js';
import { safeUrl, type ResilientHttpClient } from '../../runtime/http/resilient-client.js';
import type { HttpResponse } from '../../runtime/http/transport.js';

/**
 * The scope of ARM and Resource Graph tokens for the ARM endpoint `armUrl`: its resource with
 * `/.default` (the Microsoft identity platform's scope for an app's static permissions), so a
 * sovereign cloud's endpoint gets its own audience — Azure Government's ARM is
 * `https://management.usgovcloudapi.net`, with Entra at `https://login.microsoftonline.us`
 * (MicrosoftDocs/azure-docs articles/azure-government/compare-azure-government-global-azure.md,
 * documentation-government-developer-guide.md). A token for the public cloud's
 * `https://management.azure.com/.default` is refused there.
 *
 * @example
 * armScopeOf('https://management.usgovcloudapi.net/') // 'https://management.usgovcloudapi.net/.default'
 */
export function armScopeOf(armUrl: string): string {
  return `${new URL(armUrl).origin}/.default`;
}

/**
 * Names of the pipeline's own retry policies. `createPipelineFromOptions` in 1.24.0 adds only
 * `defaultRetryPolicy` (throttling + exponential strategies), but an SDK client or a later
 * version may add the others; all of them sleep in-process, which would hide a long
 * `Retry-After` from Snowline's deferral logic, and would multiply our own retries.
 */
export const PIPELINE_RETRY_POLICY_NAMES = [
  'defaultRetryPolicy',
  exponentialRetryPolicyName,
  systemErrorRetryPolicyName,
  throttlingRetryPolicyName,
  'retryPolicy',
] as const;

/** Hook run on every response before the pipeline sees it (ARM's remaining-quota headers). */
export type ResponseObserver = (response: HttpResponse) => void;

/** Options for {@link SnowlineHttpClient}. */
export interface SnowlineHttpClientOptions {
  /** Sees every response first (ARM's and Resource Graph's remaining-quota headers). */
  readonly observe?: ResponseObserver;
  /**
   * True when every POST of this client is a read (Resource Graph queries), so that a 5xx or
   * a reset may be resent like a GET. Other POSTs are not resent blindly.
   */
  readonly postsAreReads?: boolean;
  /**
   * The only origin requests may go to (ARM's). The bearer token is already attached when a
   * request reaches this client, so a `nextLink` or redirect pointing elsewhere (a hostile or
   * misconfigured answer) is refused here, before the token leaves the process.
   */
  readonly allowedOrigin?: string;
}

/**
 * A core-rest-pipeline {@link HttpClient} that sends through Snowline's
 * {@link ResilientHttpClient}: our undici transport (with the configured CA), our single retry
 * strategy, Retry-After handling and deferral, the in-flight bound and the request counters.
 *
 * @example
 * const client = new SnowlineHttpClient(http);
 * const response = await pipeline.sendRequest(client, createPipelineRequest({ url }));
 */
export class SnowlineHttpClient implements HttpClient {
  constructor(
    private readonly http: ResilientHttpClient,
    private readonly options: SnowlineHttpClientOptions = {},
  ) {}

  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    const allowed = this.options.allowedOrigin;
    if (allowed !== undefined && new URL(request.url).origin !== new URL(allowed).origin) {
      throw new UpstreamError(
        this.http.service,
        undefined,
        `refusing to send a ${this.http.service} request with its token to ${safeUrl(request.url)}: only ${new URL(allowed).origin} is allowed`,
        { retryable: false },
      );
    }
    const response = await this.http.send({
      method: request.method,
      url: request.url,
      headers: Object.fromEntries(request.headers),
      ...(request.body === undefined || request.body === null ? {} : { body: requestBody(request.body) }),
      ...(this.options.postsAreReads && request.method === 'POST' ? { idempotent: true } : {}),
    });
    this.options.observe?.(response);
    const headers = createHttpHeaders();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const body = decode(response);
    // The body is already decoded here: drop the encoding so no later policy decodes it twice.
    headers.delete('content-encoding');
    return { request, status: response.status, headers, bodyAsText: body.toString('utf8') };
  }
}

/** Bodies this client sends: what core-client serialises (strings) and raw bytes. */
function requestBody(body: NonNullable<PipelineRequest['body']>): string | Uint8Array {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('SnowlineHttpClient sends string or byte bodies only (no streams or forms)');
}

/**
 * Decodes a compressed body. Our ARM pipeline asks for no compression, but `@azure/identity`
 * builds its own pipeline with `decompressResponsePolicy` (Accept-Encoding: gzip, deflate) and
 * undici's `request` does not decompress.
 */
function decode(response: HttpResponse): Buffer {
  const encoding = header(response.headers, 'content-encoding')?.trim().toLowerCase();
  if (!encoding || encoding === 'identity' || response.body.length === 0) return response.body;
  if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(response.body);
  if (encoding === 'deflate') return inflateSync(response.body);
  if (encoding === 'br') return brotliDecompressSync(response.body);
  return response.body;
}

/**
 * Removes the pipeline's retry policies (ours run inside the HttpClient) and its
 * decompression policy (our transport does not ask for compression). Works on a pipeline we
 * built and on the pipeline of an SDK client such as `SecurityCenter`.
 *
 * @returns the names of the policies removed.
 */
export function removeSdkRetries(pipeline: Pipeline): string[] {
  const removed: string[] = [];
  for (const name of [...PIPELINE_RETRY_POLICY_NAMES, decompressResponsePolicyName]) {
    for (const policy of pipeline.removePolicy({ name })) removed.push(policy.name);
  }
  return removed;
}

/** Options for {@link createAzurePipeline}. */
export interface AzurePipelineOptions {
  readonly credential: TokenCredential;
  /** Token scope: {@link armScopeOf} the configured ARM endpoint. */
  readonly scope: string;
  readonly userAgentPrefix?: string;
}

/**
 * The core-rest-pipeline used for raw ARM and Resource Graph requests: Azure's default
 * policies (user agent, client request id, redirects, logging) without its retry policies,
 * plus a bearer token policy for `scope` ({@link armScopeOf} the ARM endpoint). The bearer policy
 * refuses plain-http URLs, which is why the sandboxes serve https with their own CA.
 *
 * @example
 * const pipeline = createAzurePipeline({ credential, scope: armScopeOf(config.armUrl) });
 * const response = await pipeline.sendRequest(new SnowlineHttpClient(http), request);
 */
export function createAzurePipeline(options: AzurePipelineOptions): Pipeline {
  const pipeline = createPipelineFromOptions({
    retryOptions: { maxRetries: 0 },
    userAgentOptions: { userAgentPrefix: options.userAgentPrefix ?? 'snowline' },
  });
  removeSdkRetries(pipeline);
  pipeline.addPolicy(
    bearerTokenAuthenticationPolicy({ credential: options.credential, scopes: options.scope }),
  );
  return pipeline;
}
