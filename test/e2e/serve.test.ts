import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { signInPerson, startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { leaks, secretsOf } from '../support/secrets.js';

/**
 * `node dist/cli.js serve` against the sandboxes: the dashboard line, a run over HTTP, a scheduled
 * run, a ServiceNow webhook delivery, the dashboard beside the API, no secret in any API answer or
 * in `/metrics`, SIGTERM.
 */

const WEBHOOK_SECRET = 'serve-e2e-webhook-secret-0123456789';

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
      ticketSync: { webhook: { secret: WEBHOOK_SECRET } },
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

      // The cloud-tickets schedule fires every second, and ticket-sync's backstop poll (every 60 s
      // by default) at the first whole second: wait (bounded) for the first run of each to end.
      const scheduledRunOf = (runs: any[], flow: string) =>
        runs.find(
          (r: any) =>
            r.trigger === 'schedule' && r.status !== 'running' && r.summary?.jobs?.[flow] !== undefined,
        );
      let scheduled: any;
      let polled: any;
      for (let i = 0; i < 150 && !(scheduled && polled); i++) {
        const runs = (await (await fetch(`${base}/api/v1/runs?limit=50`, { headers: auth })).json()) as any;
        scheduled = scheduledRunOf(runs.runs, 'cloud-tickets');
        polled = scheduledRunOf(runs.runs, 'ticket-sync');
        if (!(scheduled && polled)) await new Promise((r) => setTimeout(r, 100));
      }
      expect(scheduled).toMatchObject({ status: 'ok' });
      expect(Object.keys(scheduled.summary.jobs)).toEqual(['cloud-tickets']);
      expect(polled).toMatchObject({ status: 'ok' });
      expect(Object.keys(polled.summary.jobs)).toEqual(['ticket-sync']);
      const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
      expect(metrics).toMatch(
        /snowline_runs_total\{integration="sandbox",flow="cloud-tickets",outcome="ok"\} [1-9]/,
      );

      // The same server answers the ServiceNow webhook: a person resolves a ticket, the sandbox's
      // business rule posts it, and the delivery is processed and timed in the metrics.
      await sandboxes.control('servicenow', 'POST', '/_sandbox/webhooks', {
        url: `${base}/api/v1/webhooks/servicenow`,
        secret: WEBHOOK_SECRET,
        tables: ['incident'],
      });
      const person = await signInPerson(sandboxes, loaded.config.integrations[0]!.servicenow, {
        user_name: 'sam.person',
        password: 'Sam-person-pw-1',
        roles: ['itil'],
      });
      try {
        const [incident] = await person.client.listAll('incident', {
          query: 'correlation_idSTARTSWITHsnowline:',
          fields: ['sys_id'],
          pageSize: 1,
        });
        expect(incident).toBeDefined();
        await person.client.update('incident', incident!.sys_id, {
          state: '6',
          close_code: 'Solution provided',
          close_notes: 'Fixed.',
        });
      } finally {
        await person.close();
      }
      let delivered: any[] = [];
      for (let i = 0; i < 200 && delivered.length === 0; i++) {
        const state = await sandboxes.control('servicenow', 'GET', '/_sandbox/webhooks');
        delivered = state.pending === 0 ? state.deliveries : [];
        if (delivered.length === 0) await new Promise((r) => setTimeout(r, 25));
      }
      expect(delivered).toEqual([expect.objectContaining({ status: 200 })]);
      const after = await (await fetch(`${base}/metrics`, { headers: auth })).text();
      expect(after).toMatch(/snowline_webhook_latency_seconds_count\{outcome="processed"\} 1/);

      // The dashboard answers the other paths; an unknown API path still gets the API's JSON 404.
      const home = await fetch(`${base}/`, { redirect: 'manual' });
      expect([home.status, home.headers.get('location')]).toEqual([303, '/login']);
      const unknown = await fetch(`${base}/api/v1/nothing-here`, { headers: auth });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });

      // Every secret of the configuration is a canary: none appears in any API answer, in an
      // error the API or the webhook gives, or in /metrics.
      const secrets = secretsOf(loaded.config);
      expect(secrets).toEqual(expect.arrayContaining([token, WEBHOOK_SECRET]));
      const bodies: string[] = [metrics, after];
      const get = async (path: string): Promise<any> => {
        const answer = await fetch(`${base}${path}`, { headers: auth });
        const text = await answer.text();
        expect(answer.status, `${path}: ${text}`).toBe(200);
        bodies.push(text);
        return JSON.parse(text);
      };
      const listed = await get('/api/v1/runs?limit=1000');
      for (const r of listed.runs) await get(`/api/v1/runs/${r.id}`);
      let ledgerEvents = 0;
      for (let page = 0, cursor: string | null = ''; page < 100 && cursor !== null; page++) {
        const events = await get(
          `/api/v1/ledger?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        ledgerEvents += events.events.length;
        cursor = events.nextCursor;
      }
      expect(ledgerEvents, 'the ledger was read, not empty').toBeGreaterThan(0);
      for (let page = 0, cursor: string | null = ''; page < 100 && cursor !== null; page++) {
        cursor = (
          await get(`/api/v1/tickets?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        ).nextCursor;
      }
      await get('/api/v1/openapi.json');
      await get('/api/v1/health');
      bodies.push(await (await fetch(`${base}/metrics`, { headers: auth })).text());
      const refused = [
        await fetch(`${base}/api/v1/runs`, { headers: { authorization: `Bearer ${token}x` } }),
        await fetch(`${base}/api/v1/runs`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: '{"flows": ["no-such-flow"]}',
        }),
        await fetch(`${base}/api/v1/webhooks/servicenow`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-snowline-signature': `sha256=${WEBHOOK_SECRET}` },
          body: JSON.stringify({ table: 'incident', secret: WEBHOOK_SECRET }),
        }),
      ];
      for (const answer of refused) {
        expect(answer.status).toBeGreaterThanOrEqual(400);
        bodies.push(await answer.text());
      }
      expect(leaks(secrets, ...bodies)).toEqual([]);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(lines).toEqual([line]);
      expect(leaks(secrets, Buffer.concat(stderr).toString())).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  // Issue #22: without the webhook, a ticket closed in ServiceNow still reaches Defender, through
  // ticket-sync's own schedule (here every 2 s; 60 s by default): its governance assignments are
  // gone within the interval plus one run.
  it('with the webhook off, removes the assignments of a ticket a person resolved on the ticket-sync schedule', async () => {
    const loaded = sandboxes.config(join(dir, 'serve-poll.sqlite'), {
      cloudTickets: {
        rules: [{ name: 'high', when: { severities: ['High', 'Critical'] }, table: 'incident' }],
      },
      ticketSync: { schedule: { every: '2s' } },
    });
    const token = loaded.config.api.tokens[0]!;
    const configPath = join(dir, 'snowline-poll.yaml');
    writeFileSync(configPath, stringify(loaded.config));
    const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--config', configPath, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', () =>
          reject(new Error(`serve exited early: ${Buffer.concat(stderr).toString()}`)),
        );
      });
      const base = /^dashboard: (http:\/\/127\.0\.0\.1:\d+)\/$/.exec(line)![1]!;
      const auth = { authorization: `Bearer ${token}` };
      const created = await fetch(`${base}/api/v1/runs`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ flows: ['cloud-tickets'] }),
      });
      expect(((await created.json()) as any).status).toBe('ok');
      const tickets = (
        (await (await fetch(`${base}/api/v1/tickets?limit=1000`, { headers: auth })).json()) as any
      ).tickets as {
        servicenow: { sysId: string; table: string; closed: boolean };
        defender: { assignments: { assessmentId: string }[] };
      }[];
      const ticket = tickets.find(
        // An open one (the test above resolved another on these sandboxes).
        (t) => t.servicenow.table === 'incident' && !t.servicenow.closed && t.defender.assignments.length > 0,
      )!;
      expect(ticket).toBeDefined();
      const assigned = async () => {
        const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments');
        return new Set(
          (dump.governanceAssignments as { id: string }[]).map((g) =>
            g.id.slice(0, g.id.toLowerCase().lastIndexOf('/governanceassignments/')).toLowerCase(),
          ),
        );
      };
      const ofTicket = ticket.defender.assignments.map((a) => a.assessmentId.toLowerCase());
      for (const id of ofTicket) expect((await assigned()).has(id)).toBe(true);

      const person = await signInPerson(sandboxes, loaded.config.integrations[0]!.servicenow, {
        user_name: 'pat.person',
        password: 'Pat-person-pw-1',
        roles: ['itil'],
      });
      try {
        await person.client.update('incident', ticket.servicenow.sysId, {
          state: '6',
          close_code: 'Solution provided',
          close_notes: 'Fixed.',
        });
      } finally {
        await person.close();
      }
      const resolvedAt = Date.now();
      // Bounded: the 2 s interval plus one run, with room for a slow machine.
      let left = ofTicket;
      for (let i = 0; i < 200 && left.length > 0; i++) {
        const now = await assigned();
        left = ofTicket.filter((id) => now.has(id));
        if (left.length > 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(left, 'assignments of the resolved ticket still in Defender').toEqual([]);
      // It was ticket-sync's scheduled poll that did it (no webhook is configured): wait (bounded)
      // for that run to end.
      let polled: any[] = [];
      for (let i = 0; i < 100 && polled.length === 0; i++) {
        const runs = ((await (await fetch(`${base}/api/v1/runs?limit=50`, { headers: auth })).json()) as any)
          .runs;
        polled = runs.filter(
          (r: any) =>
            r.trigger === 'schedule' &&
            r.status === 'ok' &&
            r.summary?.jobs?.['ticket-sync']?.deleted >= ofTicket.length &&
            Date.parse(r.startedAt) >= resolvedAt - 2_000,
        );
        if (polled.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(polled.length).toBe(1);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
