import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TicketTable } from './tables.js';
import {
  arrivalOf,
  decideAssignment,
  DEFAULT_TICKET_SYNC_POLICY,
  nextWatermark,
  pollSince,
  rememberTicket,
  type AssignmentInput,
  type TicketMemory,
  type TicketSnapshot,
  type TicketSyncPolicy,
} from './sync.js';

const policy = DEFAULT_TICKET_SYNC_POLICY;

const ticket = (over: Partial<TicketSnapshot> = {}): TicketSnapshot => ({
  table: 'incident',
  sysId: 'a'.repeat(32),
  number: 'INC0010001',
  state: '1',
  assignedTo: 'u1',
  modCount: 3,
  updatedOn: '2026-11-22 08:00:00',
  correlationId: 'snowline:plant-a:ct:x',
  ...over,
});

const memoryOf = (t: TicketSnapshot, over: Partial<TicketMemory> = {}): TicketMemory => ({
  ...rememberTicket(undefined, t),
  ...over,
});

const input = (over: Partial<AssignmentInput> = {}): AssignmentInput => ({
  policy,
  ticket: ticket(),
  memory: memoryOf(ticket()),
  owner: { kind: 'email', email: 'ana@contoso.com' },
  current: { owner: 'ana@contoso.com', ticketStatus: 'New' },
  recorded: { owner: 'ana@contoso.com', ticketStatus: 'New' },
  removedForClosedTicket: false,
  ...over,
});

const CLOSED: Record<TicketTable, string[]> = {
  incident: ['6', '7', '8'],
  problem: ['106', '107'],
  change_request: ['3', '4'],
};
const OPEN: Record<TicketTable, string[]> = {
  incident: ['1', '2', '3'],
  problem: ['101', '102', '103', '104'],
  change_request: ['-5', '-4', '-3', '-2', '-1', '0'],
};

describe('closing per table', () => {
  it('deletes the assignment in every closed state of every table, and in no open one', () => {
    for (const table of ['incident', 'problem', 'change_request'] as const) {
      for (const state of CLOSED[table])
        expect(decideAssignment(input({ ticket: ticket({ table, state }) })).kind, `${table} ${state}`).toBe(
          'delete',
        );
      for (const state of OPEN[table])
        expect(
          decideAssignment(input({ ticket: ticket({ table, state }) })).kind,
          `${table} ${state}`,
        ).not.toBe('delete');
    }
  });

  it('follows the configured closed states', () => {
    const onlyClosed: TicketSyncPolicy = {
      ...policy,
      closedStates: { ...policy.closedStates, incident: ['7'] },
    };
    expect(decideAssignment(input({ policy: onlyClosed, ticket: ticket({ state: '6' }) })).kind).toBe('put');
    expect(decideAssignment(input({ policy: onlyClosed, ticket: ticket({ state: '7' }) })).kind).toBe(
      'delete',
    );
  });

  it('writes nothing when the assignment is already gone', () => {
    expect(decideAssignment(input({ ticket: ticket({ state: '6' }), current: undefined })).kind).toBe('skip');
  });

  it('keeps an assignment changed in Defender when conflict.state is defender', () => {
    const changed = { owner: 'bo@contoso.com', ticketStatus: 'New' };
    const closed = ticket({ state: '7' });
    expect(decideAssignment(input({ ticket: closed, current: changed })).kind).toBe('delete');
    const kept = decideAssignment(
      input({
        ticket: closed,
        current: changed,
        policy: { ...policy, conflict: { ...policy.conflict, state: 'defender' } },
      }),
    );
    expect(kept).toMatchObject({ kind: 'skip', conflict: true });
  });
});

describe('owner and status', () => {
  it('puts the new assignee email and the state label, re-sending the body', () => {
    const moved = ticket({ assignedTo: 'u2', state: '2', modCount: 4 });
    const decision = decideAssignment(
      input({ ticket: moved, owner: { kind: 'email', email: 'bo@contoso.com' } }),
    );
    expect(decision).toMatchObject({ kind: 'put', owner: 'bo@contoso.com', ticketStatus: 'In Progress' });
  });

  it('never writes when the assignment already has the owner and status (emails without case)', () => {
    const decision = decideAssignment(input({ owner: { kind: 'email', email: 'ANA@contoso.com' } }));
    expect(decision.kind).toBe('skip');
  });

  it('leaves the owner alone for a user without email, or an unassigned ticket', () => {
    const moved = ticket({ assignedTo: 'u9' });
    expect(decideAssignment(input({ ticket: moved, owner: { kind: 'noEmail', user: 'x' } })).kind).toBe(
      'skip',
    );
    expect(
      decideAssignment(input({ ticket: ticket({ assignedTo: null }), owner: { kind: 'unassigned' } })).kind,
    ).toBe('skip');
  });

  it('applies conflict.owner when the owner changed on both sides', () => {
    const moved = ticket({ assignedTo: 'u2', modCount: 4 });
    const both = input({
      ticket: moved,
      owner: { kind: 'email', email: 'bo@contoso.com' },
      current: { owner: 'cy@contoso.com', ticketStatus: 'New' },
    });
    expect(decideAssignment(both)).toMatchObject({ kind: 'put', owner: 'bo@contoso.com' });
    const defenderWins = decideAssignment({
      ...both,
      policy: { ...policy, conflict: { ...policy.conflict, owner: 'defender' } },
    });
    expect(defenderWins).toMatchObject({ kind: 'skip', conflict: true });
  });

  it('does not undo a Defender-side owner change when the ticket user did not change', () => {
    const statusOnly = ticket({ state: '2', modCount: 4 });
    const decision = decideAssignment(
      input({ ticket: statusOnly, current: { owner: 'cy@contoso.com', ticketStatus: 'New' } }),
    );
    expect(decision).toMatchObject({ kind: 'put', owner: 'cy@contoso.com', ticketStatus: 'In Progress' });
  });
});

