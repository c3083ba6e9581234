import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../../sandbox/common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../../../sandbox/common/tls.js';
import { systemClock } from '../../domain/clock.js';
import { InputError, RateLimitedError, UpstreamError } from '../../errors.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { RequestLimiter } from '../../runtime/http/limiter.js';
import { createDefenderSources, type DefenderSources } from '../index.js';
import { ArmError, armQuotaObserver } from './arm.js';
import { AssessmentSchema, type Assessment } from './models.js';

/**
 * A loopback HTTPS fake of the ARM endpoints the client calls. Lists page by `page`, with
 * absolute nextLinks; each route can be scripted with faults (reset, 5xx, 429) consumed one
 * per request.
 */
const SUB = '20ff7fc3-e762-44dd-bd96-b71116dcdc23';
const KEY = '21300918-b2e3-0346-785f-c77ff57d243b';
const VM = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`;

type Fault = 'reset' | number | { status: number; retryAfter: string };
let tls: SandboxTls;
let server: RunningServer;
let faults: Fault[] = [];
let requests: Array<{ method: string; url: string; authorization: string | undefined; body: string }> = [];
let assessmentCount = 6;
let pageSize = 2;
let extraHeaders: Record<string, string> = {};
const assignments = new Map<string, Record<string, unknown>>();

function assessment(i: number): Record<string, unknown> {
  const resource = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${i}`;
  return {
    id: `${resource}/providers/Microsoft.Security/assessments/${KEY}`,
    name: KEY,
    type: 'Microsoft.Security/assessments',
    properties: {
      resourceDetails: { source: 'Azure', id: resource },
      displayName: 'Install endpoint protection',
      status: { code: i % 2 ? 'Healthy' : 'Unhealthy', firstEvaluationDate: '2026-01-01T00:00:00Z' },
      additionalData: { linkedWorkspaceId: 'ws' },
      newFieldFromTheFuture: { kept: true },
    },
  };
}

beforeAll(async () => {
  tls = await generateSandboxTls();
  const app = new Hono();
  app.all('*', async (c) => {
    const url = new URL(c.req.url);
    requests.push({
      method: c.req.method,
      url: c.req.url,
      authorization: c.req.header('authorization'),
      body: await c.req.text(),
    });
    for (const [name, value] of Object.entries(extraHeaders)) c.header(name, value);
    const fault = faults.shift();
    if (fault === 'reset') {
      (c.env as { incoming: { socket: { destroy(): void } } }).incoming.socket.destroy();
      return new Response(null);
    }
    if (typeof fault === 'number')
      return c.json({ error: { code: 'InternalServerError', message: 'boom' } }, fault as 500);
    if (fault) {
      return c.json(
        { error: { code: 'TooManyRequests', message: 'slow down' } },
        { status: fault.status as 429, headers: { 'Retry-After': fault.retryAfter } },
      );
    }
    const path = url.pathname;
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion)
      return c.json(
        { error: { code: 'MissingApiVersionParameter', message: 'api-version is required' } },
        400,
      );
    if (path === `/subscriptions/${SUB}/providers/Microsoft.Security/assessments`) {
      const page = Number(url.searchParams.get('page') ?? 0);
      const items = Array.from({ length: assessmentCount }, (_, i) => assessment(i)).slice(
        page * pageSize,
        (page + 1) * pageSize,
      );
      // The last link leaves out api-version: the client must add it back.
      const more = (page + 1) * pageSize < assessmentCount;
      const nextLink = more
        ? `${server.url}${path}?page=${page + 1}${page % 2 === 0 ? `&api-version=${apiVersion}` : ''}`
        : undefined;
      return c.json({ value: items, ...(nextLink ? { nextLink } : {}) });
    }
    if (path === '/subscriptions/evil/providers/Microsoft.Security/assessments') {
      return c.json({
        value: [assessment(0)],
        nextLink: 'https://evil.example/steal?api-version=2021-06-01',
      });
    }
    if (path === '/providers/Microsoft.Security/assessmentMetadata') {
      return c.json({
        value: [
          {
            id: `/providers/Microsoft.Security/assessmentMetadata/${KEY}`,
            name: KEY,
            type: 'Microsoft.Security/assessmentMetadata',
            properties: {
              displayName: 'Install endpoint protection',
              severity: 'Critical',
              categories: ['Compute'],
              threats: ['dataExfiltration'],
              publishDates: { ga: '06/01/2021', public: '06/01/2021' },
              assessmentType: 'BuiltIn',
            },
          },
          { id: 'broken', name: 'broken', properties: { displayName: 'no severity' } },
        ],
      });
    }
    if (path === `${VM}/providers/Microsoft.Security/assessments/${KEY}`) {
      return c.json({
        ...assessment(1),
        properties: {
          ...(assessment(1).properties as object),
          links: { azurePortalUri: 'https://portal.azure.com/#blade/x' },
        },
      });
    }
    const governance =
      /^(.*)\/providers\/Microsoft\.Security\/assessments\/([^/]+)\/governanceAssignments(?:\/([^/]+))?$/.exec(
        path,
      );
    if (governance) {
      const [, scope, key, assignmentKey] = governance as unknown as [
        string,
        string,
        string,
        string | undefined,
      ];
      if (apiVersion !== '2022-01-01-preview')
        return c.json({ error: { code: 'InvalidApiVersionParameter', message: 'bad' } }, 400);
      const id = `${scope}/providers/Microsoft.Security/assessments/${key}/governanceAssignments/${assignmentKey}`;
      if (!assignmentKey) return c.json({ value: [...assignments.values()] });
      if (c.req.method === 'PUT') {
        const body = JSON.parse(requests.at(-1)!.body) as { properties: Record<string, unknown> };
        const existed = assignments.has(id);
        const stored = {
          id,
          name: assignmentKey,
          type: 'Microsoft.Security/assessments/governanceAssignments',
          properties: body.properties,
        };
        assignments.set(id, stored);
        return c.json(stored, existed ? 200 : 201);
      }
      if (c.req.method === 'DELETE') return c.body(null, assignments.delete(id) ? 200 : 204);
      const found = assignments.get(id);
      return found
        ? c.json(found)
        : c.json(
            {
              error: {
                code: 'GovernanceAssignmentNotFound',
                message: `Assignment ${assignmentKey} was not found`,
              },
            },
            404,
          );
    }
    return c.json(
      { error: { code: 'ResourceNotFound', message: `The resource ${path} was not found.` } },
      404,
    );
  });
  server = await listen(app, { tls });
});
afterAll(async () => server?.close());

