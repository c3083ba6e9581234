import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicenowWebhookRoutes } from '../../src/api/webhooks/servicenow.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { correlationPrefix } from '../../src/domain/tickets/rules.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { stringValue } from '../../src/servicenow/values.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore, type Store } from '../../src/store/store.js';
import { type CloudTicketsSummary } from '../../src/sync/cloud-tickets/flow.js';
import type { TicketSyncSummary } from '../../src/sync/ticket-sync/engine.js';
import { ticketSyncWebhook, type TicketSyncWebhook } from '../../src/sync/ticket-sync/webhook.js';
import {
  seedDefenderIntegrationTicket,
  startSandboxes,
  type DefenderIntegrationTicket,
  type Sandboxes,
  writeCounts,
} from '../support/sandboxes.js';
import { runOnce } from '../support/sync.js';

/**
 * Coexistence with Defender for Cloud's own ServiceNow integration (issue #22 item 6): a ticket
 * and governance assignment it made for an assessment are adopted by cloud-tickets — no second
 * assignment, no second ticket, the link holds the ticket's sys_id and its correlation_id is left
 * as it is — and closing that ticket removes the assignment: through ticket-sync's poll, its
 * webhook, and cloud-tickets' own next run.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-coexist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger({ level: 'silent' });
const SECRET = 'coexistence-webhook-secret-0123456789';

interface DumpAssessment {
  id: string;
  assessmentKey: string;
  code: string;
}

interface DumpAssignment {
  id: string;
  name: string;
  properties: { owner?: string; additionalData?: { ticketNumber?: number; ticketStatus?: string } };
}

const RULES = [
  {
    name: 'high-critical',
    when: { severities: ['High', 'Critical'] },
    table: 'incident',
    grouping: 'recommendation',
    dueDays: 14,
  },
];

describe("coexistence with Defender's own ServiceNow integration", () => {
  let sandboxes: Sandboxes;
  let loaded: LoadedConfig;
  let store: Store;
  let sn: ServiceNowConnection;
  const made: { assessmentId: string; ticket: DefenderIntegrationTicket }[] = [];

  const run = async (flow: 'cloud-tickets' | 'ticket-sync', dryRun = false) => {
    const result = await runOnce(loaded, store, { only: [flow], dryRun });
    return { result, summary: result.summary.jobs[flow]! };
  };
  /** The governance assignments of an assessment in the Defender sandbox. */
  const assignmentsOf = async (assessmentId: string): Promise<DumpAssignment[]> => {
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments');
    return (dump.governanceAssignments as DumpAssignment[]).filter((g) =>
      g.id.toLowerCase().startsWith(`${assessmentId.toLowerCase()}/governanceassignments/`),
    );
  };
  const writes = () => writeCounts(sandboxes);
  const close = (ticket: DefenderIntegrationTicket) =>
    sn.client.update(ticket.table, ticket.sysId, {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'Fixed by the resource owner.',
    });

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 80, seed: 23 });
    loaded = sandboxes.config(join(dir, 'store.sqlite'), {
      cloudTickets: { rules: RULES },
      ticketSync: { webhook: { secret: SECRET } },
    });
    store = await openStore(join(dir, 'store.sqlite'));
    await store.migrate();
    sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const severity = new Map(
      sandboxes.estate.assessmentMetadata.map((m) => [m.key.toLowerCase(), m.severity]),
    );
    const all = (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments'))
      .assessments as DumpAssessment[];
    const covered = all.filter(
      (a) =>
        a.code === 'Unhealthy' &&
        ['High', 'Critical'].includes(severity.get(a.assessmentKey.toLowerCase()) ?? ''),
    );
    // Three assessments whose recommendation has other covered resources: Snowline still opens
    // its ticket for those, without the adopted one.
    const shared = covered.filter(
      (a) => covered.filter((b) => b.assessmentKey === a.assessmentKey).length > 1,
    );
    expect(shared.length).toBeGreaterThanOrEqual(3);
    for (const a of shared.slice(0, 3))
      made.push({ assessmentId: a.id, ticket: await seedDefenderIntegrationTicket(sandboxes, sn, a.id) });
  });
  afterAll(async () => {
    await sn?.close();
    await store?.close();
    await sandboxes?.close();
  });

  it('plans the adoption on a dry run, writing nothing', async () => {
    const before = await writes();
    const { result } = await run('cloud-tickets', true);
    for (const { assessmentId, ticket } of made) {
      const about = result.plan.actions.filter(
        (a) => a.key === assessmentId || a.target?.id === ticket.sysId || a.reason.includes(assessmentId),
      );
      expect(about.map((a) => `${a.action} ${a.entity}`).sort()).toEqual([
        'adopt governanceAssignment',
        'adopt ticket',
      ]);
      expect(about.find((a) => a.entity === 'ticket')!.reason).toContain(
        `${ticket.number} (found by number)`,
      );
    }
    expect(await writes()).toEqual(before);
  });

  it('adopts the assignment and ticket: no second assignment or ticket, the link holds the sys_id', async () => {
    const { summary, result } = await run('cloud-tickets');
    expect(summary.errors).toBe(0);
    expect((summary as CloudTicketsSummary).adopted).toBe(made.length);
    const events = await queryLedger(store.db, {
      integrationId: 'sandbox',
      runId: result.summary.runId,
      limit: 100000,
    });
    for (const { assessmentId, ticket } of made) {
      // One assignment: the integration's own, untouched.
      const assignments = await assignmentsOf(assessmentId);
      expect(assignments.map((g) => g.name)).toEqual([ticket.assignmentKey]);
      expect(assignments[0]!.properties.owner).toBe('ana@contoso.com');
      // One ticket: the integration's, its correlation_id not rewritten; no ticket of Snowline's
      // lists the adopted resource under this recommendation.
      const record = await sn.client.get(ticket.table, ticket.sysId, ['correlation_id', 'number']);
      expect(stringValue(record?.correlation_id) ?? '').toBe('');
      const ours = await sn.client.listAll('incident', {
        query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', correlationPrefix('sandbox'))] }),
        fields: ['description'],
      });
      const key = assessmentId.split('/').at(-1)!;
      const resource = assessmentId.slice(
        0,
        assessmentId.toLowerCase().indexOf('/providers/microsoft.security/assessments/'),
      );
      const sameRecommendation = ours.filter((t) =>
        stringValue(t.description)!.includes(`Assessment key: ${key}`),
      );
      expect(sameRecommendation.length).toBeGreaterThan(0);
      for (const t of sameRecommendation) expect(stringValue(t.description)).not.toContain(resource);
      const link = await store.db
        .selectFrom('link')
        .selectAll()
        .where('assessment_id', '=', assessmentId)
        .executeTakeFirstOrThrow();
      expect(link).toMatchObject({
        ticket_table: ticket.table,
        ticket_sys_id: ticket.sysId,
        ticket_number: ticket.number,
        correlation_id: null,
        governance_assignment_id: ticket.assignmentKey,
      });
      expect(
        events.filter(
          (e) => e.action === 'adopt' && (e.entity_key === assessmentId || e.remote_id === ticket.sysId),
        ).length,
      ).toBe(2);
    }
  });

  it('writes nothing on the next run', async () => {
    const before = await writes();
    const { summary } = await run('cloud-tickets');
    expect(summary.errors).toBe(0);
    expect((summary as CloudTicketsSummary).adopted).toBe(0);
    expect(await writes()).toEqual(before);
  });

  it('removes the assignment when a person closes the adopted ticket (ticket-sync poll)', async () => {
    const { assessmentId, ticket } = made[0]!;
    const first = (await run('ticket-sync')).summary as TicketSyncSummary;
    expect(first.errors).toBe(0);
    await close(ticket);
    const polled = (await run('ticket-sync')).summary as TicketSyncSummary;
    expect(polled.errors).toBe(0);
    expect(polled.deleted).toBe(1);
    expect(await assignmentsOf(assessmentId)).toEqual([]);
    // The other adopted assignments are left alone.
    for (const other of made.slice(1)) expect(await assignmentsOf(other.assessmentId)).toHaveLength(1);
  });

  it('removes the assignment within seconds through the webhook', async () => {
    const { assessmentId, ticket } = made[1]!;
    const webhook: TicketSyncWebhook = ticketSyncWebhook({
      config: loaded.config,
      store,
      clock: systemClock,
      logger,
    });
    const app = new Hono();
    app.route('/api/v1/webhooks/servicenow', servicenowWebhookRoutes(webhook.deps));
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    try {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/webhooks', {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/webhooks/servicenow`,
        secret: SECRET,
        tables: ['incident'],
      });
      await close(ticket);
      let gone = false;
      for (let i = 0; i < 200 && !gone; i++) {
        gone = (await assignmentsOf(assessmentId)).length === 0;
        if (!gone) await sleep(25);
      }
      expect(gone).toBe(true);
    } finally {
      await sandboxes.control('servicenow', 'DELETE', '/_sandbox/webhooks');
      await new Promise((resolve) => server.close(resolve));
      await webhook.close();
    }
  });

  it("removes the assignment on cloud-tickets' next run when ticket-sync did not", async () => {
    const { assessmentId, ticket } = made[2]!;
    await close(ticket);
    const { summary } = await run('cloud-tickets');
    expect(summary.errors).toBe(0);
    expect(await assignmentsOf(assessmentId)).toEqual([]);
    // All three adopted tickets are now closed: this run notices each (the two ticket-sync
    // already followed get a repeated, harmless DELETE, as Snowline's own tickets do) and holds
    // back a new ticket, as for a ticket of Snowline's a person closed while Unhealthy.
    expect(summary.deleted).toBe(3);
    expect((summary as CloudTicketsSummary).suppressed).toBe(0);
    expect(summary.created).toBe(0);
    const again = (await run('cloud-tickets')).summary as CloudTicketsSummary;
    expect(again.suppressed).toBe(3);
    expect(again.created).toBe(0);
  });
});
