import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { correlationIdFor, correlationPrefix, groupKeyFor } from '../../src/domain/tickets/rules.js';
import { isSnowlineError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { stringValue } from '../../src/servicenow/values.js';
import { createDefenderSources } from '../../src/sources/index.js';
import { openStore, type Store } from '../../src/store/store.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import type { CloudTicketsSummary } from '../../src/sync/cloud-tickets/flow.js';
import { createTicketForAssessment } from '../../src/sync/cloud-tickets/manual.js';
import { cloudTicketsFlow } from '../../src/sync/cloud-tickets/flow.js';
import { runFlows } from '../../src/sync/kernel/runner.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { DEFAULT_CLOSED_STATES } from '../../src/domain/tickets/tables.js';

/**
 * cloud-tickets end to end: the real ARM, Resource Graph and ServiceNow clients against both
 * sandboxes, tickets and governance assignments compared with what the generated estate says.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const logger = createLogger({ level: 'silent' });

interface DumpAssessment {
  id: string;
  resourceId: string;
  assessmentKey: string;
  code: string;
  statusChangeDate: string;
}

interface DumpAssignment {
  id: string;
  name: string;
  properties: {
    owner?: string;
    remediationDueDate: string;
    isGracePeriod?: boolean;
    additionalData?: { ticketNumber?: number; ticketLink?: string; ticketStatus?: string };
  };
}

const RULES = [
  {
    name: 'high-critical',
    when: { severities: ['High', 'Critical'] },
    table: 'incident',
    grouping: 'recommendation',
    owner: { type: 'tag', value: 'owner' },
    assignmentGroup: 'OT Network Operations',
    dueDays: 14,
    gracePeriod: true,
  },
  { name: 'medium', when: { severities: ['Medium'] }, table: 'problem', grouping: 'none' },
];

async function syncOnce(store: Store, loaded: LoadedConfig, dryRun = false) {
  const result = await runFlows({
    integration: loaded.config.integrations[0]!,
    store,
    clock: systemClock,
    logger,
    runners: [cloudTicketsFlow],
    trigger: 'cli',
    dryRun,
  });
  return {
    summary: result.summary.jobs['cloud-tickets'] as CloudTicketsSummary,
    plan: result.plan,
    runId: result.summary.runId,
  };
}

async function assessments(sandboxes: Sandboxes): Promise<DumpAssessment[]> {
  return (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments')).assessments;
}

async function assignments(sandboxes: Sandboxes): Promise<DumpAssignment[]> {
  return (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments'))
    .governanceAssignments;
}

async function tickets(sn: ServiceNowConnection, table: string) {
  return sn.client.listAll(table, {
    query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', correlationPrefix('sandbox'))] }),
    fields: [
      'sys_id',
      'number',
      'state',
      'correlation_id',
      'description',
      'close_code',
      'close_notes',
      'resolution_code',
      'assigned_to',
      'assignment_group',
      'work_notes',
      'impact',
      'urgency',
    ],
  });
}

async function writes(sandboxes: Sandboxes): Promise<{ servicenow: number; defender: number }> {
  const sn = await sandboxes.control('servicenow', 'GET', '/_sandbox/stats');
  const df = await sandboxes.control('defender', 'GET', '/_sandbox/stats');
  return { servicenow: sn.writes, defender: df.writes };
}

function setStatus(sandboxes: Sandboxes, id: string, code: string) {
  return sandboxes.control('defender', 'POST', '/_sandbox/assessments/status', { id, code });
}

describe('cloud-tickets against both sandboxes', () => {
  let sandboxes: Sandboxes;
  let loaded: LoadedConfig;
  let store: Store;
  let sn: ServiceNowConnection;
  const severity = new Map<string, string>();
  let dryRunKeys: string[] = [];

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
    const before = await writes(sandboxes);
    const { plan } = await syncOnce(store, loaded, true);
    dryRunKeys = plan.actions.map((a) => `${a.action} ${a.entity} ${a.key}`).sort();
    expect(plan.actions.filter((a) => a.action === 'create' && a.entity === 'ticket').length).toBeGreaterThan(
      0,
    );
    expect(await writes(sandboxes)).toEqual(before);
    expect(await store.db.selectFrom('link').selectAll().execute()).toEqual([]);
  });

  it('opens one incident per (recommendation, subscription) of Unhealthy High/Critical assessments, with an assignment each', async () => {
    const { summary, plan, runId } = await syncOnce(store, loaded);
    expect(summary.outcome).toBe('ok');
    expect(summary.errors).toBe(0);
    const all = await assessments(sandboxes);
    const high = unhealthyWith(all, ['High', 'Critical']);
    const subscriptionOf = (a: DumpAssessment) => /^\/subscriptions\/([^/]+)/i.exec(a.resourceId)![1]!;
    const expectedGroups = new Map<string, DumpAssessment[]>();
    for (const a of high) {
      const key = `${subscriptionOf(a)}|${a.assessmentKey}`;
      expectedGroups.set(key, [...(expectedGroups.get(key) ?? []), a]);
    }
    const incidents = await tickets(sn, 'incident');
    expect(incidents.length).toBe(expectedGroups.size);
    const expectedIds = [...expectedGroups.values()].map((group) =>
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
    // Each incident lists exactly the resources of its group.
    for (const group of expectedGroups.values()) {
      const incident = incidents.find((i) =>
        stringValue(i.description)!.includes(`Assessment key: ${group[0]!.assessmentKey}`),
      )!;
      for (const a of group) expect(stringValue(incident.description)).toContain(a.resourceId);
      expect(stringValue(incident.assignment_group)).toBeTruthy();
    }
    // The medium rule: one problem per assessment.
    const problems = await tickets(sn, 'problem');
    expect(problems.length).toBe(unhealthyWith(all, ['Medium']).length);

    // Every covered assessment has an assignment pointing at its ticket (by sys_id, not number).
    const covered = unhealthyWith(all, ['High', 'Critical', 'Medium']);
    const byAssessment = new Map(
      (await assignments(sandboxes)).map((g) => [
        g.id.slice(0, g.id.toLowerCase().lastIndexOf('/governanceassignments/')).toLowerCase(),
        g,
      ]),
    );
    expect(byAssessment.size).toBe(covered.length);
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
      const table = isHigh ? incidents : problems;
      const ticket = table.find((t) => t.sys_id === link.ticket_sys_id)!;
      expect(stringValue(ticket.correlation_id)).toBe(link.correlation_id);
    }
    // Owners come from the resources' owner tags.
    const tagged = new Map(sandboxes.estate.resources.map((r) => [r.id.toLowerCase(), r.tags['owner']]));
    for (const a of unhealthyWith(all, ['High', 'Critical'])) {
      expect(byAssessment.get(a.id.toLowerCase())!.properties.owner).toBe(
        tagged.get(a.resourceId.toLowerCase()),
      );
    }
    // The ledger of the run equals the plan the dry run showed; a real run keeps no plan in memory.
    expect(plan.actions).toEqual([]);
    const events = await queryLedger(store.db, { integrationId: 'sandbox', runId, limit: 100000 });
    expect(events.map((e) => `${e.action} ${e.entity} ${e.entity_key}`).sort()).toEqual(dryRunKeys);
  });

  it('writes nothing on a second run', async () => {
    const before = await writes(sandboxes);
    const { summary, runId } = await syncOnce(store, loaded);
    expect(summary.errors).toBe(0);
    const events = await queryLedger(store.db, { integrationId: 'sandbox', runId, limit: 100000 });
    expect(events.filter((e) => e.action !== 'skip')).toEqual([]);
    expect(await writes(sandboxes)).toEqual(before);
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

    const { summary } = await syncOnce(store, loaded);
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
    const before = await writes(sandboxes);
    await syncOnce(store, loaded);
    expect(await writes(sandboxes)).toEqual(before);
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
    const { summary } = await syncOnce(store, loaded);
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
      const { summary } = await syncOnce(store, loaded);
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
    const { summary } = await syncOnce(store, loaded);
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
      const before = await writes(sandboxes);
      await syncOnce(store, loaded);
      expect(await writes(sandboxes)).toEqual(before);

      // The change request is canceled when its assessment turns Healthy.
      await setStatus(sandboxes, low[2]!.id, 'Healthy');
      const { summary } = await syncOnce(store, loaded);
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

describe('cloud-tickets crash safety', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 11 });
  });
  afterAll(async () => sandboxes?.close());

  it.each([1, 3, 6])(
    'never duplicates a ticket when ServiceNow write %i commits and is answered 500',
    async (n) => {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
      await sandboxes.control('defender', 'POST', '/_sandbox/reset');
      const storeUrl = join(dir, `crash-${n}.sqlite`);
      // Two new tickets per Batch API call, so write n (a Batch call) falls amid the creates.
      const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [RULES[0]], batchSize: 2 } });
      const store = await openStore(storeUrl);
      await store.migrate();
      try {
        // The instance applies write n and says it failed: the client searches the Batch call's
        // tickets by correlation id, takes the ones it finds as created and re-sends the rest.
        // (A kill -9 at each write is crash.test.ts in test/reliability.)
        await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { holdWrite: n, holdStatus: 500 });
        const first = await syncOnce(store, loaded);
        const faults = await sandboxes.control('servicenow', 'GET', '/_sandbox/faults');
        expect(faults.writesSeen, 'write n was reached, so the fault happened').toBeGreaterThanOrEqual(n);
        await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
        expect(first.summary.errors).toBe(0);
        expect(first.summary.retries).toBeGreaterThan(0);
        const second = await syncOnce(store, loaded);
        expect(second.summary.created).toBe(0);
        const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
          clock: systemClock,
          counters: new RequestCounters(),
        });
        try {
          const incidents = await tickets(sn, 'incident');
          const ids = incidents.map((i) => stringValue(i.correlation_id));
          expect(new Set(ids).size).toBe(ids.length);
          const groups = new Set(
            (await assessments(sandboxes))
              .filter(
                (a) =>
                  a.code === 'Unhealthy' &&
                  ['High', 'Critical'].includes(
                    sandboxes.estate.assessmentMetadata.find(
                      (m) => m.key.toLowerCase() === a.assessmentKey.toLowerCase(),
                    )!.severity,
                  ),
              )
              .map((a) => `${a.resourceId.split('/')[2]}|${a.assessmentKey}`),
          );
          expect(incidents.length).toBe(groups.size);
        } finally {
          await sn.close();
        }
      } finally {
        await store.close();
      }
    },
  );
});

describe('cloud-tickets grouping by resource and by owner', () => {
  let sandboxes: Sandboxes;
  let store: Store;
  let sn: ServiceNowConnection;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 7 });
    store = await openStore(join(dir, 'grouping.sqlite'));
    await store.migrate();
  });
  afterAll(async () => {
    await sn?.close();
    await store?.close();
    await sandboxes?.close();
  });

  it('opens one problem per resource and one change per (subscription, owner), and reports owners it can not resolve', async () => {
    const loaded = sandboxes.config(join(dir, 'grouping.sqlite'), {
      cloudTickets: {
        rules: [
          { name: 'by-resource', when: { severities: ['Medium'] }, table: 'problem', grouping: 'resource' },
          {
            name: 'by-owner',
            when: { severities: ['Low', 'High', 'Critical'] },
            table: 'change_request',
            grouping: 'owner',
            owner: { type: 'tag', value: 'owner' },
          },
        ],
      },
    });
    sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const { summary } = await syncOnce(store, loaded);
    expect(summary.errors).toBe(0);
    const severity = new Map(
      sandboxes.estate.assessmentMetadata.map((m) => [m.key.toLowerCase(), m.severity]),
    );
    const all = await assessments(sandboxes);
    const unhealthy = (...s: string[]) =>
      all.filter((a) => a.code === 'Unhealthy' && s.includes(severity.get(a.assessmentKey.toLowerCase())!));
    const resources = new Set(unhealthy('Medium').map((a) => a.resourceId.toLowerCase()));
    expect((await tickets(sn, 'problem')).length).toBe(resources.size);

    const ownerOf = new Map(sandboxes.estate.resources.map((r) => [r.id.toLowerCase(), r.tags['owner']]));
    const owners = new Set(
      unhealthy('Low', 'High', 'Critical').map(
        (a) => `${a.resourceId.split('/')[2]}|${ownerOf.get(a.resourceId.toLowerCase()) ?? ''}`,
      ),
    );
    const changes = await tickets(sn, 'change_request');
    expect(changes.length).toBe(owners.size);

    // An owner tag with no ServiceNow user is reported and its change left unassigned, never guessed.
    const users = new Set(
      sandboxes.estate.servicenow.sys_user.map((u) => (u as { email?: string }).email).filter(Boolean),
    );
    const unknown = [...owners].map((o) => o.split('|')[1]!).filter((o) => o !== '' && !users.has(o));
    expect(unknown.length).toBeGreaterThan(0);
    for (const owner of unknown) {
      const problem = summary.directoryProblems.find((p) => p.value === owner)!;
      expect(problem).toMatchObject({ kind: 'owner', matches: 0 });
      const change = changes.find((c) => stringValue(c.correlation_id) === problem.ticket)!;
      expect(stringValue(change.assigned_to)).toBeUndefined();
    }
    // Owners known to ServiceNow are assigned.
    expect(changes.filter((c) => stringValue(c.assigned_to)).length).toBeGreaterThan(0);

    const before = await writes(sandboxes);
    await syncOnce(store, loaded);
    expect(await writes(sandboxes)).toEqual(before);
  });
});

describe('cloud-tickets crash safety with a killed process', () => {
  let sandboxes: Sandboxes;
  const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 13 });
  });
  afterAll(async () => sandboxes?.close());

  /** One flow run in its own process (the CLI does not register the flow yet). */
  function script(): string {
    const path = join(dir, 'run-cloud-tickets.mts');
    writeFileSync(
      path,
      [
        `import { loadConfigFile } from ${JSON.stringify(src('config/load.ts'))};`,
        `import { systemClock } from ${JSON.stringify(src('domain/clock.ts'))};`,
        `import { createLogger } from ${JSON.stringify(src('logging.ts'))};`,
        `import { openStore } from ${JSON.stringify(src('store/store.ts'))};`,
        `import { cloudTicketsFlow } from ${JSON.stringify(src('sync/cloud-tickets/flow.ts'))};`,
        `import { runFlows } from ${JSON.stringify(src('sync/kernel/runner.ts'))};`,
        'const loaded = loadConfigFile(process.argv[2]!, process.env);',
        'const store = await openStore(loaded.config.store.url, { commitBatch: loaded.config.store.commitBatch });',
        'await store.migrate();',
        "await runFlows({ integration: loaded.config.integrations[0]!, store, clock: systemClock, logger: createLogger({ level: 'silent' }), runners: [cloudTicketsFlow], trigger: 'cli' });",
        'await store.close();',
      ].join('\n'),
    );
    return path;
  }

  it('leaves one ticket per correlation id after kill -9 between a committed create and the ledger', async () => {
    const runner = script();
    for (const killAt of [1, 4]) {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
      await sandboxes.control('defender', 'POST', '/_sandbox/reset');
      const storeUrl = join(dir, `kill-${killAt}.sqlite`);
      // Two new tickets per Batch API call: the kill lands after batch killAt committed.
      const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [RULES[0]], batchSize: 2 } });
      const configPath = join(dir, `kill-${killAt}.yaml`);
      // Records committed after every decision, so the store holds exactly the batches before the kill.
      writeFileSync(
        configPath,
        stringify({
          ...loaded.config,
          store: { ...loaded.config.store, commitBatch: { records: 1, intervalMs: 0 } },
        }),
      );
      await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { holdWrite: killAt });
      const child = spawn(process.execPath, ['--import', 'tsx', runner, configPath], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      let held = 0;
      for (let i = 0; i < 600 && held === 0; i++) {
        held = (await sandboxes.control('servicenow', 'GET', '/_sandbox/faults')).held;
        if (held === 0) await sleep(50);
      }
      expect(held).toBe(1);
      child.kill('SIGKILL');
      await exited;
      await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
      const store = await openStore(storeUrl);
      await store.migrate();
      try {
        // The killed run never recorded the held batch's tickets: the store does not know them.
        const known = await store.db
          .selectFrom('entity_state')
          .select('source_key')
          .where('entity', '=', 'ticket')
          .execute();
        expect(known.length).toBe((killAt - 1) * 2);
        for (let i = 0; i < 2; i++) expect((await syncOnce(store, loaded)).summary.errors).toBe(0);
      } finally {
        await store.close();
      }
      const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      try {
        const ids = (await tickets(sn, 'incident')).map((i) => stringValue(i.correlation_id));
        expect(new Set(ids).size).toBe(ids.length);
        const severity = new Map(
          sandboxes.estate.assessmentMetadata.map((m) => [m.key.toLowerCase(), m.severity]),
        );
        const groups = new Set(
          (await assessments(sandboxes))
            .filter(
              (a) =>
                a.code === 'Unhealthy' &&
                ['High', 'Critical'].includes(severity.get(a.assessmentKey.toLowerCase())!),
            )
            .map((a) => `${a.resourceId.split('/')[2]}|${a.assessmentKey}`),
        );
        expect(ids.length).toBe(groups.size);
        // Every covered assessment has exactly one assignment, pointing at a ticket that exists.
        const sysIds = new Set((await tickets(sn, 'incident')).map((t) => t.sys_id));
        const all = await assignments(sandboxes);
        for (const g of all)
          expect(
            sysIds.has(g.properties.additionalData!.ticketLink!.match(/sys_id%3D([0-9a-f]+)/)![1]!),
          ).toBe(true);
      } finally {
        await sn.close();
      }
    }
  }, 60_000);
});

