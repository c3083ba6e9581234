import type { Flow } from '../flows.js';

/**
 * The one registry of ServiceNow ticket tables: which tables exist for Snowline, their state
 * values and labels, which states count as Resolved / Closed / Canceled, the fields closing needs,
 * how a table is resolved and reopened, and which flows may write it. Every flow, the API, the
 * dashboard, `doctor`, the CLI and the configuration schema read tables and states from here, so
 * that they can not disagree. No I/O.
 *
 * Sources (ServiceNow/ServiceNowDocs, branch australia, paths under `markdown/`):
 * - incident: the labels New, In Progress, On Hold, Resolved, Closed, Canceled are
 *   `it-service-management/incident-management/c_IncidentManagementStateModel.md`; the page gives
 *   no stored values. 6 = Resolved is `api-reference/GlideAgentWorkspaceAPI.md`, 1 = New and
 *   7 = Closed `api-reference/scripts/c_SchedulePages.md`; 2, 3 and 8 are UNVERIFIED in
 *   ServiceNowDocs (searched all release branches for the numbers beside the labels) and taken from
 *   the out-of-box choice list that public integrations read (demisto/content
 *   Packs/ServiceNow/Integrations/ServiceNowv2/ServiceNowv2.py). Resolving needs `close_code` and
 *   `close_notes` (Data Policy; the sandbox enforces it).
 * - problem: 101 New, 104 Fix in Progress, 107 Closed and the legacy 1–4 (4 Closed/Resolved, which
 *   an instance migrated to the new model turns into 107) are
 *   `it-service-management/problem-management/map-problem-state.md`; 102 Assess, 103 Root Cause
 *   Analysis and 106 Resolved are UNVERIFIED in ServiceNowDocs (searched all branches) and are the
 *   out-of-box values public clients use (the same demisto file; ansible-collections/servicenow.itsm).
 * - change_request: -5 New … 0 Review, 3 Closed, 4 Canceled:
 *   `it-service-management/change-management/state-model-activate-tasks.md`.
 * - sn_ot_incident (OT Incident Management, Store app `sn_ot_inc_mgmt`, roles
 *   `sn_ot_incident_read` / `_write` / `_admin`): the labels New, In Progress, On Hold, Resolved,
 *   Closed, Canceled and resolving with a Resolution code and Resolution notes are
 *   `operational-technology/operational-technology-incident-management/operational-technology-incident-management.md`
 *   and `resolve-and-close-ot-incident.md`; the stored values and the field names are UNVERIFIED
 *   (no page gives them; searched every branch of that folder): taken as incident's.
 * - sn_si_incident (Security Incident Response, plugin `com.snc.security_incident`, roles
 *   `sn_si.analyst`, `sn_si.integration_user`): the NIST states Draft, Analysis, Contain,
 *   Eradicate, Recover, Review, Closed, initial state 10 and closing from Review with Close code and
 *   Close notes are `security-management/security-incident-response/setup-assistant-reference.md`
 *   and `t_ClosingSecIncidents.md`; 3, 7, 10, 16, 18, 19 are the values public integrations use
 *   (demisto/content ServiceNowv2.py); Recover 20 and Review 100 are UNVERIFIED (searched
 *   ServiceNowDocs, public code and issue threads).
 * Research with every row's source: docs/research/ot-alerts-facts.md.
 */

/** The ITSM tables cloud-tickets opens tickets in and ticket-sync polls, in the order they are polled. */
export const TICKET_TABLES = ['incident', 'problem', 'change_request'] as const;

/** One of the ITSM ticket tables. */
export type TicketTable = (typeof TICKET_TABLES)[number];

/** The OT and security incident tables OT alerts may open (flow ot-alerts alone writes them). */
export const ALERT_INCIDENT_TABLES = ['sn_ot_incident', 'sn_si_incident'] as const;

/** Every table in the registry. */
export type RegisteredTable = TicketTable | (typeof ALERT_INCIDENT_TABLES)[number];

