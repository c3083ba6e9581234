/**
 * The lifecycle of a detection, and which vulnerable items a person owns. Pure: the flow feeds
 * it what it knows (its own state, or what it read from ServiceNow) and executes the decision.
 */

/**
 * The numeric codes Vulnerability Response uses, read from `sys_choice` at the start of a run
 * (UNVERIFIED: ServiceNow's docs name the substates, e.g. Fixed, Stale, but not their values, so
 * none is hard-coded).
 */
export interface VrChoices {
  readonly detectionStatus: { readonly open: string; readonly fixed: string; readonly stale: string };
  readonly itemState: { readonly open: string; readonly deferred: string; readonly closed: string };
  readonly itemSubstate: {
    readonly fixed: string;
    readonly decommissioned: string;
    readonly falsePositive: string;
    readonly riskAccepted: string;
  };
  /** The stored `sn_vul_entry.severity` value per CVSS band ({@link severityChoices}). */
  readonly severity: Readonly<Record<SeverityBand, string>>;
}

/** The bands of VR's normalized severity, in the CVSS v3 words. */
export type SeverityBand = 'Critical' | 'High' | 'Medium' | 'Low' | 'None';

/**
 * VR's severity choices as documented: "1- Critical, 2 - High, 3 - Medium, 4 - Low, 5 - None"
 * (ServiceNow/ServiceNowDocs markdown/security-management/vulnerability-response/create-severity-map.md),
 * stored as the leading number (the AWS Inspector mapping writes CRITICAL → 1 … :
 * aws-inspector-mapping.md). Used where the instance's `sys_choice` does not list a band.
 */
export const DOCUMENTED_SEVERITY: Readonly<Record<SeverityBand, string>> = {
  Critical: '1',
  High: '2',
  Medium: '3',
  Low: '4',
  None: '5',
};

/**
 * The stored severity value per band, from `sn_vul_entry.severity` choices matched by label with
 * their number prefix dropped (`1- Critical` → critical); bands the instance does not list take
 * the documented value; `overrides` (`flows.otVulnerabilities.severityMap`) win over both.
 *
 * @example
 * severityChoices([{ name: 'sn_vul_entry', element: 'severity', value: '1', label: '1- Critical' }])
 * // { Critical: '1', High: '2', Medium: '3', Low: '4', None: '5' }
 */
export function severityChoices(
  rows: readonly ChoiceRow[],
  overrides: Partial<Record<SeverityBand, string>> = {},
): Record<SeverityBand, string> {
  const result = { ...DOCUMENTED_SEVERITY };
  for (const band of Object.keys(result) as SeverityBand[]) {
    const row = rows.find(
      (r) =>
        r.name === 'sn_vul_entry' &&
        r.element === 'severity' &&
        r.label
          .trim()
          .toLowerCase()
          .replace(/^\d+\s*-\s*/, '') === band.toLowerCase(),
    );
    if (row) result[band] = row.value;
    const override = overrides[band];
    if (override) result[band] = override;
  }
  return result;
}

/** A `sys_choice` row as read (`name`, `element`, `value`, `label`). */
export interface ChoiceRow {
  readonly name: string;
  readonly element: string;
  readonly value: string;
  readonly label: string;
}

/** The tables and fields whose choices a run reads. */
export const VR_CHOICE_FIELDS = [
  ['sn_vul_entry', 'severity'],
  ['sn_vul_detection', 'status'],
  ['sn_vul_vulnerable_item', 'state'],
  ['sn_vul_vulnerable_item', 'substate'],
] as const;

const WANTED = {
  detectionStatus: {
    table: 'sn_vul_detection',
    element: 'status',
    labels: { open: 'open', fixed: 'fixed', stale: 'stale' },
  },
  itemState: {
    table: 'sn_vul_vulnerable_item',
    element: 'state',
    labels: { open: 'open', deferred: 'deferred', closed: 'closed' },
  },
  itemSubstate: {
    table: 'sn_vul_vulnerable_item',
    element: 'substate',
    labels: {
      fixed: 'fixed',
      decommissioned: 'ci decommissioned',
      falsePositive: 'false positive',
      riskAccepted: 'risk accepted',
    },
  },
} as const;

/**
 * Finds the codes by their labels (case and spacing ignored). Returns the labels it could not
 * find, as `table.element = Label`, when the instance lacks some (Vulnerability Response not
 * installed, or renamed choices).
 *
 * @example
 * vrChoicesFrom(rows) // { choices: { detectionStatus: { open: '0', … }, … } } or { missing: ['sn_vul_detection.status = Stale'] }
 */
