/**
 * Replays the contract's example payloads (test/fixtures/contracts/servicenow) against the
 * sandbox over HTTPS: same status and same body shape (ids and timestamps may differ).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { SandboxClient } from './testing.js';

const dir = join(process.cwd(), 'test/fixtures/contracts/servicenow');
const fixture = <T = Record<string, unknown>>(path: string): T =>
  JSON.parse(readFileSync(join(dir, path), 'utf8')) as T;

/**
 * Asserts `actual` has the shape of `expected`: same JSON types, every key of an expected object
 * present, arrays of the same length compared element by element. A `null` id in the doc
 * example may be a string id here (the doc ran in simulation).
 */
function expectSameShape(actual: unknown, expected: unknown, path = '$'): void {
  if (expected === null) {
    expect(actual === null || typeof actual === 'string', `${path} null/string`).toBe(true);
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), `${path} is an array`).toBe(true);
    const a = actual as unknown[];
    expect(a.length, `${path} length`).toBe(expected.length);
    expected.forEach((e, i) => expectSameShape(a[i], e, `${path}[${i}]`));
    return;
  }
  if (typeof expected === 'object') {
    expect(
      actual !== null && typeof actual === 'object' && !Array.isArray(actual),
      `${path} is an object`,
    ).toBe(true);
    const a = actual as Record<string, unknown>;
    for (const [k, v] of Object.entries(expected as Record<string, unknown>)) {
      expect(k in a, `${path}.${k} present`).toBe(true);
      expectSameShape(a[k], v, `${path}.${k}`);
    }
    return;
  }
  expect(typeof actual, `${path} type`).toBe(typeof expected);
}

/** A fixture record flattened to the values a client would write (references by sys_id). */
function writable(record: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) {
    if (k.startsWith('sys_') && k !== 'sys_domain') continue;
    out[k] = v && typeof v === 'object' ? String((v as { value?: unknown }).value ?? '') : String(v ?? '');
  }
  return out;
}

type Result<T = Record<string, unknown>> = { result: T };

/**
 * Companies the doc's enhanced-IRE example names by display value ("company": "My Company",
 * "manufacturer": "DELL").
 * The same page says "For a reference field, the value must be the referenced sys_id" and the
 * sandbox holds IRE to that ([SND] markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md),
 * so the example is replayed with these records' sys_ids in place of the names.
 */
const docCompanies: Readonly<Record<string, string>> = {
  'My Company': 'c0f1e2d3c4b5a6978877665544332211',
  DELL: 'd0e1f2a3b4c5d6e7f8091a2b3c4d5e6f',
};

/** A doc IRE payload with reference values named by display value rewritten to sys_ids. */
function bySysId<T>(payload: T, fields: readonly string[]): T {
  const copy = structuredClone(payload) as { items?: Array<{ values?: Record<string, string> }> };
  for (const item of copy.items ?? [])
    for (const f of fields) {
      const v = item.values?.[f];
      if (v !== undefined && item.values) item.values[f] = docCompanies[v] ?? v;
    }
  return copy as T;
}

let sn: ServiceNowSandbox;
let api: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox({
    seed: { core_company: Object.entries(docCompanies).map(([name, sys_id]) => ({ name, sys_id })) },
  });
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
});

afterAll(async () => {
  await api.close();
  await sn.close();
});

