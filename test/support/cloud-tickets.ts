/**
 * What the cloud-tickets end-to-end suites (test/integration/cloud-tickets-*.test.ts) share: the
 * rules they configure, a run of the flow, and reads of both sandboxes' tickets and assignments.
 */
import type { LoadedConfig } from '../../src/config/load.js';
import { correlationPrefix } from '../../src/domain/tickets/rules.js';
import type { ServiceNowConnection } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import type { Store } from '../../src/store/store.js';
import type { CloudTicketsSummary } from '../../src/sync/cloud-tickets/flow.js';
import type { Sandboxes } from './sandboxes.js';
import { runOnce } from './sync.js';

/** An assessment as the Defender sandbox dumps it. */
export interface DumpAssessment {
  id: string;
  resourceId: string;
  assessmentKey: string;
  code: string;
  statusChangeDate: string;
}

/** A governance assignment as the Defender sandbox dumps it. */
export interface DumpAssignment {
  id: string;
  name: string;
  properties: {
    owner?: string;
    remediationDueDate: string;
    isGracePeriod?: boolean;
    additionalData?: { ticketNumber?: number; ticketLink?: string; ticketStatus?: string };
  };
}

/** High/Critical → one incident per recommendation (owner from the `owner` tag); Medium → a problem each. */
export const RULES = [
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

/** One cloud-tickets run (or dry run) on an open store: its summary, plan and run id. */
export async function syncCloudTickets(store: Store, loaded: LoadedConfig, dryRun = false) {
  const result = await runOnce(loaded, store, { only: ['cloud-tickets'], dryRun });
  return {
    summary: result.summary.jobs['cloud-tickets'] as CloudTicketsSummary,
    plan: result.plan,
    runId: result.summary.runId,
  };
}

export async function assessments(sandboxes: Sandboxes): Promise<DumpAssessment[]> {
  return (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments')).assessments;
}

export async function assignments(sandboxes: Sandboxes): Promise<DumpAssignment[]> {
  return (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments'))
    .governanceAssignments;
}

/** Snowline's tickets in `table` (by the sandbox integration's correlation prefix). */
export async function tickets(sn: ServiceNowConnection, table: string) {
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

export function setStatus(sandboxes: Sandboxes, id: string, code: string) {
  return sandboxes.control('defender', 'POST', '/_sandbox/assessments/status', { id, code });
}

/** Severity of each assessment key (lower case) in the sandboxes' estate. */
export function severities(sandboxes: Sandboxes): Map<string, string> {
  return new Map(sandboxes.estate.assessmentMetadata.map((m) => [m.key.toLowerCase(), m.severity]));
}

/**
 * The Unhealthy High/Critical assessments, and their (subscription, recommendation) groups:
 * what the high-critical rule opens one incident for.
 */
export async function highCritical(sandboxes: Sandboxes) {
  const severity = severities(sandboxes);
  const covered = (await assessments(sandboxes)).filter(
    (a) =>
      a.code === 'Unhealthy' && ['High', 'Critical'].includes(severity.get(a.assessmentKey.toLowerCase())!),
  );
  const groups = new Set(
    covered.map((a) => `${a.resourceId.split('/')[2]}|${a.assessmentKey}`.toLowerCase()),
  );
  return { covered, groups };
}