let sources: DefenderSources;
let counters: RequestCounters;
beforeEach(async () => {
  await sources?.close();
  faults = [];
  requests = [];
  assessmentCount = 6;
  pageSize = 2;
  extraHeaders = {};
  assignments.clear();
  counters = new RequestCounters();
  sources = createDefenderSources(
    {
      tenantId: 'tenant',
      armUrl: server.url,
      authorityHost: 'https://login.microsoftonline.com',
      auth: { type: 'token', token: 'sandbox-token' },
      subscriptions: [SUB],
      sensors: [],
      tls: { caFile: tls.caFile },
    },
    {
      clock: systemClock,
      counters,
      limits: { maxWaitMs: 5_000, backoff: { baseMs: 5, maxMs: 20, maxAttempts: 4 } },
    },
  );
});
afterAll(async () => sources?.close());

async function all<T>(
  pages: AsyncIterable<{ items: T[]; problems: unknown[] }>,
): Promise<{ items: T[]; problems: unknown[]; pages: number }> {
  const items: T[] = [];
  const problems: unknown[] = [];
  let count = 0;
  for await (const page of pages) {
    count++;
    items.push(...page.items);
    problems.push(...page.problems);
  }
  return { items, problems, pages: count };
}

const ids = (items: Assessment[]) => items.map((a) => a.resourceId);

