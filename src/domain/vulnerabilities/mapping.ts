import { contentHash } from '../hash.js';
import { toSnDateTime } from '../time.js';
import type { SeverityBand } from './lifecycle.js';
import type { DeviceCve } from './records.js';

/**
 * Pure mapping of Defender for IoT CVEs to Vulnerability Response records, written as a scanner
 * integration writes them (ServiceNow/ServiceNowDocs
 * markdown/security-management/vulnerability-response/vr-detections-rt-vi-states.md): an
 * `sn_vul_nvd_entry` per CVE id, one
 * `sn_vul_detection` per (CI, CVE, source). The vulnerable item follows from the detections
 * (the platform's rollup), so nothing here writes `sn_vul_vulnerable_item`.
 */

/** CVSS v3 qualitative severity (the NVD's words). */
export type CvssSeverity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'NONE';

/**
 * The CVSS v3 severity of a base score: 0 None, 0.1–3.9 Low, 4.0–6.9 Medium, 7.0–8.9 High,
 * 9.0–10.0 Critical. Undefined for a missing or out-of-range score.
 *
 * @example
 * cvssSeverity(9.8) // 'CRITICAL'
 */
export function cvssSeverity(score: number | undefined): CvssSeverity | undefined {
  if (score === undefined || !Number.isFinite(score) || score < 0 || score > 10) return undefined;
  if (score === 0) return 'NONE';
  if (score < 4) return 'LOW';
  if (score < 7) return 'MEDIUM';
  if (score < 9) return 'HIGH';
  return 'CRITICAL';
}

/** ServiceNow caps string fields; summaries longer than this are cut (UNVERIFIED length: 4000 is the platform's default for long strings). */
const SUMMARY_MAX = 4000;

/** The band of a CVSS severity, in the words VR's severity choices use. */
const BAND: Record<CvssSeverity, SeverityBand> = {
  CRITICAL: 'Critical',
  HIGH: 'High',
  MEDIUM: 'Medium',
  LOW: 'Low',
  NONE: 'None',
};

/**
 * The `sn_vul_nvd_entry` values Defender gives for a CVE, as ServiceNow's own Defender for IoT
 * (Azure) VR integration maps them (ServiceNow/ServiceNowDocs
 * markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md):
 * `id`; `summary` from the description; `score` from the score; Exploit exists (`exploit`) and
 * `public_exploit` set when the data says an exploit exists. Plus `severity`, the stored choice
 * value of the score's CVSS v3 band (`severity`, see lifecycle.ts severityChoices). Fields the
 * source did not give are left out, so a write never blanks what the NVD import put there.
 *
 * @example
 * nvdEntryValues({ id: 'CVE-2021-44228', score: 10, description: 'Log4Shell' }, DOCUMENTED_SEVERITY)
 * // { id: 'CVE-2021-44228', summary: 'Log4Shell', score: '10.0', severity: '1' }
 */
export function nvdEntryValues(
  cve: DeviceCve,
  severity: Readonly<Record<SeverityBand, string>>,
): Record<string, string> {
  const values: Record<string, string> = { id: cve.id };
  const summary = cve.description?.trim();
  if (summary) values.summary = summary.slice(0, SUMMARY_MAX);
  const band = cvssSeverity(cve.score);
  if (band && cve.score !== undefined) {
    values.score = cve.score.toFixed(1);
    values.severity = severity[BAND[band]];
  }
  if (cve.exploit) {
    values.exploit = EXPLOIT_YES;
    values.public_exploit = 'true';
  }
  return values;
}

/**
 * Exploit exists (`exploit`) is a choice stored as 1 (Yes) / 2 (No): "exploitAvailable | exploit
 * | YES=1, NO=2" (ServiceNow/ServiceNowDocs
 * markdown/security-management/vulnerability-response/aws-inspector-mapping.md).
 * `public_exploit` is written true: the Azure page sets it to "Yes" and documents no values
 * (UNVERIFIED: its type).
 */
const EXPLOIT_YES = '1';

/** The NVD entry fields {@link nvdEntryValues} may write (read back to compare). */
export const NVD_FIELDS = ['summary', 'score', 'severity', 'exploit', 'public_exploit'] as const;

/**
 * The values of an NVD entry Snowline creates: Defender's, with `source` "NVD" as the vendor
 * integration sets it (support-for-msft-defender-iot-azure.md: "This field is set to NVD by
 * default").
 */
export function newNvdEntryValues(values: Readonly<Record<string, string>>): Record<string, string> {
  return { ...values, source: 'NVD' };
}

/**
 * What Snowline writes on an NVD entry it did not create (the instance's NVD import, or another
 * scanner, owns it): only the fields that are empty there. Empty when nothing is missing.
 */
export function missingFields(
  wanted: Readonly<Record<string, string>>,
  current: Readonly<Record<string, unknown>>,
): Record<string, string> {
  const fill: Record<string, string> = {};
  for (const [field, value] of Object.entries(wanted)) {
    const now = current[field];
    if (field !== 'id' && (now === undefined || now === null || now === '')) fill[field] = value;
  }
  return fill;
}

/** The content hash of an NVD entry's values: equal means the entry needs no write. */
export function nvdEntryHash(values: Readonly<Record<string, string>>): string {
  return contentHash({ nvd: values });
}

