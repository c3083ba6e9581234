import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate, type Estate } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import { TestClient, fixture, fixturePaths, shapeDiff } from './test-support.js';

interface Example {
  parameters: Record<string, unknown>;
  responses: Record<string, { body?: unknown; headers?: Record<string, string> }>;
}

let estate: Estate;
let sandbox: DefenderSandbox;
let client: TestClient;
const V = '2021-06-01';
const G = '2022-01-01-preview';

beforeAll(async () => {
  estate = generateEstate({ devices: 300, seed: 11 });
  sandbox = await startDefenderSandbox({ estate, behaviour: { armPageSize: 40, lroPendingPolls: 1 } });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const sub = () => sandbox.subscriptions[0] as string;
const unhealthyOnResource = () =>
  estate.assessments.find(
    (a) => a.code === 'Unhealthy' && a.resourceId.includes('/resourceGroups/'),
  ) as Estate['assessments'][number];

describe('assessments', () => {
  it('lists a subscription across pages with absolute nextLinks, no metadata, replaying the example shape', async () => {
    const example = fixture<Example>(fixturePaths.listAssessments).responses['200']?.body as {
      value: unknown[];
    };
    const expected = estate.assessments.filter((a) => a.subscriptionId === sub()).length;
    let url: string | undefined =
      `/subscriptions/${sub()}/providers/Microsoft.Security/assessments?api-version=${V}`;
    const seen: Array<Record<string, unknown>> = [];
    let pages = 0;
    while (url && pages < 100) {
      const res = await client.call('GET', url);
      expect(res.status).toBe(200);
      const body = res.json as { value: Array<Record<string, unknown>>; nextLink?: string };
      if (pages === 0) expect(shapeDiff(example, body)).toEqual([]);
      seen.push(...body.value);
      if (body.nextLink) expect(body.nextLink.startsWith(`${sandbox.url}/`)).toBe(true);
      url = body.nextLink;
      pages++;
    }
    expect(pages).toBeGreaterThan(2);
    expect(seen).toHaveLength(expected);
    expect(new Set(seen.map((a) => a['id'])).size).toBe(expected);
    for (const a of seen) {
      const p = a['properties'] as Record<string, unknown>;
      expect(p['metadata']).toBeUndefined();
      expect(p['links']).toBeUndefined();
      expect(p['risk']).toBeUndefined();
    }
  });

  it('accepts the scope without a leading slash, doubled slashes and any case of the provider segment', async () => {
    const a = await client.call(
      'GET',
      `/subscriptions/${sub()}/providers/Microsoft.Security/assessments?api-version=${V}`,
    );
    const b = await client.call(
      'GET',
      `//subscriptions/${sub()}/PROVIDERS/microsoft.SECURITY/Assessments?api-version=${V}`,
    );
    expect(b.status).toBe(200);
    expect((b.json as { value: unknown[] }).value).toEqual((a.json as { value: unknown[] }).value);
  });

  it('gets one assessment, with $expand=links and $expand=metadata, in the examples’ shapes', async () => {
    const a = unhealthyOnResource();
    const path = `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`;
    const plain = await client.call('GET', `${path}?api-version=${V}`);
    expect(plain.status).toBe(200);
    const getExample = fixture<Example>(fixturePaths.getAssessment).responses['200']?.body;
    // The example is NotApplicable (cause, description, additionalData); ours is Unhealthy.
    const ignore = [
      '$.properties.status.cause',
      '$.properties.status.description',
      '$.properties.additionalData',
    ];
    expect(shapeDiff(getExample, plain.json, '$', ignore)).toEqual([]);

    const links = await client.call(
      'GET',
      `${path.slice(1)}?api-version=${V}&$expand=links`.replace(/^/, '/'),
    );
    expect(
      shapeDiff(
        fixture<Example>(fixturePaths.getAssessmentWithLinks).responses['200']?.body,
        links.json,
        '$',
        ignore,
      ),
    ).toEqual([]);
    expect(
      (links.json as { properties: { links: { azurePortalUri: string } } }).properties.links.azurePortalUri,
    ).toContain(a.key);

    const withMeta = await client.call('GET', `${path}?api-version=${V}&$expand=metadata`);
    const meta = (withMeta.json as { properties: { metadata: Record<string, unknown> } }).properties.metadata;
    const metaExample = (
      fixture<Example>(fixturePaths.getMetadata).responses['200']?.body as { properties: unknown }
    ).properties;
    expect(shapeDiff(metaExample, meta, '$', ['$.plannedDeprecationDate'])).toEqual([]);
  });

  it('shows Critical severity and the risk object only at api-version 2025-05-04', async () => {
    const critical = estate.assessmentMetadata.find((m) => m.severity === 'Critical');
    expect(critical).toBeDefined();
    const a = estate.assessments.find((x) => x.key === critical?.key && x.code === 'Unhealthy');
    expect(a).toBeDefined();
    const path = `${a?.resourceId}/providers/Microsoft.Security/assessments/${a?.key}`;
    const old = (await client.call('GET', `${path}?api-version=${V}&$expand=metadata`)).json as {
      properties: Record<string, unknown>;
    };
    const latest = (await client.call('GET', `${path}?api-version=2025-05-04&$expand=metadata`)).json as {
      properties: Record<string, unknown>;
    };
    expect((old.properties['metadata'] as { severity: string }).severity).toBe('High');
    expect(old.properties['risk']).toBeUndefined();
    expect((latest.properties['metadata'] as { severity: string }).severity).toBe('Critical');
    expect((latest.properties['risk'] as { level: string }).level).toBe('Critical');
    const example2025 = fixture<Example>(fixturePaths.getAssessmentWithLinks2025).responses['200']?.body;
    const links2025 = await client.call('GET', `${path}?api-version=2025-05-04&$expand=links`);
    expect(
      shapeDiff(example2025, links2025.json, '$', [
        '$.properties.status.cause',
        '$.properties.status.description',
        '$.properties.additionalData',
      ]),
    ).toEqual([]);
  });

  it('answers 404 in the ARM shape for an unknown assessment and 400 for a bad $expand', async () => {
    const a = unhealthyOnResource();
    const missing = await client.call(
      'GET',
      `${a.resourceId}/providers/Microsoft.Security/assessments/00000000-0000-0000-0000-000000000000?api-version=${V}`,
    );
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ error: { code: 'NotFound' } });
    const badExpand = await client.call(
      'GET',
      `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}?api-version=${V}&$expand=everything`,
    );
    expect(badExpand.status).toBe(400);
    expect(badExpand.json).toMatchObject({ error: { code: 'InvalidExpand' } });
  });
});

