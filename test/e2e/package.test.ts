import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The package as users install it (README, "Install from the package"): `npm pack`, then
 * `npm install <tarball>` in an empty folder, then the installed `snowline` starts the sandboxes
 * and runs every flow against them. Only what `files` in package.json ships is there, so a file
 * the CLI needs at run time but the package leaves out fails this test.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-package-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, timeout = 600_000) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout });
  expect(result.status, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

describe.skipIf(!existsSync('dist/cli.js'))('the npm package', () => {
  it('installs into an empty folder, and its snowline runs the sandboxes and a sync', async () => {
    // dist/ is built by `npm test` before the tests run; --ignore-scripts packs it as it is.
    run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], resolve('.'));
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    expect(tarball).toMatch(/^snowline-\d+\.\d+\.\d+\.tgz$/);
    const app = join(dir, 'app');
    run('mkdir', ['-p', app], dir);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'snowline-user', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball)], app);
    const bin = join(app, 'node_modules', '.bin', 'snowline');
    expect(existsSync(bin)).toBe(true);

    const config = join(app, 'snowline.yaml');
    const sandbox = spawn(
      bin,
      ['sandbox', '--dataset', 'demo', '--devices', '60', '--write-config', config],
      {
        cwd: app,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((done) => sandbox.once('exit', (code) => done(code)));
    try {
      await new Promise<string>((ready, fail) => {
        createInterface({ input: sandbox.stdout! }).once('line', ready);
        sandbox.once('exit', () => fail(new Error('the installed sandbox exited before it was ready')));
      });
      const sync = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(bin, ['--config', config, '--log-level', 'silent', 'sync', '--json'], {
          cwd: app,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.once('exit', (code) => done({ code, stdout, stderr }));
      });
      expect(sync.code, sync.stdout + sync.stderr).toBe(0);
      const jobs = JSON.parse(sync.stdout).jobs as Record<string, { outcome: string; created: number }>;
      expect(Object.keys(jobs).sort()).toEqual(
        expect.arrayContaining(['cloud-tickets', 'ot-inventory', 'ot-vulnerabilities']),
      );
      for (const [flow, job] of Object.entries(jobs)) expect([flow, job.outcome]).toEqual([flow, 'ok']);
      expect(jobs['ot-inventory']!.created).toBeGreaterThan(0);
    } finally {
      sandbox.kill('SIGTERM');
      await exited;
    }
  }, 900_000);
});