/**
 * The fields of `current` (a record as read from ServiceNow) that differ from `wanted`, for a
 * PATCH that changes only what changed. Empty when nothing would change.
 */
export function changedFields(
  wanted: Readonly<Record<string, string>>,
  current: Readonly<Record<string, unknown>>,
): Record<string, string> {
  const changes: Record<string, string> = {};
  for (const [field, value] of Object.entries(wanted)) {
    const now = current[field];
    const text = typeof now === 'string' ? now : now === undefined || now === null ? '' : String(now);
    if (!sameValue(field, text, value)) changes[field] = value;
  }
  return changes;
}

function sameValue(field: string, current: string, wanted: string): boolean {
  if (current === wanted) return true;
  // Scores come back as the instance formats decimals ("9.80" or "9.8").
  if (field.endsWith('_score') && current !== '' && Number(current) === Number(wanted)) return true;
  return false;
}

/** What identifies a detection: the integration, the CI, the CVE and the detection source. */
export interface DetectionIdentity {
  readonly integrationId: string;
  readonly ciSysId: string;
  readonly cveId: string;
  readonly source: string;
}

/**
 * The stable `detection_key` Snowline writes on each detection: the integration, the CI, the CVE
 * and a short digest of the source name (which may be long), at most 130 characters.
 * Two runs (or two crashed attempts) for the same detection always compute the same key.
 *
 * @example
 * detectionKey({ integrationId: 'plant-a', ciSysId: 'a1…', cveId: 'CVE-2021-44228', source: 'Microsoft Defender for IoT' })
 * // 'plant-a:a1…:CVE-2021-44228:Xw3…'
 */
export function detectionKey(identity: DetectionIdentity): string {
  return [
    identity.integrationId,
    identity.ciSysId,
    identity.cveId,
    contentHash({ source: identity.source }).slice(0, 8),
  ].join(':');
}

/**
 * The key of a (device, CVE) pair in Snowline's own state (entity `detection`): `CVE@device`.
 * A CVE id never contains `@`, so the pair splits back unambiguously.
 */
export function detectionEntityKey(deviceKey: string, cveId: string): string {
  return `${cveId}@${deviceKey}`;
}

/** The (device, CVE) pair of a {@link detectionEntityKey}. */
export function parseDetectionEntityKey(key: string): { deviceKey: string; cveId: string } {
  const at = key.indexOf('@');
  return { cveId: key.slice(0, at), deviceKey: key.slice(at + 1) };
}

/** What a detection says about its CVE on its device: the evidence a person reads. */
export function detectionProof(sourceName: string, cve: DeviceCve, ipAddress?: string): string {
  const facts = [
    cve.score === undefined ? undefined : `CVSS ${cve.score.toFixed(1)}`,
    cve.attackVector ? `attack vector ${cve.attackVector}` : undefined,
    ipAddress ? `address ${ipAddress}` : undefined,
  ].filter((f): f is string => f !== undefined);
  return `${sourceName} reports ${cve.id} on this device${facts.length ? ` (${facts.join(', ')})` : ''}.`;
}

/** What Snowline writes on a detection apart from its status and times. */
export interface DetectionContent {
  readonly ciSysId: string;
  readonly cve: DeviceCve;
  readonly source: string;
  readonly ipAddress?: string;
}

/** The content hash of a detection: equal means nothing but the times would change. */
export function detectionHash(content: DetectionContent): string {
  return contentHash({
    detection: {
      ci: content.ciSysId,
      cve: content.cve.id,
      source: content.source,
      ip: content.ipAddress,
      proof: detectionProof(content.source, content.cve, content.ipAddress),
    },
  });
}

/**
 * The `sn_vul_detection` values of a new detection: open, found now, found once, with its
 * detection key written in the same call that creates it (so a crash cannot leave an unkeyed one).
 */
export function newDetectionValues(
  identity: DetectionIdentity,
  content: DetectionContent,
  vulnerabilitySysId: string,
  openStatus: string,
  now: Date,
): Record<string, string> {
  const at = toSnDateTime(now);
  return {
    cmdb_ci: identity.ciSysId,
    vulnerability: vulnerabilitySysId,
    source: identity.source,
    // The source's own key where it has one (Resource Graph `name`, as the vendor maps it), else Snowline's.
    detection_key: content.cve.detectionKey ?? detectionKey(identity),
    status: openStatus,
    first_found: at,
    last_found: at,
    times_found: '1',
    ...(content.ipAddress ? { ip_address: content.ipAddress } : {}),
    proof: detectionProof(content.source, content.cve, content.ipAddress),
  };
}

/**
 * The values that record one more sighting of an existing detection (and reopen it when closed).
 * `timesFoundBefore` undefined: the sighting is not a new one (a re-send of a write Snowline did
 * not record), so `times_found` is left as it is.
 */
export function sightingValues(
  content: DetectionContent,
  openStatus: string,
  timesFoundBefore: number | undefined,
  now: Date,
): Record<string, string> {
  return {
    status: openStatus,
    last_found: toSnDateTime(now),
    ...(timesFoundBefore === undefined ? {} : { times_found: String(Math.max(0, timesFoundBefore) + 1) }),
    ...(content.ipAddress ? { ip_address: content.ipAddress } : {}),
    proof: detectionProof(content.source, content.cve, content.ipAddress),
  };
}
