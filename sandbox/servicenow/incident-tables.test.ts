import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { SandboxClient } from './testing.js';

// Sources (ServiceNow/ServiceNowDocs, branch australia, paths under markdown/):
// [OTIM] operational-technology/operational-technology-incident-management/
//        components-installed-with-operational-technology-service-management.md (table, roles),
//        report-ot-incident.md (OTINC), operational-technology-incident-management.md (state labels),
//        resolve-and-close-ot-incident.md (Resolution code / notes)
// [SIR]  security-management/security-incident-response/installed-with-sir.md (table, roles),
//        setup-assistant-reference.md (NIST states, initial 10); state values 3/7/10/16/18/19:
//        demisto/content Packs/ServiceNow/Integrations/ServiceNowv2/ServiceNowv2.py
// [TABLE] api-reference/rest-apis/c_TableAPI.md; unknown table → 400 "Invalid table <name>"
//        (contract servicenow.md §1)

type One = { result: Record<string, string> };
type Many = { result: Array<Record<string, string>> };

let sn: ServiceNowSandbox;
let api: SandboxClient;
let control: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox({ now: new Date('2026-03-01T08:00:00Z') });
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
  control = new SandboxClient(sn, undefined);
});

afterAll(async () => {
  await api.close();
  await control.close();
  await sn.close();
});

/** Runs `check` as the itil-only user (no OT or security incident role). */
async function asItilOnly(check: (itil: SandboxClient) => Promise<void>): Promise<void> {
  const itil = SandboxClient.basic(sn, sn.lowPrivilegeCredentials.user, sn.lowPrivilegeCredentials.password);
  try {
    await check(itil);
  } finally {
    await itil.close();
  }
}

const path = (table: string, id = '') =>
  `/api/now/table/${table}${id ? `/${id}` : ''}?sysparm_exclude_reference_link=true`;

describe('sn_ot_incident (OT Incident Management, sn_ot_inc_mgmt) [OTIM]', () => {
  it('numbers OTINC, starts New, carries cmdb_ci and correlation_id, journals work notes', async () => {
    const ci = (await api.post<One>(path('cmdb_ci'), { name: 'plc-7' })).body.result;
    const created = await api.post<One>(path('sn_ot_incident'), {
      short_description: 'Unauthorized PLC Program Upload',
      cmdb_ci: ci.sys_id,
      correlation_id: 'snowline:ot-alerts:abc',
      work_notes: 'raised from Defender for IoT',
    });
    expect(created.status).toBe(201);
    const r = created.body.result;
    expect(r.number).toMatch(/^OTINC\d{7}$/);
    expect(r.state).toBe('1');
    expect(r.cmdb_ci).toBe(ci.sys_id);
    expect(r.correlation_id).toBe('snowline:ot-alerts:abc');
    const notes = await api.get<Many>(
      `/api/now/table/sys_journal_field?sysparm_query=element_id=${r.sys_id}^element=work_notes`,
    );
    expect(notes.body.result.map((n) => n.value)).toEqual(['raised from Defender for IoT']);
  });

  it('resolves (6) only with close_code and close_notes, then closes (7) inactive (values UNVERIFIED: incident’s)', async () => {
    const r = (await api.post<One>(path('sn_ot_incident'), { short_description: 'burst' })).body.result;
    const denied = await api.patch(path('sn_ot_incident', r.sys_id), { state: '6' });
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('Resolution code, Resolution notes');
    const resolved = await api.patch<One>(path('sn_ot_incident', r.sys_id), {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'alert closed in Defender',
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body.result.resolved_at).not.toBe('');
    const closed = await api.patch<One>(path('sn_ot_incident', r.sys_id), { state: '7' });
    expect(closed.body.result.active).toBe('false');
    const states = await api.get<Many>(
      '/api/now/table/sys_choice?sysparm_query=name=sn_ot_incident^element=state&sysparm_fields=value,label',
    );
    expect(states.body.result.map((c) => `${c.value} ${c.label}`)).toEqual(
      expect.arrayContaining(['1 New', '2 In Progress', '3 On Hold', '6 Resolved', '7 Closed', '8 Canceled']),
    );
  });

  it('needs an OT incident role: an itil-only user can neither read nor write it', async () => {
    await asItilOnly(async (itil) => {
      expect((await itil.get(path('sn_ot_incident'))).status).toBe(403);
      expect((await itil.post(path('sn_ot_incident'), { short_description: 'x' })).status).toBe(403);
      expect((await itil.get(path('incident'))).status).toBe(200);
    });
  });
});

describe('sn_si_incident (Security Incident Response, com.snc.security_incident) [SIR]', () => {
  it('starts Draft (10), closes at 3 inactive; roles sn_si.* apply', async () => {
    const r = (await api.post<One>(path('sn_si_incident'), { short_description: 'Malware on HMI' })).body
      .result;
    expect(r.state).toBe('10');
    expect(r.number).toMatch(/^SIR\d{7}$/);
    const closed = await api.patch<One>(path('sn_si_incident', r.sys_id), {
      state: '3',
      close_code: 'Threat mitigated',
      close_notes: 'closed in Defender',
    });
    expect(closed.body.result.active).toBe('false');
    await asItilOnly(async (itil) => {
      expect((await itil.get(path('sn_si_incident'))).status).toBe(403);
    });
  });
});

describe('plugin not installed [TABLE]', () => {
  it('answers 400 Invalid table for a switched-off plugin’s table, as for any unknown table, until reset', async () => {
    const set = await control.post<{ absentPlugins: string[] }>('/_sandbox/config', {
      absentPlugins: ['sn_ot_inc_mgmt', 'com.snc.security_incident'],
    });
    expect(set.body.absentPlugins).toEqual(['sn_ot_inc_mgmt', 'com.snc.security_incident']);
    for (const table of ['sn_ot_incident', 'sn_si_incident']) {
      const read = await api.get(path(table));
      expect(read.status).toBe(400);
      expect(read.body).toEqual({
        error: { message: `Invalid table ${table}`, detail: null },
        status: 'failure',
      });
      expect((await api.post(path(table), { short_description: 'x' })).status).toBe(400);
    }
    expect((await api.get(path('incident'))).status).toBe(200);
    const bad = await control.post('/_sandbox/config', { absentPlugins: ['com.example.unknown'] });
    expect(bad.status).toBe(400);
    await control.post('/_sandbox/config', { absentPlugins: [] });
    expect((await api.get(path('sn_ot_incident'))).status).toBe(200);
  });
});
