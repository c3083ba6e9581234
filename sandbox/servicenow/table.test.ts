import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { SandboxClient } from './testing.js';

type Rec = Record<string, unknown>;
type One = { result: Rec };
type Many = { result: Rec[] };

let sn: ServiceNowSandbox;
let api: SandboxClient;
let itil: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox({
    seed: {
      sys_user_group: [{ name: 'OT Security' }],
      sys_user: [{ user_name: 'fred', first_name: 'Fred', last_name: 'Johnson', email: 'fred@example.com' }],
    },
  });
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
  itil = SandboxClient.basic(sn, sn.lowPrivilegeCredentials.user, sn.lowPrivilegeCredentials.password);
});

afterAll(async () => {
  await api.close();
  await itil.close();
  await sn.close();
});

describe('Table API over HTTPS', () => {
  it('serves https with the generated CA only', async () => {
    expect(sn.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const untrusted = new Agent();
    await expect(request(`${sn.url}/api/now/table/incident`, { dispatcher: untrusted })).rejects.toThrow();
    await untrusted.close();
  });

  it('creates, reads, updates and deletes an incident with string values and references', async () => {
    const group = (await api.get<Many>('/api/now/table/sys_user_group?sysparm_query=name=OT%20Security')).body
      .result[0];
    const created = await api.post<One>('/api/now/table/incident', {
      short_description: 'PLC offline',
      impact: '1',
      urgency: '1',
      assignment_group: group?.sys_id,
      priority: 7,
    });
    expect(created.status).toBe(201);
    const inc = created.body.result;
    expect(created.headers.location).toBe(`${sn.url}/api/now/table/incident/${inc.sys_id}`);
    expect(inc.number).toMatch(/^INC\d{7}$/);
    expect(inc.sys_id).toMatch(/^[0-9a-f]{32}$/);
    expect(inc.priority).toBe('1');
    expect(inc.sys_mod_count).toBe('0');
    expect(inc.active).toBe('true');
    expect(inc.sys_created_by).toBe(sn.credentials.user);
    expect(inc.sys_created_on).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(inc.assignment_group).toEqual({
      link: `${sn.url}/api/now/table/sys_user_group/${group?.sys_id}`,
      value: group?.sys_id,
    });
    expect(inc.assigned_to).toBe('');
    for (const v of Object.values(inc)) expect(['string', 'object']).toContain(typeof v);

    const patched = await api.patch<One>(
      `/api/now/table/incident/${inc.sys_id}?sysparm_fields=sys_mod_count,short_description,urgency`,
      { urgency: '2' },
    );
    expect(patched.body.result).toEqual({
      sys_mod_count: '1',
      short_description: 'PLC offline',
      urgency: '2',
    });
    const put = await api.call<One>(
      'PUT',
      `/api/now/table/incident/${inc.sys_id}?sysparm_fields=sys_mod_count,priority`,
      { impact: '3' },
    );
    expect(put.body.result).toEqual({ sys_mod_count: '2', priority: '4' });
    const unchanged = await api.patch<One>(
      `/api/now/table/incident/${inc.sys_id}?sysparm_fields=sys_mod_count`,
      { impact: '3' },
    );
    expect(unchanged.body.result.sys_mod_count).toBe('2');

    const del = await api.call('DELETE', `/api/now/table/incident/${inc.sys_id}`);
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    const gone = await api.get(`/api/now/table/incident/${inc.sys_id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({
      error: {
        message: 'No Record found',
        detail: "Record doesn't exist or ACL restricts the record retrieval",
      },
      status: 'failure',
    });
  });

  it('pages with X-Total-Count and Link first/prev/next/last', async () => {
    for (let i = 0; i < 7; i++) await api.post('/api/now/table/problem', { short_description: `page-${i}` });
    const page = await api.get<Many>(
      '/api/now/table/problem?sysparm_query=short_descriptionSTARTSWITHpage-^ORDERBYshort_description&sysparm_limit=3&sysparm_offset=3&sysparm_fields=short_description',
    );
    expect(page.headers['x-total-count']).toBe('7');
    expect(page.body.result.map((r) => r.short_description)).toEqual(['page-3', 'page-4', 'page-5']);
    const links = page.headers.link ?? '';
    expect(links).toContain('sysparm_offset=0&sysparm_limit=3>;rel="first"');
    expect(links).toContain('sysparm_offset=0&sysparm_limit=3>;rel="prev"');
    expect(links).toContain('sysparm_offset=6&sysparm_limit=3>;rel="next"');
    expect(links).toContain('sysparm_offset=6&sysparm_limit=3>;rel="last"');
    const last = await api.get<Many>(
      '/api/now/table/problem?sysparm_query=short_descriptionSTARTSWITHpage-&sysparm_limit=3&sysparm_offset=6&sysparm_no_count=true',
    );
    expect(last.headers['x-total-count']).toBeUndefined();
    expect(last.headers.link).not.toContain('rel="next"');
    expect(last.body.result).toHaveLength(1);
    const none = await api.get<Many>(
      '/api/now/table/problem?sysparm_query=short_description=nothing-matches',
    );
    expect(none.status).toBe(200);
    expect(none.body.result).toEqual([]);
    const v1 = await api.get('/api/now/v1/table/problem?sysparm_query=short_description=nothing-matches');
    expect(v1.status).toBe(404);
  });

  it('supports display values, dot-walking and exclude_reference_link', async () => {
    const fred = (await api.get<Many>('/api/now/table/sys_user?user_name=fred')).body.result[0];
    const inc = (
      await api.post<One>('/api/now/table/incident', { short_description: 'dv', caller_id: fred?.sys_id })
    ).body.result;
    const dv = await api.get<One>(
      `/api/now/table/incident/${inc.sys_id}?sysparm_display_value=true&sysparm_fields=state,caller_id,caller_id.email`,
    );
    expect(dv.body.result.state).toBe('New');
    expect(dv.body.result.caller_id).toEqual({
      display_value: 'Fred Johnson',
      link: `${sn.url}/api/now/table/sys_user/${fred?.sys_id}`,
    });
    expect(dv.body.result['caller_id.email']).toBe('fred@example.com');
    const all = await api.get<One>(
      `/api/now/table/incident/${inc.sys_id}?sysparm_display_value=all&sysparm_exclude_reference_link=true&sysparm_fields=state,caller_id`,
    );
    expect(all.body.result).toEqual({
      state: { display_value: 'New', value: '1' },
      caller_id: { display_value: 'Fred Johnson', value: fred?.sys_id },
    });
    const plain = await api.get<One>(
      `/api/now/table/incident/${inc.sys_id}?sysparm_exclude_reference_link=true&sysparm_fields=caller_id`,
    );
    expect(plain.body.result).toEqual({ caller_id: fred?.sys_id });
    const byDotWalk = await api.get<Many>(
      '/api/now/table/incident?sysparm_query=caller_id.email=fred@example.com&sysparm_fields=sys_id',
    );
    expect(byDotWalk.body.result).toEqual([{ sys_id: inc.sys_id }]);
  });

  it('serves the table hierarchy: task, cmdb_ci with sys_class_name, sn_vul_entry', async () => {
    await api.post('/api/now/table/change_request', { short_description: 'hier' });
    await api.post('/api/now/table/incident', { short_description: 'hier' });
    const tasks = await api.get<Many>(
      '/api/now/table/task?sysparm_query=short_description=hier&sysparm_fields=sys_class_name,number',
    );
    expect(tasks.body.result.map((r) => r.sys_class_name).sort()).toEqual(['change_request', 'incident']);
    await api.post('/api/now/table/cmdb_ci_ot_plc', { name: 'plc-hier' });
    await api.post('/api/now/table/cmdb_ci_linux_server', { name: 'srv-hier' });
    const cis = await api.get<Many>(
      '/api/now/table/cmdb_ci?sysparm_query=nameLIKEhier^ORDERBYname&sysparm_fields=name,sys_class_name',
    );
    expect(cis.body.result).toEqual([
      { name: 'plc-hier', sys_class_name: 'cmdb_ci_ot_plc' },
      { name: 'srv-hier', sys_class_name: 'cmdb_ci_linux_server' },
    ]);
    const ot = await api.get<Many>(
      '/api/now/table/cmdb_ci?sysparm_query=sys_class_nameINSTANCEOFcmdb_ci_ot^nameLIKEhier&sysparm_fields=name',
    );
    expect(ot.body.result).toEqual([{ name: 'plc-hier' }]);
    await api.post('/api/now/table/sn_vul_nvd_entry', { id: 'CVE-2024-0001', summary: 's' });
    const entries = await api.get<Many>(
      '/api/now/table/sn_vul_entry?sysparm_query=id=CVE-2024-0001&sysparm_fields=id,sys_class_name',
    );
    expect(entries.body.result).toEqual([{ id: 'CVE-2024-0001', sys_class_name: 'sn_vul_nvd_entry' }]);
    const choices = await api.get<Many>(
      '/api/now/table/sys_choice?sysparm_query=name=incident^element=close_code^inactive=false&sysparm_fields=value',
    );
    expect(choices.body.result.map((c) => c.value)).toContain('Solution provided');
  });

  it('answers errors with the standard envelope and never crashes', async () => {
    const invalid = await api.get('/api/now/table/x_casemgmt_case');
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({
      error: { message: 'Invalid table x_casemgmt_case', detail: null },
      status: 'failure',
    });
    const malformed = await api.post('/api/now/table/incident', '{"short_description": ');
    expect(malformed.status).toBe(400);
    expect((malformed.body as { status: string }).status).toBe('failure');
    const wrongType = await api.post('/api/now/table/incident', 'short_description=x', {
      'content-type': 'text/plain',
    });
    expect(wrongType.status).toBe(415);
    expect((wrongType.body as { status: string }).status).toBe('failure');
    const big = await api.post('/api/now/table/incident', {
      short_description: 'x'.repeat(11 * 1024 * 1024),
    });
    expect(big.status).toBe(413);
    expect((big.body as { status: string }).status).toBe('failure');
    const scalar = await api.post('/api/now/table/incident', '42');
    expect(scalar.status).toBe(400);
    const alive = await api.get('/api/now/table/incident?sysparm_limit=1');
    expect(alive.status).toBe(200);
  });

  it('rejects bad credentials with 401', async () => {
    const bad = SandboxClient.basic(sn, sn.credentials.user, 'wrong');
    const res = await bad.get('/api/now/table/incident');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' },
      status: 'failure',
    });
    await bad.close();
    const anonymous = new SandboxClient(sn, undefined);
    expect((await anonymous.get('/api/now/table/incident')).status).toBe(401);
    await anonymous.close();
  });

  it('applies read ACLs on OT tables: itil only gets 403, and parent-table reads hide OT rows', async () => {
    const plc = (await api.post<One>('/api/now/table/cmdb_ci_ot_plc', { name: 'acl-plc' })).body.result;
    await api.post('/api/now/table/cmdb_ci_linux_server', { name: 'acl-srv' });
    const denied = await itil.get('/api/now/table/cmdb_ci_ot_plc');
    expect(denied.status).toBe(403);
    expect((await itil.get('/api/now/table/cmdb_ot_entity')).status).toBe(403);
    const parent = await itil.get<Many>(
      '/api/now/table/cmdb_ci?sysparm_query=nameSTARTSWITHacl-&sysparm_fields=name',
    );
    expect(parent.body.result).toEqual([{ name: 'acl-srv' }]);
    expect((await itil.get(`/api/now/table/cmdb_ci/${plc.sys_id}`)).status).toBe(404);
    const write = await itil.post('/api/now/table/cmdb_ci_ot_plc', { name: 'x' });
    expect(write.status).toBe(403);
    expect(write.body).toEqual({
      error: {
        message: 'Operation Failed',
        detail: 'ACL Exception Insert Failed due to security constraints',
      },
      status: 'failure',
    });
    expect((await api.get('/api/now/table/cmdb_ci_ot_plc')).status).toBe(200);
  });

  it('issues OAuth tokens (password, client_credentials, refresh_token) that expire on the sandbox clock', async () => {
    const form = (f: Record<string, string>): Promise<{ status: number; body: Rec }> =>
      new SandboxClient(sn, undefined).call<Rec>(
        'POST',
        '/oauth_token.do',
        new URLSearchParams(f).toString(),
        { 'content-type': 'application/x-www-form-urlencoded' },
      );
    const { clientId, clientSecret, user, password } = sn.credentials;
    const pw = await form({
      grant_type: 'password',
      client_id: clientId,
      client_secret: clientSecret,
      username: user,
      password,
    });
    expect(pw.status).toBe(200);
    expect(pw.body).toMatchObject({ token_type: 'Bearer', expires_in: 1799, scope: 'useraccount' });
    expect(typeof pw.body.refresh_token).toBe('string');
    const bearer = api.withBearer(String(pw.body.access_token));
    expect((await bearer.get('/api/now/table/incident?sysparm_limit=1')).status).toBe(200);

    const cc = await form({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
    });
    expect(cc.status).toBe(200);
    expect(cc.body.refresh_token).toBeUndefined();
    const app = api.withBearer(String(cc.body.access_token));
    const inc = await app.post<One>('/api/now/table/incident?sysparm_fields=sys_updated_by,sys_created_by', {
      short_description: 'by app',
    });
    expect(inc.body.result).toEqual({ sys_updated_by: sn.oauthAppUser, sys_created_by: sn.oauthAppUser });

    const refreshed = await form({
      grant_type: 'refresh_token',
      client_id: clientId,
      client_secret: clientSecret,
      refresh_token: String(pw.body.refresh_token),
    });
    expect(refreshed.status).toBe(200);

    const bad = await form({
      grant_type: 'password',
      client_id: clientId,
      client_secret: 'nope',
      username: user,
      password,
    });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error_description: 'access_denied', error: 'server_error' });

    const control = new SandboxClient(sn, undefined);
    await control.post('/_sandbox/clock', { advanceSeconds: 1801 });
    expect((await bearer.get('/api/now/table/incident?sysparm_limit=1')).status).toBe(401);
    await control.post('/_sandbox/clock', { advanceSeconds: -1801 });
    await control.close();
  });

  it('honours X-no-response-body and X-HTTP-Method-Override', async () => {
    const silent = await api.post(
      '/api/now/table/incident',
      { short_description: 'silent' },
      { 'x-no-response-body': 'true' },
    );
    expect(silent.status).toBe(201);
    expect(silent.text).toBe('');
    const id = silent.headers.location?.split('/').pop() ?? '';
    const overridden = await api.call<One>(
      'POST',
      `/api/now/table/incident/${id}?sysparm_fields=short_description`,
      { short_description: 'via override' },
      { 'x-http-method-override': 'PATCH' },
    );
    expect(overridden.status).toBe(200);
    expect(overridden.body.result.short_description).toBe('via override');
  });
});

describe('robustness', () => {
  it('arbitrary bodies on every write endpoint get a status and, on error, the envelope', async () => {
    const { default: fc } = await import('fast-check');
    const endpoints = [
      '/api/now/table/incident',
      '/api/now/identifyreconcile',
      '/api/now/identifyreconcile/enhanced?options=generate_summary:true',
      '/api/now/v1/batch',
      '/api/now/import/imp_user',
      '/api/now/import/imp_user/insertMultiple',
    ];
    const body = fc.oneof(
      fc.string(),
      fc.json(),
      fc.constantFrom(
        '{"items":[{"className":null}]}',
        '{"items":[1,"x",{}],"relations":[{"parent":-1}]}',
        '{"rest_requests":[{"id":"1","method":"GET","url":"nope"}]}',
        '{"records":[null,1]}',
        "{'a':'b'",
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...endpoints), body, async (path, text) => {
        const res = await api.post(path, text);
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect((res.body as { status?: string }).status).toBe('failure');
      }),
      { numRuns: 120 },
    );
    expect((await api.get('/api/now/table/incident?sysparm_limit=1')).status).toBe(200);
  });
});

describe('reference data the OT model points at, through the Table API as the integration user', () => {
  const one = async (path: string): Promise<Rec> => {
    const res = await api.get<Many>(path);
    expect(res.status, path).toBe(200);
    expect(res.body.result, path).toHaveLength(1);
    return res.body.result[0] as Rec;
  };

  // [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md
  it('creates a manufacturer and a product model, and a CI refers to both by sys_id (cmdb-ci-class-models-operation-technology.md)', async () => {
    const company = await api.post<One>('/api/now/table/core_company', {
      name: 'Siemens',
      manufacturer: 'true',
    });
    expect(company.status).toBe(201);
    const model = await api.post<One>('/api/now/table/cmdb_model', {
      name: 'S7-1500',
      manufacturer: company.body.result.sys_id,
    });
    expect(model.status).toBe(201);
    const plc = await api.post<One>('/api/now/table/cmdb_ci_ot_plc', {
      name: 'plc-with-model',
      manufacturer: company.body.result.sys_id,
      model_id: model.body.result.sys_id,
    });
    const read = await api.get<One>(
      `/api/now/table/cmdb_ci_ot_plc/${plc.body.result.sys_id}?sysparm_display_value=all&sysparm_fields=manufacturer,model_id`,
    );
    expect(read.body.result).toEqual({
      manufacturer: {
        display_value: 'Siemens',
        link: `${sn.url}/api/now/table/core_company/${company.body.result.sys_id}`,
        value: company.body.result.sys_id,
      },
      model_id: {
        display_value: 'S7-1500',
        link: `${sn.url}/api/now/table/cmdb_model/${model.body.result.sys_id}`,
        value: model.body.result.sys_id,
      },
    });
  });

  // [SND] markdown/servicenow-platform/common-service-data-model-csdm/csdm-lifecycle-df-tangible-physical.md;
  // "Learning": attribute-mapping-sgc-msft-d4iot-azure.md; "Learning Mode": validate-nids-appliances-sgc-msft-d4iot-azure.md.
  it('serves the CSDM life-cycle stages and the Operational statuses, learning ones included (csdm-lifecycle-df-tangible-physical.md)', async () => {
    const stages = await api.get<Many>('/api/now/table/life_cycle_stage?sysparm_fields=name');
    expect(stages.body.result.map((s) => s.name)).toEqual(
      expect.arrayContaining(['Ideation', 'Deploy', 'Operational', 'End of Life']),
    );
    const operational = await one('/api/now/table/life_cycle_stage?sysparm_query=name=Operational');
    const statuses = await api.get<Many>(
      `/api/now/table/life_cycle_stage_status?sysparm_query=life_cycle_stage=${String(operational.sys_id)}&sysparm_fields=name`,
    );
    expect(statuses.body.result.map((s) => s.name)).toEqual(
      expect.arrayContaining(['In Use', 'Learning', 'Learning Mode', 'In Maintenance']),
    );
    const dotWalk = await api.get<Many>(
      '/api/now/table/life_cycle_stage_status?sysparm_query=life_cycle_stage.name=Operational^name=In Use&sysparm_fields=sys_id',
    );
    expect(dotWalk.body.result).toHaveLength(1);
  });

  // [SND] markdown/operational-technology/operational-technology-manager/ot-use-case.md
  it('serves the ISA-95 levels and level types; an entity without a parent is a site (ot-use-case.md)', async () => {
    const area = await one('/api/now/table/isa_entity_level?sysparm_query=name=Area');
    const workCenter = await one('/api/now/table/isa_entity_level?sysparm_query=name=Work Center');
    expect(workCenter.parent).toMatchObject({ value: area.sys_id });
    const cell = await one('/api/now/table/isa_entity_type?sysparm_query=name=Process Cell');
    const site = await api.post<One>('/api/now/table/cmdb_ci_ot_isa_entity', { name: 'Plant 1' });
    const line = await api.post<One>('/api/now/table/cmdb_ci_ot_isa_entity', {
      name: 'Plant 1 / Line 2',
      parent: site.body.result.sys_id,
      isa_entity_level: workCenter.sys_id,
      isa_entity_type: cell.sys_id,
    });
    expect(line.body.result).toMatchObject({
      parent: { value: site.body.result.sys_id },
      isa_entity_type: { value: cell.sys_id },
    });
    const sites = await api.get<Many>(
      '/api/now/table/cmdb_ci_ot_isa_entity?sysparm_query=parentISEMPTY^nameSTARTSWITHPlant 1&sysparm_fields=name',
    );
    expect(sites.body.result).toEqual([{ name: 'Plant 1' }]);
  });

  // The "NOW OT type" column of [SND] attribute-mapping-sgc-msft-d4iot-azure.md, table_gth_v4f_d1c.
  it('serves one OT device type per type of the connector subtype table, name = label (attribute-mapping-sgc-msft-d4iot-azure.md)', async () => {
    const types = await api.get<Many>('/api/now/table/cmdb_ot_entity_type?sysparm_fields=name,label');
    const names = types.body.result.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['OT Control System', 'Industrial Drive', 'Operational Technology (OT)', 'PLC']),
    );
    for (const t of types.body.result) expect(t.label).toBe(t.name);
  });
});

describe('tables a client reads to learn the instance', () => {
  // sys_db_object is the platform's table of tables; super_class is its parent reference
  // ([SND] markdown/api-reference/server-api-reference/c_TableUtilsAPI.md walks the same hierarchy).
  it('serves sys_db_object with name, label and super_class, so a client finds classes and parents', async () => {
    const ipCamera = await api.get<Many>(
      '/api/now/table/sys_db_object?sysparm_query=name=cmdb_ci_ip_camera&sysparm_display_value=all&sysparm_fields=name,label,super_class',
    );
    expect(ipCamera.status).toBe(200);
    const row = ipCamera.body.result[0] as Record<string, { display_value: string; link?: string }>;
    expect(row.name?.display_value).toBe('cmdb_ci_ip_camera');
    expect(row.label?.display_value).toBe('IP Camera');
    expect(row.super_class?.display_value).toBe('cmdb_ci_imaging');
    expect(row.super_class?.link).toMatch(/\/api\/now\/table\/sys_db_object\/[0-9a-f]{32}$/);
    const servers = await api.get<Many>(
      '/api/now/table/sys_db_object?sysparm_query=super_class.name=cmdb_ci_unix_server^ORDERBYname&sysparm_fields=name',
    );
    expect(servers.body.result.map((r) => r.name)).toEqual([
      'cmdb_ci_aix_server',
      'cmdb_ci_hpux_server',
      'cmdb_ci_osx_server',
      'cmdb_ci_solaris_server',
    ]);
  });

  // IRE writes these ([SND] markdown/servicenow-platform/configuration-management-database-cmdb/ire.md);
  // a client reads them back to find a CI by source key or serial number.
  it('serves cmdb_serial_number and sys_object_source to the integration user', async () => {
    for (const table of ['cmdb_serial_number', 'sys_object_source']) {
      const res = await api.get<Many>(`/api/now/table/${table}?sysparm_limit=1`);
      expect(res.status, table).toBe(200);
    }
  });
});
