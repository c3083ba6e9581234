import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from './program.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({ write: (chunk, _e, done) => (append(String(chunk)), done()) });
  const code = await runCli(args, {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env,
    cwd: dir,
  });
  return { code, stdout, stderr };
}

function writeConfig(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(config));
  return path;
}

const good = {
  store: { url: join(dir, 'store.sqlite') },
  log: { level: 'silent' },
  integrations: [
    {
      id: 'plant-a',
      servicenow: {
        instanceUrl: 'https://acme.service-now.com',
        auth: { type: 'basic', username: 'svc', password: '${SN_PASSWORD}' },
      },
      defender: { tenantId: 't', auth: { type: 'token', token: 'CANARY-token-value' } },
    },
  ],
};

describe('snowline CLI', () => {
  it('lists its commands in --help and exits 0', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    const commands = [...stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(commands).toEqual(
      expect.arrayContaining([
        'config',
        'migrate',
        'sync',
        'ticket',
        'serve',
        'sandbox',
        'demo',
        'worker',
        'doctor',
      ]),
    );
    const sub = await cli(['config', 'show', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--json');
  });

  it('exits 2 on bad usage', async () => {
    expect((await cli(['no-such-command'])).code).toBe(2);
    expect((await cli(['sandbox', '--dataset', 'huge'])).code).toBe(2);
    expect((await cli(['sandbox', '--devices', '-5'])).code).toBe(2);
  });

  it('writes a commented example and refuses to overwrite it', async () => {
    const path = join(dir, 'init', 'snowline.yaml');
    expect((await cli(['--config', path, 'config', 'init'])).code).toBe(0);
    expect(readFileSync(path, 'utf8')).toContain('# Snowline configuration.');
    const again = await cli(['--config', path, 'config', 'init']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists; pass --force');
  });

  it('exits 2 with one line per problem for a bad config, and runs nothing', async () => {
    const path = writeConfig('bad.yaml', {
      ...good,
      store: { url: join(dir, 'never.sqlite') },
      integrations: [{ ...good.integrations[0], servicenow: { instanceUrl: 'nope' } }],
    });
    const { code, stderr } = await cli(['--config', path, 'migrate'], { SN_PASSWORD: 'x' });
    expect(code).toBe(2);
    expect(stderr).toContain('integrations[0].servicenow.instanceUrl: must be an absolute http(s) URL');
    expect(stderr).toContain('integrations[0].servicenow.auth: is required');
    expect(existsSync(join(dir, 'never.sqlite'))).toBe(false);
  });

  it('warns about the deprecated ticketSync.intervalSeconds and still exits 0', async () => {
    const path = writeConfig('interval.yaml', {
      ...good,
      integrations: [{ ...good.integrations[0], flows: { ticketSync: { intervalSeconds: 30 } } }],
    });
    const text = await cli(['--config', path, 'config', 'check'], { SN_PASSWORD: 'x' });
    expect(text.code).toBe(0);
    expect(text.stderr).toContain(
      'warning: integrations[0].flows.ticketSync.intervalSeconds is deprecated; it is still read as the poll interval, but write schedule: { every: 30s } instead',
    );
    const json = await cli(['--config', path, 'config', 'check', '--json'], { SN_PASSWORD: 'x' });
    expect(JSON.parse(json.stdout).warnings).toEqual([
      expect.objectContaining({ path: 'integrations[0].flows.ticketSync.intervalSeconds' }),
    ]);
  });

  it('exits 2 naming the file when it does not exist', async () => {
    const { code, stderr } = await cli(['--config', join(dir, 'missing.yaml'), 'config', 'check']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing\.yaml does not exist; write one with `snowline config init`/);
  });

  it('shows the effective config with secrets redacted, as YAML or JSON', async () => {
    const path = writeConfig('good.yaml', good);
    const yaml = await cli(['--config', path, 'config', 'show'], { SN_PASSWORD: 'CANARY-password-value' });
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toContain('maxInFlight: 4');
    const json = await cli(['--config', path, 'config', 'show', '--json'], {
      SN_PASSWORD: 'CANARY-password-value',
    });
    expect(JSON.parse(json.stdout).integrations[0].servicenow.auth.password).toBe('[REDACTED]');
    for (const out of [yaml.stdout, yaml.stderr, json.stdout, json.stderr]) expect(out).not.toMatch(/CANARY/);
  });

  it('prints the JSON Schema with secret fields marked', async () => {
    const { code, stdout } = await cli(['config', 'schema']);
    expect(code).toBe(0);
    const schema = JSON.parse(stdout);
    expect(
      schema.properties.integrations.items.properties.servicenow.properties.auth.oneOf[0].properties.password
        .secret,
    ).toBe(true);
  });

  it('migrates the store, then reports it up to date', async () => {
    const path = writeConfig('migrate.yaml', good);
    const first = await cli(['--config', path, 'migrate', '--json'], { SN_PASSWORD: 'pw-123456' });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      store: join(dir, 'store.sqlite'),
      applied: [
        '20261122000000_initial',
        '20261122120000_partition_lease',
        '20261122130000_dashboard_snapshot',
        '20261205000000_ledger_retention',
        '20261205130000_link_adopted',
        '20261205190000_run_scratch',
        '20261206000000_part_group',
      ],
    });
    const second = await cli(['--config', path, 'migrate', '--json'], { SN_PASSWORD: 'pw-123456' });
    expect(JSON.parse(second.stdout).applied).toEqual([]);
  });

  it('prunes the store by store.retention and says what it removed', async () => {
    const path = writeConfig('prune.yaml', {
      ...good,
      store: { url: join(dir, 'prune.sqlite'), retention: { days: 30 } },
    });
    const pruned = await cli(['--config', path, 'store', 'prune', '--json'], { SN_PASSWORD: 'pw-123456' });
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ retentionDays: 30, ledgerEvents: 0, runs: 0 });
  });
});