describe('assessment metadata', () => {
  it('lists at the tenant and in a subscription, and gets one, in the examples’ shapes', async () => {
    const tenant = await client.call(
      'GET',
      `/providers/Microsoft.Security/assessmentMetadata?api-version=${V}`,
    );
    expect(tenant.status).toBe(200);
    expect(
      shapeDiff(fixture<Example>(fixturePaths.listMetadata).responses['200']?.body, tenant.json, '$', [
        '$.value[0].properties.plannedDeprecationDate',
      ]),
    ).toEqual([]);
    expect((tenant.json as { value: unknown[] }).value).toHaveLength(estate.assessmentMetadata.length);
    const inSub = await client.call(
      'GET',
      `/subscriptions/${sub()}/providers/Microsoft.Security/assessmentMetadata?api-version=${V}`,
    );
    expect(
      shapeDiff(
        fixture<Example>(fixturePaths.listMetadataSubscription).responses['200']?.body,
        inSub.json,
        '$',
        ['$.value[0].properties.plannedDeprecationDate'],
      ),
    ).toEqual([]);
    const one = await client.call(
      'GET',
      `/providers/Microsoft.Security/assessmentMetadata/21300918-b2e3-0346-785f-c77ff57d243b?api-version=${V}`,
    );
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({
      name: '21300918-b2e3-0346-785f-c77ff57d243b',
      properties: { severity: 'Medium', categories: ['Compute'] },
    });
    const all2025 = (
      await client.call('GET', `/providers/Microsoft.Security/assessmentMetadata?api-version=2025-05-04`)
    ).json as { value: Array<{ properties: { severity: string } }> };
    expect(all2025.value.some((m) => m.properties.severity === 'Critical')).toBe(true);
    expect((tenant.json as typeof all2025).value.some((m) => m.properties.severity === 'Critical')).toBe(
      false,
    );
  });
});