export function vrChoicesFrom(
  rows: readonly ChoiceRow[],
  severityOverrides: Partial<Record<SeverityBand, string>> = {},
):
  | { readonly choices: VrChoices; readonly missing?: undefined }
  | { readonly choices?: undefined; readonly missing: string[] } {
  const norm = (text: string) => text.trim().toLowerCase().replace(/\s+/g, ' ');
  const missing: string[] = [];
  const found: Record<string, Record<string, string>> = {};
  for (const [group, spec] of Object.entries(WANTED)) {
    found[group] = {};
    for (const [key, label] of Object.entries(spec.labels)) {
      const row = rows.find(
        (r) => r.name === spec.table && r.element === spec.element && norm(r.label) === label,
      );
      if (row) found[group]![key] = row.value;
      else missing.push(`${spec.table}.${spec.element} = ${label.replace(/\b\w/g, (c) => c.toUpperCase())}`);
    }
  }
  if (missing.length) return { missing };
  return {
    choices: { ...(found as unknown as VrChoices), severity: severityChoices(rows, severityOverrides) },
  };
}

/** A detection's status in the words of the lifecycle. */
export type DetectionStatus = 'open' | 'fixed' | 'stale' | 'other';

/** The lifecycle status of a detection's `status` code. */
export function detectionStatusOf(code: string | undefined, choices: VrChoices): DetectionStatus {
  if (code === choices.detectionStatus.open) return 'open';
  if (code === choices.detectionStatus.fixed) return 'fixed';
  if (code === choices.detectionStatus.stale) return 'stale';
  return 'other';
}

/**
 * Why a vulnerable item is a person's to decide, or undefined when the integration may act on
 * it: Deferred, or Closed as False Positive or Risk Accepted. Snowline then leaves its
 * detections alone, whatever Defender reports.
 */
export function personOwnedReason(
  item: { readonly state?: string; readonly substate?: string },
  choices: VrChoices,
): string | undefined {
  if (item.state === choices.itemState.deferred)
    return 'the vulnerable item is Deferred: a person decided, so its detection is left alone';
  if (item.state === choices.itemState.closed) {
    if (item.substate === choices.itemSubstate.falsePositive)
      return 'the vulnerable item was closed as False Positive by a person, so its detection is left alone';
    if (item.substate === choices.itemSubstate.riskAccepted)
      return 'the vulnerable item was closed as Risk Accepted by a person, so its detection is left alone';
  }
  return undefined;
}

/** What Snowline knows about one detection when it decides. */
export interface KnownDetection {
  /** Its status (from Snowline's state, or as read from ServiceNow). */
  readonly status: DetectionStatus;
  /** The content hash recorded at the last write, if Snowline wrote it. */
  readonly hash?: string;
  /** When Snowline last wrote it. */
  readonly lastWrittenAt?: Date;
}

/** Why a detection should be closed. */
export type CloseReason = 'notReported' | 'deviceRetired';

/** The decision for one detection. `unchanged` sends nothing. */
export type DetectionDecision =
  | { readonly action: 'create' | 'update' | 'reopen' | 'resolve'; readonly reason: string }
  | { readonly action: 'unchanged' };

/** The inputs of {@link decideDetection}. */
export interface DetectionSituation {
  /** `open` when Defender reports the CVE on the device; else why it should be closed. */
  readonly wanted: 'open' | CloseReason;
  readonly known: KnownDetection | undefined;
  /** The content hash of what Snowline would write now (for `open`). */
  readonly hash?: string;
  readonly now: Date;
  /**
   * A detection still reported but not written for this long gets its `last_found` refreshed, so
   * the platform's auto-close (90 days by default) never marks a CVE stale that Defender still
   * reports. Between refreshes an unchanged detection costs no request.
   */
  readonly refreshAfterMs: number;
}

/**
 * Decides what to do with one detection.
 *
 * @example
 * decideDetection({ wanted: 'open', known: undefined, now, refreshAfterMs }) // { action: 'create', … }
 * decideDetection({ wanted: 'notReported', known: { status: 'open' }, now, refreshAfterMs }) // { action: 'resolve', … }
 */
export function decideDetection(situation: DetectionSituation): DetectionDecision {
  const { wanted, known } = situation;
  if (wanted !== 'open') {
    if (known?.status !== 'open') return { action: 'unchanged' };
    return {
      action: 'resolve',
      reason:
        wanted === 'deviceRetired'
          ? 'the device was retired (CI decommissioned): its detection is closed'
          : 'Defender no longer reports this CVE on the device: its detection is closed (the item closes as Fixed)',
    };
  }
  if (!known)
    return { action: 'create', reason: 'Defender reports a CVE on the device that has no detection yet' };
  if (known.status === 'fixed' || known.status === 'stale')
    return {
      action: 'reopen',
      reason: `Defender reports the CVE again after its detection was closed as ${known.status === 'fixed' ? 'Fixed' : 'Stale'}: the detection is opened again`,
    };
  if (known.status === 'other')
    return { action: 'update', reason: 'the detection has a status Snowline does not know: it is set open' };
  if (known.hash !== situation.hash)
    return { action: 'update', reason: 'the CVE details or the device address changed in Defender' };
  const age = known.lastWrittenAt ? situation.now.getTime() - known.lastWrittenAt.getTime() : Infinity;
  if (age >= situation.refreshAfterMs)
    return {
      action: 'update',
      reason: 'still reported by Defender: last found is refreshed so that auto-close does not mark it Stale',
    };
  return { action: 'unchanged' };
}
