import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { SandboxClient } from './testing.js';

type One = { result: Record<string, string> };
type Failure = { error: { message: string; detail: string | null }; status: string };

let sn: ServiceNowSandbox;
let api: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox({ now: new Date('2026-03-01T08:00:00Z') });
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
});

afterAll(async () => {
  await api.close();
  await sn.close();
});

const create = async (table: string, values: Record<string, string>): Promise<Record<string, string>> =>
  (await api.post<One>(`/api/now/table/${table}?sysparm_exclude_reference_link=true`, values)).body.result;
const patch = (
  table: string,
  id: string,
  values: Record<string, string>,
): Promise<{ status: number; body: One | Failure }> =>
  api.patch<One | Failure>(`/api/now/table/${table}/${id}?sysparm_exclude_reference_link=true`, values);

describe('incident closing rules', () => {
  it('403 Data Policy Exception without close_code/close_notes; resolve then close', async () => {
    const inc = await create('incident', { short_description: 'closing' });
    expect(inc.sys_created_on).toBe('2026-03-01 08:00:00');
    const denied = await patch('incident', inc.sys_id ?? '', { state: '6' });
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      error: {
        message: 'Operation Failed',
        detail: 'Data Policy Exception: \n\tThe following fields are mandatory: Resolution code, Close notes',
      },
      status: 'failure',
    });
    const onlyCode = await patch('incident', inc.sys_id ?? '', {
      state: '6',
      close_code: 'Solution provided',
    });
    expect((onlyCode.body as Failure).error.detail).toContain('mandatory: Close notes');
    const resolved = await patch('incident', inc.sys_id ?? '', {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'fixed',
    });
    expect(resolved.status).toBe(200);
    expect((resolved.body as One).result).toMatchObject({
      state: '6',
      incident_state: '6',
      active: 'true',
      resolved_by: (resolved.body as One).result.resolved_by,
    });
    expect((resolved.body as One).result.resolved_at).not.toBe('');
    const closed = (await patch('incident', inc.sys_id ?? '', { state: '7' })).body as One;
    expect(closed.result).toMatchObject({ state: '7', active: 'false' });
    expect(closed.result.closed_at).not.toBe('');
    const hold = await patch(
      'incident',
      (await create('incident', { short_description: 'hold' })).sys_id ?? '',
      { state: '3' },
    );
    expect((hold.body as Failure).error.detail).toContain('On hold reason');
  });

  it('journal fields read back as "" and render newest first with display values', async () => {
    const inc = await create('incident', { short_description: 'journal', work_notes: 'first note' });
    expect(inc.work_notes).toBe('');
    await sn.control.instance.clock.advance(60);
    await patch('incident', inc.sys_id ?? '', { work_notes: 'second note' });
    const dv = await api.get<One>(
      `/api/now/table/incident/${inc.sys_id}?sysparm_display_value=true&sysparm_fields=work_notes,sys_mod_count`,
    );
    expect(dv.body.result.work_notes).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - Snowline Integration \(Work notes\)\nsecond note\n\n.* - Snowline Integration \(Work notes\)\nfirst note\n\n$/s,
    );
    expect(dv.body.result.sys_mod_count).toBe('1');
  });
});

describe('problem and change state models', () => {
  it('problem: no jumps, resolution_code required to resolve', async () => {
    const prb = await create('problem', { short_description: 'p' });
    expect(prb.number).toMatch(/^PRB\d{7}$/);
    expect(prb.state).toBe('101');
    const jump = await patch('problem', prb.sys_id ?? '', { state: '106' });
    expect(jump.status).toBe(403);
    for (const s of ['102', '103'])
      expect((await patch('problem', prb.sys_id ?? '', { state: s })).status).toBe(200);
    const noCode = await patch('problem', prb.sys_id ?? '', { state: '106' });
    expect((noCode.body as Failure).error.detail).toContain('Resolution code');
    const riskAccepted = await patch('problem', prb.sys_id ?? '', {
      state: '106',
      resolution_code: 'risk_accepted',
      cause_notes: 'why',
      close_notes: 'accepted',
    });
    expect(riskAccepted.status).toBe(200);
    expect((riskAccepted.body as One).result.problem_state).toBe('106');
    const closed = await patch('problem', prb.sys_id ?? '', { state: '107' });
    expect((closed.body as One).result.active).toBe('false');
  });

  it('change_request: New → Assess → …; cancel needs close_notes; no cancel from Review', async () => {
    const chg = await create('change_request', { short_description: 'c' });
    expect(chg.number).toMatch(/^CHG\d{7}$/);
    expect((await patch('change_request', chg.sys_id ?? '', { state: '-2' })).status).toBe(403);
    for (const s of ['-4', '-3', '-2', '-1', '0'])
      expect((await patch('change_request', chg.sys_id ?? '', { state: s })).status).toBe(200);
    const cancel = await patch('change_request', chg.sys_id ?? '', { state: '4', close_notes: 'n/a' });
    expect(cancel.status).toBe(403);
    expect((cancel.body as Failure).error.detail).toContain('Review');
    const badCode = await patch('change_request', chg.sys_id ?? '', {
      state: '3',
      close_code: 'nope',
      close_notes: 'x',
    });
    expect(badCode.status).toBe(403);
    const ok = await patch('change_request', chg.sys_id ?? '', {
      state: '3',
      close_code: 'successful',
      close_notes: 'done',
    });
    expect((ok.body as One).result).toMatchObject({ state: '3', active: 'false' });
    const other = await create('change_request', { short_description: 'c2' });
    expect((await patch('change_request', other.sys_id ?? '', { state: '4' })).status).toBe(403);
    const canceled = await patch('change_request', other.sys_id ?? '', {
      state: '4',
      close_notes: 'not needed',
    });
    expect((canceled.body as One).result).toMatchObject({ state: '4', active: 'false' });
  });
});

