import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'snowline-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!existsSync('dist/cli.js'))('npm start (snowline demo)', () => {
  it('`npm start -- --once --json` runs the demo once and prints a sync summary', () => {
    const result = spawnSync('npm', ['start', '--silent', '--', '--once', '--json', '--dir', dir], {
      cwd: resolve('.'),
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toEqual({ runId: expect.any(String), jobs: expect.any(Object) });
    expect(existsSync(join(dir, 'demo.sqlite'))).toBe(true);
    expect(existsSync(join(dir, 'demo.yaml'))).toBe(true);
  });
});
