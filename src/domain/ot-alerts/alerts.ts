import { createHash } from 'node:crypto';
import { integrationCorrelationPrefix } from '../tickets/rules.js';
import { ALERT_INCIDENT_TABLES, TICKET_TABLE_SPECS, type RegisteredTable } from '../tickets/tables.js';

/**
 * Pure rules of flow ot-alerts: what an OT alert is across Defender's sources, which rule covers
 * it, which ticket it belongs to, the ticket's correlation id and content, and how severities map
 * to impact and urgency. No I/O.
 *
 * Sources of the alert fields (docs/research/ot-alerts-facts.md, section B):
 * - Azure: Azure/azure-rest-api-specs
 *   specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/alerts.json
 *   (`AlertPropertiesModel`: alertType, startTimeUtc, extendedProperties, severity
 *   Informational|Low|Medium|High, status New|InProgress|Closed) and the workbook queries of
 *   MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/workbooks.md
 *   (displayName, extendedProperties.SensorId / SourceDeviceAddress / DestinationDeviceAddress).
 * - Sensor: MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/api/sensor-alert-apis.md
 *   (severity Warning|Minor|Major|Critical, engine, sourceDevice / destinationDevice; v2 adds the
 *   addresses and remediationSteps).
 * - Console: the same docs' management-alert-apis.md (adds sensor, zone and site names, handled).
 */

/** The tables an alert ticket may open in: incident, or the OT and security incident tables. */
export const ALERT_TICKET_TABLES = ['incident', ...ALERT_INCIDENT_TABLES] as const;

/** One of the alert ticket tables. */
export type AlertTicketTable = (typeof ALERT_TICKET_TABLES)[number];

/** The Defender source an alert was read from. */
export type AlertSourceKind = 'resourceGraph' | 'sensor' | 'console';

/** The severities of the sensor and console APIs (sensor-alert-apis.md). */
export const SENSOR_SEVERITIES = ['Warning', 'Minor', 'Major', 'Critical'] as const;

/** The severities of the Azure alert model (2021-07-01-preview alerts.json `AlertSeverity`). */
export const AZURE_SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;

/** Every severity an OT alert can carry, both scales. */
export const ALERT_SEVERITIES = [...SENSOR_SEVERITIES, ...AZURE_SEVERITIES] as const;

/** One severity of either scale. */
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/**
 * The Azure severity a sensor severity is shown as: High = Critical, Medium = Major, Low = Minor
 * and Warning (MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/alert-engine-messages.md,
 * "Alert severities"). Azure severities map to themselves.
 *
 * @example
 * azureSeverityOf('Major') // 'Medium'
 */
export function azureSeverityOf(severity: string): string {
  const bySensor: Record<string, string> = {
    Critical: 'High',
    Major: 'Medium',
    Minor: 'Low',
    Warning: 'Low',
  };
  return bySensor[severity] ?? severity;
}

/** An OT alert as every source gives it to the flow. */
export interface OtAlert {
  /** The alert's stable key in its source: Azure resource id (lower case), `<sensor>/<id>`, console UUID. */
  readonly key: string;
  readonly source: AlertSourceKind;
  readonly title: string;
  readonly message?: string | undefined;
  /** As the source reports it (either scale). */
  readonly severity: string;
  /** Sensor/console engine (Protocol Violation, Policy Violation, Malware, Anomaly, Operational). */
  readonly engine?: string | undefined;
  /** Azure `alertType`; for the sensor and console, which name no type, the title. */
  readonly alertType: string;
  /** When the alert was raised (ISO 8601). */
  readonly raisedAt: string;
  /** Open in Defender (New / InProgress, unhandled) or closed (Closed, handled). */
  readonly open: boolean;
  readonly sensor?: string | undefined;
  readonly site?: string | undefined;
  readonly zone?: string | undefined;
  readonly protocol?: string | undefined;
  readonly sourceAddress?: string | undefined;
  readonly destinationAddress?: string | undefined;
  /** Device ids in the source's own terms (a sensor's numeric id, an Azure device name). */
  readonly sourceDeviceId?: string | undefined;
  readonly destinationDeviceId?: string | undefined;
  readonly remediationSteps?: readonly string[] | undefined;
}

