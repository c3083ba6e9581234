import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { SCENARIO_TIMEOUT_MS, syncInProcess } from './support.js';

/**
 * Injection end to end (issue #25): the owner tag of an Azure resource is a Defender value anyone
 * with tag rights sets, and cloud-tickets looks it up in `sys_user` with an encoded query. Owner
 * tags made of query syntax (`^`, `^OR`, `^NQ`, `^ORDERBY`, `=`, `LIKE`, `STARTSWITH`, `*`, `%`,
 * commas, newlines, unicode, `javascript:`) go through the real flow against the ServiceNow
 * sandbox, whose query parser reads `^^` as the instance does: each ticket is assigned to exactly
 * the user whose email is the tag, or to no one.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-inj-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** People in the instance: a victim every hostile tag aims at, and users whose emails are odd but real. */
const PEOPLE = [
  { user_name: 'inj.alice', email: 'alice@example.com' },
  { user_name: 'inj.bob', email: 'bob@example.com' },
  { user_name: 'inj.caret', email: 'o^brien@example.com' },
  { user_name: 'inj.nq', email: 'eve^NQactive=true@example.com' },
  { user_name: 'inj.unicode', email: 'zoë.ñandú@example.com' },
];

/** Owner tags, and the email of the one user each must assign (null: no one). */
const TAGS: readonly [tag: string, owner: string | null][] = [
  ['alice@example.com', 'alice@example.com'],
  ['o^brien@example.com', 'o^brien@example.com'],
  ['eve^NQactive=true@example.com', 'eve^NQactive=true@example.com'],
  ['zoë.ñandú@example.com', 'zoë.ñandú@example.com'],
  ['nobody@example.com^ORemail=alice@example.com', null],
  ['nobody@example.com^NQemail=alice@example.com', null],
  ['nobody@example.com^ORactive=true', null],
  ['nobody@example.com^NQactive=true', null],
  ['alice@example.com^ORDERBYemail', null],
  ['alice@example.com^active=true', null],
  ['^ORemail=alice@example.com', null],
  ['=alice@example.com', null],
  ['LIKEalice', null],
  ['STARTSWITHalice', null],
  ['*alice', null],
  ['%alice%', null],
  ['alice@example.com,bob@example.com', null],
  ['alice@example.com\n', null],
  ['alice@example.com\n^NQemail=bob@example.com', null],
  ['javascript:gs.getUserID()', null],
  ['zoë.ñandú@example.com^ORemail=bob@example.com', null],
];

describe('owner tags made of query syntax, through cloud-tickets', () => {
  let sandboxes: Sandboxes;
  const flows = {
    cloudTickets: {
      rules: [
        {
          name: 'every-unhealthy',
          when: {},
          table: 'incident',
          grouping: 'resource',
          owner: { type: 'tag', value: 'owner' },
        },
      ],
    },
  };

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 81 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'assigns each ticket to exactly the user whose email is the tag, or to no one',
    async () => {
      for (const person of PEOPLE)
        await sandboxes.control('servicenow', 'POST', '/_sandbox/users', {
          ...person,
          password: 'Inj-pw-12345',
          roles: ['itil'],
        });
      // The canonical dump names a referenced user by user name.
      const userOf = new Map(PEOPLE.map((p) => [p.email, `@sys_user:${p.user_name}`]));
      // One hostile tag per unhealthy resource, every tag on at least one.
      const assessments = (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments'))
        .assessments as { resourceId: string; code: string }[];
      const resources = [
        ...new Set(
          assessments
            .filter((a) => a.code === 'Unhealthy' && !/^\/subscriptions\/[^/]+$/i.test(a.resourceId))
            .map((a) => a.resourceId.toLowerCase()),
        ),
      ].sort();
      expect(resources.length).toBeGreaterThanOrEqual(TAGS.length);
      const tagOf = new Map<string, string>();
      for (const [i, resource] of resources.entries()) {
        const [tag] = TAGS[i % TAGS.length]!;
        tagOf.set(resource, tag);
        await sandboxes.control('defender', 'POST', '/_sandbox/resources/tags', {
          id: resource,
          tags: { owner: tag },
        });
      }

      const summary = (
        await syncInProcess(sandboxes.config(join(dir, 'store.sqlite'), flows), ['cloud-tickets'])
      )['cloud-tickets']!;
      expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

      // Each ticket's assessment → resource → tag → the user it must be assigned to.
      const tickets = (
        await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=incident&keep=sys_id')
      ).tables.incident as Record<string, string>[];
      const assignments = (
        await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')
      ).governanceAssignments as { id: string; properties: { additionalData?: { ticketLink?: string } } }[];
      const checked = new Set<string>();
      for (const a of assignments) {
        const resource = a.id
          .replace(/\/providers\/Microsoft\.Security\/assessments\/.*$/i, '')
          .toLowerCase();
        const tag = tagOf.get(resource);
        if (tag === undefined) continue;
        const sysId = /sys_id%3D([0-9a-f]{32})/.exec(a.properties.additionalData?.ticketLink ?? '')?.[1];
        const ticket = tickets.find((t) => t.sys_id === sysId);
        expect(ticket, `the ticket of ${resource}`).toBeDefined();
        const owner = TAGS.find(([t]) => t === tag)![1];
        expect({ tag, assigned_to: ticket!.assigned_to }, `owner tag ${JSON.stringify(tag)}`).toEqual({
          tag,
          assigned_to: owner === null ? '' : userOf.get(owner),
        });
        checked.add(tag);
      }
      // Every tag went through the flow: none was left out by a failure.
      expect([...checked].sort()).toEqual(TAGS.map(([t]) => t).sort());
    },
    SCENARIO_TIMEOUT_MS,
  );
});