describe('cloud-tickets under ARM throttling', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 3 });
  });
  afterAll(async () => sandboxes?.close());

  it('defers the run on a long Retry-After instead of sleeping or failing', async () => {
    const storeUrl = join(dir, 'throttled.sqlite');
    const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [RULES[0]] } });
    const store = await openStore(storeUrl);
    await store.migrate();
    try {
      await sandboxes.control('defender', 'POST', '/_sandbox/faults', {
        error429Rate: 1,
        retryAfterSeconds: 3600,
      });
      const { summary } = await syncOnce(store, loaded);
      expect(summary).toMatchObject({ outcome: 'deferred', retryAt: expect.any(String) });
      expect(Date.parse(summary.retryAt!)).toBeGreaterThan(Date.now() + 3000_000);
      await sandboxes.control('defender', 'POST', '/_sandbox/faults', {});
      const again = await syncOnce(store, loaded);
      expect(again.summary.outcome).toBe('ok');
      expect(again.summary.created).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});

describe('cloud-tickets for a management group through Resource Graph', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 7 });
  });
  afterAll(async () => sandboxes?.close());

  it('reads securityresources and opens the same tickets and assignments as the ARM path', async () => {
    const storeUrl = join(dir, 'mg.sqlite');
    const loaded = sandboxes.config(storeUrl, {
      cloudTickets: { managementGroups: ['contoso-prod'], rules: [RULES[0]] },
    });
    const store = await openStore(storeUrl);
    await store.migrate();
    const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      const { summary } = await syncOnce(store, loaded);
      expect(summary.errors).toBe(0);
      const severity = new Map(
        sandboxes.estate.assessmentMetadata.map((m) => [m.key.toLowerCase(), m.severity]),
      );
      const covered = (await assessments(sandboxes)).filter(
        (a) =>
          a.code === 'Unhealthy' &&
          ['High', 'Critical'].includes(severity.get(a.assessmentKey.toLowerCase())!),
      );
      const groups = new Set(
        covered.map((a) => `${a.resourceId.split('/')[2]}|${a.assessmentKey}`.toLowerCase()),
      );
      expect((await tickets(sn, 'incident')).length).toBe(groups.size);
      expect((await assignments(sandboxes)).length).toBe(covered.length);
      const before = await writes(sandboxes);
      await syncOnce(store, loaded);
      expect(await writes(sandboxes)).toEqual(before);
    } finally {
      await sn.close();
      await store.close();
    }
  });
});