/** The table a rule or a ticket created by hand uses when it names none. */
export const DEFAULT_TICKET_TABLE: TicketTable = 'incident';

/** What Snowline knows of one ticket table. */
export interface TicketTableSpec {
  /** State value → label (out-of-box choices), what `ticketStatus` on an assignment carries. */
  readonly states: Readonly<Record<string, string>>;
  /** States that mean Resolved, Closed or Canceled: the ticket is no longer being worked. */
  readonly doneStates: readonly string[];
  /** The fields a resolve or close must carry, or the instance refuses it. */
  readonly closeFields: readonly string[];
  /** True when the table has `caller_id` (a rule's `caller` is written only there). */
  readonly hasCaller: boolean;
  /** The flows that may open or update tickets in this table. */
  readonly writtenBy: readonly Flow[];
}

/** The incident state model: incident's, and (UNVERIFIED, see above) OT Incident Management's. */
const INCIDENT_MODEL: Omit<TicketTableSpec, 'writtenBy'> = {
  states: {
    '1': 'New',
    '2': 'In Progress',
    '3': 'On Hold',
    '6': 'Resolved',
    '7': 'Closed',
    '8': 'Canceled',
  },
  doneStates: ['6', '7', '8'],
  closeFields: ['close_code', 'close_notes'],
  hasCaller: true,
};

/** The registry. */
export const TICKET_TABLE_SPECS: Readonly<Record<RegisteredTable, TicketTableSpec>> = {
  incident: { ...INCIDENT_MODEL, writtenBy: ['cloud-tickets', 'ticket-sync', 'ot-alerts'] },
  problem: {
    states: {
      '101': 'New',
      '102': 'Assess',
      '103': 'Root Cause Analysis',
      '104': 'Fix in Progress',
      '106': 'Resolved',
      '107': 'Closed',
      '4': 'Closed/Resolved',
    },
    // 4 is the legacy Closed/Resolved: an instance still on the old state model closes problems there.
    doneStates: ['106', '107', '4'],
    closeFields: ['resolution_code', 'close_notes'],
    hasCaller: false,
    writtenBy: ['cloud-tickets', 'ticket-sync'],
  },
  change_request: {
    states: {
      '-5': 'New',
      '-4': 'Assess',
      '-3': 'Authorize',
      '-2': 'Scheduled',
      '-1': 'Implement',
      '0': 'Review',
      '3': 'Closed',
      '4': 'Canceled',
    },
    doneStates: ['3', '4'],
    closeFields: ['close_notes'],
    hasCaller: false,
    writtenBy: ['cloud-tickets', 'ticket-sync'],
  },
  // Stored values and field names UNVERIFIED (see the sources above): the incident model's.
  sn_ot_incident: { ...INCIDENT_MODEL, writtenBy: ['ot-alerts'] },
  sn_si_incident: {
    states: {
      '10': 'Draft',
      '16': 'Analysis',
      '18': 'Contain',
      '19': 'Eradicate',
      '20': 'Recover',
      '100': 'Review',
      '3': 'Closed',
      '7': 'Cancelled',
    },
    doneStates: ['3', '7'],
    closeFields: ['close_code', 'close_notes'],
    hasCaller: false,
    writtenBy: ['ot-alerts'],
  },
};

/** Per table, the state values in which a ticket counts as Resolved, Closed or Canceled. */
export type ClosedStates = Readonly<Record<TicketTable, readonly string[]>>;

/**
 * The out-of-box closed states of every table. The configured `flows.ticketSync.closedStates`
 * replaces them for every flow of the integration (see {@link closedStatesOf}).
 */
export const DEFAULT_CLOSED_STATES: ClosedStates = {
  incident: TICKET_TABLE_SPECS.incident.doneStates,
  problem: TICKET_TABLE_SPECS.problem.doneStates,
  change_request: TICKET_TABLE_SPECS.change_request.doneStates,
};

