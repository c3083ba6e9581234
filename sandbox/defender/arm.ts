import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { AssessmentMetadata } from '../dataset/index.js';
import { armError } from './http.js';
import {
  governanceAssignmentKey,
  type DefenderState,
  type GovernanceAssignmentRecord,
  type GovernanceRuleRecord,
  type LiveAssessment,
} from './state.js';

/** api-versions the assessment operations accept. 2025-05-04 adds `Critical` and `risk`. */
export const ASSESSMENT_API_VERSIONS = ['2019-01-01-preview', '2020-01-01', '2021-06-01', '2025-05-04'];
/** api-versions of the assessment metadata operations. */
export const METADATA_API_VERSIONS = ['2019-01-01-preview', '2020-01-01', '2021-06-01', '2025-05-04'];
/** Governance exists only at 2022-01-01-preview (contract §3). */
export const GOVERNANCE_API_VERSIONS = ['2022-01-01-preview'];
const LATEST = '2025-05-04';

const ASSESSMENT_NAME = /^[-\w._()]+$/;
const GUIDISH = /^[0-9a-fA-F-]{1,64}$/;

/** A parsed `{scope}` path parameter. */
export interface Scope {
  kind: 'tenant' | 'subscription' | 'resourceGroup' | 'resource' | 'managementGroup';
  /** Leading slash, single slashes, no trailing slash; '' for the tenant. */
  path: string;
  subscriptionId?: string;
}

