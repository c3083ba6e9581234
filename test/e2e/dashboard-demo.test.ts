import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'snowline-demo-live-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * `snowline demo` without --once: after the first run it prints the dashboard and its token, then
 * plays a change on either side and runs again, so the changes show up in the next run's counts.
 */
describe.skipIf(!existsSync('dist/cli.js'))('snowline demo (live)', () => {
  it('serves the dashboard, prints its token, and shows each change synced by the next run', async () => {
    const child = spawn(process.execPath, ['dist/cli.js', 'demo', '--dir', dir, '--activity-interval', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.resume();
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      // Wait (bounded) until the five kinds of change have each been played and followed by a run.
      const deadline = Date.now() + 150_000;
      while (
        Date.now() < deadline &&
        !/Defender for IoT: a burst of [^\n]*\n(?: {2}[^\n]*\n)*? {2}ot-alerts: [^\n]*(created|updated)/.test(
          out,
        )
      ) {
        await new Promise((r) => setTimeout(r, 500));
      }
      // Not a terminal: plain progress lines, no bar drawing.
      expect(out).toMatch(/^ot-inventory: running\not-inventory: ok, \d+ created/m);
      expect(out).not.toContain('\u001b[');
      expect(out).toMatch(/activity: ServiceNow: INC\d+ resolved by demo\.operator/);
      expect(out).toMatch(/activity: ServiceNow: INC\d+ assigned to \S+@/);
      expect(out).toMatch(
        // Other flows' lines may come between (ot-inventory reports the demo's disconnected sensor).
        /activity: Defender for IoT: CVE-\S+ fixed on \S+\n(?: {2}[^\n]*\n)*? {2}ot-vulnerabilities: 1 closed/,
      );
      expect(out).toMatch(
        /activity: Defender for Cloud: .* now healthy .*\n(?: {2}[^\n]*\n)*? {2}cloud-tickets: 1 resolved/,
      );
      // A burst of one alert on one device: one ticket (or one work note on the group's open one).
      expect(out).toMatch(
        /activity: Defender for IoT: a burst of 20 "[^"]+" alerts on \S+\n(?: {2}[^\n]*\n)*? {2}ot-alerts: 1 (created|updated)/,
      );
      const url = /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out)?.[1];
      const token = /^token: (\S+)$/m.exec(out)?.[1];
      expect(url).toBeDefined();
      const signIn = await request(`${url}login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: token! }).toString(),
      });
      await signIn.body.dump();
      expect(signIn.statusCode).toBe(303);
      const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
      const overview = await request(url!, { headers: { cookie } });
      const page = await overview.body.text();
      expect(overview.statusCode).toBe(200);
      expect(page).toContain('Last run per flow');
      expect(page).not.toContain(token!);
    } finally {
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  }, 200_000);
});