describe('Table API fixtures', () => {
  it('POST /now/table/incident → 201 + Location, shape of the doc response', async () => {
    const res = await api.post<Result>(
      '/api/now/table/incident',
      fixture('table/post-now-table-incident.request.json'),
    );
    expect(res.status).toBe(201);
    expect(res.headers.location).toMatch(new RegExp(`^${sn.url}/api/now/table/incident/[0-9a-f]{32}$`));
    const expected = fixture<Result>('table/post-now-table-incident.response.json');
    expectSameShape(res.body, expected);
    for (const k of [
      'priority',
      'state',
      'incident_state',
      'active',
      'impact',
      'urgency',
      'sys_mod_count',
      'approval',
      'category',
      'severity',
      'notify',
      'escalation',
    ]) {
      expect(res.body.result[k], k).toBe(expected.result[k]);
    }
  });

  it('GET /now/table/incident/{sys_id} → 200, shape of the doc response', async () => {
    const expected = fixture<Result>('table/get-now-table-incident-sys_id.response.json');
    const created = await api.post<Result>('/api/now/table/incident', writable(expected.result));
    const res = await api.get(`/api/now/table/incident/${created.body.result.sys_id}`);
    expect(res.status).toBe(200);
    expectSameShape(res.body, expected);
  });

  it('GET /now/table/problem?sysparm_limit=1 → 200, shape of the doc response', async () => {
    const expected = fixture<Result<Array<Record<string, unknown>>>>(
      'table/get-now-table-problem.response.json',
    );
    const record = expected.result[0] ?? {};
    await api.post('/api/now/table/problem', writable(record));
    const res = await api.get<Result<unknown[]>>(
      `/api/now/table/problem?sysparm_limit=1&sysparm_query=number=${record.number}`,
    );
    expect(res.status).toBe(200);
    expectSameShape(res.body, expected);
  });

  for (const method of ['PATCH', 'PUT'] as const) {
    it(`${method} /now/table/incident/{sys_id} → 200, shape of the doc response`, async () => {
      const lower = method.toLowerCase();
      const expected = fixture<Result>(`table/${lower}-now-table-incident-sys_id.response.json`);
      const before = { ...writable(expected.result), urgency: '3', impact: '1' };
      const created = await api.post<Result>('/api/now/table/incident', before);
      const res = await api.call<Result>(
        method,
        `/api/now/table/incident/${created.body.result.sys_id}`,
        fixture(`table/${lower}-now-table-incident-sys_id.request.json`),
      );
      expect(res.status).toBe(200);
      expectSameShape(res.body, expected);
      expect(res.body.result.urgency).toBe('1');
      expect(res.body.result.priority).toBe(expected.result.priority);
      expect(res.body.result.sys_mod_count).toBe('1');
      const journal = await api.get<Result<unknown[]>>(
        `/api/now/table/sys_journal_field?sysparm_query=element_id=${created.body.result.sys_id}^element=comments`,
      );
      expect(journal.body.result).toHaveLength(1);
    });
  }
});

