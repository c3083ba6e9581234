import { SecurityCenter } from '@azure/arm-security';
import {
  createHttpHeaders,
  createPipelineRequest,
  isRestError,
  type HttpClient,
  type HttpMethods,
  type Pipeline,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import type { z } from 'zod';
import type { Clock } from '../../domain/clock.js';
import { InputError, UpstreamError, isRateLimitedError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { HttpResponse } from '../../runtime/http/transport.js';
import type { RequestLimiter } from '../../runtime/http/limiter.js';
import { header } from '../../runtime/http/retry.js';
import { safeUrl } from '../../runtime/http/resilient-client.js';
import { parseRecords, type SourcePage } from '../common.js';
import {
  AssessmentMetadataSchema,
  AssessmentSchema,
  GovernanceAssignmentInputSchema,
  GovernanceAssignmentSchema,
  type Assessment,
  type AssessmentMetadata,
  type GovernanceAssignment,
  type GovernanceAssignmentInput,
} from './models.js';
import { armScopeOf, removeSdkRetries } from './pipeline.js';

/** Assessment api-versions: 2021-06-01 (what `@azure/arm-security` 5.0.0 speaks) and 2025-05-04 (adds Critical, risk). */
export type AssessmentApiVersion = '2021-06-01' | '2025-05-04';

/** The only api-version of the governance APIs (spec and TypeSpec project alike). */
export const GOVERNANCE_API_VERSION = '2022-01-01-preview';

/** Metadata is read at 2025-05-04 by default: the only version with `Critical` severity. */
export const METADATA_API_VERSION = '2025-05-04';

/** The api-version of the Defender for IoT device-group alert operations (2021-07-01-preview alerts.json). */
export const IOT_ALERTS_API_VERSION = '2021-07-01-preview';

/** What Snowline reads back of an IoT alert: its id and status (`AlertStatus`: New, InProgress, Closed). */
export interface IotAlertState {
  readonly id: string;
  readonly status: string;
}

/** Upper bound on pages followed in one list: a server looping its `nextLink` cannot hang a run. */
const MAX_PAGES = 100_000;

/**
 * An ARM error (`{ error: { code, message, target } }`) as an {@link UpstreamError}; `armCode`
 * is ARM's own code (`ResourceNotFound`, `AuthorizationFailed`, `InvalidApiVersionParameter`…).
 */
export class ArmError extends UpstreamError {
  readonly armCode: string;
  readonly target: string | undefined;

  constructor(
    status: number,
    armCode: string,
    message: string,
    target?: string,
    options: { cause?: unknown } = {},
  ) {
    super('arm', status, message, options);
    this.armCode = armCode;
    this.target = target;
  }
}

/** Options for {@link ArmClient}. */
export interface ArmClientOptions {
  /** ARM endpoint, `https://management.azure.com` or the sandbox. */
  readonly armUrl: string;
  readonly credential: TokenCredential;
  /** The raw-request pipeline ({@link createAzurePipeline}). */
  readonly pipeline: Pipeline;
  /** The client that sends through Snowline's retry loop ({@link SnowlineHttpClient}). */
  readonly httpClient: HttpClient;
}

/**
 * Defender for Cloud over Azure Resource Manager: assessments, assessment metadata and
 * governance assignments, paged by absolute `nextLink`. Assessments at 2021-06-01 go through
 * `@azure/arm-security` 5.0.0 (sharing our HttpClient, its retry policies removed); 2025-05-04
 * metadata and the 2022-01-01-preview governance APIs, which that SDK lacks, go through the
 * same pipeline as raw requests.
 *
 * @example
 * for await (const page of arm.listAssessments(subscriptionId)) for (const a of page.items) …
 */
export class ArmClient {
  private readonly base: URL;
  private sdk: SecurityCenter | undefined;

  constructor(private readonly options: ArmClientOptions) {
    this.base = new URL(options.armUrl);
  }

  /**
   * Every page of an ARM list, following the absolute `nextLink` until there is none. Each
   * item is parsed with `schema`; a malformed item becomes a problem entry of its page.
   *
   * @param path e.g. `/subscriptions/<id>/providers/Microsoft.Security/assessments`
   */
  async *listAll<S extends z.ZodType>(
    path: string,
    apiVersion: string,
    schema: S,
    what = path,
  ): AsyncIterable<SourcePage<z.output<S>>> {
    let url: string | undefined = this.url(path, apiVersion);
    const seen = new Set<string>();
    for (let page = 0; url !== undefined; page++) {
      if (page >= MAX_PAGES || seen.has(url)) {
        throw new UpstreamError(
          'arm',
          undefined,
          `ARM paging of ${what} did not end (a nextLink repeated or over ${MAX_PAGES} pages)`,
          {
            retryable: false,
          },
        );
      }
      seen.add(url);
      const body = await this.requestJson('GET', url, undefined, what);
      const list = body as { value?: unknown; nextLink?: unknown; '@odata.nextLink'?: unknown };
      if (!Array.isArray(list.value)) {
        throw new UpstreamError('arm', 200, `ARM answered ${what} without a "value" array`, {
          retryable: false,
        });
      }
      yield parseRecords(schema, list.value, `arm ${what}`);
      const next = list.nextLink ?? list['@odata.nextLink'];
      url = typeof next === 'string' && next !== '' ? this.nextUrl(next, apiVersion) : undefined;
    }
  }

  /**
   * The assessments (recommendation × resource) of a subscription. Lists carry no metadata:
   * join with {@link listAssessmentMetadata} on `assessmentKey`.
   */
  async *listAssessments(
    subscriptionId: string,
    apiVersion: AssessmentApiVersion = '2021-06-01',
  ): AsyncIterable<SourcePage<Assessment>> {
    const scope = `subscriptions/${subscriptionId}`;
    if (apiVersion === '2025-05-04') {
      yield* this.listAll(
        `/${scope}/providers/Microsoft.Security/assessments`,
        apiVersion,
        AssessmentSchema,
        `assessments of ${scope}`,
      );
      return;
    }
    const pages = this.securityCenter().assessments.list(scope).byPage();
    for (;;) {
      let next: IteratorResult<unknown[]>;
      try {
        next = await pages.next();
      } catch (error) {
        throw fromSdkError(error, `assessments of ${scope}`);
      }
      if (next.done) return;
      yield parseRecords(AssessmentSchema, next.value.map(sdkToWire), `arm assessments of ${scope}`);
    }
  }

  /**
   * One assessment of one resource, or `undefined` when it does not exist.
   *
   * @param expand `links` adds the portal link, `metadata` the recommendation's metadata.
   */
  async getAssessment(
    resourceId: string,
    assessmentKey: string,
    options: { expand?: 'links' | 'metadata'; apiVersion?: AssessmentApiVersion } = {},
  ): Promise<Assessment | undefined> {
    const what = `assessment ${assessmentKey} of ${resourceId}`;
    let raw: unknown;
    if ((options.apiVersion ?? '2021-06-01') === '2021-06-01') {
      try {
        raw = sdkToWire(
          await this.securityCenter().assessments.get(trimScope(resourceId), assessmentKey, {
            ...(options.expand ? { expand: options.expand } : {}),
          }),
        );
      } catch (error) {
        const mapped = fromSdkError(error, what);
        if (mapped instanceof ArmError && mapped.status === 404) return undefined;
        throw mapped;
      }
    } else {
      const path = `/${trimScope(resourceId)}/providers/Microsoft.Security/assessments/${encodeURIComponent(assessmentKey)}`;
      const url = this.url(
        path,
        options.apiVersion ?? '2025-05-04',
        options.expand ? { $expand: options.expand } : {},
      );
      raw = await this.requestJson('GET', url, undefined, what, { notFound: 'undefined' });
      if (raw === undefined) return undefined;
    }
    return parseOne(AssessmentSchema, raw, what);
  }

  /** Tenant-wide built-in assessment metadata (severity, remediation…), at 2025-05-04 by default. */
  listAssessmentMetadata(
    apiVersion: string = METADATA_API_VERSION,
  ): AsyncIterable<SourcePage<AssessmentMetadata>> {
    return this.listAll(
      '/providers/Microsoft.Security/assessmentMetadata',
      apiVersion,
      AssessmentMetadataSchema,
      'assessment metadata',
    );
  }

  /**
   * Governance assignments of one assessment key. With a subscription scope
   * (`subscriptions/<id>`) ARM lists them across every resource of the subscription.
   */
  listGovernanceAssignments(
    scope: string,
    assessmentKey: string,
  ): AsyncIterable<SourcePage<GovernanceAssignment>> {
    return this.listAll(
      `${this.assignmentsPath(scope, assessmentKey)}`,
      GOVERNANCE_API_VERSION,
      GovernanceAssignmentSchema,
      `governance assignments of ${assessmentKey} in ${trimScope(scope)}`,
    );
  }

  /** One governance assignment of an assessment on a resource, or `undefined` when absent. */
  async getGovernanceAssignment(
    resourceId: string,
    assessmentKey: string,
    assignmentKey: string,
  ): Promise<GovernanceAssignment | undefined> {
    const what = `governance assignment ${assignmentKey}`;
    const url = this.url(
      this.assignmentPath(resourceId, assessmentKey, assignmentKey),
      GOVERNANCE_API_VERSION,
    );
    const raw = await this.requestJson('GET', url, undefined, what, { notFound: 'undefined' });
    return raw === undefined ? undefined : parseOne(GovernanceAssignmentSchema, raw, what);
  }

  /**
   * Creates or replaces a governance assignment. The PUT replaces the whole body: send every
   * field to keep. Validated before sending (`remediationDueDate` required, `ticketNumber` an
   * int32 ≥ 0), so a bad value is an {@link InputError}, not a 400 from Azure.
   *
   * @returns the stored assignment, and whether ARM created it (201) rather than replaced it (200).
   */
  async putGovernanceAssignment(
    resourceId: string,
    assessmentKey: string,
    assignmentKey: string,
    input: GovernanceAssignmentInput,
  ): Promise<{ assignment: GovernanceAssignment; created: boolean }> {
    const what = `governance assignment ${assignmentKey}`;
    const checked = GovernanceAssignmentInputSchema.safeParse(input);
    if (!checked.success) {
      const issues = checked.error.issues
        .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
        .join('; ');
      throw new InputError(`${what} was not sent: ${issues}`, { cause: checked.error });
    }
    const properties = {
      ...checked.data,
      remediationDueDate: toIso(checked.data.remediationDueDate),
      ...(checked.data.remediationEta
        ? { remediationEta: { ...checked.data.remediationEta, eta: toIso(checked.data.remediationEta.eta) } }
        : {}),
    };
    const url = this.url(
      this.assignmentPath(resourceId, assessmentKey, assignmentKey),
      GOVERNANCE_API_VERSION,
    );
    const response = await this.request('PUT', url, JSON.stringify({ properties }));
    if (response.status !== 200 && response.status !== 201) throw armErrorOf(response, `PUT ${what}`);
    return {
      assignment: parseOne(GovernanceAssignmentSchema, parseBody(response, what), what),
      created: response.status === 201,
    };
  }

  /** Deletes a governance assignment; `false` when it was already absent (204). */
  async deleteGovernanceAssignment(
    resourceId: string,
    assessmentKey: string,
    assignmentKey: string,
  ): Promise<boolean> {
    const url = this.url(
      this.assignmentPath(resourceId, assessmentKey, assignmentKey),
      GOVERNANCE_API_VERSION,
    );
    const response = await this.request('DELETE', url);
    if (response.status === 200 || response.status === 202) return true;
    if (response.status === 204 || response.status === 404) return false;
    throw armErrorOf(response, `DELETE governance assignment ${assignmentKey}`);
  }

  /**
   * Sets the status of a Defender for IoT alert: `PATCH <alert id>` with
   * `{"properties":{"status":…}}` at api-version 2021-07-01-preview (`IotAlerts_Patch`,
   * Azure/azure-rest-api-specs specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/
   * preview/2021-07-01-preview/alerts.json and its example PatchAlert.json). Setting the status it
   * already has changes nothing, so a repeat after a crash is harmless.
   *
   * @param alertId `/subscriptions/…/providers/Microsoft.IoTSecurity/locations/…/deviceGroups/…/alerts/<id>`
   */
  async setIotAlertStatus(alertId: string, status: 'New' | 'InProgress' | 'Closed'): Promise<IotAlertState> {
    const url = this.url(alertId, IOT_ALERTS_API_VERSION);
    const raw = await this.requestJson(
      'PATCH',
      url,
      JSON.stringify({ properties: { status } }),
      `IoT alert ${alertId}`,
    );
    return iotAlertStateOf(raw);
  }

  /**
   * Learns an alert (its traffic becomes baseline) and closes it: the RBAC operation
   * `Microsoft.IoTSecurity/locations/deviceGroups/alerts/learn/write` "Learn and close the alert"
   * (MicrosoftDocs/azure-docs articles/role-based-access-control/permissions/internet-of-things.md;
   * older versions of the page: `learn/action`). UNVERIFIED path: no published REST spec has it
   * (searched every stored alerts.json of Azure/azure-rest-api-specs and its examples); sent as
   * `POST <alert id>/learn`, the form ARM gives an action named after its operation.
   */
  async learnIotAlert(alertId: string): Promise<IotAlertState> {
    const url = this.url(`${alertId}/learn`, IOT_ALERTS_API_VERSION);
    const raw = await this.requestJson('POST', url, undefined, `IoT alert ${alertId} learn`);
    return iotAlertStateOf(raw);
  }

  /** One Defender for IoT alert's status (`IotAlerts_Get`), or undefined when it does not exist. */
  async getIotAlert(alertId: string): Promise<IotAlertState | undefined> {
    const url = this.url(alertId, IOT_ALERTS_API_VERSION);
    const raw = await this.requestJson('GET', url, undefined, `IoT alert ${alertId}`, {
      notFound: 'undefined',
    });
    return raw === undefined ? undefined : iotAlertStateOf(raw);
  }

  /** Sends one raw request through the pipeline (bearer token, our HttpClient). */
  async request(method: HttpMethods, url: string, body?: string): Promise<PipelineResponse> {
    this.assertOwnOrigin(url);
    const request = createPipelineRequest({
      url,
      method,
      headers: createHttpHeaders({
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
      }),
      ...(body === undefined ? {} : { body }),
    });
    return this.options.pipeline.sendRequest(this.options.httpClient, request);
  }

  private async requestJson(
    method: HttpMethods,
    url: string,
    body: string | undefined,
    what: string,
    options: { notFound?: 'undefined' } = {},
  ): Promise<unknown> {
    const response = await this.request(method, url, body);
    if (response.status === 404 && options.notFound === 'undefined') return undefined;
    if (response.status < 200 || response.status >= 300) throw armErrorOf(response, `${method} ${what}`);
    return parseBody(response, what);
  }

  private securityCenter(): SecurityCenter {
    if (!this.sdk) {
      // The subscription id of the SDK client is used only by subscription-scoped operations,
      // none of which Snowline calls: assessments take an explicit scope.
      this.sdk = new SecurityCenter(this.options.credential, '00000000-0000-0000-0000-000000000000', {
        endpoint: this.base.origin,
        credentialScopes: [armScopeOf(this.options.armUrl)],
        httpClient: this.options.httpClient,
        userAgentOptions: { userAgentPrefix: 'snowline' },
      });
      removeSdkRetries(this.sdk.pipeline);
    }
    return this.sdk;
  }

  private url(path: string, apiVersion: string, query: Record<string, string> = {}): string {
    const url = new URL(path.replace(/^\/*/, '/').replace(/\/{2,}/g, '/'), this.base);
    url.searchParams.set('api-version', apiVersion);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url.toString();
  }

  /** A nextLink is absolute; `api-version` is added only when it lacks one (as the SDK does). */
  private nextUrl(nextLink: string, apiVersion: string): string {
    const url = new URL(nextLink, this.base);
    if (!url.searchParams.has('api-version')) url.searchParams.set('api-version', apiVersion);
    return url.toString();
  }

  /**
   * A bearer token for ARM must only ever go to ARM: a `nextLink` pointing elsewhere (a
   * misconfigured proxy, a hostile answer) is refused before the token is attached.
   */
  private assertOwnOrigin(url: string): void {
    if (new URL(url).origin !== this.base.origin) {
      throw new UpstreamError(
        'arm',
        undefined,
        `refusing to send the ARM token to ${safeUrl(url)}: it is not on ${this.base.origin}`,
        {
          retryable: false,
        },
      );
    }
  }

  private assignmentsPath(scope: string, assessmentKey: string): string {
    return `/${trimScope(scope)}/providers/Microsoft.Security/assessments/${encodeURIComponent(assessmentKey)}/governanceAssignments`;
  }

  private assignmentPath(resourceId: string, assessmentKey: string, assignmentKey: string): string {
    return `${this.assignmentsPath(resourceId, assessmentKey)}/${encodeURIComponent(assignmentKey)}`;
  }
}

/** Scope or resource id without leading slashes: ARM examples pass `subscriptions/<id>/…`. */
function trimScope(scope: string): string {
  return scope.replace(/^\/+/, '');
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}

function parseBody(response: PipelineResponse, what: string): unknown {
  const text = response.bodyAsText ?? '';
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UpstreamError(
      'arm',
      response.status,
      `ARM answered ${what} with a body that is not JSON (${text.slice(0, 120)})`,
      {
        cause: error,
        retryable: false,
      },
    );
  }
}

function parseOne<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const page = parseRecords(schema, [raw], `arm ${what}`);
  const item = page.items[0];
  if (item === undefined) throw page.problems[0]?.error ?? new InputError(`arm ${what} could not be read`);
  return item;
}

/** Maps a non-2xx ARM answer to an {@link ArmError} carrying ARM's code and message. */
export function armErrorOf(response: PipelineResponse | HttpResponse, what: string): ArmError {
  const text =
    'bodyAsText' in response ? (response.bodyAsText ?? '') : (response as HttpResponse).body.toString('utf8');
  let code = `Http${response.status}`;
  let message = text.slice(0, 300).trim() || 'no error body';
  let target: string | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; target?: unknown } };
    if (parsed.error && typeof parsed.error === 'object') {
      if (typeof parsed.error.code === 'string') code = parsed.error.code;
      if (typeof parsed.error.message === 'string') message = parsed.error.message;
      if (typeof parsed.error.target === 'string') target = parsed.error.target;
    }
  } catch {
    // Not JSON (a proxy's HTML page): the text itself is the best message there is.
  }
  return new ArmError(
    response.status,
    code,
    `ARM refused ${what}: ${response.status} ${code}: ${message}${hint(response.status)}`,
    target,
  );
}