/** True when `table` is one of the ticket tables. */
export function isTicketTable(table: string): table is TicketTable {
  return (TICKET_TABLES as readonly string[]).includes(table);
}

/**
 * The label of a state value (the raw value when unknown).
 *
 * @example
 * stateLabel('problem', '103') // 'Root Cause Analysis'
 */
export function stateLabel(table: TicketTable, state: string): string {
  return TICKET_TABLE_SPECS[table].states[state] ?? state;
}

/**
 * True when the ticket is no longer being worked: one of its table's closed states, as
 * configured (`closedStates`) or out of the box.
 */
export function isClosedState(
  table: TicketTable,
  state: string,
  closedStates: ClosedStates = DEFAULT_CLOSED_STATES,
): boolean {
  return closedStates[table].includes(state);
}

/**
 * The closed states in force for an integration: the configured ones where the configuration
 * has a ticket-sync section, the registry's otherwise. One answer for every flow.
 */
export function closedStatesOf(configured: ClosedStates | undefined): ClosedStates {
  return configured ?? DEFAULT_CLOSED_STATES;
}

/** How Snowline closes tickets (the `close` section, defaults applied). */
export interface ClosePolicy {
  readonly incidentCloseCode: string;
  readonly problemResolutionCode: 'fix_applied' | 'risk_accepted' | 'canceled';
  readonly notes: string;
}

/** One PATCH of a closing sequence, or a work note when the ticket can not be closed by a transition. */
export type CloseStep =
  | { readonly kind: 'update'; readonly values: Readonly<Record<string, string>> }
  | { readonly kind: 'note'; readonly values: Readonly<Record<string, string>> };

/**
 * The updates that resolve a ticket from its current state, per table:
 * - incident → 6 Resolved with `close_code` and `close_notes` (403 Data Policy without them);
 * - problem → 106 Resolved with `resolution_code` and the notes it needs, walking the state
 *   model one allowed transition at a time (101 → 102 → 103 → 106; 104 → 106);
 * - change_request → 4 Canceled with `close_notes`; from Review (0) a work note only, because
 *   a change can not be canceled from Review and closing it claims an implementation.
 * Empty when the ticket is already in one of `closedStates`.
 */
export function closeSteps(
  table: TicketTable,
  state: string,
  policy: ClosePolicy,
  closedStates: ClosedStates = DEFAULT_CLOSED_STATES,
): CloseStep[] {
  if (isClosedState(table, state, closedStates)) return [];
  const notes = policy.notes;
  switch (table) {
    case 'incident':
      return [
        { kind: 'update', values: { state: '6', close_code: policy.incidentCloseCode, close_notes: notes } },
      ];
    case 'problem': {
      const resolve: Record<string, string> = {
        state: '106',
        resolution_code: policy.problemResolutionCode,
        close_notes: notes,
        cause_notes: notes,
        fix_notes: notes,
      };
      const path: Record<string, string[]> = { '101': ['102', '103'], '102': ['103'], '103': [], '104': [] };
      const steps = (path[state] ?? []).map((next): CloseStep => ({
        kind: 'update',
        values: { state: next },
      }));
      return [...steps, { kind: 'update', values: resolve }];
    }
    case 'change_request':
      if (state === '0') return [{ kind: 'note', values: { work_notes: notes } }];
      return [{ kind: 'update', values: { state: '4', close_notes: notes } }];
  }
}

/**
 * The update that reopens a ticket Snowline resolved, or undefined when the table's state model
 * has no way back (a Closed incident, a Closed problem, a Canceled change): then a new ticket
 * is opened instead.
 */
export function reopenUpdate(
  table: TicketTable,
  state: string,
  note: string,
): Record<string, string> | undefined {
  if (table === 'incident' && state === '6') return { state: '2', work_notes: note };
  if (table === 'problem' && state === '106') return { state: '103', work_notes: note };
  return undefined;
}