describe('governance assignments (2022-01-01-preview)', () => {
  const assignmentKey = '6634ff9f-127b-4bf2-8e6e-b1737f5e789c';

  it('PUT creates (201) then updates (200) with the whole body replaced; GET, LIST and DELETE replay the examples', async () => {
    const a = unhealthyOnResource();
    const example = fixture<Example>(fixturePaths.putAssignment);
    const requestBody = example.parameters['governanceAssignment'] as { properties: Record<string, unknown> };
    const path = `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments/${assignmentKey}`;

    const created = await client.call('PUT', `${path}?api-version=${G}`, { body: requestBody });
    expect(created.status).toBe(201);
    expect(shapeDiff(example.responses['201']?.body, created.json)).toEqual([]);
    expect((created.json as { properties: unknown }).properties).toEqual(requestBody.properties);

    const replacement = {
      properties: { owner: 'second@contoso.example', remediationDueDate: '2030-01-01T00:00:00Z' },
    };
    const updated = await client.call('PUT', `${path}?api-version=${G}`, { body: replacement });
    expect(updated.status).toBe(200);
    expect((updated.json as { properties: unknown }).properties).toEqual(replacement.properties);

    await client.call('PUT', `${path}?api-version=${G}`, { body: requestBody });
    const got = await client.call('GET', `/${path}?api-version=${G}`);
    expect(got.status).toBe(200);
    expect(shapeDiff(fixture<Example>(fixturePaths.getAssignment).responses['200']?.body, got.json)).toEqual(
      [],
    );

    const list = await client.call(
      'GET',
      `/subscriptions/${a.subscriptionId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments?api-version=${G}`,
    );
    expect(list.status).toBe(200);
    expect(
      shapeDiff(fixture<Example>(fixturePaths.listAssignments).responses['200']?.body, list.json),
    ).toEqual([]);
    expect((list.json as { value: Array<{ name: string }> }).value.map((v) => v.name)).toEqual([
      assignmentKey,
    ]);

    const deleted = await client.call('DELETE', `${path}?api-version=${G}`);
    expect(deleted.status).toBe(200);
    const again = await client.call('DELETE', `${path}?api-version=${G}`);
    expect(again.status).toBe(204);
    expect(Object.keys(fixture<Example>(fixturePaths.deleteAssignment).responses).sort()).toEqual([
      '200',
      '204',
    ]);
    expect((await client.call('GET', `${path}?api-version=${G}`)).status).toBe(404);
  });

  it('rejects a missing remediationDueDate, a non-integer or negative ticketNumber and malformed JSON with ARM 400s', async () => {
    const a = unhealthyOnResource();
    const path = `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments/${assignmentKey}?api-version=${G}`;
    const cases: unknown[] = [
      { properties: { owner: 'x@contoso.example' } },
      {
        properties: {
          remediationDueDate: '2030-01-01T00:00:00Z',
          additionalData: { ticketNumber: 'INC0010001' },
        },
      },
      { properties: { remediationDueDate: '2030-01-01T00:00:00Z', additionalData: { ticketNumber: -1 } } },
      { properties: { remediationDueDate: '2030-01-01T00:00:00Z', additionalData: { ticketNumber: 1.5 } } },
      { properties: { remediationDueDate: 'tomorrow' } },
      '{"properties": ',
      [],
    ];
    for (const body of cases) {
      const res = await client.call('PUT', path, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json).toMatchObject({
        error: { code: 'InvalidRequestContent', message: expect.any(String) },
      });
    }
    expect((await client.call('GET', path)).status).toBe(404);
  });

  it('accepts only 2022-01-01-preview', async () => {
    const a = unhealthyOnResource();
    const res = await client.call(
      'GET',
      `/subscriptions/${a.subscriptionId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments?api-version=${V}`,
    );
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'InvalidApiVersionParameter' } });
  });
});