describe.each(['2021-06-01', '2025-05-04'] as const)('ArmClient.listAssessments at %s', (apiVersion) => {
  it('follows absolute nextLinks and reads an exact multiple of the page size once each', async () => {
    const { items, problems, pages } = await all(sources.arm.listAssessments(SUB, apiVersion));
    expect(pages).toBe(3);
    expect(problems).toEqual([]);
    expect(ids(items)).toEqual(
      Array.from(
        { length: 6 },
        (_, i) =>
          `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${i}`,
      ),
    );
    expect(new Set(ids(items)).size).toBe(6);
    // Three requests, no extra one after the last page; every one carried the api-version and the bearer token.
    expect(requests).toHaveLength(3);
    for (const r of requests) {
      expect(new URL(r.url).searchParams.get('api-version')).toBe(apiVersion);
      expect(r.authorization).toBe('Bearer sandbox-token');
    }
    expect(items[0]).toMatchObject({
      assessmentKey: KEY,
      resourceSource: 'Azure',
      status: { code: 'Unhealthy', firstEvaluationDate: new Date('2026-01-01T00:00:00Z') },
      additionalData: { linkedWorkspaceId: 'ws' },
    });
    expect(counters.snapshot()).toEqual({ 'arm GET 200': 3 });
  });

  it('retries a 500 and a reset, and the result is complete', async () => {
    faults = [500, 'reset'];
    const { items } = await all(sources.arm.listAssessments(SUB, apiVersion));
    expect(new Set(ids(items)).size).toBe(6);
    expect(items).toHaveLength(6);
    expect(counters.retries).toBe(2);
    expect(counters.snapshot()).toMatchObject({ 'arm GET 500': 1, 'arm GET error': 1, 'arm GET 200': 3 });
  });

  it('waits out a 429 with a short Retry-After', async () => {
    faults = [{ status: 429, retryAfter: '1' }];
    const started = Date.now();
    const { items } = await all(sources.arm.listAssessments(SUB, apiVersion));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(items).toHaveLength(6);
    expect(counters.snapshot()).toMatchObject({ 'arm GET 429': 1, 'arm GET 200': 3 });
  });

  it('defers on a 429 with a long Retry-After: RateLimitedError at now + 3600 s', async () => {
    faults = [{ status: 429, retryAfter: '3600' }];
    const error = await all(sources.arm.listAssessments(SUB, apiVersion)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    const retryAt = (error as RateLimitedError).retryAt.getTime();
    expect(Math.abs(retryAt - (Date.now() + 3_600_000))).toBeLessThan(10_000);
    expect(requests).toHaveLength(1);
  });
});

describe('ArmClient errors', () => {
  it('maps an ARM error body to ArmError with its code and message', async () => {
    const error = await all(
      sources.arm.listAll(
        '/subscriptions/nope/providers/Microsoft.Security/assessments',
        '2025-05-04',
        AssessmentSchema,
      ),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArmError);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ armCode: 'ResourceNotFound', status: 404, service: 'arm' });
    expect((error as Error).message).toContain(
      'ResourceNotFound: The resource /subscriptions/nope/providers/Microsoft.Security/assessments was not found.',
    );
  });

  it('maps an error through @azure/arm-security too, and a missing assessment is undefined', async () => {
    expect(await sources.arm.getAssessment(`${VM}x`, KEY)).toBeUndefined();
    faults = [400];
    const error = await sources.arm.getAssessment(VM, KEY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArmError);
    expect(error).toMatchObject({ status: 400 });
  });

  it('refuses a nextLink to another origin before the token leaves', async () => {
    const error = await sources.arm
      .request('GET', 'https://example.invalid/steal?api-version=1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(/refusing to send the ARM token/);
    expect(requests).toHaveLength(0);
  });
});

