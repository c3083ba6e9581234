import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-sandbox-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!existsSync('dist/cli.js'))('snowline sandbox (built CLI)', () => {
  it('prints one ready line, writes a config that loads, serves both APIs over TLS, and stops on SIGTERM', async () => {
    const configPath = join(dir, 'sandbox.yaml');
    const child = spawn(
      process.execPath,
      ['dist/cli.js', 'sandbox', '--dataset', 'empty', '--write-config', configPath],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => reject(new Error('sandbox exited before it was ready')));
    });
    const ready = JSON.parse(line);
    expect(ready).toMatchObject({
      config: configPath,
      servicenow: { url: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/) },
    });
    expect(Object.keys(ready.defender)).toEqual(
      expect.arrayContaining(['url', 'tenantId', 'token', 'subscriptions', 'sensors', 'console']),
    );

    const { config } = loadConfigFile(configPath, {});
    expect(config.integrations[0]!.servicenow.instanceUrl).toBe(ready.servicenow.url);
    expect(readFileSync(configPath, 'utf8')).toContain(ready.caFile);

    const dispatcher = new Agent({ connect: { ca: readFileSync(ready.caFile) } });
    const basic = `Basic ${Buffer.from(`${ready.servicenow.user}:${ready.servicenow.password}`).toString('base64')}`;
    const users = await request(`${ready.servicenow.url}/api/now/table/sys_user?sysparm_limit=1`, {
      dispatcher,
      headers: { authorization: basic },
    });
    expect(users.statusCode).toBe(200);
    await users.body.dump();
    const subscription = ready.defender.subscriptions[0] ?? '00000000-0000-0000-0000-000000000000';
    const assessments = await request(
      `${ready.defender.url}/subscriptions/${subscription}/providers/Microsoft.Security/assessments?api-version=2021-06-01`,
      { dispatcher, headers: { authorization: `Bearer ${ready.defender.token}` } },
    );
    expect(assessments.statusCode).toBe(200);
    await assessments.body.dump();
    await dispatcher.close();

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(ready.caFile)).toBe(false);
  });
});
