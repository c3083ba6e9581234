import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { renderSetupExample, SETUP_EXAMPLE_CONFIG } from '../../setup/example.js';
import { runCli } from '../program.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-setup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'snowline.yaml');
writeFileSync(config, SETUP_EXAMPLE_CONFIG);
const WEBHOOK_SECRET = 'CANARY-webhook-secret-0123456789';
const env = {
  SERVICENOW_CLIENT_SECRET: 'CANARY-client',
  AZURE_CLIENT_SECRET: 'CANARY-azure',
  SNOWLINE_WEBHOOK_SECRET: WEBHOOK_SECRET,
};

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({ write: (chunk, _e, done) => (append(String(chunk)), done()) });
  const code = await runCli(['--config', config, ...args], {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env,
    cwd: dir,
  });
  return { code, stdout, stderr };
}

const URL_ARG = ['--webhook-url', 'https://snowline.example.com/api/v1/webhooks/servicenow'];

describe('snowline servicenow setup', () => {
  it('prints what docs/ticket-sync.md shows, with no secret in it', async () => {
    const result = await cli(['servicenow', 'setup', ...URL_ARG]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(renderSetupExample());
    expect(result.stdout).not.toMatch(/CANARY/);
  });

  it('prints the webhook secret only with --show-secret', async () => {
    const result = await cli(['servicenow', 'setup', ...URL_ARG, '--show-secret']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Value: ${WEBHOOK_SECRET}\n`);
    expect(result.stdout).not.toMatch(/CANARY-(client|azure)/);
  });

  it('with --out, writes one file per item, each what it would print', async () => {
    const out = join(dir, 'setup');
    const result = await cli(['servicenow', 'setup', ...URL_ARG, '--out', out]);
    expect(result.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'business-rule.condition.js',
      'business-rule.script.js',
      'business-rule.txt',
      'integration-user.txt',
      'oauth-application.txt',
      'system-properties.txt',
    ]);
    const printed = renderSetupExample();
    for (const name of readdirSync(out)) expect(printed).toContain(readFileSync(join(out, name), 'utf8'));
  });

  it('generates the MID Server and scoped variants, and refuses a malformed scope', async () => {
    const mid = await cli(['servicenow', 'setup', '--mid-server', 'mid-plant-a']);
    expect(mid.stdout).toContain("request.setMIDServer('mid-plant-a');");
    const scoped = await cli(['servicenow', 'setup', '--scope', 'x_acme_snowline']);
    expect(scoped.stdout).toContain('new CertificateEncryption().generateMac(gs.base64Encode(secret)');
    expect(scoped.stdout).toContain("gs.getProperty('x_acme_snowline.plant-a.webhook.secret')");
    expect((await cli(['servicenow', 'setup', '--scope', 'Not A Scope'])).code).toBe(2);
  });
});