/** How alerts are gathered into tickets. */
export type AlertGrouping = 'none' | 'device' | 'alertType' | 'device+alertType';

/** One alert rule (the `flows.otAlerts.rules[]` entry, defaults applied). */
export interface AlertRule {
  readonly name: string;
  readonly when: {
    readonly severities?: readonly string[] | undefined;
    /** Sensor engines or Azure alert types (case-insensitive). */
    readonly engines?: readonly string[] | undefined;
    readonly alertTypes?: readonly string[] | undefined;
    readonly sites?: readonly string[] | undefined;
    readonly zones?: readonly string[] | undefined;
  };
  /** False: alerts this rule matches get no ticket (matched first, so it silences them). */
  readonly ticket: boolean;
  readonly table: AlertTicketTable;
  readonly grouping: AlertGrouping;
  /** Alerts of a group within this many minutes of its ticket's last alert join that ticket. */
  readonly windowMinutes: number;
  readonly assignmentGroup?: string | undefined;
}

/**
 * The first rule whose every condition holds for the alert, or undefined. Absent conditions match
 * anything; comparisons ignore case; a severity condition matches either scale (a rule on `High`
 * covers a sensor's `Critical`, alert-engine-messages.md).
 *
 * @example
 * matchAlertRule(rules, alert)?.name // 'critical-ot'
 */
export function matchAlertRule<R extends AlertRule>(rules: readonly R[], alert: OtAlert): R | undefined {
  const has = (list: readonly string[] | undefined, ...values: (string | undefined)[]): boolean =>
    list === undefined ||
    list.some((item) =>
      values.some((value) => value !== undefined && item.toLowerCase() === value.toLowerCase()),
    );
  return rules.find(
    (rule) =>
      has(rule.when.severities, alert.severity, azureSeverityOf(alert.severity)) &&
      has(rule.when.engines, alert.engine) &&
      has(rule.when.alertTypes, alert.alertType, alert.title) &&
      has(rule.when.sites, alert.site) &&
      has(rule.when.zones, alert.zone),
  );
}

/**
 * The device an alert is about, for grouping: the device ot-inventory knows (its key) when it was
 * recognised, else the sensor and the source address, else the sensor alone.
 */
export function alertDeviceRef(alert: OtAlert, inventoryKey: string | undefined): string {
  if (inventoryKey) return `dev:${inventoryKey}`;
  if (alert.sourceAddress) return `addr:${alert.sensor ?? ''}/${alert.sourceAddress}`;
  return `sensor:${alert.sensor ?? '(unknown)'}`;
}

/**
 * The key of the ticket an alert belongs to under a rule: per grouping the alert itself, the
 * device, the alert type, or both. Lower-cased (Azure ids differ in case between APIs).
 */
export function alertGroupKey(
  rule: Pick<AlertRule, 'name' | 'grouping'>,
  alert: OtAlert,
  deviceRef: string,
): string {
  const parts = (() => {
    switch (rule.grouping) {
      case 'none':
        return ['a', alert.key];
      case 'device':
        return ['d', deviceRef];
      case 'alertType':
        return ['t', alert.alertType];
      case 'device+alertType':
        return ['dt', deviceRef, alert.alertType];
    }
  })();
  return [`rule=${rule.name}`, ...parts].join('|').toLowerCase();
}

/** The prefix of every correlation id ot-alerts writes on tickets of one integration. */
export function alertCorrelationPrefix(integrationId: string): string {
  return `${integrationCorrelationPrefix(integrationId)}oa:`;
}

/**
 * The stable correlation id of an alert ticket: `snowline:<integration>:oa:` and a hash of the
 * group key and the ticket's generation (a group gets a new ticket, generation + 1, when its
 * window passed or its ticket was closed). At most 96 characters for a 63-character integration
 * id, within ServiceNow's 100.
 *
 * @example
 * alertCorrelationId('plant-a', 'rule=ot|d|dev:line-1/42', 1) // 'snowline:plant-a:oa:…'
 */