describe('IRE fixtures', () => {
  const seedDocCis = async (): Promise<void> => {
    const existing = await api.get<Result<unknown[]>>(
      '/api/now/table/cmdb_ci?sysparm_query=name=lnux101^ORname=IP-Switch-1',
    );
    if (existing.body.result.length === 0) {
      await api.post('/api/now/table/cmdb_ci_linux_server', { name: 'lnux101' });
      await api.post('/api/now/table/cmdb_ci_ip_switch', { name: 'IP-Switch-1' });
    }
  };
  const attempts = (body: unknown): string[][] =>
    (
      (body as Result<{ items: Array<{ identificationAttempts: Array<{ attemptResult: string }> }> }>).result
        .items ?? []
    ).map((i) => i.identificationAttempts.map((a) => a.attemptResult));

  it('POST /now/identifyreconcile/query simulates the doc payload and commits nothing', async () => {
    await seedDocCis();
    const rels = (await api.get<Result<unknown[]>>('/api/now/table/cmdb_rel_ci')).body.result.length;
    const res = await api.post(
      '/api/now/identifyreconcile/query',
      fixture('identifyreconcile/post-now-identifyreconcile-query.request.json'),
    );
    const expected = fixture('identifyreconcile/post-now-identifyreconcile-query.response.json');
    expect(res.status).toBe(200);
    expectSameShape(res.body, expected);
    expect(attempts(res.body)).toEqual(attempts(expected));
    expect((await api.get<Result<unknown[]>>('/api/now/table/cmdb_rel_ci')).body.result.length).toBe(rels);
  });

  it('POST /now/identifyreconcile matches both CIs by name, updates them and inserts the relation', async () => {
    await seedDocCis();
    const res = await api.post(
      '/api/now/identifyreconcile',
      fixture('identifyreconcile/post-now-identifyreconcile.request.json'),
    );
    const expected = fixture<
      Result<{ items: Array<{ operation: string }>; relations: Array<{ operation: string }> }>
    >('identifyreconcile/post-now-identifyreconcile.response.json');
    expect(res.status).toBe(200);
    expectSameShape(res.body, expected);
    const body = res.body as typeof expected;
    expect(body.result.items.map((i) => i.operation)).toEqual(expected.result.items.map((i) => i.operation));
    expect(body.result.relations.map((r) => r.operation)).toEqual(['INSERT']);
    expect(attempts(res.body)).toEqual(attempts(expected));
    const again = await api.post<typeof expected>(
      '/api/now/identifyreconcile',
      fixture('identifyreconcile/post-now-identifyreconcile.request.json'),
    );
    expect(again.body.result.items.map((i) => i.operation)).toEqual(['NO_CHANGE', 'NO_CHANGE']);
    expect(again.body.result.relations.map((r) => r.operation)).toEqual(['NO_CHANGE']);
  });

  for (const [endpoint, name] of [
    // simulation first: a committed partial with the same source key would be merged into it
    ['queryEnhanced', 'queryEnhanced'],
    ['enhanced', 'enhanced'],
  ] as const) {
    it(`POST /now/identifyreconcile/${endpoint}: a payload without matching attributes is kept as a partial payload`, async () => {
      const res = await api.post(
        `/api/now/identifyreconcile/${endpoint}`,
        bySysId(fixture(`identifyreconcile/post-now-identifyreconcile-${name}-partial1.request.json`), [
          'company',
          'manufacturer',
        ]),
      );
      const expected = fixture(`identifyreconcile/post-now-identifyreconcile-${name}-partial1.response.json`);
      expect(res.status).toBe(200);
      expectSameShape(res.body, expected);
      expect(attempts(res.body)).toEqual(attempts(expected));
    });
  }

  it('POST /now/identifyreconcile/enhanced?options=generate_summary:true merges the partial and inserts (doc second payload)', async () => {
    // The doc's second request body is empty on every branch; this is the payload it describes:
    // the same source key, now with a NIC lookup that makes the CI identifiable.
    const second = {
      items: [
        {
          className: 'cmdb_ci_computer',
          sys_object_source_info: { source_name: 'ServiceNow', source_native_key: 'ncomputer3367' },
          values: {},
          lookup: [
            {
              className: 'cmdb_ci_network_adapter',
              values: { name: 'eth0', mac_address: '00:55:51:21:26:aa' },
            },
          ],
        },
      ],
    };
    const res = await api.post<
      Result<{
        items: Array<{ operation: string }>;
        summary: Record<string, { inserted: number; mergedPartialPayloads: number }>;
      }>
    >('/api/now/identifyreconcile/enhanced?options=generate_summary:true', second);
    const expected = fixture(
      'identifyreconcile/post-now-identifyreconcile-enhanced-partial2-summary.response.json',
    );
    expect(res.status).toBe(200);
    expectSameShape(res.body, expected);
    expect(attempts(res.body)).toEqual(attempts(expected));
    expect(res.body.result.items[0]?.operation).toBe('INSERT');
    expect(res.body.result.summary.cmdb_ci_computer).toMatchObject({ inserted: 1, mergedPartialPayloads: 1 });
    expect(res.body.result.summary.cmdb_ci_network_adapter).toMatchObject({ inserted: 1 });
    const computer = await api.get<Result<Array<Record<string, string>>>>(
      '/api/now/table/cmdb_ci_computer?sysparm_query=manufacturer.name=DELL&sysparm_fields=cpu_core_count,ram',
    );
    expect(computer.body.result).toEqual([{ cpu_core_count: '6', ram: '8192' }]);
  });

  it('queryEnhanced with generate_summary has the shape of the doc response', async () => {
    const payload = {
      items: [
        {
          className: 'cmdb_ci_computer',
          sys_object_source_info: { source_name: 'ServiceNow', source_native_key: 'ncomputer-sim' },
          values: { cpu_core_count: '2' },
          lookup: [
            {
              className: 'cmdb_ci_network_adapter',
              values: { name: 'eth0', mac_address: '00:55:51:21:26:bb' },
            },
          ],
        },
      ],
    };
    const first = {
      items: [
        {
          className: 'cmdb_ci_computer',
          sys_object_source_info: { source_name: 'ServiceNow', source_native_key: 'ncomputer-sim' },
          values: { ram: '4096' },
        },
      ],
    };
    await api.post('/api/now/identifyreconcile/enhanced', first);
    const res = await api.post(
      '/api/now/identifyreconcile/queryEnhanced?options=generate_summary:true',
      payload,
    );
    expectSameShape(
      res.body,
      fixture('identifyreconcile/post-now-identifyreconcile-queryEnhanced-partial2-summary.response.json'),
    );
    const none = await api.get<Result<unknown[]>>(
      '/api/now/table/cmdb_ci_computer?sysparm_query=cpu_core_count=2',
    );
    expect(none.body.result).toEqual([]);
  });
});

