import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { openStore, type Store } from '../../src/store/store.js';
import { assessments, severities, syncCloudTickets, tickets } from '../support/cloud-tickets.js';
import { startSandboxes, writeCounts, type Sandboxes } from '../support/sandboxes.js';

/** cloud-tickets grouping rules other than by recommendation, against both sandboxes. */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
    const { summary } = await syncCloudTickets(store, loaded);
    expect(summary.errors).toBe(0);
    const severity = severities(sandboxes);
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

    const before = await writeCounts(sandboxes);
    await syncCloudTickets(store, loaded);
    expect(await writeCounts(sandboxes)).toEqual(before);
  });
});