describe('cloud-tickets adopting a Defender governance rule of ruleType ServiceNow', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 7 });
  });
  afterAll(async () => sandboxes?.close());

  it('opens the tickets the rule describes, with its owner source and timeframe', async () => {
    const storeUrl = join(dir, 'governance.sqlite');
    const loaded = sandboxes.config(storeUrl, {
      cloudTickets: { governanceRules: { adopt: true, table: 'problem' } },
    });
    const integration = loaded.config.integrations[0]!;
    const subscription = integration.defender.subscriptions[0]!;
    const severity = new Map(
      sandboxes.estate.assessmentMetadata.map((m) => [m.key.toLowerCase(), m.severity]),
    );
    const unhealthy = (await assessments(sandboxes)).filter((a) => a.code === 'Unhealthy');
    const key = unhealthy.find(
      (a) => severity.get(a.assessmentKey.toLowerCase()) === 'Medium',
    )!.assessmentKey;
    const defender = createDefenderSources(integration.defender, {
      clock: systemClock,
      counters: new RequestCounters(),
      logger,
    });
    try {
      const url = `${integration.defender.armUrl}/subscriptions/${subscription}/providers/Microsoft.Security/governanceRules/ad9a8e26-29d9-4829-bb30-e597a58cdbb8?api-version=2022-01-01-preview`;
      const response = await defender.arm.request(
        'PUT',
        url,
        JSON.stringify({
          properties: {
            displayName: 'Medium recommendation to ServiceNow',
            rulePriority: 100,
            ruleType: 'ServiceNow',
            sourceResourceType: 'Assessments',
            remediationTimeframe: '5.00:00:00',
            isGracePeriod: false,
            ownerSource: { type: 'Manually', value: 'secops@contoso.example' },
            conditionSets: [
              { conditions: [{ property: '$.AssessmentKey', value: JSON.stringify([key]), operator: 'In' }] },
            ],
          },
        }),
      );
      expect(response.status).toBe(201);
    } finally {
      await defender.close();
    }
    const store = await openStore(storeUrl);
    await store.migrate();
    const sn = connectServiceNow(integration.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      const { summary } = await syncOnce(store, loaded);
      expect(summary.errors).toBe(0);
      const covered = unhealthy.filter((a) => a.assessmentKey === key);
      expect((await tickets(sn, 'problem')).length).toBe(covered.length);
      expect((await tickets(sn, 'incident')).length).toBe(0);
      for (const g of await assignments(sandboxes)) {
        expect(g.properties.owner).toBe('secops@contoso.example');
        expect(g.id.toLowerCase()).toContain(key.toLowerCase());
      }
      expect((await assignments(sandboxes)).length).toBe(covered.length);
    } finally {
      await sn.close();
      await store.close();
    }
  });
});