describe('Batch API fixture', () => {
  it('POST /now/v1/batch runs each request with Base64 bodies', async () => {
    const res = await api.post<{
      serviced_requests: Array<{ id: string; status_code: number; body: string }>;
    }>('/api/now/v1/batch', fixture('batch/post-now-batch.request.json'));
    const expected = fixture<{ serviced_requests: Array<{ status_code: number }> }>(
      'batch/post-now-batch.response.json',
    );
    expect(res.status).toBe(200);
    expectSameShape(res.body, expected);
    expect(res.body.serviced_requests.map((r) => r.status_code)).toEqual(
      expected.serviced_requests.map((r) => r.status_code),
    );
    const created = JSON.parse(
      Buffer.from(res.body.serviced_requests[2]?.body ?? '', 'base64').toString('utf8'),
    ) as Result<Record<string, string>>;
    expect(created.result.short_description).toBe('My computer broke');
    expect(created.result.number).toMatch(/^INC\d{7}$/);
    const xml = Buffer.from(res.body.serviced_requests[0]?.body ?? '', 'base64').toString('utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><response><result><user_name>/);
  });
});

describe('Import Set API fixtures', () => {
  it('POST /now/import/imp_user transforms synchronously; GET returns the same shape', async () => {
    const res = await api.post<{ result: Array<{ status: string; sys_id: string; display_value: string }> }>(
      '/api/now/import/imp_user',
      fixture('importset/post-now-import-imp_user.request.json'),
    );
    expect(res.status).toBe(201);
    expectSameShape(res.body, fixture('importset/post-now-import-imp_user.response.json'));
    expect(res.body.result[0]).toMatchObject({ status: 'inserted', display_value: 'John Public' });
    const user = await api.get<Result<Array<Record<string, string>>>>(
      '/api/now/table/sys_user?sysparm_query=user_name=john.public&sysparm_fields=email,name',
    );
    expect(user.body.result).toEqual([{ email: 'john.public@company.com', name: 'John Public' }]);
    const rows = await api.get<Result<Array<Record<string, string>>>>(
      '/api/now/table/imp_user?sysparm_query=user_id=john.public&sysparm_fields=sys_id',
    );
    const rowId = rows.body.result[0]?.sys_id;
    const get = await api.get(`/api/now/import/imp_user/${rowId}`);
    expect(get.status).toBe(200);
    expectSameShape(get.body, fixture('importset/get-now-import-imp_user-sys_id.response.json'));
    const again = await api.post<{ result: Array<{ status: string }> }>(
      '/api/now/import/imp_user',
      fixture('importset/post-now-import-imp_user.request.json'),
    );
    expect(again.body.result[0]?.status).toBe('ignored');
  });

  it('POST /now/import/{staging}/insertMultiple accepts column labels and transforms asynchronously', async () => {
    const res = await api.post(
      '/api/now/import/u_employee_import_set_table/insertMultiple',
      fixture('importset/post-now-import-u_employee_import_set_table-insertMultiple.request.json'),
    );
    expect(res.status).toBe(201);
    expectSameShape(
      res.body,
      fixture('importset/post-now-import-u_employee_import_set_table-insertMultiple.response.json'),
    );
    let users: Array<Record<string, string>> = [];
    for (let i = 0; i < 50 && users.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      users = (
        await api.get<Result<Array<Record<string, string>>>>(
          '/api/now/table/sys_user?sysparm_query=user_nameIN123,456^ORDERBYuser_name&sysparm_fields=name',
        )
      ).body.result;
    }
    expect(users).toEqual([{ name: 'Tom' }, { name: 'Irene' }]);
  });
});