describe('governance rules', () => {
  it('PUT/GET/LIST replay the examples; duplicate priority is rejected; execute and delete are LROs with Location', async () => {
    const example = fixture<Example>(fixturePaths.putRule);
    const ruleId = example.parameters['ruleId'] as string;
    const body = example.parameters['governanceRule'];
    const path = `/subscriptions/${sub()}/providers/Microsoft.Security/governanceRules/${ruleId}`;
    const created = await client.call('PUT', `${path}?api-version=${G}`, { body });
    expect(created.status).toBe(201);
    // The PUT example still has the stale `inheritRules`; GET/LIST use `includeMemberScopes`.
    expect(
      shapeDiff(example.responses['201']?.body, created.json, '$', ['$.properties.inheritRules']),
    ).toEqual([]);
    expect((created.json as { id: string }).id.startsWith('subscriptions/')).toBe(true);
    expect((await client.call('PUT', `${path}?api-version=${G}`, { body })).status).toBe(200);

    const got = await client.call('GET', `${path}?api-version=${G}`);
    const getExample = fixture<Example>(fixturePaths.getRule).responses['200']?.body;
    expect(shapeDiff(getExample, got.json, '$', ['$.properties.includeMemberScopes'])).toEqual([]);
    const list = await client.call(
      'GET',
      `/subscriptions/${sub()}/providers/Microsoft.Security/governanceRules?api-version=${G}`,
    );
    expect(
      shapeDiff(fixture<Example>(fixturePaths.listRules).responses['200']?.body, list.json, '$', [
        '$.value[0].properties.includeMemberScopes',
      ]),
    ).toEqual([]);

    const clash = await client.call(
      'PUT',
      `${path.replace(ruleId, '11111111-2222-3333-4444-555555555555')}?api-version=${G}`,
      { body },
    );
    expect(clash.status).toBe(400);
    expect(clash.json).toMatchObject({
      error: { code: expect.any(String), message: expect.stringContaining('priority') },
    });

    const exec = await client.call('POST', `${path}/execute?api-version=${G}`, { body: { override: false } });
    expect(exec.status).toBe(202);
    const location = exec.headers['location'] as string;
    expect(location.startsWith(`${sandbox.url}${path}/operationResults/`)).toBe(true);
    expect(exec.headers['retry-after']).toBe('1');
    const first = await client.call('GET', location);
    expect(first.status).toBe(202);
    const done = await client.call('GET', location);
    expect(done.status).toBe(200);
    expect(done.json).toEqual(fixture<Example>(fixturePaths.executeStatus).responses['200']?.body);

    const del = await client.call('DELETE', `${path}?api-version=${G}`);
    expect(del.status).toBe(202);
    expect(del.headers['location']).toContain('/operationResults/');
    expect((await client.call('GET', `${path}?api-version=${G}`)).status).toBe(404);
    expect((await client.call('DELETE', `${path}?api-version=${G}`)).status).toBe(204);
  });

  it('execute assigns matching Unhealthy assessments to the rule’s owner', async () => {
    const a = unhealthyOnResource();
    const ruleId = '9b0b8f4e-0000-4000-8000-000000000001';
    const path = `/subscriptions/${a.subscriptionId}/providers/Microsoft.Security/governanceRules/${ruleId}`;
    const rule = {
      properties: {
        displayName: 'Owner by tag',
        rulePriority: 10,
        ruleType: 'ServiceNow',
        sourceResourceType: 'Assessments',
        remediationTimeframe: '14.00:00:00',
        conditionSets: [
          { conditions: [{ property: '$.AssessmentKey', value: JSON.stringify([a.key]), operator: 'In' }] },
        ],
        ownerSource: { type: 'Manually', value: 'owner@contoso.example' },
      },
    };
    expect((await client.call('PUT', `${path}?api-version=${G}`, { body: rule })).status).toBe(201);
    expect((await client.call('POST', `${path}/execute?api-version=${G}`)).status).toBe(202);
    const list = await client.call(
      'GET',
      `/subscriptions/${a.subscriptionId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments?api-version=${G}`,
    );
    const value = (list.json as { value: Array<{ id: string; properties: { owner: string } }> }).value;
    const expected = estate.assessments.filter(
      (x) => x.key === a.key && x.code === 'Unhealthy' && x.subscriptionId === a.subscriptionId,
    ).length;
    expect(value).toHaveLength(expected);
    expect(value.every((v) => v.properties.owner === 'owner@contoso.example')).toBe(true);
    await client.call('POST', '/_sandbox/reset', { auth: 'none' });
  });
});

