import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import {
  ALERT_INCIDENT_TABLES,
  DEFAULT_CLOSED_STATES,
  TICKET_TABLES,
  TICKET_TABLE_SPECS,
  closeSteps,
  closedStatesOf,
  isClosedState,
  isTicketTable,
  reopenUpdate,
  stateLabel,
} from './tables.js';

const CLOSE = {
  incidentCloseCode: 'Solution provided',
  problemResolutionCode: 'fix_applied' as const,
  notes: 'Healthy again',
};

describe('the ticket-table registry', () => {
  it('labels states and knows which are closed per table', () => {
    expect(stateLabel('incident', '2')).toBe('In Progress');
    expect(stateLabel('problem', '103')).toBe('Root Cause Analysis');
    expect(stateLabel('change_request', '-5')).toBe('New');
    expect(stateLabel('incident', '99')).toBe('99');
    expect(['6', '7', '8'].every((s) => isClosedState('incident', s))).toBe(true);
    expect(isClosedState('incident', '3')).toBe(false);
    expect(isClosedState('problem', '106')).toBe(true);
    expect(isClosedState('problem', '104')).toBe(false);
    expect(isClosedState('change_request', '4')).toBe(true);
    expect(isClosedState('change_request', '0')).toBe(false);
  });

  it('counts the legacy problem state 4 (Closed/Resolved) as closed, like every other closed state', () => {
    expect(isClosedState('problem', '4')).toBe(true);
    expect(stateLabel('problem', '4')).toBe('Closed/Resolved');
  });

  it('lets the configured closed states replace the registry for every caller', () => {
    const configured = { ...DEFAULT_CLOSED_STATES, incident: ['7'] };
    expect(isClosedState('incident', '6', configured)).toBe(false);
    expect(isClosedState('incident', '7', configured)).toBe(true);
    expect(closeSteps('incident', '6', CLOSE, configured)).toHaveLength(1);
    expect(closedStatesOf(undefined)).toBe(DEFAULT_CLOSED_STATES);
    expect(closedStatesOf(configured)).toBe(configured);
  });

  it('gives every table labels for each of its closed states and knows its tables', () => {
    for (const table of TICKET_TABLES) {
      expect(isTicketTable(table)).toBe(true);
      for (const state of TICKET_TABLE_SPECS[table].doneStates)
        expect(TICKET_TABLE_SPECS[table].states[state]).toBeDefined();
    }
    expect(isTicketTable('sys_user')).toBe(false);
  });

  it('registers the OT and security incident tables apart from the ITSM tables cloud-tickets writes', () => {
    for (const table of ALERT_INCIDENT_TABLES) {
      expect(isTicketTable(table)).toBe(false);
      expect(TICKET_TABLE_SPECS[table].writtenBy).toEqual(['ot-alerts']);
      for (const state of TICKET_TABLE_SPECS[table].doneStates)
        expect(TICKET_TABLE_SPECS[table].states[state]).toBeDefined();
    }
    expect(TICKET_TABLE_SPECS.sn_si_incident.states['10']).toBe('Draft');
  });

  it('is where the configuration takes its closed-state defaults from', () => {
    const parsed = ConfigSchema.parse({
      integrations: [
        {
          id: 'a',
          servicenow: {
            instanceUrl: 'https://x.service-now.com',
            auth: { type: 'basic', username: 'u', password: 'p' },
          },
          defender: {
            tenantId: 't',
            subscriptions: ['s'],
            auth: { type: 'clientSecret', clientId: 'c', clientSecret: 'x' },
          },
          flows: { ticketSync: {} },
        },
      ],
    });
    expect(parsed.integrations[0]!.flows.ticketSync!.closedStates).toEqual(DEFAULT_CLOSED_STATES);
  });
});

describe('closing per table', () => {
  it('resolves an incident with close code and notes in one update', () => {
    expect(closeSteps('incident', '2', CLOSE)).toEqual([
      {
        kind: 'update',
        values: { state: '6', close_code: 'Solution provided', close_notes: 'Healthy again' },
      },
    ]);
  });

  it('walks a problem through its state model to Resolved with the notes its resolution code needs', () => {
    const steps = closeSteps('problem', '101', CLOSE);
    expect(steps.map((s) => s.values.state)).toEqual(['102', '103', '106']);
    expect(steps.at(-1)!.values).toMatchObject({
      resolution_code: 'fix_applied',
      cause_notes: 'Healthy again',
      fix_notes: 'Healthy again',
    });
    expect(closeSteps('problem', '104', CLOSE).map((s) => s.values.state)).toEqual(['106']);
  });

  it('cancels a change with notes, and only notes one in Review', () => {
    expect(closeSteps('change_request', '-5', CLOSE)).toEqual([
      { kind: 'update', values: { state: '4', close_notes: 'Healthy again' } },
    ]);
    expect(closeSteps('change_request', '-1', CLOSE)[0]!.values.state).toBe('4');
    expect(closeSteps('change_request', '0', CLOSE)).toEqual([
      { kind: 'note', values: { work_notes: 'Healthy again' } },
    ]);
  });

  it('does nothing to a ticket already closed', () => {
    expect(closeSteps('incident', '7', CLOSE)).toEqual([]);
    expect(closeSteps('problem', '107', CLOSE)).toEqual([]);
    expect(closeSteps('change_request', '3', CLOSE)).toEqual([]);
  });

  it('reopens only what the state models allow', () => {
    expect(reopenUpdate('incident', '6', 'n')).toEqual({ state: '2', work_notes: 'n' });
    expect(reopenUpdate('incident', '7', 'n')).toBeUndefined();
    expect(reopenUpdate('problem', '106', 'n')).toEqual({ state: '103', work_notes: 'n' });
    expect(reopenUpdate('change_request', '4', 'n')).toBeUndefined();
  });
});
