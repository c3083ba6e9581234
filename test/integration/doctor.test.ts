import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../../src/cli/program.js';
import type { DoctorReport } from '../../src/doctor/index.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/** `snowline doctor` against the sandboxes: the integration user passes, the faults it must name fail. */

const dir = mkdtempSync(join(tmpdir(), 'snowline-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function doctor(
  config: unknown,
  json = true,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, stringify(config));
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runCli(
    ['--config', path, '--log-level', 'silent', 'doctor', ...(json ? ['--json'] : [])],
    {
      stdout,
      stderr,
      env: process.env,
      cwd: dir,
    },
  );
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

function byId(report: DoctorReport): Record<string, { status: string; fix?: string; detail: string }> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c]));
}

describe('snowline doctor', () => {
  let sandboxes: Sandboxes;
  let base: any;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 40, seed: 3 });
    base = structuredClone(sandboxes.config(join(dir, 'store.sqlite')).config);
  });
  afterAll(async () => sandboxes?.close());

  it('passes every check for the integration user and exits 0', async () => {
    const { code, stdout } = await doctor(base);
    const report = JSON.parse(stdout) as DoctorReport;
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    const checks = byId(report);
    for (const id of [
      'servicenow.sign-in',
      'servicenow.table.cmdb_ci_ot',
      'servicenow.table.sn_ot_device_network_connection',
      'servicenow.table.sn_vul_detection',
      'servicenow.table.incident',
      'servicenow.role.cmdb_ot_editor|cmdb_ot_admin',
      'servicenow.role.cmdb_nids_admin',
      'servicenow.role.sn_vul.vulnerability_write|sn_vul.admin',
      'servicenow.role.itil',
      'servicenow.discovery-source',
      // Every class of the connector's map exists on the sandbox (sys_db_object).
      'servicenow.ci-classes',
      'defender.console',
      ...sandboxes.ready.defender.sensors.map((s) => `defender.sensor.${s.name}`),
      ...sandboxes.ready.defender.subscriptions.map((s) => `defender.subscription.${s}.read`),
    ])
      expect(checks[id]?.status, id).toBe('pass');
    expect(code).toBe(0);
  });

  it('a user with only itil: OT and VR tables unreadable, roles missing, what to grant; exit 1', async () => {
    const config = structuredClone(base);
    config.integrations[0].servicenow.auth = {
      type: 'basic',
      username: sandboxes.ready.servicenow.lowPrivilegeUser,
      password: sandboxes.ready.servicenow.lowPrivilegePassword,
    };
    const { code, stdout } = await doctor(config);
    expect(code).toBe(1);
    const checks = byId(JSON.parse(stdout) as DoctorReport);
    expect(checks['servicenow.sign-in']?.status).toBe('pass');
    expect(checks['servicenow.table.cmdb_ci_ot']).toMatchObject({ status: 'fail' });
    expect(checks['servicenow.table.cmdb_ci_ot']?.detail).toContain('403');
    expect(checks['servicenow.table.sn_vul_detection']?.status).toBe('fail');
    expect(checks['servicenow.table.incident']?.status).toBe('pass');
    expect(checks['servicenow.role.cmdb_ot_editor|cmdb_ot_admin']).toMatchObject({
      status: 'fail',
      fix: `grant cmdb_ot_editor to ${sandboxes.ready.servicenow.lowPrivilegeUser}`,
    });
    expect(checks['servicenow.role.cmdb_nids_admin']?.status).toBe('fail');
    expect(checks['servicenow.role.sn_vul.vulnerability_write|sn_vul.admin']?.status).toBe('fail');
    expect(checks['servicenow.role.itil']?.status).toBe('pass');
  });

  it('names a missing discovery-source choice, a bad sensor token and a bad Azure token', async () => {
    const config = structuredClone(base);
    config.integrations[0].flows.otInventory.dataSource = 'NotAChoice';
    const sensor = config.integrations[0].defender.sensors[0];
    sensor.token = 'wrong-token-123456';
    config.integrations[0].defender.auth = { type: 'token', token: 'wrong-arm-token-123456' };
    const { code, stdout } = await doctor(config, false);
    expect(code).toBe(1);
    expect(stdout).toContain('FAIL servicenow.discovery-source');
    expect(stdout).toMatch(
      /fix: add a sys_choice \(table cmdb_ci, element discovery_source, value "NotAChoice"\)/,
    );
    expect(stdout).toContain(`FAIL defender.sensor.${sensor.name}`);
    expect(stdout).toContain(`create an API token on sensor ${sensor.name}`);
    const subscription = sandboxes.ready.defender.subscriptions[0];
    expect(stdout).toContain(`FAIL defender.subscription.${subscription}.read`);
    // Secrets never reach the output.
    expect(stdout).not.toContain('wrong-token-123456');
    expect(stdout).not.toContain('wrong-arm-token-123456');
  });

  it('checks only what the enabled flows need', async () => {
    const config = structuredClone(base);
    config.integrations[0].flows = { cloudTickets: base.integrations[0].flows.cloudTickets };
    const { code, stdout } = await doctor(config);
    const ids = (JSON.parse(stdout) as DoctorReport).checks.map((c) => c.id);
    expect(ids).toContain('servicenow.table.incident');
    expect(ids.filter((id) => /cmdb|sn_vul|discovery/.test(id))).toEqual([]);
    expect(code).toBe(0);
  });
});

