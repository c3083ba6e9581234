import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { servicenowWebhookRoutes } from '../../src/api/webhooks/servicenow.js';
import { signWebhookBody } from '../../src/api/webhooks/signature.js';
import { syncCommand } from '../../src/cli/commands/sync.js';
import type { CliIo } from '../../src/cli/io.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { UpstreamError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { SecretScrubber } from '../../src/secrets.js';
import type { ListOptions, ServiceNowClient } from '../../src/servicenow/client.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { createDefenderSources } from '../../src/sources/index.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore, type Store } from '../../src/store/store.js';
import type { TicketSyncSummary } from '../../src/sync/ticket-sync/engine.js';
import { ticketSyncFlow } from '../../src/sync/ticket-sync/flow.js';
import { ticketSyncWebhook, type TicketSyncWebhook } from '../../src/sync/ticket-sync/webhook.js';
import { signInPerson, startSandboxes, type Sandboxes, writeCounts } from '../support/sandboxes.js';
import { runOnce } from '../support/sync.js';

/**
 * ticket-sync end to end: tickets cloud-tickets opened in the ServiceNow sandbox are changed by a
 * person (a basic-auth itil user, as in the UI); polling and the webhook (the sandbox's business
 * rule posting to the route on a loopback server) must bring the Defender sandbox's governance
 * assignments in line — and nothing else.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger({ level: 'silent' });
const SECRET = 'test-webhook-secret-0123456789abcdef';

interface DumpAssignment {
  id: string;
  properties: {
    owner?: string;
    remediationDueDate: string;
    additionalData?: { ticketNumber?: number; ticketLink?: string; ticketStatus?: string };
  };
}

interface Ticket {
  table: 'incident' | 'problem' | 'change_request';
  sysId: string;
  number: string;
  assessments: string[];
}

const RULES = [
  {
    name: 'high',
    when: { severities: ['High', 'Critical'] },
    table: 'incident',
    grouping: 'recommendation',
    owner: { type: 'tag', value: 'owner' },
    dueDays: 14,
  },
  { name: 'medium', when: { severities: ['Medium'] }, table: 'problem', grouping: 'none' },
  { name: 'low', when: { severities: ['Low'] }, table: 'change_request', grouping: 'none' },
];

describe('ticket-sync against both sandboxes', () => {
  let sandboxes: Sandboxes;
  let loaded: LoadedConfig;
  let store: Store;
  let person: ServiceNowConnection;
  let integrationClient: ServiceNowConnection;
  let tickets: Ticket[];
  const users: { withEmail: { sysId: string; email: string }[]; noEmail: string } = {
    withEmail: [],
    noEmail: '',
  };

  const assignments = async (): Promise<Map<string, DumpAssignment>> => {
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments');
    return new Map(
      (dump.governanceAssignments as DumpAssignment[]).map((g) => [
        g.id.slice(0, g.id.toLowerCase().lastIndexOf('/governanceassignments/')).toLowerCase(),
        g,
      ]),
    );
  };
  const writes = () => writeCounts(sandboxes);
  const poll = async (
    config: Record<string, unknown> = {},
    servicenow?: ServiceNowClient,
  ): Promise<TicketSyncSummary> => {
    if (!servicenow) {
      const result = await runOnce(loaded, store, { only: ['ticket-sync'] });
      return result.summary.jobs['ticket-sync'] as TicketSyncSummary;
    }
    const counters = new RequestCounters();
    const defender = createDefenderSources(loaded.config.integrations[0]!.defender, {
      clock: systemClock,
      counters,
    });
    try {
      const result = await ticketSyncFlow.execute(
        {
          integrationId: 'sandbox',
          config: { ...loaded.config.integrations[0]!.flows.ticketSync!, ...config },
          store,
          clock: systemClock,
          logger,
          counters,
          runId: null,
          dryRun: false,
        },
        { servicenow, arm: defender.arm },
      );
      return result.summary;
    } finally {
      await defender.close();
    }
  };
  const take = (table: Ticket['table'], atLeast = 1): Ticket => {
    const index = tickets.findIndex((t) => t.table === table && t.assessments.length >= atLeast);
    expect(index, `a ${table} with ${atLeast}+ assessments`).toBeGreaterThanOrEqual(0);
    return tickets.splice(index, 1)[0]!;
  };
  const ownersOf = async (ticket: Ticket) => {
    const all = await assignments();
    return ticket.assessments.map((id) => all.get(id.toLowerCase())?.properties.owner);
  };

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 120, seed: 11 });
    loaded = sandboxes.config(join(dir, 'store.sqlite'), {
      cloudTickets: { rules: RULES },
      ticketSync: { webhook: { secret: SECRET } },
    });
    store = await openStore(join(dir, 'store.sqlite'));
    await store.migrate();
    const nobody = await sandboxes.control('servicenow', 'POST', '/_sandbox/users', {
      user_name: 'no.mail',
      password: 'No-mail-pw-12345',
      roles: ['itil'],
    });
    const sn = loaded.config.integrations[0]!.servicenow;
    person = await signInPerson(sandboxes, sn, {
      user_name: 'pat.person',
      password: 'Pat-person-pw-1',
      roles: ['itil'],
      email: 'pat.person@example.com',
    });
    integrationClient = connectServiceNow(sn, { clock: systemClock, counters: new RequestCounters() });
    const people = await person.client.listAll('sys_user', {
      query: 'active=true^emailISNOTEMPTY',
      fields: ['sys_id', 'email'],
    });
    users.withEmail = people.map((u) => ({ sysId: u.sys_id, email: stringValue(u.email)! }));
    users.noEmail =
      (nobody?.result?.sys_id as string | undefined) ??
      (await person.client.listAll('sys_user', { query: 'user_name=no.mail', fields: ['sys_id'] }))[0]!
        .sys_id;

    const result = await runOnce(loaded, store, { only: ['cloud-tickets'] });
    expect(result.summary.jobs['cloud-tickets']?.errors).toBe(0);
    const links = await store.db.selectFrom('link').selectAll().execute();
    const byTicket = new Map<string, Ticket>();
    for (const l of links) {
      const t = byTicket.get(l.ticket_sys_id!) ?? {
        table: l.ticket_table as Ticket['table'],
        sysId: l.ticket_sys_id!,
        number: l.ticket_number!,
        assessments: [],
      };
      t.assessments.push(l.assessment_id);
      byTicket.set(t.sysId, t);
    }
    tickets = [...byTicket.values()];
    // The first poll takes in every ticket as it is: owners already match, nothing to write.
    const before = await writes();
    const first = await poll();
    expect(first.errors).toBe(0);
    expect(first.tickets).toBe(tickets.length);
    expect((await writes()).defender).toBe(before.defender);
  });
  afterAll(async () => {
    await person?.close();
    await integrationClient?.close();
    await store?.close();
    await sandboxes?.close();
  });

  it('removes the assignments of tickets closed per their table on the next poll', async () => {
    const incident = take('incident');
    const problem = take('problem');
    const change = take('change_request');
    await person.client.update('incident', incident.sysId, {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'Patched.',
    });
    // The problem state model is walked by the system (no person shortcut to Resolved).
    for (const state of ['102', '103', '106'])
      await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
        problem: [
          { sys_id: problem.sysId, state, resolution_code: 'fix_applied', cause_notes: 'c', fix_notes: 'f' },
        ],
      });
    await person.client.update('change_request', change.sysId, { state: '4', close_notes: 'Not needed.' });
    const untouched = tickets[0]!;
    const summary = await poll();
    expect(summary.errors).toBe(0);
    const all = await assignments();
    for (const t of [incident, problem, change])
      for (const id of t.assessments) expect(all.has(id.toLowerCase()), `${t.number} ${id}`).toBe(false);
    for (const id of untouched.assessments) expect(all.has(id.toLowerCase())).toBe(true);
    expect(summary.deleted).toBe(
      incident.assessments.length + problem.assessments.length + change.assessments.length,
    );
    const events = await queryLedger(store.db, {
      integrationId: 'sandbox',
      flow: 'ticket-sync',
      action: 'delete',
    });
    expect(events.map((e) => e.entity_key).sort()).toEqual(
      [...incident.assessments, ...problem.assessments, ...change.assessments].sort(),
    );
    expect(events.find((e) => e.entity_key === incident.assessments[0])?.reason).toContain('Resolved');
    // A second poll re-reads the overlap and writes nothing.
    const before = await writes();
    const again = await poll();
    expect(again.alreadyProcessed).toBeGreaterThan(0);
    expect(await writes()).toEqual(before);
  });

  it("sets the assignment owner to the new assignee's email, and reports a user without one", async () => {
    const ticket = take('incident');
    const target = users.withEmail[0]!;
    await person.client.update('incident', ticket.sysId, { assigned_to: target.sysId, state: '2' });
    await poll();
    expect(await ownersOf(ticket)).toEqual(ticket.assessments.map(() => target.email));
    const all = await assignments();
    expect(all.get(ticket.assessments[0]!.toLowerCase())!.properties.additionalData?.ticketStatus).toBe(
      'In Progress',
    );
    // A user without an email: the owner stays, the ticket gets a work note, the summary says so.
    await person.client.update('incident', ticket.sysId, { assigned_to: users.noEmail });
    const summary = await poll();
    expect(summary.ownerProblems).toEqual([
      expect.objectContaining({ ticket: ticket.number, user: 'no.mail' }),
    ]);
    expect(await ownersOf(ticket)).toEqual(ticket.assessments.map(() => target.email));
    const journal = await person.client.listAll('sys_journal_field', {
      query: `element_id=${ticket.sysId}^element=work_notes`,
      fields: ['value'],
    });
    expect(journal.some((j) => String(j.value).includes('no.mail'))).toBe(true);
  });

  it('writes the work note about a user without email once when the answer to it was lost', async () => {
    const ticket = take('incident');
    await person.client.update('incident', ticket.sysId, { assigned_to: users.noEmail });
    // The instance commits the note, but the answer never arrives (a reset, or a process killed
    // before it recorded the ticket): the poll fails on that ticket and the next one takes it again.
    const client = integrationClient.client;
    const lossy = Object.create(client) as ServiceNowClient;
    lossy.update = async function (...args: Parameters<ServiceNowClient['update']>) {
      await client.update(...args);
      throw new UpstreamError('servicenow', undefined, 'connection reset before the answer');
    } as ServiceNowClient['update'];
    expect((await poll({}, lossy)).errors).toBe(1);
    const again = await poll();
    expect(again.errors).toBe(0);
    const notes = await person.client.listAll('sys_journal_field', {
      query: `element_id=${ticket.sysId}^element=work_notes`,
      fields: ['value'],
    });
    expect(notes.filter((n) => String(n.value).includes('no.mail'))).toHaveLength(1);
    // Its version is then taken in without a write on either side.
    const before = await writes();
    await poll();
    expect(await writes()).toEqual(before);
  });

  it('does not lose a ticket updated while the pages of a poll are read', async () => {
    const batch = tickets.filter((t) => t.table === 'problem').slice(0, 5);
    expect(batch.length).toBe(5);
    tickets = tickets.filter((t) => !batch.includes(t));
    const [a, b] = [users.withEmail[1]!, users.withEmail[2]!];
    // One problem change alone in its second, polled: the watermark then sits on it, so the
    // racing poll's first page is that ticket (inclusive boundary) and the first of the batch.
    const marker = take('problem');
    await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', { advanceSeconds: 10 });
    await person.client.update('problem', marker.sysId, { assigned_to: users.withEmail[5]!.sysId });
    await poll();
    await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', { advanceSeconds: 10 });
    for (const t of batch) await person.client.update('problem', t.sysId, { assigned_to: a.sysId });
    // Reading two rows a page: before the second page, a person changes a ticket of the first
    // page again. With offset paging an unread ticket behind it would shift out of reach.
    let pages = 0;
    const firstPage: string[] = [];
    let changed: Ticket | undefined;
    const beforeNextPage = async () => {
      if (pages !== 1 || changed) return;
      changed = batch.find((t) => firstPage.includes(t.sysId));
      await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', { advanceSeconds: 5 });
      await person.client.update('problem', changed!.sysId, { assigned_to: b.sysId });
    };
    const client = integrationClient.client;
    const racing = Object.create(client) as ServiceNowClient;
    racing.list = function (table: string, options?: ListOptions) {
      if (table !== 'problem') return client.list(table, options);
      return (async function* () {
        const reader = client.list(table, options);
        for (;;) {
          await beforeNextPage();
          const next = await reader.next();
          if (next.done) return;
          pages += 1;
          if (pages === 1) firstPage.push(...next.value.map((r) => r.sys_id));
          yield next.value;
        }
      })();
    } as ServiceNowClient['list'];
    const summary = await poll({ pageSize: 2, overlapSeconds: 0 }, racing);
    expect(summary.errors).toBe(0);
    expect(changed, 'a ticket of the batch on the first page').toBeDefined();
    expect(pages).toBeGreaterThan(2);
    expect(await ownersOf(changed!)).toEqual(changed!.assessments.map(() => b.email));
    for (const t of batch.filter((t) => t !== changed))
      expect(await ownersOf(t), t.number).toEqual(t.assessments.map(() => a.email));
  });

  it('takes a person’s change made just before a Snowline write in the same poll window to Defender', async () => {
    const ticket = take('incident', 2);
    const owner = users.withEmail[3]!;
    await person.client.update('incident', ticket.sysId, { assigned_to: owner.sysId });
    // Snowline then writes the ticket: one of its assessments turns Healthy, cloud-tickets drops
    // it from the description. The ticket's last writer is now Snowline's OAuth application user.
    await sandboxes.control('defender', 'POST', '/_sandbox/assessments/status', {
      id: ticket.assessments[0],
      code: 'Healthy',
    });
    await runOnce(loaded, store, { only: ['cloud-tickets'] });
    const record = await person.client.get('incident', ticket.sysId, ['sys_updated_by', 'assigned_to']);
    expect(stringValue(record!.sys_updated_by)).toBe(sandboxes.servicenow.oauthAppUser);
    await poll();
    const remaining = ticket.assessments.slice(1);
    const all = await assignments();
    for (const id of remaining) expect(all.get(id.toLowerCase())?.properties.owner).toBe(owner.email);
  });

  describe('through the webhook', () => {
    let server: ServerType;
    let url: string;
    let webhook: TicketSyncWebhook;
    const captured: { body: string; headers: Record<string, string> }[] = [];

    beforeAll(async () => {
      webhook = ticketSyncWebhook({ config: loaded.config, store, clock: systemClock, logger });
      const app = new Hono();
      app.use('*', async (c, next) => {
        captured.push({
          body: await c.req.raw.clone().text(),
          headers: Object.fromEntries(c.req.raw.headers.entries()),
        });
        await next();
      });
      app.route('/api/v1/webhooks/servicenow', servicenowWebhookRoutes(webhook.deps));
      server = await new Promise<ServerType>((resolve) => {
        const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
      });
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/webhooks/servicenow`;
      await sandboxes.control('servicenow', 'POST', '/_sandbox/webhooks', {
        url,
        secret: SECRET,
        tables: ['incident', 'problem', 'change_request'],
      });
    });
    afterAll(async () => {
      await sandboxes.control('servicenow', 'DELETE', '/_sandbox/webhooks');
      await new Promise((resolve) => server.close(resolve));
      await webhook.close();
    });

    const until = async (check: () => Promise<boolean>): Promise<number> => {
      const started = Date.now();
      for (let i = 0; i < 200; i++) {
        if (await check()) return Date.now() - started;
        await sleep(25);
      }
      throw new Error('the Defender change did not arrive within 5 s');
    };
    const idle = async () => {
      for (let i = 0; i < 200; i++) {
        const state = await sandboxes.control('servicenow', 'GET', '/_sandbox/webhooks');
        if (state.pending === 0) return;
        await sleep(25);
      }
    };

    it('removes the assignments of a closed ticket within seconds', async () => {
      const ticket = take('incident');
      await person.client.update('incident', ticket.sysId, {
        state: '6',
        close_code: 'Solution provided',
        close_notes: 'Fixed.',
      });
      await until(async () => {
        const all = await assignments();
        return ticket.assessments.every((id) => !all.has(id.toLowerCase()));
      });
      await idle();
      const deliveries = (await sandboxes.control('servicenow', 'GET', '/_sandbox/webhooks')).deliveries;
      expect(deliveries.filter((d: { sys_id: string }) => d.sys_id === ticket.sysId)).toEqual([
        expect.objectContaining({ status: 200 }),
      ]);
    });

    it('updates the owner within seconds, and its own work note causes no further write (echo)', async () => {
      const ticket = take('problem');
      const owner = users.withEmail[4]!;
      await person.client.update('problem', ticket.sysId, { assigned_to: owner.sysId });
      await until(async () => (await ownersOf(ticket)).every((o) => o === owner.email));
      await idle();
      // A user without an email: Snowline writes one work note, and the webhook of that write
      // (and the next poll) is recognised as Snowline's own: no further write on either side.
      const before = await writes();
      await person.client.update('problem', ticket.sysId, { assigned_to: users.noEmail });
      await idle();
      await sleep(100);
      await idle();
      const after = await writes();
      expect(after.servicenow - before.servicenow).toBe(2); // the person's update and Snowline's note
      expect(after.defender).toBe(before.defender);
      const echo = await queryLedger(store.db, {
        integrationId: 'sandbox',
        flow: 'ticket-sync',
        action: 'skip',
      });
      expect(echo.some((e) => e.reason.includes("Snowline's own write"))).toBe(true);
      const polled = await poll();
      expect(polled.errors).toBe(0);
      expect(await writes()).toEqual(after);
      expect(await ownersOf(ticket)).toEqual(ticket.assessments.map(() => owner.email));
    });

    it('refuses forged and stale deliveries, and a replay changes nothing', async () => {
      const ticket = take('incident');
      await person.client.update('incident', ticket.sysId, {
        state: '6',
        close_code: 'Solution provided',
        close_notes: 'Done.',
      });
      await until(async () => !(await assignments()).has(ticket.assessments[0]!.toLowerCase()));
      await idle();
      const closing = captured.filter((c) => c.body.includes(ticket.sysId)).at(-1)!;
      // Reopened by a person: the assignment comes back (reopen policy recreate).
      await person.client.update('incident', ticket.sysId, { state: '2' });
      await until(async () => (await assignments()).has(ticket.assessments[0]!.toLowerCase()));
      await idle();
      const restored = (await assignments()).get(ticket.assessments[0]!.toLowerCase())!;
      expect(restored.properties.additionalData?.ticketStatus).toBe('In Progress');

      const before = {
        writes: await writes(),
        ledger: (await queryLedger(store.db, { integrationId: 'sandbox', limit: 100000 })).length,
      };
      const post = (body: string, headers: Record<string, string>) =>
        request(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      const now = String(Math.floor(Date.now() / 1000));
      // Forged: signed with another secret.
      const forged = await post(closing.body, {
        'x-snowline-timestamp': now,
        'x-snowline-signature': signWebhookBody('not-the-secret', now, closing.body),
      });
      expect(forged.statusCode).toBe(401);
      await forged.body.dump();
      // Stale: a correct signature on a timestamp 301 s old.
      const old = String(Number(now) - 301);
      const stale = await post(closing.body, {
        'x-snowline-timestamp': old,
        'x-snowline-signature': signWebhookBody(SECRET, old, closing.body),
      });
      expect(stale.statusCode).toBe(401);
      await stale.body.dump();
      // Tampered: the captured signature on a changed body.
      const tampered = await post(`${closing.body} `, {
        'x-snowline-timestamp': closing.headers['x-snowline-timestamp']!,
        'x-snowline-signature': closing.headers['x-snowline-signature']!,
      });
      expect(tampered.statusCode).toBe(401);
      await tampered.body.dump();
      // Replayed: the captured closing delivery, exactly as sent (still inside its window).
      const replay = await post(closing.body, {
        'x-snowline-timestamp': closing.headers['x-snowline-timestamp']!,
        'x-snowline-signature': closing.headers['x-snowline-signature']!,
      });
      expect(replay.statusCode).toBe(200);
      expect(await replay.body.json()).toEqual({ result: { outcome: 'processed' } });
      expect(await writes()).toEqual(before.writes);
      expect((await queryLedger(store.db, { integrationId: 'sandbox', limit: 100000 })).length).toBe(
        before.ledger,
      );
      expect((await assignments()).has(ticket.assessments[0]!.toLowerCase())).toBe(true);
    });
  });

  it('runs as `snowline sync --job ticket-sync --json`', async () => {
    const configPath = join(dir, 'snowline.yaml');
    writeFileSync(configPath, stringify(loaded.config));
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c));
    const io: CliIo = { stdout, stderr: new PassThrough(), env: process.env, cwd: dir };
    const command = syncCommand(io, new SecretScrubber(), () => ({ config: configPath, logLevel: 'silent' }));
    command.exitOverride();
    await command.parseAsync(['--job', 'ticket-sync', '--json'], { from: 'user' });
    const printed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    expect(Object.keys(printed.jobs)).toEqual(['ticket-sync']);
    expect(printed.jobs['ticket-sync']).toMatchObject({ outcome: 'ok', errors: 0 });
    expect(printed.jobs['ticket-sync'].tickets).toBeGreaterThan(0);
  });
});