describe('errors are ARM-shaped, never crashes', () => {
  it('missing or unknown api-version, bad or missing token, malformed scope, unknown subscription and route', async () => {
    const base = `/subscriptions/${sub()}/providers/Microsoft.Security/assessments`;
    const expectations: Array<[string, string, number, string, 'arm' | 'none' | string]> = [
      ['GET', base, 400, 'MissingApiVersionParameter', 'arm'],
      ['GET', `${base}?api-version=2015-01-01`, 400, 'InvalidApiVersionParameter', 'arm'],
      ['GET', `${base}?api-version=${V}`, 401, 'AuthenticationFailed', 'none'],
      ['GET', `${base}?api-version=${V}`, 401, 'InvalidAuthenticationToken', 'Bearer abc.def.ghi'],
      ['GET', `${base}?api-version=${V}`, 401, 'InvalidAuthenticationToken', `Basic ${sandbox.token}`],
      [
        'GET',
        `/subscriptions/not a guid/providers/Microsoft.Security/assessments?api-version=${V}`,
        400,
        'InvalidScope',
        'arm',
      ],
      [
        'GET',
        `/subscriptions/${sub()}/resourceGroups/providers/Microsoft.Security/assessments?api-version=${V}`,
        400,
        'InvalidScope',
        'arm',
      ],
      [
        'GET',
        `/subscriptions/00000000-1111-2222-3333-444444444444/providers/Microsoft.Security/assessments?api-version=${V}`,
        404,
        'SubscriptionNotFound',
        'arm',
      ],
      [
        'GET',
        `/subscriptions/${sub()}/providers/Microsoft.Security/pricings?api-version=${V}`,
        400,
        'InvalidResourceType',
        'arm',
      ],
      ['PATCH', `${base}?api-version=${V}`, 405, 'MethodNotAllowed', 'arm'],
      ['GET', `/subscriptions/${sub()}/resourcegroups?api-version=${V}`, 404, 'NotFound', 'arm'],
    ];
    for (const [method, path, status, code, auth] of expectations) {
      const res = await client.call(method, path, { auth });
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(res.json, `${method} ${path}`).toMatchObject({ error: { code, message: expect.any(String) } });
    }
  });

  it('issues tokens through the client-credentials endpoint and refuses a wrong secret', async () => {
    const form = (secret: string) =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sandbox.clientId,
        client_secret: secret,
        scope: `${sandbox.url}/.default`,
      }).toString();
    const ok = await client.call('POST', `/${sandbox.tenantId}/oauth2/v2.0/token`, {
      auth: 'none',
      body: form(sandbox.clientSecret),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(ok.status).toBe(200);
    const token = ok.json as { token_type: string; expires_in: number; access_token: string };
    expect(token.token_type).toBe('Bearer');
    expect(token.expires_in).toBeGreaterThan(0);
    const use = await client.call(
      'GET',
      `/subscriptions/${sub()}/providers/Microsoft.Security/assessments?api-version=${V}`,
      { auth: `Bearer ${token.access_token}` },
    );
    expect(use.status).toBe(200);
    const bad = await client.call('POST', `/${sandbox.tenantId}/oauth2/v2.0/token`, {
      auth: 'none',
      body: form('wrong'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ error: 'invalid_client' });
  });
});