export function alertCorrelationId(integrationId: string, groupKey: string, generation: number): string {
  const hash = createHash('sha256').update(`${groupKey}#${generation}`).digest('base64url').slice(0, 20);
  return `${alertCorrelationPrefix(integrationId)}${hash}`;
}

/** Impact and urgency (1 High … 3 Low) per severity, both scales. */
export type AlertImpactUrgency = Readonly<Record<AlertSeverity, { impact: number; urgency: number }>>;

/** The default map: equal severities of the two scales (alert-engine-messages.md) get equal values. */
export const DEFAULT_ALERT_IMPACT_URGENCY: AlertImpactUrgency = {
  Critical: { impact: 1, urgency: 1 },
  High: { impact: 1, urgency: 1 },
  Major: { impact: 2, urgency: 2 },
  Medium: { impact: 2, urgency: 2 },
  Minor: { impact: 3, urgency: 2 },
  Low: { impact: 3, urgency: 2 },
  Warning: { impact: 3, urgency: 3 },
  Informational: { impact: 3, urgency: 3 },
};

/** Rank of a severity (0 highest) on the Azure scale, unknown values last. */
function rank(severity: string): number {
  const order = ['High', 'Medium', 'Low', 'Informational'];
  const at = order.indexOf(azureSeverityOf(severity));
  // Within one Azure level, Minor ranks above Warning (both Low).
  return at === -1 ? 99 : at * 2 + (severity === 'Warning' ? 1 : 0);
}

/** The highest severity among the alerts of a ticket. */
export function highestAlertSeverity(severities: readonly string[]): string {
  return severities.reduce((best, s) => (rank(s) < rank(best) ? s : best), severities[0] ?? 'Low');
}

/** What the ticket says about the device of its alerts. */
export interface AlertDevice {
  /** The CI sys_id ot-inventory wrote for the device, if it was recognised and written. */
  readonly ci?: string | undefined;
  readonly name?: string | undefined;
  /** Why no CI is linked, when none is. */
  readonly why?: string | undefined;
}

