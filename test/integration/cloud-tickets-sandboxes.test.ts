import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Plan } from '../../src/domain/plan.js';
import { correlationIdFor, groupKeyFor } from '../../src/domain/tickets/rules.js';
import { DEFAULT_CLOSED_STATES } from '../../src/domain/tickets/tables.js';
import { isSnowlineError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { createDefenderSources } from '../../src/sources/index.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createTicketForAssessment } from '../../src/sync/cloud-tickets/manual.js';
import {
  assessments,
  assignments,
  RULES,
  setStatus,
  syncCloudTickets,
  tickets,
  type DumpAssessment,
} from '../support/cloud-tickets.js';
import { startSandboxes, writeCounts, type Sandboxes } from '../support/sandboxes.js';

/**
 * cloud-tickets end to end: the real ARM, Resource Graph and ServiceNow clients against both
 * sandboxes, tickets and governance assignments compared with what the generated estate says.
 * One estate through its life: a dry run, the first run, a quiet run, resolution, reopening, a
 * person closing a ticket, tickets made by hand. Other cloud-tickets suites:
 * cloud-tickets-{crash,grouping,defender,owners}.test.ts.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const logger = createLogger({ level: 'silent' });

describe('cloud-tickets against both sandboxes', () => {
  let sandboxes: Sandboxes;
  let loaded: LoadedConfig;
  let store: Store;
  let sn: ServiceNowConnection;
  const severity = new Map<string, string>();
  let dryRunKeys: string[] = [];
  /** The first real run: what the tests after it inspect. */
  let firstRun: { plan: Plan; runId: string };

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 7 });
    loaded = sandboxes.config(join(dir, 'main.sqlite'), { cloudTickets: { rules: RULES } });
    store = await openStore(join(dir, 'main.sqlite'));
    await store.migrate();
    sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    for (const m of sandboxes.estate.assessmentMetadata) severity.set(m.key.toLowerCase(), m.severity);
  });
  afterAll(async () => {
    await sn?.close();
    await store?.close();
    await sandboxes?.close();
  });

  const unhealthyWith = (all: DumpAssessment[], severities: string[]) =>
    all.filter(
      (a) => a.code === 'Unhealthy' && severities.includes(severity.get(a.assessmentKey.toLowerCase()) ?? ''),
    );

  it('plans without writing anything on a dry run', async () => {
    const before = await writeCounts(sandboxes);
    const { plan } = await syncCloudTickets(store, loaded, true);
    dryRunKeys = plan.actions.map((a) => `${a.action} ${a.entity} ${a.key}`).sort();
    expect(plan.actions.filter((a) => a.action === 'create' && a.entity === 'ticket').length).toBeGreaterThan(
      0,
    );
    expect(await writeCounts(sandboxes)).toEqual(before);
    expect(await store.db.selectFrom('link').selectAll().execute()).toEqual([]);
  });

  const subscriptionOf = (a: DumpAssessment) => /^\/subscriptions\/([^/]+)/i.exec(a.resourceId)![1]!;
  /** The High/Critical groups the incident rule opens one ticket for: (subscription, recommendation). */
  async function highCriticalGroups(): Promise<DumpAssessment[][]> {
    const groups = new Map<string, DumpAssessment[]>();
    for (const a of unhealthyWith(await assessments(sandboxes), ['High', 'Critical'])) {
      const key = `${subscriptionOf(a)}|${a.assessmentKey}`;
      groups.set(key, [...(groups.get(key) ?? []), a]);
    }
    return [...groups.values()];
  }
  /** Governance assignments by assessment id (lower case). */
  async function assignmentsByAssessment() {
    return new Map(
      (await assignments(sandboxes)).map((g) => [
        g.id.slice(0, g.id.toLowerCase().lastIndexOf('/governanceassignments/')).toLowerCase(),
        g,
      ]),
    );
  }

  it('opens one incident per (recommendation, subscription) of Unhealthy High/Critical assessments', async () => {
    const { summary, plan, runId } = await syncCloudTickets(store, loaded);
    firstRun = { plan, runId };
    expect(summary.outcome).toBe('ok');
    expect(summary.errors).toBe(0);
    const groups = await highCriticalGroups();
    const incidents = await tickets(sn, 'incident');
    expect(incidents.length).toBe(groups.length);
    const expectedIds = groups.map((group) =>
      correlationIdFor(
        'sandbox',
        groupKeyFor(
          { name: 'high-critical', grouping: 'recommendation' },
          {
            id: group[0]!.id,
            assessmentKey: group[0]!.assessmentKey,
            resourceId: group[0]!.resourceId,
            subscriptionId: subscriptionOf(group[0]!),
            resourceType: '',
            displayName: '',
            severity: '',
            categories: [],
          },
        ),
        1,
      ),
    );
    expect(incidents.map((i) => stringValue(i.correlation_id)).sort()).toEqual(expectedIds.sort());
  });

  it('lists exactly the resources of its group on each incident, with an assignment group', async () => {
    const incidents = await tickets(sn, 'incident');
    for (const group of await highCriticalGroups()) {
      const incident = incidents.find((i) =>
        stringValue(i.description)!.includes(`Assessment key: ${group[0]!.assessmentKey}`),
      )!;
      for (const a of group) expect(stringValue(incident.description)).toContain(a.resourceId);
      expect(stringValue(incident.assignment_group)).toBeTruthy();
    }
  });

  it('opens one problem per Unhealthy Medium assessment', async () => {
    const problems = await tickets(sn, 'problem');
    expect(problems.length).toBe(unhealthyWith(await assessments(sandboxes), ['Medium']).length);
  });

  it('writes an assignment per covered assessment that points at its ticket by sys_id, with number, status, due date and grace period', async () => {
    const covered = unhealthyWith(await assessments(sandboxes), ['High', 'Critical', 'Medium']);
    const byAssessment = await assignmentsByAssessment();
    expect(byAssessment.size).toBe(covered.length);
    const ticketsById = new Map(
      [...(await tickets(sn, 'incident')), ...(await tickets(sn, 'problem'))].map((t) => [t.sys_id, t]),
    );
    const links = await store.db.selectFrom('link').selectAll().execute();
    const linkOf = new Map(links.map((l) => [l.assessment_id.toLowerCase(), l]));
    for (const a of covered) {
      const g = byAssessment.get(a.id.toLowerCase())!;
      expect(g, a.id).toBeDefined();
      const link = linkOf.get(a.id.toLowerCase())!;
      expect(g.properties.additionalData?.ticketLink).toContain(link.ticket_sys_id!);
      expect(g.properties.additionalData?.ticketNumber).toBe(Number(link.ticket_number!.replace(/\D/g, '')));
      expect(g.properties.additionalData?.ticketStatus).toBe('New');
      expect(g.properties.remediationDueDate).toBeTruthy();
      const isHigh = ['High', 'Critical'].includes(severity.get(a.assessmentKey.toLowerCase())!);
      expect(g.properties.isGracePeriod).toBe(isHigh);
      const ticket = ticketsById.get(link.ticket_sys_id!)!;
      expect(link.ticket_table).toBe(isHigh ? 'incident' : 'problem');
      expect(stringValue(ticket.correlation_id)).toBe(link.correlation_id);
    }
  });

  it('takes the assignments’ owners from the resources’ owner tags', async () => {
    const byAssessment = await assignmentsByAssessment();
    const tagged = new Map(sandboxes.estate.resources.map((r) => [r.id.toLowerCase(), r.tags['owner']]));
    for (const a of unhealthyWith(await assessments(sandboxes), ['High', 'Critical'])) {
      expect(byAssessment.get(a.id.toLowerCase())!.properties.owner).toBe(
        tagged.get(a.resourceId.toLowerCase()),
      );
    }
  });

  it('records in the ledger exactly what the dry run planned, and keeps no plan in memory', async () => {
    expect(firstRun.plan.actions).toEqual([]);
    const events = await queryLedger(store.db, {
      integrationId: 'sandbox',
      runId: firstRun.runId,
      limit: 100000,
    });
    expect(events.map((e) => `${e.action} ${e.entity} ${e.entity_key}`).sort()).toEqual(dryRunKeys);
  });

  it('writes nothing on a second run', async () => {
    const before = await writeCounts(sandboxes);
    const { summary, runId } = await syncCloudTickets(store, loaded);
    expect(summary.errors).toBe(0);
    const events = await queryLedger(store.db, { integrationId: 'sandbox', runId, limit: 100000 });
    expect(events.filter((e) => e.action !== 'skip')).toEqual([]);
    expect(await writeCounts(sandboxes)).toEqual(before);
  });

  it('resolves a ticket per its table when all its assessments turn Healthy, and removes the assignments', async () => {
    const all = await assessments(sandboxes);
    const links = await store.db.selectFrom('link').selectAll().execute();
    const incidentLink = links.find((l) => l.ticket_table === 'incident' && l.governance_assignment_id)!;
    const problemLink = links.find((l) => l.ticket_table === 'problem' && l.governance_assignment_id)!;
    const incidentAssessments = links.filter((l) => l.ticket_sys_id === incidentLink.ticket_sys_id);
    for (const l of incidentAssessments)
      await setStatus(
        sandboxes,
        all.find((a) => a.id.toLowerCase() === l.assessment_id.toLowerCase())!.id,
        'Healthy',
      );
    await setStatus(
      sandboxes,
      all.find((a) => a.id.toLowerCase() === problemLink.assessment_id.toLowerCase())!.id,
      'NotApplicable',
    );

    const { summary } = await syncCloudTickets(store, loaded);
    expect(summary.errors).toBe(0);
    expect(summary.resolved).toBe(2);
    const incident = (await tickets(sn, 'incident')).find((t) => t.sys_id === incidentLink.ticket_sys_id)!;
    expect(stringValue(incident.state)).toBe('6');
    expect(stringValue(incident.close_code)).toBe('Solution provided');
    expect(stringValue(incident.close_notes)).toContain('Healthy');
    const problem = (await tickets(sn, 'problem')).find((t) => t.sys_id === problemLink.ticket_sys_id)!;
    expect(stringValue(problem.state)).toBe('106');
    expect(stringValue(problem.resolution_code)).toBe('fix_applied');
    const remaining = new Set((await assignments(sandboxes)).map((g) => g.id.toLowerCase()));
    for (const l of [...incidentAssessments, problemLink])
      expect([...remaining].some((id) => id.startsWith(l.assessment_id.toLowerCase()))).toBe(false);
    // And the next run is quiet again.
    const before = await writeCounts(sandboxes);
    await syncCloudTickets(store, loaded);
    expect(await writeCounts(sandboxes)).toEqual(before);
  });

  it('reopens a resolved incident when its assessment turns Unhealthy again', async () => {
    const links = await store.db.selectFrom('link').selectAll().execute();
    const resolved = (await tickets(sn, 'incident')).find((t) => stringValue(t.state) === '6')!;
    const one = links.find((l) => l.ticket_sys_id === resolved.sys_id)!;
    const all = await assessments(sandboxes);
    await setStatus(
      sandboxes,
      all.find((a) => a.id.toLowerCase() === one.assessment_id.toLowerCase())!.id,
      'Unhealthy',
    );
    const { summary } = await syncCloudTickets(store, loaded);
    expect(summary.reopened).toBe(1);
    const after = (await tickets(sn, 'incident')).find((t) => t.sys_id === resolved.sys_id)!;
    expect(stringValue(after.state)).toBe('2');
    const g = (await assignments(sandboxes)).find((x) =>
      x.id.toLowerCase().startsWith(one.assessment_id.toLowerCase()),
    )!;
    expect(g.properties.additionalData?.ticketStatus).toBe('In Progress');
  });

  it('does not open a new ticket over three runs after a person closed one while Unhealthy', async () => {
    const incidents = await tickets(sn, 'incident');
    const target = incidents.find((t) => stringValue(t.state) === '1')!;
    await sn.client.update('incident', target.sys_id, {
      state: '7',
      close_code: 'Workaround provided',
      close_notes: 'Accepted for now',
    });
    const count = incidents.length;
    for (let i = 0; i < 3; i++) {
      const { summary } = await syncCloudTickets(store, loaded);
      expect(summary.created).toBe(0);
      expect(summary.suppressed).toBe(i === 0 ? 0 : 1);
      expect((await tickets(sn, 'incident')).length).toBe(count);
    }
    // Its assignments are gone: they pointed at a closed ticket.
    const links = (await store.db.selectFrom('link').selectAll().execute()).filter(
      (l) => l.ticket_sys_id === target.sys_id,
    );
    const remaining = await assignments(sandboxes);
    for (const l of links)
      expect(remaining.some((g) => g.id.toLowerCase().startsWith(l.assessment_id.toLowerCase()))).toBe(false);

    // Healthy and then Unhealthy again (statusChangeDate moves): the next run opens a new ticket.
    const all = await assessments(sandboxes);
    const one = all.find((a) => a.id.toLowerCase() === links[0]!.assessment_id.toLowerCase())!;
    await setStatus(sandboxes, one.id, 'Healthy');
    await sleep(5);
    await setStatus(sandboxes, one.id, 'Unhealthy');
    const { summary } = await syncCloudTickets(store, loaded);
    expect(summary.created).toBe(1);
    expect(summary.unchanged + summary.updated + summary.created).toBe(summary.groups);
    expect((await tickets(sn, 'incident')).length).toBe(count + 1);
  });

  describe('manual creation and owners', () => {
    let defender: ReturnType<typeof createDefenderSources>;
    const counters = new RequestCounters();
    const runFor = () =>
      [
        {
          integrationId: 'sandbox',
          config: loaded.config.integrations[0]!.flows.cloudTickets!,
          closedStates: DEFAULT_CLOSED_STATES,
          store,
          clock: systemClock,
          logger,
          counters,
          runId: null,
          dryRun: false,
        },
        {
          subscriptions: loaded.config.integrations[0]!.defender.subscriptions,
          arm: defender.arm,
          resourceGraph: defender.resourceGraph,
          servicenow: sn.client,
        },
      ] as const;
    beforeAll(() => {
      defender = createDefenderSources(loaded.config.integrations[0]!.defender, {
        clock: systemClock,
        counters,
        logger,
      });
    });
    afterAll(async () => defender?.close());

    it('creates an incident, a problem and a change request for uncovered assessments, once each', async () => {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
        sys_user: [
          { user_name: 'dup.one', email: 'shared@contoso.example', active: 'true' },
          { user_name: 'dup.two', email: 'shared@contoso.example', active: 'true' },
        ],
      });
      const low = unhealthyWith(await assessments(sandboxes), ['Low']).slice(0, 3);
      expect(low.length).toBe(3);
      const tables = ['incident', 'problem', 'change_request'] as const;
      const owners = ['nobody@contoso.example', 'shared@contoso.example', undefined];
      for (let i = 0; i < 3; i++) {
        const result = await createTicketForAssessment(...runFor(), {
          assessmentId: low[i]!.id,
          table: tables[i]!,
          group: 'Plant Maintenance',
          ...(owners[i] ? { owner: owners[i] } : {}),
          dueDays: 7,
        });
        expect(result.created).toBe(true);
        expect(result.number).toMatch(/^(INC|PRB|CHG)\d+$/);
        const record = await sn.client.get(tables[i]!, result.sysId);
        expect(stringValue(record!.correlation_id)).toBe(result.correlationId);
        expect(stringValue(record!.assigned_to)).toBeUndefined();
        if (i < 2) {
          expect(result.directoryProblems).toEqual([
            { kind: 'owner', value: owners[i], matches: i === 0 ? 0 : 2, ticket: result.correlationId },
          ]);
        }
        const g = (await assignments(sandboxes)).find((x) =>
          x.id.toLowerCase().startsWith(low[i]!.id.toLowerCase()),
        )!;
        expect(g.properties.additionalData?.ticketLink).toContain(result.sysId);
        if (owners[i]) expect(g.properties.owner).toBe(owners[i]);
        // Asking again returns the same ticket.
        const again = await createTicketForAssessment(...runFor(), {
          assessmentId: low[i]!.id,
          table: tables[i]!,
        });
        expect(again.sysId).toBe(result.sysId);
        expect(again.created).toBe(false);
      }
      // A flow run keeps them and writes nothing more.
      const before = await writeCounts(sandboxes);
      await syncCloudTickets(store, loaded);
      expect(await writeCounts(sandboxes)).toEqual(before);

      // The change request is canceled when its assessment turns Healthy.
      await setStatus(sandboxes, low[2]!.id, 'Healthy');
      const { summary } = await syncCloudTickets(store, loaded);
      expect(summary.resolved).toBe(1);
      const change = (await tickets(sn, 'change_request'))[0]!;
      expect(stringValue(change.state)).toBe('4');
      expect(stringValue(change.close_notes)).toContain('Healthy');
    });

    it('refuses a Healthy assessment and one another ticket covers', async () => {
      const all = await assessments(sandboxes);
      const healthy = all.find((a) => a.code === 'Healthy')!;
      await expect(
        createTicketForAssessment(...runFor(), { assessmentId: healthy.id, table: 'incident' }),
      ).rejects.toThrow(/Healthy/);
      const link = (await store.db.selectFrom('link').selectAll().execute()).find(
        (l) => l.ticket_table === 'problem' && l.governance_assignment_id,
      )!;
      const error = await createTicketForAssessment(...runFor(), {
        assessmentId: all.find((a) => a.id.toLowerCase() === link.assessment_id.toLowerCase())!.id,
        table: 'incident',
      }).catch((e: unknown) => e);
      expect(isSnowlineError(error) && error.code).toBe('CONFLICT');
    });
  });
});