describe('snowline doctor: the tables ot-alerts rules use', () => {
  let sandboxes: Sandboxes;
  let base: any;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 20, seed: 7 });
    base = structuredClone(sandboxes.config(join(dir, 'alerts.sqlite')).config);
    base.integrations[0].flows = {
      otAlerts: {
        rules: [
          { name: 'malware', when: { engines: ['Malware'] }, table: 'sn_si_incident' },
          { name: 'ot', table: 'sn_ot_incident' },
        ],
      },
    };
  });
  afterAll(async () => sandboxes?.close());

  it('checks the OT and security incident tables and their roles, and names the plugin when one is not installed', async () => {
    const present = byId(JSON.parse((await doctor(base)).stdout) as DoctorReport);
    expect(present['servicenow.table.sn_ot_incident']?.status).toBe('pass');
    expect(present['servicenow.table.sn_si_incident']?.status).toBe('pass');
    expect(Object.keys(present)).toEqual(
      expect.arrayContaining([
        'servicenow.role.sn_ot_incident_write|sn_ot_incident_admin',
        'servicenow.role.sn_si.integration_user|sn_si.analyst|sn_si.admin',
      ]),
    );
    expect(present['servicenow.table.incident']).toBeUndefined();

    await sandboxes.control('servicenow', 'POST', '/_sandbox/config', {
      absentPlugins: ['sn_ot_inc_mgmt', 'com.snc.security_incident'],
    });
    const { code, stdout } = await doctor(base);
    const absent = byId(JSON.parse(stdout) as DoctorReport);
    expect(absent['servicenow.table.sn_ot_incident']).toMatchObject({
      status: 'fail',
      fix: 'activate Operational Technology Incident Management (sn_ot_inc_mgmt)',
    });
    expect(absent['servicenow.table.sn_si_incident']).toMatchObject({
      status: 'fail',
      fix: 'activate Security Incident Response (com.snc.security_incident)',
    });
    expect(code).toBe(1);
  });
});

describe('snowline doctor: ticket-sync push mode', () => {
  let sandboxes: Sandboxes;
  let config: any;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 10, seed: 5 });
    config = structuredClone(sandboxes.config(join(dir, 'push.sqlite')).config);
    const flows = config.integrations[0].flows;
    flows.cloudTickets.rules = [{ name: 'high', when: { severities: ['High'] }, table: 'incident' }];
    flows.ticketSync = { ...flows.ticketSync, webhook: { secret: 'push-mode-secret-0123456789' } };
  });
  afterAll(async () => sandboxes?.close());

  const push = async () => {
    const checks = byId(JSON.parse((await doctor(config)).stdout) as DoctorReport);
    return [
      checks['servicenow.ticket-sync.properties'],
      checks['servicenow.ticket-sync.business-rules'],
      checks['servicenow.ticket-sync.reachable'],
    ];
  };

  it('says what to check by hand when the integration user may not read the setup, and checks it when it may', async () => {
    // sys_properties and sys_script are an admin's to read (on the sandbox, as on most instances).
    const [properties, rules, reachable] = await push();
    expect(properties).toMatchObject({ status: 'skip' });
    expect(properties!.detail).toContain('snowline.sandbox.webhook.url');
    expect(rules).toMatchObject({ status: 'skip' });
    expect(reachable).toMatchObject({ status: 'skip' });

    await sandboxes.control('servicenow', 'POST', '/_sandbox/users', {
      user_name: 'snowline.oauth.app',
      password: 'unused-by-oauth',
      roles: ['admin'],
    });
    const [missingProperties, missingRule] = await push();
    expect(missingProperties).toMatchObject({ status: 'fail' });
    expect(missingProperties!.fix).toContain('snowline servicenow setup');
    expect(missingRule).toMatchObject({ status: 'fail' });
    expect(missingRule!.detail).toContain('incident');

    // What `snowline servicenow setup` prints, applied.
    await sandboxes.control('servicenow', 'POST', '/_sandbox/properties', {
      'snowline.sandbox.webhook.url': 'https://snowline.example.com/api/v1/webhooks/servicenow',
      'snowline.sandbox.webhook.secret': 'push-mode-secret-0123456789',
    });
    await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
      sys_script: [
        {
          name: 'Snowline webhook',
          collection: 'incident',
          when: 'async',
          action_insert: 'true',
          action_update: 'true',
          script: "var url = gs.getProperty('snowline.sandbox.webhook.url');",
        },
      ],
    });
    const [set, ruled] = await push();
    expect(set).toMatchObject({ status: 'pass' });
    expect(ruled).toMatchObject({ status: 'pass' });
  });
});