/** The fields ot-alerts owns on a ticket: written on create (later alerts are work notes). */
export interface AlertTicketContent {
  readonly short_description: string;
  readonly description: string;
  readonly impact: string;
  readonly urgency: string;
  readonly correlation_display: string;
  readonly cmdb_ci?: string;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The lines that describe one alert, in a description or a work note. */
export function alertLines(alert: OtAlert): string[] {
  const lines = [`Alert: ${alert.title} (${alert.severity}${alert.engine ? `, ${alert.engine}` : ''})`];
  lines.push(`Raised: ${alert.raisedAt}`);
  if (alert.alertType !== alert.title) lines.push(`Alert type: ${alert.alertType}`);
  const where = [
    alert.sensor ? `sensor ${alert.sensor}` : undefined,
    alert.site ? `site ${alert.site}` : undefined,
    alert.zone ? `zone ${alert.zone}` : undefined,
  ].filter(Boolean);
  if (where.length) lines.push(`Where: ${where.join(', ')}`);
  if (alert.protocol) lines.push(`Protocol: ${alert.protocol}`);
  if (alert.sourceAddress || alert.sourceDeviceId)
    lines.push(
      `Source: ${alert.sourceAddress ?? ''}${alert.sourceDeviceId ? ` (device ${alert.sourceDeviceId})` : ''}`.trim(),
    );
  if (alert.destinationAddress || alert.destinationDeviceId)
    lines.push(
      `Destination: ${alert.destinationAddress ?? ''}${alert.destinationDeviceId ? ` (device ${alert.destinationDeviceId})` : ''}`.trim(),
    );
  if (alert.message) lines.push(`Message: ${alert.message}`);
  lines.push(`Defender alert: ${alert.key}`);
  return lines;
}

/**
 * The content of a new ticket for the first alerts of a group: short description, a description
 * naming sensor, site, zone, protocol, source and destination and carrying the remediation steps,
 * impact and urgency from the highest severity, and the device's CI. Deterministic (alerts sorted
 * by time, then key).
 */
export function alertTicketContent(
  alerts: readonly OtAlert[],
  device: AlertDevice,
  options: { readonly impactUrgency: AlertImpactUrgency; readonly grouping: AlertGrouping },
): AlertTicketContent {
  const sorted = [...alerts].sort((a, b) =>
    a.raisedAt === b.raisedAt ? (a.key < b.key ? -1 : 1) : a.raisedAt < b.raisedAt ? -1 : 1,
  );
  const first = sorted[0]!;
  const severity = highestAlertSeverity(sorted.map((a) => a.severity));
  const types = [...new Set(sorted.map((a) => a.title))];
  const subject = types.length === 1 ? first.title : `${types.length} alert types`;
  const on = device.name ?? first.sourceAddress ?? first.sensor ?? 'unknown device';
  const count = sorted.length > 1 ? ` ×${sorted.length}` : '';
  const lines: string[] = [];
  lines.push(`Defender for IoT raised ${sorted.length} alert(s) (grouped by ${options.grouping}).`);
  lines.push(
    `Device: ${device.name ?? 'not recognised'}${device.ci ? '' : device.why ? ` (no CI linked: ${device.why})` : ''}`,
  );
  lines.push('');
  for (const alert of sorted) lines.push(...alertLines(alert), '');
  const steps = [...new Set(sorted.flatMap((a) => a.remediationSteps ?? []))];
  if (steps.length) {
    lines.push('Remediation steps:');
    steps.forEach((step, n) => lines.push(`${n + 1}. ${step}`));
    lines.push('');
  }
  lines.push(
    'Opened by Snowline; later alerts of the same group arrive as work notes. Resolving this ticket closes its alerts in Defender where the source allows it.',
  );
  const iu = options.impactUrgency[severity as AlertSeverity] ?? options.impactUrgency.Low;
  return {
    short_description: truncate(`[Defender for IoT] ${severity}: ${subject}${count} (${on})`, 160),
    description: lines.join('\n'),
    impact: String(iu.impact),
    urgency: String(iu.urgency),
    correlation_display: truncate(`Defender for IoT: ${subject}`, 100),
    ...(device.ci ? { cmdb_ci: device.ci } : {}),
  };
}

/** The work note that adds later alerts of a group to its open ticket. */
export function alertsWorkNote(alerts: readonly OtAlert[], why: string): string {
  const lines = [`Snowline: ${alerts.length} more Defender for IoT alert(s) of this group (${why}).`, ''];
  for (const alert of alerts) lines.push(...alertLines(alert), '');
  return lines.join('\n').trim();
}

/** True for a work note {@link alertsWorkNote} wrote (told apart by its first line). */
export function isAlertsWorkNote(note: string): boolean {
  return /^Snowline: \d+ more Defender for IoT alert\(s\) of this group/.test(note);
}

/**
 * The work note on alerts of a ticket closed in Defender first while others are still open;
 * `listed` names them, one `- <title> (<key>)` line each.
 */
export function closedFirstWorkNote(closed: number, stillOpen: number, listed: string): string {
  return `Snowline: ${closed} alert(s) of this ticket were closed in Defender for IoT; ${stillOpen} still open.\n${listed}`;
}

/** True for a work note {@link closedFirstWorkNote} wrote. */
export function isClosedFirstWorkNote(note: string): boolean {
  return /^Snowline: \d+ alert\(s\) of this ticket were closed in Defender for IoT/.test(note);
}

/** What a group's current ticket looks like to {@link placeAlerts}. */
export interface GroupTicketView {
  readonly status: 'open' | 'closed';
  readonly number: string;
  /** The latest raise time of its alerts (ISO). */
  readonly lastAlertAt: string;
  /** When it was closed (ISO), for a closed ticket. */
  readonly closedAt?: string | undefined;
}

/** Where new alerts of a group go: {@link placeAlerts}'s answer, with the reason for the plan. */
export type AlertPlacement =
  | { readonly kind: 'open'; readonly generation: 'first' | 'next'; readonly reason: string }
  | { readonly kind: 'join'; readonly reason: string }
  | { readonly kind: 'hold'; readonly reason: string };

/**
 * Where the new alerts of a group go, given its current ticket:
 * - no ticket yet → open one;
 * - an open ticket whose last alert is within the rule's window (grouping `none` has no window:
 *   each alert is its own group) → join it, as a work note (a burst is one ticket);
 * - an open ticket whose window passed → open the next one;
 * - a closed ticket, closed less than `reopenAfterMinutes` before the first new alert → hold (the
 *   alerts are noted on the closed ticket, no new ticket: the tail of a burst someone closed);
 * - a closed ticket closed longer ago → open the next one.
 *
 * @example
 * placeAlerts(undefined, '2026-01-01T00:00:00Z', { windowMinutes: 60, reopenAfterMinutes: 30 }).kind // 'open'
 */
export function placeAlerts(
  ticket: GroupTicketView | undefined,
  firstRaisedAt: string,
  policy: { readonly windowMinutes: number; readonly reopenAfterMinutes: number },
): AlertPlacement {
  if (!ticket) return { kind: 'open', generation: 'first', reason: 'first alert(s) of the group' };
  const minutes = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 60_000;
  if (ticket.status === 'open') {
    const gap = minutes(ticket.lastAlertAt, firstRaisedAt);
    if (gap <= policy.windowMinutes)
      return {
        kind: 'join',
        reason: `${ticket.number} is open and its last alert is ${Math.max(0, Math.round(gap))} min earlier (window ${policy.windowMinutes} min): added as a work note`,
      };
    return {
      kind: 'open',
      generation: 'next',
      reason: `${ticket.number} is open but its last alert is ${Math.round(gap)} min earlier, past the ${policy.windowMinutes} min window`,
    };
  }
  const since = minutes(ticket.closedAt ?? ticket.lastAlertAt, firstRaisedAt);
  if (since < policy.reopenAfterMinutes)
    return {
      kind: 'hold',
      reason: `${ticket.number} was closed ${Math.max(0, Math.round(since))} min before this alert (reopenAfterMinutes ${policy.reopenAfterMinutes}): noted on it, no new ticket`,
    };
  return {
    kind: 'open',
    generation: 'next',
    reason: `${ticket.number} was closed ${Math.round(since)} min before this alert (reopenAfterMinutes ${policy.reopenAfterMinutes})`,
  };
}

/** What closing an alert in Defender does: Azure `Closed` status or learn; console handle / handleAndLearn. */
export type DefenderCloseAction = 'close' | 'learn';

/**
 * The Defender action for a ticket's close code: the configured map (`flows.otAlerts.closeActions`,
 * matched ignoring case), else its `default`.
 *
 * @example
 * closeActionFor({ default: 'close', byCloseCode: { 'Known error': 'learn' } }, 'known error') // 'learn'
 */
export function closeActionFor(
  map: {
    readonly default: DefenderCloseAction;
    readonly byCloseCode: Readonly<Record<string, DefenderCloseAction>>;
  },
  closeCode: string | undefined,
): DefenderCloseAction {
  if (closeCode)
    for (const [code, action] of Object.entries(map.byCloseCode))
      if (code.toLowerCase() === closeCode.toLowerCase()) return action;
  return map.default;
}

/** True when an alert ticket is Resolved, Closed or Canceled in its table (the registry's done states). */
export function isAlertTicketDone(table: RegisteredTable, state: string): boolean {
  return TICKET_TABLE_SPECS[table].doneStates.includes(state);
}

/**
 * The update that resolves an alert ticket whose alerts were all closed in Defender, per table:
 * incident and sn_ot_incident → 6 Resolved with `close_code` and `close_notes` (incident: Data
 * Policy; OT incidents are resolved with a Resolution code and notes, resolve-and-close-ot-incident.md,
 * whose field names and values are UNVERIFIED and taken as incident's); sn_si_incident → 3 Closed
 * with Close code and Close notes (t_ClosingSecIncidents.md; 3 = Closed from demisto/content
 * ServiceNowv2.py). UNVERIFIED: whether an instance lets a security incident move to Closed
 * directly from an earlier NIST state (the docs close it from Review).
 */
export function alertTicketResolution(
  table: RegisteredTable,
  closeCode: string,
  notes: string,
): Record<string, string> {
  const state = table === 'sn_si_incident' ? '3' : '6';
  return { state, close_code: closeCode, close_notes: notes };
}
