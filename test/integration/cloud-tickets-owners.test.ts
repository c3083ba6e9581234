import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { stringValue } from '../../src/servicenow/values.js';
import { openStore, type Store } from '../../src/store/store.js';
import { assignments, syncCloudTickets, tickets } from '../support/cloud-tickets.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/** cloud-tickets packs creates into Batch API calls and follows owner changes, against both sandboxes. */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
    const created = await syncCloudTickets(store, loadedFirst);
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
    const changed = await syncCloudTickets(store, withOwner(second.email));
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
    expect((await syncCloudTickets(store, withOwner(second.email))).summary).toMatchObject({
      updated: 0,
      created: 0,
    });
    expect((await stats()).writes).toBe(quiet.writes);
    expect(stringValue((await sn.client.get('incident', mine.sys_id))?.assigned_to)).toBe(first.sys_id);

    // A new owner with no ServiceNow user: reported and noted, assigned_to left as it is, never guessed.
    const nobody = 'nobody.here@contoso.example';
    const unknown = await syncCloudTickets(store, withOwner(nobody));
    expect(unknown.summary.directoryProblems.filter((p) => p.value === nobody)).toHaveLength(count);
    expect(unknown.summary.directoryProblems.every((p) => p.matches === 0)).toBe(true);
    const kept = await tickets(sn, 'incident');
    expect(kept.filter((i) => stringValue(i.assigned_to) === second.sys_id)).toHaveLength(count - 1);
    for (const i of kept) expect(await notesOf(i.sys_id)).toContain(`"${nobody}"`);

    const settled = await stats();
    expect((await syncCloudTickets(store, withOwner(nobody))).summary).toMatchObject({
      updated: 0,
      created: 0,
    });
    expect((await stats()).writes).toBe(settled.writes);
  });
});
