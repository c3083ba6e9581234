import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES, createApp } from '../../src/api/app.js';
import { openApiPath } from '../../src/api/openapi.js';
import { createLogger } from '../../src/logging.js';
import { startServe, type Serving } from '../../src/host/serve.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/** The HTTP API of `snowline serve` over real HTTP on loopback, against both sandboxes. */

const dir = mkdtempSync(join(tmpdir(), 'snowline-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sandboxes: Sandboxes;
let serving: Serving;
let token: string;

beforeAll(async () => {
  sandboxes = await startSandboxes({ devices: 40, seed: 11 });
  const loaded = sandboxes.config(join(dir, 'api.sqlite'), {
    otInventory: { source: 'console', sensorValidation: 'auto' },
    cloudTickets: {
      rules: [{ name: 'high-critical', when: { severities: ['High', 'Critical'] }, table: 'incident' }],
    },
  });
  token = loaded.config.api.tokens[0]!;
  serving = await startServe({ loaded, cwd: dir, logger: createLogger({ level: 'silent' }), port: 0 });
});
afterAll(async () => {
  await serving?.close();
  await sandboxes?.close();
});

async function call(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  const bearer = options.token === undefined ? token : options.token;
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${serving.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * POSTs a body the server refuses before reading it: the answer arrives while the body is still
 * being written and the server then closes the connection, which fetch reports as a failure.
 */
function postLarge(path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(`${serving.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(body);
  });
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (wanted.every((w) => labelText.split(',').includes(w)))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('API authentication and validation', () => {
  it('answers health and readiness without a token', async () => {
    expect(await call('GET', '/api/v1/health', { token: null })).toMatchObject({
      status: 200,
      json: { status: 'ok' },
    });
    expect(await call('GET', '/api/v1/ready', { token: null })).toMatchObject({
      status: 200,
      json: { status: 'ready', store: 'ok', accepting: true },
    });
  });

  // Issue #25: the 401 check below trusts each route's own `auth` entry; this enumerates what the
  // server really answers (its route table, the dashboard's included) and asks each route without
  // credentials, so a route made public anywhere — an `auth: false`, a sub-app without its check,
  // a dashboard page before the session middleware — fails here.
  it('answers without credentials only on health, readiness, the signed webhook and the dashboard sign-in', async () => {
    const opened: string[] = [];
    const refusals: Record<string, string> = {};
    for (const route of serving.routes) {
      const [method, path] = route.split(' ') as [string, string];
      const post = method === 'POST';
      const response = await fetch(`${serving.url}${path.replace(/:\w+/g, 'x').replace(/\/\*$/, '/x')}`, {
        method,
        redirect: 'manual',
        // Same origin, so that the dashboard's sign-in and CSRF checks are not what refuses.
        headers: post ? { 'content-type': 'application/json', origin: serving.url } : {},
        ...(post ? { body: '{}' } : {}),
      });
      const text = await response.text();
      if (response.status === 401) refusals[route] = response.headers.get('www-authenticate') ?? text;
      else if (response.status === 303 && response.headers.get('location') === '/login')
        refusals[route] = 'redirect to /login';
      else opened.push(route);
    }
    expect(serving.routes).toEqual(
      expect.arrayContaining(['GET /api/v1/runs/:id', 'GET /metrics', 'GET /', 'POST /runs/run-now']),
    );
    expect(opened.sort()).toEqual([
      'GET /api/v1/health',
      'GET /api/v1/ready',
      'GET /assets/dashboard.css',
      'GET /assets/htmx.min.js',
      'GET /login',
      'POST /login',
    ]);
    // The webhook needs no bearer token, only its signature: refused unsigned, for the signature.
    expect(refusals['POST /api/v1/webhooks/servicenow']).toMatch(/not accepted: .*(signature|timestamp)/i);
    for (const [route, refusal] of Object.entries(refusals))
      if (/ \/(api\/v1|metrics)/.test(route) && !route.includes('/webhooks/'))
        expect(refusal, route).toMatch(/^Bearer/);
  });

  it('refuses every other route, and /metrics, without a token or with a wrong one (401)', async () => {
    for (const route of API_ROUTES.filter((r) => r.auth)) {
      const path = `/api/v1${route.path.replace(':id', 'x')}`;
      for (const bearer of [null, 'wrong-token', `${token}x`]) {
        const response = await call(route.method.toUpperCase(), path, {
          token: bearer,
          ...(route.method === 'post' ? { body: {} } : {}),
        });
        expect(
          response.status,
          `${route.method} ${path} with ${bearer === null ? 'no' : 'a wrong'} token`,
        ).toBe(401);
        expect(response.json.error.code).toBe('UNAUTHORIZED');
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(response.text).not.toContain(token);
      }
    }
    expect((await call('GET', '/metrics', { token: null })).status).toBe(401);
    expect((await call('GET', '/metrics', { token: 'nope' })).status).toBe(401);
    expect(
      (await call('GET', '/api/v1/runs', { headers: { authorization: `Basic ${token}` }, token: null }))
        .status,
    ).toBe(401);
  });

  it('answers 400 with what is wrong for a bad body, bad JSON and bad query values', async () => {
    const badFlow = await call('POST', '/api/v1/runs', { body: { flows: ['inventory'], dryRun: 'yes' } });
    expect(badFlow.status).toBe(400);
    expect(badFlow.json.error.code).toBe('INPUT_INVALID');
    expect(badFlow.json.error.message).toMatch(/body\.flows\.0: .*ot-inventory/);
    expect(badFlow.json.error.message).toMatch(/body\.dryRun: .*boolean/);
    const unknownKey = await call('POST', '/api/v1/runs', { body: { flow: 'ot-inventory' } });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.json.error.message).toMatch(/flow/);
    const notJson = await call('POST', '/api/v1/runs', { raw: '{"dryRun": tru' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.message).toMatch(/not valid JSON/);
    const badLimit = await call('GET', '/api/v1/ledger?limit=0&since=yesterday');
    expect(badLimit.status).toBe(400);
    expect(badLimit.json.error.message).toMatch(/query\.limit: .*1/);
    expect(badLimit.json.error.message).toMatch(/query\.since/);
    const ticket = await call('POST', '/api/v1/tickets', {
      body: { table: 'incident', owner: 'not-an-email' },
    });
    expect(ticket.status).toBe(400);
    expect(ticket.json.error.message).toMatch(/body\.assessmentId/);
    expect(ticket.json.error.message).toMatch(/body\.owner/);
    expect((await call('GET', '/api/v1/runs?integration=elsewhere')).status).toBe(404);
  });

  it('refuses a body over api.bodyLimitBytes with 413 and sends no CORS headers', async () => {
    const big = await postLarge('/api/v1/runs', JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }));
    expect(big.status).toBe(413);
    expect(JSON.parse(big.text).error.code).toBe('PAYLOAD_TOO_LARGE');
    const preflight = await call('OPTIONS', '/api/v1/runs', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const get = await call('GET', '/api/v1/runs', { headers: { origin: 'https://evil.example' } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lists every registered API route in the OpenAPI document, with its schemas and security', async () => {
    const { status, json: document } = await call('GET', '/api/v1/openapi.json');
    expect(status).toBe(200);
    expect(document.openapi).toBe('3.1.0');
    // The routes the app really serves (hono's router), not just the declarations.
    const app = createApp(serving.deps);
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/v1/'))
        .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path.slice('/api/v1'.length))}`),
    );
    const documented = new Set(
      Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method} ${path}`),
      ),
    );
    expect(served.size).toBeGreaterThanOrEqual(9);
    expect([...documented].sort()).toEqual([...served].sort());
    expect(document.paths['/api/v1/health'].get.security).toEqual([]);
    expect(document.paths['/api/v1/runs'].post.security).toEqual([{ bearer: [] }]);
    expect(
      document.paths['/api/v1/runs'].post.requestBody.content['application/json'].schema.properties.flows
        .items.enum,
    ).toContain('ot-inventory');
    expect(document.paths['/api/v1/runs/{id}'].get.parameters).toContainEqual(
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    );
    expect(document.paths['/api/v1/ledger'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['flow', 'action', 'side', 'key', 'run', 'since', 'limit', 'cursor']),
    );
  });
});

describe('runs, ledger, tickets and metrics through the API', () => {
  it('plans a dry run: the Plan comes back with a reason per action and nothing is written', async () => {
    const before = await sandboxes.control('servicenow', 'GET', '/_sandbox/dump');
    const { status, json } = await call('POST', '/api/v1/runs', {
      body: { flows: ['ot-inventory'], dryRun: true },
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({ dryRun: true, status: 'ok' });
    expect(json.plan.actions.length).toBeGreaterThan(0);
    expect(json.plan.actions.filter((a: { action: string }) => a.action === 'create').length).toBeGreaterThan(
      0,
    );
    for (const action of json.plan.actions) expect(action.reason).toEqual(expect.any(String));
    expect(await sandboxes.control('servicenow', 'GET', '/_sandbox/dump')).toEqual(before);
  });

  it('runs a flow: the metrics move, the run and its summary are listed, the ledger pages through its events', async () => {
    const metricsBefore = (await call('GET', '/metrics')).text;
    const { status, json } = await call('POST', '/api/v1/runs', { body: { flows: ['ot-inventory'] } });
    expect(status).toBe(200);
    expect(json.status).toBe('ok');
    const created = json.summary.jobs['ot-inventory'].created as number;
    expect(created).toBeGreaterThan(0);
    const metrics = await call('GET', '/metrics');
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const labels = { integration: 'sandbox', flow: 'ot-inventory' };
    expect(metricValue(metrics.text, 'snowline_runs_total', { ...labels, outcome: 'ok' })).toBe(
      metricValue(metricsBefore, 'snowline_runs_total', { ...labels, outcome: 'ok' }) + 1,
    );
    expect(metricValue(metrics.text, 'snowline_records_written_total', { ...labels, kind: 'created' })).toBe(
      created,
    );
    const servicenowRequests = metricValue(metrics.text, 'snowline_upstream_requests_total', {
      service: 'servicenow',
    });
    expect(servicenowRequests).toBeGreaterThan(
      metricValue(metricsBefore, 'snowline_upstream_requests_total', { service: 'servicenow' }),
    );
    expect(
      metricValue(metrics.text, 'snowline_last_successful_run_timestamp_seconds', labels),
    ).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(metrics.text).toContain('# TYPE snowline_webhook_latency_seconds histogram');
    expect(metrics.text).toContain('# TYPE snowline_rate_limit_deferrals_total counter');
    expect(metrics.text).not.toContain(token);

    const runs = await call('GET', '/api/v1/runs?limit=5');
    expect(runs.json.runs[0]).toMatchObject({ id: json.runId, trigger: 'api', status: 'ok', dryRun: false });
    const run = await call('GET', `/api/v1/runs/${json.runId}`);
    expect(run.json.flows).toEqual([
      expect.objectContaining({ flow: 'ot-inventory', outcome: 'ok', created }),
    ]);
    expect((await call('GET', '/api/v1/runs/no-such-run')).status).toBe(404);

    const seen: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const query: string = `/api/v1/ledger?run=${json.runId}&flow=ot-inventory&side=servicenow&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const { json: ledgerPage } = await call('GET', query);
      for (const event of ledgerPage.events) {
        expect(event).toMatchObject({ runId: json.runId, flow: 'ot-inventory', side: 'servicenow' });
        seen.push(event.id);
      }
      cursor = ledgerPage.nextCursor;
      if (!cursor) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const creates = await call('GET', `/api/v1/ledger?run=${json.runId}&action=create&limit=1000`);
    expect(creates.json.events.length).toBe(created);
    const oneKey = creates.json.events[0].key as string;
    const byKey = await call(
      'GET',
      `/api/v1/ledger?key=${encodeURIComponent(oneKey)}&since=2000-01-01T00:00:00Z`,
    );
    expect(byKey.json.events.every((e: { key: string }) => e.key === oneKey)).toBe(true);
    expect((await call('GET', '/api/v1/ledger?since=2999-01-01T00:00:00Z')).json.events).toEqual([]);
  });

  it('creates a ticket for an assessment, returns the same one when asked twice, and lists it with both sides', async () => {
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments');
    const unhealthy = (dump.assessments as { id: string; code: string }[]).find(
      (a) => a.code === 'Unhealthy',
    )!;
    const body = { assessmentId: unhealthy.id, table: 'problem', dueDays: 12 };
    const first = await call('POST', '/api/v1/tickets', { body });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ table: 'problem', created: true });
    expect(first.json.number).toMatch(/^PRB\d{7}$/);
    const again = await call('POST', '/api/v1/tickets', { body });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ number: first.json.number, created: false });

    const tickets = await call('GET', '/api/v1/tickets?status=open');
    const mine = tickets.json.tickets.find((t: any) => t.servicenow.sysId === first.json.sysId);
    expect(mine).toMatchObject({
      status: 'open',
      manual: true,
      servicenow: { table: 'problem', number: first.json.number, closed: false },
      defender: { assignments: [{ assessmentId: unhealthy.id, present: true }] },
    });
    const assignments = (
      await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')
    ).governanceAssignments as { id: string }[];
    expect(
      assignments.some((g) =>
        g.id
          .toLowerCase()
          .endsWith(
            `/governanceassignments/${mine.defender.assignments[0].governanceAssignment}`.toLowerCase(),
          ),
      ),
    ).toBe(true);
    expect((await call('GET', '/api/v1/tickets?status=resolved')).json.tickets).toEqual([]);

    const missing = await call('POST', '/api/v1/tickets', {
      body: { assessmentId: `${unhealthy.id.slice(0, -4)}0000`, table: 'incident' },
    });
    expect([404, 400]).toContain(missing.status);
    expect(missing.json.error.message).toMatch(/assessment/);
  });
});
