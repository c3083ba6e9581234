import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Flow } from '../../src/domain/flows.js';
import { correlationPrefix, parseAssessmentId } from '../../src/domain/tickets/rules.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import type { ServiceNowConnection } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { createDefenderSources } from '../../src/sources/index.js';
import { openStore, type Store } from '../../src/store/store.js';
import type { CloudTicketsSummary } from '../../src/sync/cloud-tickets/flow.js';
import type { TicketSyncSummary } from '../../src/sync/ticket-sync/engine.js';
import { signInPerson, startSandboxes, type Sandboxes, writeCounts } from '../support/sandboxes.js';
import { runOnce } from '../support/sync.js';

/**
 * The owner of a ticket and of its governance assignments is written by two flows: cloud-tickets
 * (the owner Defender gives the resources → `assigned_to` and the assignment) and ticket-sync
 * (`assigned_to` → the assignment). Run after one another, as a schedule runs them, they must
 * settle: the side that changed last wins, neither flow undoes the other, and once settled a pair
 * of runs writes nothing on either side.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-owners-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface DumpAssignment {
  id: string;
  properties: { owner?: string; additionalData?: { ticketStatus?: string; ticketLink?: string } };
}

describe('owners between cloud-tickets and ticket-sync', () => {
  let sandboxes: Sandboxes;
  let store: Store;
  let person: ServiceNowConnection;
  const storeUrl = join(dir, 'store.sqlite');
  let users: { sysId: string; email: string }[];

  /** One rule (High/Critical → incident by recommendation) owned by a fixed email (Defender's "Manually"). */
  const config = (owner: string): LoadedConfig =>
    sandboxes.config(storeUrl, {
      cloudTickets: {
        rules: [
          {
            name: 'high-critical',
            when: { severities: ['High', 'Critical'] },
            table: 'incident',
            grouping: 'recommendation',
            owner: { type: 'email', value: owner },
          },
        ],
      },
      ticketSync: {},
    });

  const run = async (flow: Flow, owner: string) => {
    const result = await runOnce(config(owner), store, { only: [flow] });
    const summary = result.summary.jobs[flow]!;
    expect(summary, JSON.stringify(summary)).toMatchObject({ outcome: 'ok', errors: 0 });
    return summary;
  };
  const cloudTickets = async (owner: string) => (await run('cloud-tickets', owner)) as CloudTicketsSummary;
  const ticketSync = async (owner: string) => (await run('ticket-sync', owner)) as TicketSyncSummary;

  const writes = () => writeCounts(sandboxes);
  /** Writes on each side made by `work`. */
  const writesOf = async (work: () => Promise<unknown>) => {
    const before = await writes();
    await work();
    const after = await writes();
    return { servicenow: after.servicenow - before.servicenow, defender: after.defender - before.defender };
  };
  const nothing = { servicenow: 0, defender: 0 };

  const incidents = async () =>
    (
      await person.client.listAll('incident', {
        query: `correlation_idSTARTSWITH${correlationPrefix('sandbox')}`,
        fields: ['sys_id', 'number', 'assigned_to', 'state', 'correlation_id'],
      })
    ).sort((a, b) => String(a.correlation_id).localeCompare(String(b.correlation_id)));
  /** Owner of every assignment, by the sys_id of the ticket it links to. */
  const assignmentOwners = async (): Promise<Map<string, string[]>> => {
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments');
    const out = new Map<string, string[]>();
    for (const a of dump.governanceAssignments as DumpAssignment[]) {
      const sysId = /sys_id%3D([0-9a-f]{32})/.exec(a.properties.additionalData?.ticketLink ?? '')?.[1] ?? '';
      out.set(sysId, [...(out.get(sysId) ?? []), a.properties.owner ?? '']);
    }
    return out;
  };
  const assignedTo = async (sysId: string) =>
    stringValue((await person.client.get('incident', sysId, ['assigned_to']))?.assigned_to);

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 120, seed: 23 });
    store = await openStore(storeUrl);
    await store.migrate();
    // Active users, each the only one with their email.
    const active = sandboxes.estate.servicenow.sys_user.filter((u) => u.active === 'true' && u.email !== '');
    users = active
      .filter((u) => active.filter((v) => v.email === u.email).length === 1)
      .map((u) => ({ sysId: u.sys_id!, email: u.email! }));
    expect(users.length).toBeGreaterThanOrEqual(4);
    person = await signInPerson(sandboxes, sandboxes.config(storeUrl).config.integrations[0]!.servicenow, {
      user_name: 'pat.person',
      password: 'Pat-person-pw-1',
      roles: ['itil'],
      email: 'pat.person@example.com',
    });
  });
  afterAll(async () => {
    await person?.close();
    await store?.close();
    await sandboxes?.close();
  });

  it('a reassignment in ServiceNow reaches Defender once and is not undone by cloud-tickets', async () => {
    const [first, second] = users;
    expect((await cloudTickets(first!.email)).created).toBeGreaterThan(2);
    // ticket-sync takes the tickets in as they are: owners already match.
    expect(await writesOf(() => ticketSync(first!.email))).toEqual(nothing);

    // A person reassigns one ticket, and reassigns another while putting it In Progress.
    const [reassigned, inProgress] = await incidents();
    await person.client.update('incident', reassigned!.sys_id, { assigned_to: second!.sysId });
    await person.client.update('incident', inProgress!.sys_id, { assigned_to: second!.sysId, state: '2' });
    const moved = await writesOf(() => ticketSync(first!.email));
    const count = (await assignmentOwners()).get(reassigned!.sys_id)!.length;
    const countInProgress = (await assignmentOwners()).get(inProgress!.sys_id)!.length;
    expect(moved).toEqual({ servicenow: 0, defender: count + countInProgress });
    for (const ticket of [reassigned!, inProgress!])
      expect((await assignmentOwners()).get(ticket.sys_id)).toEqual(
        Array.from({ length: ticket === reassigned ? count : countInProgress }, () => second!.email),
      );

    // cloud-tickets: the owner from its rule did not change, so neither the ticket nor the
    // assignment is written back to it (the In Progress status ticket-sync already mirrored).
    const summary = await cloudTickets(first!.email);
    expect(summary).toMatchObject({ created: 0, updated: 0, assignmentsWritten: 0 });
    expect(await assignedTo(reassigned!.sys_id)).toBe(second!.sysId);
    expect(await assignedTo(inProgress!.sys_id)).toBe(second!.sysId);
    for (const ticket of [reassigned!, inProgress!])
      expect(new Set((await assignmentOwners()).get(ticket.sys_id))).toEqual(new Set([second!.email]));

    // Settled: further pairs of runs write nothing on either side.
    for (let pair = 0; pair < 2; pair++) {
      expect(await writesOf(() => ticketSync(first!.email)), `ticket-sync, pair ${pair}`).toEqual(nothing);
      expect(await writesOf(() => cloudTickets(first!.email)), `cloud-tickets, pair ${pair}`).toEqual(
        nothing,
      );
    }
  });

  it('an owner change in Defender reaches the tickets and assignments once and is not sent back by ticket-sync', async () => {
    const third = users[2]!;
    const tickets = await incidents();
    const assignments = [...(await assignmentOwners()).values()].flat().length;
    // The owner Defender gives the resources changes (the rule's email): the side that changed
    // last, so it wins over the earlier reassignment in ServiceNow too.
    const changed = await cloudTickets(third.email);
    expect(changed).toMatchObject({ created: 0, updated: tickets.length, assignmentsWritten: assignments });
    for (const t of await incidents())
      expect(stringValue(t.assigned_to), t.number as string).toBe(third.sysId);
    expect(new Set([...(await assignmentOwners()).values()].flat())).toEqual(new Set([third.email]));

    // ticket-sync sees the new assignee, already in Defender: no write back.
    const synced = await writesOf(async () =>
      expect(await ticketSync(third.email)).toMatchObject({ updated: 0, created: 0, deleted: 0 }),
    );
    expect(synced).toEqual(nothing);
    for (let pair = 0; pair < 2; pair++) {
      expect(await writesOf(() => cloudTickets(third.email)), `cloud-tickets, pair ${pair}`).toEqual(nothing);
      expect(await writesOf(() => ticketSync(third.email)), `ticket-sync, pair ${pair}`).toEqual(nothing);
    }
  });

  it('an owner a person sets on an assignment in Defender is kept when the ticket moves on', async () => {
    const third = users[2]!;
    const fourth = users[3]!;
    const [ticket] = await incidents();
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments');
    const mine = (dump.governanceAssignments as DumpAssignment[]).find((a) =>
      a.properties.additionalData?.ticketLink?.includes(ticket!.sys_id),
    )!;
    // A person changes the owner of one assignment in the portal (the same ARM PUT).
    const defender = createDefenderSources(config(third.email).config.integrations[0]!.defender, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      const assessmentId = mine.id.replace(/\/governanceAssignments\/[^/]+$/i, '');
      const parsed = parseAssessmentId(assessmentId)!;
      const assignmentKey = mine.id.split('/').at(-1)!;
      const current = (await defender.arm.getGovernanceAssignment(
        parsed.resourceId,
        parsed.assessmentKey,
        assignmentKey,
      ))!;
      await defender.arm.putGovernanceAssignment(parsed.resourceId, parsed.assessmentKey, assignmentKey, {
        owner: fourth.email,
        remediationDueDate: current.remediationDueDate.toISOString(),
        ...(current.isGracePeriod !== undefined ? { isGracePeriod: current.isGracePeriod } : {}),
        ...(current.governanceEmailNotification
          ? { governanceEmailNotification: current.governanceEmailNotification }
          : {}),
        ...(current.additionalData ? { additionalData: current.additionalData } : {}),
      });
    } finally {
      await defender.close();
    }
    const ownerOf = async () =>
      (
        await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')
      ).governanceAssignments.find((a: DumpAssignment) => a.id === mine.id).properties.owner as string;

    // Neither flow undoes it: the ticket's assignee and the rule's owner did not change.
    expect(await writesOf(() => cloudTickets(third.email))).toEqual(nothing);
    expect(await writesOf(() => ticketSync(third.email))).toEqual(nothing);
    expect(await ownerOf()).toBe(fourth.email);

    // The ticket moves to In Progress: ticket-sync mirrors the status and keeps the owner, and
    // cloud-tickets, whose status changed too, finds the assignment as it wants it.
    await person.client.update('incident', ticket!.sys_id, { state: '2' });
    await ticketSync(third.email);
    expect(await ownerOf()).toBe(fourth.email);
    expect((await cloudTickets(third.email)).assignmentsWritten).toBe(0);
    expect(await ownerOf()).toBe(fourth.email);
    for (let pair = 0; pair < 2; pair++) {
      expect(await writesOf(() => ticketSync(third.email)), `ticket-sync, pair ${pair}`).toEqual(nothing);
      expect(await writesOf(() => cloudTickets(third.email)), `cloud-tickets, pair ${pair}`).toEqual(nothing);
    }
  });
});