describe('Vulnerability Response rollup', () => {
  it('detections roll up into the vulnerable item: close as Fixed, reopen, auto-close as Stale', async () => {
    const ci = await create('cmdb_ci_ot_plc', { name: 'vr-plc' });
    const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2021-44228', summary: 'log4shell' });
    const det = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'Snowline',
      status: '0',
    });
    const viId = det.vulnerable_item ?? '';
    expect(viId).toMatch(/^[0-9a-f]{32}$/);
    const vi = async (): Promise<Record<string, string>> =>
      (
        await api.get<One>(
          `/api/now/table/sn_vul_vulnerable_item/${viId}?sysparm_fields=number,state,substate,active,reopen_count`,
        )
      ).body.result;
    expect(await vi()).toMatchObject({ state: '1', active: 'true' });
    expect((await vi()).number).toMatch(/^VIT\d{7}$/);
    const dup = await api.post('/api/now/table/sn_vul_detection', {
      cmdb_ci: ci.sys_id,
      vulnerability: cve.sys_id,
      source: 'Snowline',
    });
    expect(dup.status).toBe(403);

    await patch('sn_vul_detection', det.sys_id ?? '', { status: '1' });
    expect(await vi()).toMatchObject({ state: '3', substate: '1', active: 'false' });

    await patch('sn_vul_detection', det.sys_id ?? '', { status: '0', last_found: '2026-03-01 08:00:00' });
    expect(await vi()).toMatchObject({ state: '1', substate: '', active: 'true', reopen_count: '1' });

    const control = new SandboxClient(sn, undefined);
    await control.post('/_sandbox/clock', { advanceSeconds: 89 * 86_400 });
    const early = await control.post<{ detectionsStaled: number }>('/_sandbox/jobs/vr-auto-close', {});
    expect(early.body.detectionsStaled).toBe(0);
    await control.post('/_sandbox/clock', { advanceSeconds: 2 * 86_400 });
    const job = await control.post<{ detectionsStaled: number; itemsClosed: number }>(
      '/_sandbox/jobs/vr-auto-close',
      {},
    );
    expect(job.body).toEqual({ detectionsStaled: 1, itemsClosed: 1 });
    expect(await vi()).toMatchObject({ state: '3', substate: '2', active: 'false' });
    await control.post('/_sandbox/clock', { now: '2026-03-01T08:00:00Z' });
    await control.close();
  });

  it('a deferred item is left alone by the rollup', async () => {
    const ci = await create('cmdb_ci_ot_hmi', { name: 'vr-hmi' });
    const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2020-0001' });
    const det = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'Snowline',
    });
    await patch('sn_vul_vulnerable_item', det.vulnerable_item ?? '', { state: '12' });
    await patch('sn_vul_detection', det.sys_id ?? '', { status: '1' });
    const vi = (
      await api.get<One>(`/api/now/table/sn_vul_vulnerable_item/${det.vulnerable_item}?sysparm_fields=state`)
    ).body.result;
    expect(vi.state).toBe('12');
  });
});

describe('Aggregate API', () => {
  it('counts and groups', async () => {
    for (const [p, n] of [
      ['1', 2],
      ['2', 1],
    ] as const) {
      for (let i = 0; i < n; i++)
        await create('incident', { short_description: 'agg', impact: p, urgency: p });
    }
    const count = await api.get<{ result: { stats: { count: string } } }>(
      '/api/now/stats/incident?sysparm_query=short_description=agg&sysparm_count=true',
    );
    expect(count.body.result.stats.count).toBe('3');
    const grouped = await api.get<{
      result: Array<{ stats: { count: string }; groupby_fields: Array<{ field: string; value: string }> }>;
    }>(
      '/api/now/stats/incident?sysparm_query=short_description=agg&sysparm_count=true&sysparm_group_by=priority&sysparm_avg_fields=reassignment_count',
    );
    const byPriority = Object.fromEntries(
      grouped.body.result.map((g) => [g.groupby_fields[0]?.value, g.stats.count]),
    );
    expect(byPriority).toEqual({ '1': '2', '3': '1' });
    expect(grouped.body.result[0]?.stats).toMatchObject({ avg: { reassignment_count: '0.0000' } });
  });
});