function hint(status: number): string {
  if (status === 401) return ' (check defender.auth and defender.tenantId)';
  if (status === 403)
    return ' (the identity lacks a role on this scope, e.g. Security Reader, or Security Admin for governance writes)';
  return '';
}

/** Errors thrown inside `@azure/arm-security`: RestErrors become {@link ArmError}; ours pass through. */
function fromSdkError(error: unknown, what: string): Error {
  if (isRestError(error) && error.statusCode !== undefined) {
    const code = error.code ?? `Http${error.statusCode}`;
    return new ArmError(
      error.statusCode,
      code,
      `ARM refused GET ${what}: ${error.statusCode} ${code}: ${error.message}${hint(error.statusCode)}`,
      undefined,
      {
        cause: error,
      },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * `@azure/arm-security` flattens `properties` into the model and turns dates into `Date`s;
 * this puts the wire shape back so one schema parses both paths.
 */
function sdkToWire(model: unknown): unknown {
  if (!model || typeof model !== 'object') return model;
  const { id, name, type, ...properties } = model as Record<string, unknown>;
  return { id, name, type, properties };
}

/**
 * How long to pause when ARM says a subscription's or tenant's remaining request quota is 0
 * and names no `Retry-After`. ARM's token buckets refill continuously (reads: about 25 per
 * second per subscription in the current model), so a short pause lets the bucket refill
 * instead of spending the next request on a 429; if ARM still answers 429, its Retry-After is
 * honoured by the retry loop. Kept under the limiter's longest accepted wait.
 */
export const ARM_QUOTA_EXHAUSTED_PAUSE_MS = 2_000;

/**
 * Watches ARM's `x-ms-ratelimit-remaining-*` headers and pauses the ARM limiter when one
 * reaches 0. Passed to the ARM {@link SnowlineHttpClient} as its response observer.
 */
export function armQuotaObserver(
  limiter: RequestLimiter,
  clock: Clock,
  logger?: Logger,
  pauseMs = ARM_QUOTA_EXHAUSTED_PAUSE_MS,
): (response: HttpResponse) => void {
  return (response) => {
    if (header(response.headers, 'retry-after') !== undefined) return;
    for (const [name, value] of Object.entries(response.headers)) {
      if (!name.toLowerCase().startsWith('x-ms-ratelimit-remaining-')) continue;
      const remaining = Number(Array.isArray(value) ? value[0] : value);
      if (Number.isFinite(remaining) && remaining <= 0) {
        logger?.debug({ service: 'arm', header: name, pauseMs }, 'ARM request quota spent; pausing');
        pauseQuietly(limiter, new Date(clock.now().getTime() + pauseMs), `${name} reached 0`);
        return;
      }
    }
  };
}

/**
 * Pauses the limiter without throwing: the answer in hand is good and is returned; a pause
 * longer than the limiter accepts makes the *next* request raise `RateLimitedError` instead.
 */
export function pauseQuietly(limiter: RequestLimiter, until: Date, detail: string): void {
  try {
    limiter.pauseUntil(until, detail);
  } catch (error) {
    if (!isRateLimitedError(error)) throw error;
  }
}

function iotAlertStateOf(raw: unknown): IotAlertState {
  const body = raw as { id?: unknown; properties?: { status?: unknown } } | undefined;
  if (typeof body?.id !== 'string' || typeof body.properties?.status !== 'string')
    throw new UpstreamError('arm', 200, 'ARM answered an IoT alert request without the alert id and status', {
      retryable: false,
    });
  return { id: body.id, status: body.properties.status };
}