describe.each(['2021-06-01', '2025-05-04'] as const)('a nextLink to another origin at %s', (apiVersion) => {
  it('is refused before the token leaves, after the first page was read', async () => {
    const pages: number[] = [];
    const error = await (async () => {
      for await (const page of sources.arm.listAssessments('evil', apiVersion)) pages.push(page.items.length);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(/refusing to send .*evil\.example/);
    expect(pages).toEqual([1]);
  });
});

describe('ArmClient reads', () => {
  it('gets an assessment with $expand=links through the SDK, and at 2025-05-04 raw', async () => {
    const viaSdk = await sources.arm.getAssessment(VM, KEY, { expand: 'links' });
    expect(viaSdk).toMatchObject({ portalLink: 'https://portal.azure.com/#blade/x', resourceId: VM });
    const raw = await sources.arm.getAssessment(VM, KEY, { expand: 'links', apiVersion: '2025-05-04' });
    expect(raw?.portalLink).toBe('https://portal.azure.com/#blade/x');
    expect(new URL(requests[0]!.url).searchParams.get('$expand')).toBe('links');
    expect(new URL(requests[1]!.url).searchParams.get('api-version')).toBe('2025-05-04');
  });

  it('lists metadata at 2025-05-04 (Critical severity, ga spelling) and reports a malformed item', async () => {
    const { items, problems } = await all(sources.arm.listAssessmentMetadata());
    expect(new URL(requests[0]!.url).searchParams.get('api-version')).toBe('2025-05-04');
    expect(items).toEqual([
      expect.objectContaining({
        assessmentKey: KEY,
        severity: 'Critical',
        categories: ['Compute'],
        publishDates: { ga: '06/01/2021', public: '06/01/2021' },
      }),
    ]);
    expect(problems).toHaveLength(1);
    expect((problems[0] as { error: InputError }).error).toBeInstanceOf(InputError);
    expect((problems[0] as { error: InputError }).error.message).toMatch(/record 1 \(broken\).*severity/);
  });
});

describe('ArmClient governance assignments (2022-01-01-preview)', () => {
  const ASSIGNMENT = '6634ff9f-127b-4bf2-8e6e-b1737f5e789c';

  it('creates, replaces, reads, lists and deletes an assignment', async () => {
    const first = await sources.arm.putGovernanceAssignment(VM, KEY, ASSIGNMENT, {
      owner: 'user@contoso.com',
      remediationDueDate: new Date('2026-02-01T00:00:00Z'),
      isGracePeriod: true,
      additionalData: {
        ticketNumber: 10023,
        ticketLink: 'https://acme.service-now.com/incident.do?sys_id=1',
        ticketStatus: 'New',
      },
    });
    expect(first.created).toBe(true);
    expect(first.assignment).toMatchObject({
      assignmentKey: ASSIGNMENT,
      assessmentId: `${VM}/providers/Microsoft.Security/assessments/${KEY}`,
      owner: 'user@contoso.com',
      remediationDueDate: new Date('2026-02-01T00:00:00Z'),
      additionalData: { ticketNumber: 10023, ticketStatus: 'New' },
    });
    // A PUT replaces the whole body: what is sent is exactly what was given.
    expect(JSON.parse(requests[0]!.body)).toEqual({
      properties: {
        owner: 'user@contoso.com',
        remediationDueDate: '2026-02-01T00:00:00.000Z',
        isGracePeriod: true,
        additionalData: {
          ticketNumber: 10023,
          ticketLink: 'https://acme.service-now.com/incident.do?sys_id=1',
          ticketStatus: 'New',
        },
      },
    });
    expect(new URL(requests[0]!.url).searchParams.get('api-version')).toBe('2022-01-01-preview');

    const second = await sources.arm.putGovernanceAssignment(VM, KEY, ASSIGNMENT, {
      owner: 'other@contoso.com',
      remediationDueDate: '2026-03-01T00:00:00Z',
    });
    expect(second.created).toBe(false);
    expect(second.assignment.additionalData).toBeUndefined();

    expect(await sources.arm.getGovernanceAssignment(VM, KEY, ASSIGNMENT)).toMatchObject({
      owner: 'other@contoso.com',
    });
    const listed = await all(sources.arm.listGovernanceAssignments(`subscriptions/${SUB}`, KEY));
    expect(listed.items.map((a) => a.assignmentKey)).toEqual([ASSIGNMENT]);
    expect(new URL(requests.at(-1)!.url).pathname).toBe(
      `/subscriptions/${SUB}/providers/Microsoft.Security/assessments/${KEY}/governanceAssignments`,
    );

    expect(await sources.arm.deleteGovernanceAssignment(VM, KEY, ASSIGNMENT)).toBe(true);
    expect(await sources.arm.deleteGovernanceAssignment(VM, KEY, ASSIGNMENT)).toBe(false);
    expect(await sources.arm.getGovernanceAssignment(VM, KEY, ASSIGNMENT)).toBeUndefined();
  });

  it('rejects a ticket number that is not an int32 ≥ 0 before sending anything', async () => {
    const error = await sources.arm
      .putGovernanceAssignment(VM, KEY, ASSIGNMENT, {
        remediationDueDate: new Date(),
        additionalData: { ticketNumber: -1 },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/additionalData\.ticketNumber/);
    expect(requests).toHaveLength(0);
  });
});

describe('ARM remaining-quota headers', () => {
  it('pauses the limiter when x-ms-ratelimit-remaining-subscription-reads reaches 0', async () => {
    const limiter = new RequestLimiter({
      service: 'arm',
      maxInFlight: 4,
      maxWaitMs: 5_000,
      clock: systemClock,
    });
    const observe = armQuotaObserver(limiter, systemClock, undefined, 300);
    observe({
      status: 200,
      headers: { 'x-ms-ratelimit-remaining-subscription-reads': '11999' },
      body: Buffer.alloc(0),
    });
    let started = Date.now();
    (await limiter.acquire())();
    expect(Date.now() - started).toBeLessThan(100);
    observe({
      status: 200,
      headers: { 'x-ms-ratelimit-remaining-subscription-reads': '0' },
      body: Buffer.alloc(0),
    });
    started = Date.now();
    (await limiter.acquire())();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('applies through the client: the request after a spent quota waits', async () => {
    extraHeaders = { 'x-ms-ratelimit-remaining-subscription-reads': '0' };
    const started = Date.now();
    const { items } = await all(sources.arm.listAssessments(SUB, '2025-05-04'));
    expect(items).toHaveLength(6);
    // Two pauses of 2 s (after pages 1 and 2) before the following requests.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_900);
  });
});