/** Collapses `//`, adds the leading slash and drops a trailing one: ARM accepts scopes with or without the leading slash. */
export function normalisePath(path: string): string {
  const collapsed = ('/' + path).replace(/\/{2,}/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : '';
}

/** Parses a scope; `null` when malformed. */
export function parseScope(raw: string): Scope | null {
  const path = normalisePath(raw);
  if (path === '') return { kind: 'tenant', path };
  const seg = path.slice(1).split('/');
  if (seg[0]?.toLowerCase() === 'providers') {
    if (
      seg.length === 4 &&
      seg[1]?.toLowerCase() === 'microsoft.management' &&
      seg[2]?.toLowerCase() === 'managementgroups' &&
      seg[3]
    ) {
      return { kind: 'managementGroup', path };
    }
    return null;
  }
  if (seg[0]?.toLowerCase() !== 'subscriptions' || !seg[1] || !GUIDISH.test(seg[1])) return null;
  const subscriptionId = seg[1];
  if (seg.length === 2) return { kind: 'subscription', path, subscriptionId };
  if (seg[2]?.toLowerCase() !== 'resourcegroups' || !seg[3]) return null;
  if (seg.length === 4) return { kind: 'resourceGroup', path, subscriptionId };
  // .../providers/{namespace}/{type}/{name}[/{type}/{name}]*
  if (seg[4]?.toLowerCase() !== 'providers' || seg.length < 8 || (seg.length - 6) % 2 !== 0) return null;
  if (seg.some((s) => s === '')) return null;
  return { kind: 'resource', path, subscriptionId };
}

type Handler = (
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
  apiVersion: string,
) => Promise<Response> | Response;

interface Route {
  /** Lower-case literal segments after `providers/Microsoft.Security/`; `*` = a name. */
  pattern: string[];
  methods: Record<string, Handler>;
  versions: (state: DefenderState) => readonly string[];
}

const governanceVersions = (state: DefenderState) => [
  ...GOVERNANCE_API_VERSIONS,
  ...state.behaviour.extraGovernanceApiVersions,
];

const ROUTES: Route[] = [
  { pattern: ['assessments'], methods: { GET: listAssessments }, versions: () => ASSESSMENT_API_VERSIONS },
  { pattern: ['assessments', '*'], methods: { GET: getAssessment }, versions: () => ASSESSMENT_API_VERSIONS },
  { pattern: ['assessmentmetadata'], methods: { GET: listMetadata }, versions: () => METADATA_API_VERSIONS },
  {
    pattern: ['assessmentmetadata', '*'],
    methods: { GET: getMetadata },
    versions: () => METADATA_API_VERSIONS,
  },
  {
    pattern: ['assessments', '*', 'governanceassignments'],
    methods: { GET: listGovernanceAssignments },
    versions: governanceVersions,
  },
  {
    pattern: ['assessments', '*', 'governanceassignments', '*'],
    methods: {
      GET: getGovernanceAssignment,
      PUT: putGovernanceAssignment,
      DELETE: deleteGovernanceAssignment,
    },
    versions: governanceVersions,
  },
  { pattern: ['governancerules'], methods: { GET: listGovernanceRules }, versions: governanceVersions },
  {
    pattern: ['governancerules', '*'],
    methods: { GET: getGovernanceRule, PUT: putGovernanceRule, DELETE: deleteGovernanceRule },
    versions: governanceVersions,
  },
  {
    pattern: ['governancerules', '*', 'execute'],
    methods: { POST: executeGovernanceRule },
    versions: governanceVersions,
  },
  {
    pattern: ['governancerules', '*', 'operationresults', '*'],
    methods: { GET: getOperationResult },
    versions: governanceVersions,
  },
];

const SECURITY_PROVIDER = '/providers/microsoft.security/';

/**
 * Routes a Microsoft.Security request. Provider and resource-type segments match
 * case-insensitively (ARM does); the scope is everything before the last
 * `/providers/Microsoft.Security/`.
 */
export async function handleArm(c: Context, state: DefenderState): Promise<Response> {
  const rawPath = decodeURIComponent(new URL(c.req.url).pathname);
  const path = normalisePath(rawPath);
  const at = path.toLowerCase().lastIndexOf(SECURITY_PROVIDER);
  if (at < 0)
    return armError(
      c,
      404,
      'NotFound',
      `No HTTP resource was found that matches the request URI '${rawPath}'.`,
    );
  const scopeText = path.slice(0, at);
  const rest = path.slice(at + SECURITY_PROVIDER.length).split('/');
  const route = ROUTES.find(
    (r) =>
      r.pattern.length === rest.length &&
      r.pattern.every((p, i) => p === '*' || p === rest[i]?.toLowerCase()),
  );
  if (!route) {
    return armError(
      c,
      400,
      'InvalidResourceType',
      `The resource type '${rest.filter((_, i) => i % 2 === 0).join('/')}' could not be found in the namespace 'Microsoft.Security'.`,
    );
  }
  const handler = route.methods[c.req.method];
  if (!handler) return methodNotAllowed(c);
  const apiVersion = c.req.query('api-version') ?? '';
  const badVersion = apiVersionProblem(c, route.versions(state));
  if (badVersion) return badVersion;
  const scope = parseScope(scopeText);
  if (!scope)
    return armError(c, 400, 'InvalidScope', `The scope '${scopeText || '/'}' is not a valid scope.`);
  const noSubscription = scope.subscriptionId ? subscriptionProblem(c, state, scope.subscriptionId) : null;
  if (noSubscription) return noSubscription;
  return handler(c, state, scope, rest, apiVersion);
}

/** ARM's answer to a missing or unsupported api-version, or null when the request's is supported. */
export function apiVersionProblem(c: Context, supported: readonly string[]): Response | null {
  const apiVersion = c.req.query('api-version');
  if (!apiVersion) {
    return armError(
      c,
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
  if (!supported.includes(apiVersion)) {
    return armError(
      c,
      400,
      'InvalidApiVersionParameter',
      `The api-version '${apiVersion}' is invalid. The supported versions are '${supported.join(',')}'.`,
    );
  }
  return null;
}

/** ARM's answer to a method the resource does not support. */
export function methodNotAllowed(c: Context): Response {
  return armError(
    c,
    405,
    'MethodNotAllowed',
    `The requested resource does not support http method '${c.req.method}'.`,
  );
}

/** ARM's answer to an unknown subscription, or null when the sandbox has it. */
export function subscriptionProblem(
  c: Context,
  state: DefenderState,
  subscriptionId: string,
): Response | null {
  if (state.hasSubscription(subscriptionId)) return null;
  return armError(c, 404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
}

function origin(c: Context): string {
  return new URL(c.req.url).origin;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function pageOf<T>(
  c: Context,
  items: readonly T[],
  pageSize: number,
  toJson: (item: T) => unknown,
): Response {
  const token = c.req.query('$skipToken');
  const offset = token === undefined ? 0 : Number(token);
  if (!Number.isInteger(offset) || offset < 0)
    return armError(c, 400, 'InvalidSkipToken', `The skip token '${token}' is invalid.`);
  const slice = items.slice(offset, offset + pageSize);
  const body: { value: unknown[]; nextLink?: string } = { value: slice.map(toJson) };
  if (offset + pageSize < items.length) {
    const url = new URL(c.req.url);
    url.searchParams.set('$skipToken', String(offset + pageSize));
    // Absolute, pointing back at the sandbox: the SDK follows nextLink verbatim.
    body.nextLink = `${origin(c)}${url.pathname}?${url.searchParams.toString()}`;
  }
  return c.json(body);
}

// ---- assessments ----------------------------------------------------------------------------

const scopeCache = new WeakMap<DefenderState, Map<string, number[]>>();

/** Indices of the assessments inside a scope (membership never changes, only status does). */
function assessmentsIn(state: DefenderState, scope: Scope): number[] {
  let cache = scopeCache.get(state);
  if (!cache) scopeCache.set(state, (cache = new Map()));
  const key = scope.path.toLowerCase();
  // Assessments added through the control API change the lists: the cache keys on their version.
  const cacheKey = `${state.assessmentSetVersion}|${key}`;
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const out: number[] = [];
  const prefix = key + '/';
  for (let i = 0; i < state.assessmentCount; i++) {
    const a = state.assessmentRecord(i);
    if (!a) continue;
    if (scope.kind === 'managementGroup' || scope.kind === 'tenant') out.push(i);
    else if (scope.kind === 'subscription') {
      if (a.subscriptionId.toLowerCase() === scope.subscriptionId?.toLowerCase()) out.push(i);
    } else {
      // UNVERIFIED: listing below subscription scope is undocumented; filter on the resource id.
      const id = a.resourceId.toLowerCase();
      if (id === key || id.startsWith(prefix)) out.push(i);
    }
  }
  if (cache.size > 256) cache.clear();
  cache.set(cacheKey, out);
  return out;
}

/** Severity as a given api-version can express it. */
export function severityAt(state: DefenderState, m: AssessmentMetadata, apiVersion: string): string {
  return m.severity === 'Critical' && apiVersion !== LATEST
    ? state.behaviour.criticalSeverityBefore20250504
    : m.severity;
}

/** ARM `SecurityAssessmentMetadataProperties`. */
export function metadataProperties(
  state: DefenderState,
  m: AssessmentMetadata,
  apiVersion: string,
): Record<string, unknown> {
  return {
    displayName: m.displayName,
    policyDefinitionId: m.policyDefinitionId,
    description: m.description,
    remediationDescription: m.remediationDescription,
    categories: m.categories,
    severity: severityAt(state, m, apiVersion),
    userImpact: m.userImpact,
    implementationEffort: m.implementationEffort,
    threats: m.threats,
    // The schema names it `GA`, the 2021-06-01 example `ga`; the sandbox follows the example.
    publishDates: { ga: m.publishDates.GA, public: m.publishDates.public },
    assessmentType: m.assessmentType,
    preview: m.preview,
  };
}

function portalLink(key: string): string {
  return `https://portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/${key}`;
}

/** ARM assessment JSON. Lists carry neither metadata nor links (contract §0.2). */
export function assessmentJson(
  state: DefenderState,
  a: LiveAssessment,
  apiVersion: string,
  expand: { links?: boolean; metadata?: boolean } = {},
): Record<string, unknown> {
  const m = state.metadata(a.key);
  const status: Record<string, unknown> = { code: a.code };
  if (a.cause !== undefined) status['cause'] = a.cause;
  if (a.description !== undefined) status['description'] = a.description;
  status['firstEvaluationDate'] = iso(a.firstEvaluationDate);
  status['statusChangeDate'] = iso(a.statusChangeDate);
  const properties: Record<string, unknown> = {
    resourceDetails: { source: 'Azure', id: a.resourceId },
    displayName: m?.displayName ?? a.key,
    status,
  };
  if (expand.links) properties['links'] = { azurePortalUri: portalLink(a.key) };
  if (expand.metadata && m) properties['metadata'] = metadataProperties(state, m, apiVersion);
  if (apiVersion === LATEST && a.code === 'Unhealthy') {
    properties['risk'] = {
      level: a.riskLevel ?? 'Medium',
      riskFactors:
        a.riskLevel === 'Critical' || a.riskLevel === 'High' ? ['Internet exposure', 'Sensitive data'] : [],
      attackPathsReferences: [],
      isContextualRisk: false,
    };
  }
  return { id: a.id, name: a.key, type: 'Microsoft.Security/assessments', properties };
}

function listAssessments(
  c: Context,
  state: DefenderState,
  scope: Scope,
  _rest: string[],
  apiVersion: string,
): Response {
  if (scope.kind === 'tenant')
    return armError(
      c,
      400,
      'InvalidScope',
      'Assessments are listed at a subscription or management group scope.',
    );
  const indices = assessmentsIn(state, scope);
  return pageOf(c, indices, state.behaviour.armPageSize, (i) =>
    assessmentJson(state, state.assessment(i), apiVersion),
  );
}

function parseExpand(c: Context): { links?: boolean; metadata?: boolean } | string {
  const raw = c.req.query('$expand');
  if (raw === undefined || raw === '') return {};
  const out: { links?: boolean; metadata?: boolean } = {};
  for (const part of raw.split(',').map((p) => p.trim().toLowerCase())) {
    if (part === 'links') out.links = true;
    else if (part === 'metadata') out.metadata = true;
    else return `The $expand value '${raw}' is invalid. Allowed values: links, metadata.`;
  }
  return out;
}

function getAssessment(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
  apiVersion: string,
): Response {
  const name = rest[1] as string;
  const expand = parseExpand(c);
  if (typeof expand === 'string') return armError(c, 400, 'InvalidExpand', expand);
  const index = state.findAssessment(scope.path, name);
  if (index === undefined)
    return armError(c, 404, 'NotFound', `Assessment '${name}' was not found on '${scope.path}'.`);
  return c.json(assessmentJson(state, state.assessment(index), apiVersion, expand));
}

// ---- metadata -------------------------------------------------------------------------------

function metadataJson(
  state: DefenderState,
  m: AssessmentMetadata,
  apiVersion: string,
): Record<string, unknown> {
  // Built-in metadata keeps its tenant-level id even when read through a subscription (as in the examples).
  return {
    id: `/providers/Microsoft.Security/assessmentMetadata/${m.key}`,
    name: m.key,
    type: 'Microsoft.Security/assessmentMetadata',
    properties: metadataProperties(state, m, apiVersion),
  };
}

function listMetadata(
  c: Context,
  state: DefenderState,
  scope: Scope,
  _rest: string[],
  apiVersion: string,
): Response {
  if (scope.kind !== 'tenant' && scope.kind !== 'subscription') {
    return armError(c, 400, 'InvalidScope', 'Assessment metadata is read at the tenant or a subscription.');
  }
  return pageOf(c, state.estate.assessmentMetadata, state.behaviour.armPageSize, (m) =>
    metadataJson(state, m, apiVersion),
  );
}

function getMetadata(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
  apiVersion: string,
): Response {
  if (scope.kind !== 'tenant' && scope.kind !== 'subscription') {
    return armError(c, 400, 'InvalidScope', 'Assessment metadata is read at the tenant or a subscription.');
  }
  const m = state.metadata(rest[1] as string);
  if (!m) return armError(c, 404, 'NotFound', `Assessment metadata '${rest[1]}' was not found.`);
  return c.json(metadataJson(state, m, apiVersion));
}

// ---- governance assignments -----------------------------------------------------------------

function assignmentId(g: GovernanceAssignmentRecord): string {
  return `${g.resourceId}/providers/Microsoft.Security/assessments/${g.assessmentKey}/governanceAssignments/${g.assignmentKey}`;
}

export function governanceAssignmentJson(g: GovernanceAssignmentRecord): Record<string, unknown> {
  return {
    id: assignmentId(g),
    name: g.assignmentKey,
    type: 'Microsoft.Security/assessments/governanceAssignments',
    properties: g.properties,
  };
}

/**
 * The assignments that pass `keep`, in id order. Filtered before sorting: an estate holds tens of
 * thousands of assignments and a listing asks for one assessment's few.
 */
function sortedAssignments(
  state: DefenderState,
  keep: (g: GovernanceAssignmentRecord) => boolean,
): GovernanceAssignmentRecord[] {
  const kept: { id: string; g: GovernanceAssignmentRecord }[] = [];
  for (const g of state.governanceAssignments.values())
    if (keep(g)) kept.push({ id: assignmentId(g).toLowerCase(), g });
  return kept.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((k) => k.g);
}

function checkAssessmentName(c: Context, name: string): Response | null {
  return ASSESSMENT_NAME.test(name)
    ? null
    : armError(c, 400, 'InvalidAssessmentName', `The assessment name '${name}' is invalid.`);
}

function listGovernanceAssignments(c: Context, state: DefenderState, scope: Scope, rest: string[]): Response {
  const key = (rest[1] as string).toLowerCase();
  const bad = checkAssessmentName(c, key);
  if (bad) return bad;
  if (scope.kind === 'tenant')
    return armError(
      c,
      400,
      'InvalidScope',
      'Governance assignments are listed at a subscription or resource scope.',
    );
  const prefix = scope.path.toLowerCase();
  const items = sortedAssignments(state, (g) => {
    if (g.assessmentKey.toLowerCase() !== key) return false;
    if (scope.kind === 'managementGroup') return true;
    const id = g.resourceId.toLowerCase();
    return id === prefix || id.startsWith(prefix + '/');
  });
  return pageOf(c, items, state.behaviour.armPageSize, governanceAssignmentJson);
}

function getGovernanceAssignment(c: Context, state: DefenderState, scope: Scope, rest: string[]): Response {
  const bad = checkAssessmentName(c, rest[1] as string);
  if (bad) return bad;
  const g = state.governanceAssignments.get(
    governanceAssignmentKey(scope.path, rest[1] as string, rest[3] as string),
  );
  if (!g) return armError(c, 404, 'NotFound', `Governance assignment '${rest[3]}' was not found.`);
  return c.json(governanceAssignmentJson(g));
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;

function isDateTime(v: unknown): v is string {
  return (
    typeof v === 'string' && DATE_TIME.test(v) && !Number.isNaN(Date.parse(v.replace(/\.(\d{3})\d+/, '.$1')))
  );
}

/** Validates a GovernanceAssignment body; returns the stored properties or an error message. */
export function validateGovernanceAssignment(body: unknown): Record<string, unknown> | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'The request body must be a JSON object.';
  const props = (body as { properties?: unknown }).properties;
  if (typeof props !== 'object' || props === null || Array.isArray(props))
    return "The 'properties' object is required.";
  const p = props as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (p['owner'] !== undefined) {
    if (typeof p['owner'] !== 'string') return "'properties.owner' must be a string.";
    out['owner'] = p['owner'];
  }
  if (p['remediationDueDate'] === undefined) return "'properties.remediationDueDate' is required.";
  if (!isDateTime(p['remediationDueDate']))
    return "'properties.remediationDueDate' must be an ISO 8601 date-time.";
  out['remediationDueDate'] = p['remediationDueDate'];
  if (p['remediationEta'] !== undefined) {
    const eta = p['remediationEta'] as Record<string, unknown> | null;
    if (
      typeof eta !== 'object' ||
      eta === null ||
      !isDateTime(eta['eta']) ||
      typeof eta['justification'] !== 'string'
    ) {
      return "'properties.remediationEta' needs 'eta' (date-time) and 'justification' (string).";
    }
    out['remediationEta'] = { eta: eta['eta'], justification: eta['justification'] };
  }
  if (p['isGracePeriod'] !== undefined) {
    if (typeof p['isGracePeriod'] !== 'boolean') return "'properties.isGracePeriod' must be a boolean.";
    out['isGracePeriod'] = p['isGracePeriod'];
  }
  if (p['governanceEmailNotification'] !== undefined) {
    const n = p['governanceEmailNotification'] as Record<string, unknown> | null;
    if (typeof n !== 'object' || n === null)
      return "'properties.governanceEmailNotification' must be an object.";
    const copy: Record<string, unknown> = {};
    for (const k of ['disableManagerEmailNotification', 'disableOwnerEmailNotification']) {
      if (n[k] === undefined) continue;
      if (typeof n[k] !== 'boolean')
        return `'properties.governanceEmailNotification.${k}' must be a boolean.`;
      copy[k] = n[k];
    }
    out['governanceEmailNotification'] = copy;
  }
  if (p['additionalData'] !== undefined) {
    const d = p['additionalData'] as Record<string, unknown> | null;
    if (typeof d !== 'object' || d === null) return "'properties.additionalData' must be an object.";
    const copy: Record<string, unknown> = {};
    if (d['ticketNumber'] !== undefined) {
      const n = d['ticketNumber'];
      // int32, minimum 0 (contract §3.1): a string such as "INC0010001" is rejected.
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2147483647) {
        return "'properties.additionalData.ticketNumber' must be an integer between 0 and 2147483647.";
      }
      copy['ticketNumber'] = n;
    }
    for (const k of ['ticketLink', 'ticketStatus']) {
      if (d[k] === undefined) continue;
      if (typeof d[k] !== 'string') return `'properties.additionalData.${k}' must be a string.`;
      copy[k] = d[k];
    }
    out['additionalData'] = copy;
  }
  return out;
}

/**
 * The request body, parsed and checked by `validate` (a string is what is wrong), or ARM's 400
 * `InvalidRequestContent` answer.
 */
export async function validatedBody<T>(
  c: Context,
  validate: (body: unknown) => T | string,
): Promise<T | Response> {
  const body = await readJson(c);
  if (!body.ok)
    return armError(
      c,
      400,
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    );
  const value = validate(body.value);
  return typeof value === 'string' ? armError(c, 400, 'InvalidRequestContent', value) : value;
}

async function readJson(c: Context): Promise<{ ok: true; value: unknown } | { ok: false }> {
  const text = await c.req.text();
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

async function putGovernanceAssignment(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
): Promise<Response> {
  const assessmentKey = rest[1] as string;
  const assignmentKey = rest[3] as string;
  const bad = checkAssessmentName(c, assessmentKey);
  if (bad) return bad;
  const properties = await validatedBody(c, validateGovernanceAssignment);
  if (properties instanceof Response) return properties;
  const index = state.findAssessment(scope.path, assessmentKey);
  if (index === undefined) {
    return armError(c, 404, 'NotFound', `Assessment '${assessmentKey}' was not found on '${scope.path}'.`);
  }
  const assessment = state.assessment(index);
  const key = governanceAssignmentKey(assessment.resourceId, assessmentKey, assignmentKey);
  const existed = state.governanceAssignments.has(key);
  // PUT replaces the whole assignment: fields absent from the body are gone afterwards.
  const record: GovernanceAssignmentRecord = {
    resourceId: assessment.resourceId,
    assessmentKey: assessment.key,
    assignmentKey,
    subscriptionId: assessment.subscriptionId,
    properties,
  };
  state.governanceAssignments.set(key, record);
  state.touch();
  return c.json(governanceAssignmentJson(record), existed ? 200 : 201);
}

function deleteGovernanceAssignment(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
): Response {
  const bad = checkAssessmentName(c, rest[1] as string);
  if (bad) return bad;
  const key = governanceAssignmentKey(scope.path, rest[1] as string, rest[3] as string);
  if (!state.governanceAssignments.delete(key)) return c.body(null, 204);
  state.touch();
  return c.body(null, 200);
}

// ---- governance rules -----------------------------------------------------------------------

function ruleKey(scope: string, ruleId: string): string {
  return `${scope.toLowerCase()}|${ruleId.toLowerCase()}`;
}

export function governanceRuleJson(r: GovernanceRuleRecord): Record<string, unknown> {
  // The examples' rule ids have no leading slash; the sandbox keeps that quirk.
  return {
    id: `${r.scope.replace(/^\//, '')}/providers/Microsoft.Security/governanceRules/${r.ruleId}`,
    name: r.ruleId,
    type: 'Microsoft.Security/governanceRules',
    properties: r.properties,
  };
}

function ruleScopeError(c: Context, scope: Scope): Response | null {
  if (scope.kind === 'subscription' || scope.kind === 'managementGroup') return null;
  return armError(
    c,
    400,
    'InvalidScope',
    'Governance rules live at a subscription or management group scope.',
  );
}

function listGovernanceRules(c: Context, state: DefenderState, scope: Scope): Response {
  const bad = ruleScopeError(c, scope);
  if (bad) return bad;
  const items = [...state.governanceRules.values()]
    .filter((r) => r.scope.toLowerCase() === scope.path.toLowerCase())
    .sort((a, b) => (a.ruleId < b.ruleId ? -1 : 1));
  return pageOf(c, items, state.behaviour.armPageSize, governanceRuleJson);
}

function getGovernanceRule(c: Context, state: DefenderState, scope: Scope, rest: string[]): Response {
  const bad = ruleScopeError(c, scope);
  if (bad) return bad;
  const r = state.governanceRules.get(ruleKey(scope.path, rest[1] as string));
  if (!r) return armError(c, 404, 'NotFound', `Governance rule '${rest[1]}' was not found.`);
  return c.json(governanceRuleJson(r));
}

const TIMEFRAME = /^[0-9]+\.[0-9]{2}:[0-9]{2}:[0-9]{2}$/;

export function validateGovernanceRule(body: unknown): Record<string, unknown> | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'The request body must be a JSON object.';
  const p = (body as { properties?: unknown }).properties as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return "The 'properties' object is required.";
  if (typeof p['displayName'] !== 'string' || p['displayName'] === '')
    return "'properties.displayName' is required.";
  const priority = p['rulePriority'];
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 1000) {
    return "'properties.rulePriority' is required: an integer from 0 to 1000.";
  }
  if (p['ruleType'] !== 'Integrated' && p['ruleType'] !== 'ServiceNow')
    return "'properties.ruleType' must be 'Integrated' or 'ServiceNow'.";
  if (p['sourceResourceType'] !== 'Assessments')
    return "'properties.sourceResourceType' must be 'Assessments'.";
  if (!Array.isArray(p['conditionSets'])) return "'properties.conditionSets' is required (an array).";
  const owner = p['ownerSource'] as Record<string, unknown> | undefined;
  if (
    typeof owner !== 'object' ||
    owner === null ||
    (owner['type'] !== 'ByTag' && owner['type'] !== 'Manually') ||
    typeof owner['value'] !== 'string'
  ) {
    return "'properties.ownerSource' is required: { type: 'ByTag' | 'Manually', value: string }.";
  }
  if (
    p['remediationTimeframe'] !== undefined &&
    (typeof p['remediationTimeframe'] !== 'string' || !TIMEFRAME.test(p['remediationTimeframe']))
  ) {
    return "'properties.remediationTimeframe' must look like '7.00:00:00'.";
  }
  // Everything else (conditionSets included) is stored verbatim: the schema and examples disagree on its shape.
  const { tenantId: _t, metadata: _m, ...rest } = p;
  return rest;
}

async function putGovernanceRule(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
): Promise<Response> {
  const bad = ruleScopeError(c, scope);
  if (bad) return bad;
  const ruleId = rest[1] as string;
  const props = await validatedBody(c, validateGovernanceRule);
  if (props instanceof Response) return props;
  const key = ruleKey(scope.path, ruleId);
  const clash = [...state.governanceRules.entries()].find(
    ([k, r]) =>
      k !== key &&
      r.scope.toLowerCase() === scope.path.toLowerCase() &&
      r.properties['rulePriority'] === props['rulePriority'],
  );
  if (clash) {
    // UNVERIFIED error code: the contract only says duplicate priorities on one scope are rejected.
    return armError(
      c,
      400,
      'GovernanceRulePriorityConflict',
      `Another rule on this scope already has priority ${props['rulePriority']}.`,
    );
  }
  const existing = state.governanceRules.get(key);
  const now = new Date(state.now()).toISOString();
  const meta = existing?.properties['metadata'] as Record<string, unknown> | undefined;
  const record: GovernanceRuleRecord = {
    scope: scope.path,
    ruleId,
    properties: {
      tenantId: state.estate.tenantId,
      excludedScopes: [],
      includeMemberScopes: false,
      ...props,
      metadata: {
        createdBy: meta?.['createdBy'] ?? 'sandbox-client',
        createdOn: meta?.['createdOn'] ?? now,
        updatedBy: 'sandbox-client',
        updatedOn: now,
      },
    },
  };
  state.governanceRules.set(key, record);
  state.touch();
  return c.json(governanceRuleJson(record), existing ? 200 : 201);
}

function operationLocation(
  c: Context,
  scope: Scope,
  ruleId: string,
  apiVersion: string,
): (opId: string) => string {
  return (opId) =>
    `${origin(c)}${scope.path}/providers/Microsoft.Security/governanceRules/${ruleId}/operationResults/${opId}?api-version=${apiVersion}`;
}

/** DELETE is a long-running operation: 202 with `Location`, or 204 when the rule does not exist. */
function deleteGovernanceRule(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
  apiVersion: string,
): Response {
  const bad = ruleScopeError(c, scope);
  if (bad) return bad;
  const ruleId = rest[1] as string;
  if (!state.governanceRules.delete(ruleKey(scope.path, ruleId))) return c.body(null, 204);
  state.touch();
  const op = state.newOperation(operationLocation(c, scope, ruleId, apiVersion));
  c.header('Location', op.location);
  c.header('Retry-After', String(state.behaviour.lroRetryAfterSeconds));
  return c.body(null, 202);
}

async function executeGovernanceRule(
  c: Context,
  state: DefenderState,
  scope: Scope,
  rest: string[],
  apiVersion: string,
): Promise<Response> {
  const bad = ruleScopeError(c, scope);
  if (bad) return bad;
  const ruleId = rest[1] as string;
  const rule = state.governanceRules.get(ruleKey(scope.path, ruleId));
  if (!rule) return armError(c, 404, 'NotFound', `Governance rule '${ruleId}' was not found.`);
  const override = await validatedBody(
    c,
    (value) => (value as { override?: unknown } | undefined)?.override === true,
  );
  if (override instanceof Response) return override;
  applyRule(state, rule, scope, override);
  const op = state.newOperation(operationLocation(c, scope, ruleId, apiVersion));
  c.header('Location', op.location);
  c.header('Retry-After', String(state.behaviour.lroRetryAfterSeconds));
  return c.body(null, 202);
}

function getOperationResult(c: Context, state: DefenderState, _scope: Scope, rest: string[]): Response {
  const op =
    state.operations.get((rest[3] as string).toLowerCase()) ?? state.operations.get(rest[3] as string);
  if (!op) return armError(c, 404, 'NotFound', `Operation '${rest[3]}' was not found.`);
  if (op.pollsLeft > 0) {
    op.pollsLeft--;
    c.header('Location', op.location);
    c.header('Retry-After', String(state.behaviour.lroRetryAfterSeconds));
    return c.body(null, 202);
  }
  return c.json({ status: op.status });
}

interface Condition {
  property?: unknown;
  value?: unknown;
  operator?: unknown;
}

function conditionHolds(cond: Condition, key: string, severity: string): boolean {
  const property = String(cond.property ?? '');
  const actual =
    property === '$.AssessmentKey' ? key : property === '$.Metadata.Severity' ? severity : undefined;
  if (actual === undefined) return false;
  const value = String(cond.value ?? '');
  if (cond.operator === 'In') {
    try {
      const list = JSON.parse(value) as unknown;
      return Array.isArray(list) && list.some((v) => String(v).toLowerCase() === actual.toLowerCase());
    } catch {
      return false;
    }
  }
  return value.toLowerCase() === actual.toLowerCase();
}

/**
 * Executes a rule: every Unhealthy assessment in scope that matches a condition set (conditions
 * in a set are ANDed, sets ORed) gets an assignment, unless it has one (or `override`).
 */
function applyRule(state: DefenderState, rule: GovernanceRuleRecord, scope: Scope, override: boolean): void {
  const p = rule.properties;
  if (p['isDisabled'] === true) return;
  const sets = (p['conditionSets'] as unknown[]).map(
    (s) => ((s as { conditions?: Condition[] }).conditions ?? []) as Condition[],
  );
  const owner = p['ownerSource'] as { type: string; value: string };
  const days = Number(String(p['remediationTimeframe'] ?? '7.00:00:00').split('.')[0]);
  for (const i of assessmentsIn(state, scope)) {
    const a = state.assessment(i);
    if (a.code !== 'Unhealthy') continue;
    const severity = state.metadata(a.key)?.severity ?? '';
    if (
      !sets.some((conds) => conds.length > 0 && conds.every((cond) => conditionHolds(cond, a.key, severity)))
    )
      continue;
    const existing = [...state.governanceAssignments.values()].find(
      (g) => g.resourceId.toLowerCase() === a.resourceId.toLowerCase() && g.assessmentKey === a.key,
    );
    if (existing && !override) continue;
    const ownerEmail = owner.type === 'Manually' ? owner.value : tagOf(state, a.resourceId, owner.value);
    const assignmentKey = existing?.assignmentKey ?? randomUUID();
    const properties: Record<string, unknown> = {
      ...(ownerEmail ? { owner: ownerEmail } : {}),
      remediationDueDate: new Date(state.now() + days * 86_400_000).toISOString(),
      isGracePeriod: p['isGracePeriod'] === true,
      ...(p['governanceEmailNotification']
        ? { governanceEmailNotification: p['governanceEmailNotification'] }
        : {}),
    };
    state.governanceAssignments.set(governanceAssignmentKey(a.resourceId, a.key, assignmentKey), {
      resourceId: a.resourceId,
      assessmentKey: a.key,
      assignmentKey,
      subscriptionId: a.subscriptionId,
      properties,
    });
  }
  state.touch();
}

/** The value of tag `key` on a resource, as it is now. */
function tagOf(state: DefenderState, resourceId: string, key: string): string | undefined {
  const resource = state.resource(resourceId);
  return resource ? state.tagsOf(resource)[key] : undefined;
}
