import { describe, expect, it } from 'vitest';
import { carriesOtherTicket, matchTicket, ticketLinkTarget, type TicketCandidate } from './vendor.js';

const INSTANCE = 'https://acme.service-now.com';
const ID = '0123456789abcdef0123456789abcdef';

describe('ticketLinkTarget', () => {
  it('reads the table and sys_id from the forms ServiceNow links take', () => {
    for (const link of [
      `${INSTANCE}/incident.do?sys_id=${ID}`,
      `${INSTANCE}/nav_to.do?uri=incident.do?sys_id=${ID}`,
      `${INSTANCE}/nav_to.do?uri=${encodeURIComponent(`incident.do?sys_id=${ID}`)}`,
      `${INSTANCE}/now/nav/ui/classic/params/target/incident.do%3Fsys_id%3D${ID}`,
    ])
      expect(ticketLinkTarget(link, INSTANCE), link).toEqual({
        kind: 'thisInstance',
        table: 'incident',
        sysId: ID,
      });
  });

  it("takes a bare host (the spec example's form) as this instance with nothing more", () => {
    expect(ticketLinkTarget('https://ACME.service-now.com', INSTANCE)).toEqual({ kind: 'thisInstance' });
  });

  it('tells another instance and no link apart', () => {
    expect(ticketLinkTarget('https://snow.com', INSTANCE)).toEqual({
      kind: 'otherInstance',
      host: 'snow.com',
    });
    expect(ticketLinkTarget(undefined, INSTANCE)).toEqual({ kind: 'none' });
    expect(ticketLinkTarget('not a url', INSTANCE)).toEqual({ kind: 'none' });
  });
});

describe('carriesOtherTicket', () => {
  it("is true for another key with a ticket, false for Snowline's key or no ticket", () => {
    expect(carriesOtherTicket({ assignmentKey: 'a', additionalData: { ticketNumber: 7 } }, 'b')).toBe(true);
    expect(carriesOtherTicket({ assignmentKey: 'a', additionalData: { ticketLink: INSTANCE } }, 'b')).toBe(
      true,
    );
    expect(carriesOtherTicket({ assignmentKey: 'B', additionalData: { ticketNumber: 7 } }, 'b')).toBe(false);
    expect(carriesOtherTicket({ assignmentKey: 'a' }, 'b')).toBe(false);
    expect(carriesOtherTicket({ assignmentKey: 'a', additionalData: { ticketStatus: 'New' } }, 'b')).toBe(
      false,
    );
  });
});

describe('matchTicket', () => {
  const inc: TicketCandidate = { table: 'incident', sysId: ID, number: 'INC0010002' };
  const prb: TicketCandidate = { table: 'problem', sysId: 'f'.repeat(32), number: 'PRB0010002' };
  const other: TicketCandidate = { table: 'incident', sysId: 'e'.repeat(32), number: 'INC0110002' };

  it('takes the sys_id of the link over the number', () => {
    const target = ticketLinkTarget(`${INSTANCE}/problem.do?sys_id=${'f'.repeat(32)}`, INSTANCE);
    expect(matchTicket({ ticketNumber: 10002 }, target, [inc, prb])).toEqual({
      kind: 'one',
      ticket: prb,
      by: 'sys_id',
    });
  });

  it('matches the digits exactly, not as a suffix', () => {
    expect(matchTicket({ ticketNumber: 10002 }, { kind: 'thisInstance' }, [inc, other])).toEqual({
      kind: 'one',
      ticket: inc,
      by: 'number',
    });
  });

  it('never guesses between an incident and a problem with the same digits', () => {
    expect(matchTicket({ ticketNumber: 10002 }, { kind: 'thisInstance' }, [inc, prb]).kind).toBe('several');
    const target = ticketLinkTarget(`${INSTANCE}/problem_list.do`, INSTANCE);
    expect(
      matchTicket({ ticketNumber: 10002 }, { kind: 'thisInstance', table: 'problem' }, [inc, prb]),
    ).toEqual({
      kind: 'one',
      ticket: prb,
      by: 'number',
    });
    expect(target).toEqual({ kind: 'thisInstance' });
  });

  it('finds nothing without a number or a matching record', () => {
    expect(matchTicket({}, { kind: 'thisInstance' }, [inc]).kind).toBe('none');
    expect(matchTicket({ ticketNumber: 99 }, { kind: 'thisInstance' }, [inc]).kind).toBe('none');
  });
});