describe('cloud-tickets Batch API packing and owner changes', () => {
  let sandboxes: Sandboxes;
  let store: Store;
  let sn: ServiceNowConnection;
  const storeUrl = join(dir, 'owners.sqlite');

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 7 });
    store = await openStore(storeUrl);
    await store.migrate();
  });
  afterAll(async () => {
    await sn?.close();
    await store?.close();
    await sandboxes?.close();
  });

  /** One rule (High/Critical → incident by recommendation) whose owner is a fixed email. */
  const withOwner = (email: string) =>
    sandboxes.config(storeUrl, {
      cloudTickets: {
        batchSize: 4,
        rules: [
          {
            name: 'high-critical',
            when: { severities: ['High', 'Critical'] },
            table: 'incident',
            grouping: 'recommendation',
            owner: { type: 'email', value: email },
          },
        ],
      },
    });

  /** A ticket's work notes (journal fields read back empty on the record itself). */
  async function notesOf(sysId: string): Promise<string> {
    const rows = await sn.client.listAll('sys_journal_field', {
      query: encodeQuery({ where: [where('element_id', '=', sysId), where('element', '=', 'work_notes')] }),
      fields: ['value'],
    });
    return rows.map((r) => stringValue(r.value)).join('\n');
  }

  async function stats() {
    const s = await sandboxes.control('servicenow', 'GET', '/_sandbox/stats');
    return { batchCalls: s.byApi.batch?.POST ?? 0, inner: s.batchInner.writes, writes: s.writes };
  }

  it('creates new tickets in Batch API calls of batchSize, and follows a change of the owner in Defender', async () => {
    // Two active users, each the only one with their email.
    const users = sandboxes.estate.servicenow.sys_user.filter((u) => u.active === 'true' && u.email !== '');
    const unique = users.filter((u) => users.filter((v) => v.email === u.email).length === 1);
    const first = { sys_id: unique[0]!.sys_id, email: unique[0]!.email! };
    const second = { sys_id: unique[1]!.sys_id, email: unique[1]!.email! };
    expect(second).toBeDefined();

    const loadedFirst = withOwner(first.email);
    sn = connectServiceNow(loadedFirst.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const before = await stats();
    const created = await syncOnce(store, loadedFirst);
    expect(created.summary).toMatchObject({ outcome: 'ok', errors: 0 });
    const incidents = await tickets(sn, 'incident');
    const count = incidents.length;
    expect(count).toBeGreaterThan(4);
    expect(created.summary.created).toBe(count);
    // Each new ticket is counted once: created, not also unchanged.
    expect(created.summary.unchanged).toBe(0);
    // The creates went 4 to a Batch call: no more calls than that floor, one inner write per ticket.
    const after = await stats();
    expect(after.batchCalls - before.batchCalls).toBe(Math.ceil(count / 4));
    expect(after.inner - before.inner).toBe(count);
    expect(new Set(incidents.map((i) => stringValue(i.assigned_to)))).toEqual(new Set([first.sys_id]));

    // The rule's owner changes: every ticket follows, with a work note, and so does every assignment.
    const changed = await syncOnce(store, withOwner(second.email));
    expect(changed.summary).toMatchObject({ outcome: 'ok', errors: 0, created: 0, updated: count });
    const reassigned = await tickets(sn, 'incident');
    expect(new Set(reassigned.map((i) => stringValue(i.assigned_to)))).toEqual(new Set([second.sys_id]));
    for (const i of reassigned)
      expect(await notesOf(i.sys_id)).toContain(`changed from ${first.email} to ${second.email}`);
    const owners = new Set((await assignments(sandboxes)).map((a) => a.properties.owner));
    expect(owners).toEqual(new Set([second.email]));

    // A person reassigns one ticket in ServiceNow: an unchanged owner in Defender does not overrule them.
    const mine = reassigned[0]!;
    await sn.client.update('incident', mine.sys_id, { assigned_to: first.sys_id });
    const quiet = await stats();
    expect((await syncOnce(store, withOwner(second.email))).summary).toMatchObject({
      updated: 0,
      created: 0,
    });
    expect((await stats()).writes).toBe(quiet.writes);
    expect(stringValue((await sn.client.get('incident', mine.sys_id))?.assigned_to)).toBe(first.sys_id);

    // A new owner with no ServiceNow user: reported and noted, assigned_to left as it is, never guessed.
    const nobody = 'nobody.here@contoso.example';
    const unknown = await syncOnce(store, withOwner(nobody));
    expect(unknown.summary.directoryProblems.filter((p) => p.value === nobody)).toHaveLength(count);
    expect(unknown.summary.directoryProblems.every((p) => p.matches === 0)).toBe(true);
    const kept = await tickets(sn, 'incident');
    expect(kept.filter((i) => stringValue(i.assigned_to) === second.sys_id)).toHaveLength(count - 1);
    for (const i of kept) expect(await notesOf(i.sys_id)).toContain(`"${nobody}"`);

    const settled = await stats();
    expect((await syncOnce(store, withOwner(nobody))).summary).toMatchObject({ updated: 0, created: 0 });
    expect((await stats()).writes).toBe(settled.writes);
  });
});
