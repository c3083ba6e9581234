import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/** `node dist/cli.js serve` against the sandboxes: the dashboard line, a run over HTTP, a scheduled run, SIGTERM. */

const dir = mkdtempSync(join(tmpdir(), 'snowline-serve-e2e-'));
let sandboxes: Sandboxes;
beforeAll(async () => {
  sandboxes = await startSandboxes({ devices: 30, seed: 21 });
});
afterAll(async () => {
  await sandboxes?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!existsSync('dist/cli.js'))('snowline serve (built CLI)', () => {
  it('prints the dashboard line, runs a flow triggered over HTTP and one on its schedule, and exits 0 on SIGTERM', async () => {
    const loaded = sandboxes.config(join(dir, 'serve.sqlite'), {
      otInventory: { source: 'console', sensorValidation: 'auto' },
      cloudTickets: {
        schedule: { every: '1s' },
        rules: [{ name: 'high', when: { severities: ['High', 'Critical'] }, table: 'incident' }],
      },
    });
    const token = loaded.config.api.tokens[0]!;
    const configPath = join(dir, 'snowline.yaml');
    writeFileSync(configPath, stringify(loaded.config));

    const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--config', configPath, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SNOWLINE_DEBUG: '1' },
    });
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines: string[] = [];
    const firstLine = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (lines.length === 1) resolve(line);
      });
      child.once('exit', () => reject(new Error(`serve exited early: ${Buffer.concat(stderr).toString()}`)));
    });
    try {
      const line = await firstLine;
      const match = /^dashboard: (http:\/\/127\.0\.0\.1:\d+)\/$/.exec(line);
      expect(match, line).not.toBeNull();
      const base = match![1]!;
      const auth = { authorization: `Bearer ${token}` };

      const response = await fetch(`${base}/api/v1/runs`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ flows: ['ot-inventory'] }),
      });
      expect(response.status).toBe(200);
      const run = (await response.json()) as any;
      expect(run.status).toBe('ok');
      expect(run.summary.jobs['ot-inventory'].created).toBeGreaterThan(0);

      // The cloud-tickets schedule fires every second; wait (bounded) for its first run to end.
      let scheduled: any;
      for (let i = 0; i < 150 && !scheduled; i++) {
        const runs = (await (await fetch(`${base}/api/v1/runs?limit=20`, { headers: auth })).json()) as any;
        scheduled = runs.runs.find((r: any) => r.trigger === 'schedule' && r.status !== 'running');
        if (!scheduled) await new Promise((r) => setTimeout(r, 100));
      }
      expect(scheduled).toMatchObject({ status: 'ok' });
      expect(Object.keys(scheduled.summary.jobs)).toEqual(['cloud-tickets']);
      const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
      expect(metrics).toMatch(
        /snowline_runs_total\{integration="sandbox",flow="cloud-tickets",outcome="ok"\} [1-9]/,
      );

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(lines).toEqual([line]);
      expect(Buffer.concat(stderr).toString()).not.toContain(token);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