describe('reopen', () => {
  const reopened = ticket({ state: '2', modCount: 6 });
  const base = input({
    ticket: reopened,
    memory: memoryOf(ticket({ state: '6' })),
    current: undefined,
    removedForClosedTicket: true,
  });

  it('recreates an assignment removed for a closed ticket, unless the policy says leave', () => {
    expect(decideAssignment({ ...base, health: 'Unhealthy' })).toMatchObject({
      kind: 'recreate',
      owner: 'ana@contoso.com',
      ticketStatus: 'In Progress',
    });
    expect(decideAssignment({ ...base, policy: { ...policy, reopen: 'leave' } }).kind).toBe('skip');
  });

  it('lets Defender decide when the recommendation is healthy (conflict.health)', () => {
    expect(decideAssignment({ ...base, health: 'Healthy' })).toMatchObject({ kind: 'skip', conflict: true });
    expect(
      decideAssignment({
        ...base,
        health: 'NotApplicable',
        policy: { ...policy, conflict: { ...policy.conflict, health: 'servicenow' } },
      }).kind,
    ).toBe('recreate');
  });

  it('does not create an assignment that was never removed for a closed ticket', () => {
    expect(decideAssignment({ ...base, removedForClosedTicket: false }).kind).toBe('skip');
  });
});

describe('arrival of a ticket version', () => {
  it('treats any version at or below the processed one as processed (replays, overlap)', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), (processed, delivered) => {
        const memory = memoryOf(ticket({ modCount: processed }));
        const kind = arrivalOf(memory, ticket({ modCount: delivered })).kind;
        expect(kind === 'processed').toBe(delivered <= processed);
      }),
    );
  });

  it("recognises Snowline's own write only with its exact version and values", () => {
    const seen = ticket({ modCount: 3 });
    const memory = rememberTicket(undefined, seen, { modCount: 4, state: '1', assignedTo: 'u1' });
    expect(arrivalOf(memory, ticket({ modCount: 4 })).kind).toBe('echo');
    // A person's change slipped in before Snowline's write: the values differ, it is new.
    expect(arrivalOf(memory, ticket({ modCount: 4, assignedTo: 'u2' })).kind).toBe('new');
    // A later version is never an echo, whoever wrote it last.
    expect(arrivalOf(memory, ticket({ modCount: 5 })).kind).toBe('new');
  });

  it('never loses a person change: any version with different values than processed is new', () => {
    fc.assert(
      fc.property(
        fc.nat(50),
        fc.nat(5),
        fc.constantFrom('1', '2', '6'),
        fc.constantFrom('u1', 'u2', null),
        (processed, ahead, state, assignedTo) => {
          const memory = rememberTicket(undefined, ticket({ modCount: processed }), {
            modCount: processed + 1,
            state: '1',
            assignedTo: 'u1',
          });
          const delivered = ticket({ modCount: processed + 1 + ahead, state, assignedTo });
          const kind = arrivalOf(memory, delivered).kind;
          if (state !== '1' || assignedTo !== 'u1') expect(kind).toBe('new');
        },
      ),
    );
  });
});

describe('watermark', () => {
  const stamp = fc
    .date({
      min: new Date('2020-01-01T00:00:00Z'),
      max: new Date('2030-01-01T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString().slice(0, 19).replace('T', ' '));

  it('moves only forward, never past the first failed record', () => {
    fc.assert(
      fc.property(
        fc.option(stamp, { nil: undefined }),
        fc.option(stamp, { nil: undefined }),
        fc.option(stamp, { nil: undefined }),
        (current, processed, failed) => {
          const next = nextWatermark(current, processed, failed);
          if (current !== undefined) expect(next! >= current).toBe(true);
          if (failed !== undefined && (current === undefined || current < failed))
            expect(next! <= failed).toBe(true);
          if (failed === undefined && processed !== undefined) expect(next! >= processed).toBe(true);
        },
      ),
    );
  });

  it('reads back the overlap before the watermark', () => {
    expect(pollSince('2026-11-22 08:00:00', 120)).toBe('2026-11-22 07:58:00');
    expect(pollSince(undefined, 120)).toBeUndefined();
  });
});
