/**
 * Device vulnerabilities as Resource Graph serves them in `iotsecurityresources`: one record per
 * (cloud device, CVE), built from the same CVE list the sensor API and the console's `devicecves`
 * serve ({@link DefenderState.cvesOf}).
 *
 * Sources:
 * - ServiceNow's "Vulnerability Response Integration with Microsoft Defender for IoT (Azure)"
 *   reads them from `https://management.azure.com/providers/Microsoft.ResourceGraph/resources`,
 *   api-version 2021-03-01, and maps `name` → detection_key, `properties/vulnerabilityid` → id,
 *   `properties/description` → summary, `properties/score` → score, `properties/exploittype` →
 *   exploit exists / public_exploit, and finds the CI by `deviceid` (ServiceNow/ServiceNowDocs
 *   `markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md`).
 * - The ARM model `DeviceVulnerabilityPropertiesModel` (description, publishedDate,
 *   lastModifiedDate, severity None/Low/Medium/High/Critical, score, exploitType, source,
 *   affectedVersions) — Azure/azure-rest-api-specs
 *   `specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/vulnerabilities.json`.
 * - The RBAC operation `Microsoft.IoTSecurity/locations/deviceGroups/vulnerabilities/read`
 *   "Gets device vulnerabilities" — MicrosoftDocs/azure-docs
 *   `articles/role-based-access-control/permissions/internet-of-things.md`.
 *
 * UNVERIFIED: Microsoft documents neither the Resource Graph `type` of these records nor where
 * `deviceId` sits. The type is derived from the RBAC operation path (a device group's child, not a
 * device's: the ARM REST path nests them under `devices/{deviceId}`, Resource Graph is taken to
 * flatten them), and `properties.deviceId` / `properties.vulnerabilityId` from ServiceNow's mapping
 * (the ARM model has neither). `source` is `NVD` as ServiceNow sets it (the spec's example says `Nvd`).
 */
import { createHash } from 'node:crypto';
import { ESTATE_REFERENCE_TIME, type CveInfo } from '../dataset/index.js';

/** Resource Graph `type` of device vulnerability records (UNVERIFIED, see the module comment). */
export const DEVICE_VULNERABILITY_TYPE = 'microsoft.iotsecurity/locations/devicegroups/vulnerabilities';

/** The spec's `Severity` enum. */
export type VulnerabilitySeverity = 'None' | 'Low' | 'Medium' | 'High' | 'Critical';

/**
 * The qualitative severity of a CVSS v3 base score, by the bands of the CVSS v3.1 specification
 * (FIRST, §5 "Qualitative Severity Rating Scale"): 0.0 None, 0.1–3.9 Low, 4.0–6.9 Medium,
 * 7.0–8.9 High, 9.0–10.0 Critical.
 *
 * @example
 * cvssSeverity(9.8); // 'Critical'
 */
export function cvssSeverity(score: number): VulnerabilitySeverity {
  if (!(score > 0)) return 'None';
  if (score < 4) return 'Low';
  if (score < 7) return 'Medium';
  if (score < 9) return 'High';
  return 'Critical';
}

// A fixed namespace for the name-based GUIDs below (generated once for the sandbox).
const NAME_NAMESPACE = Buffer.from('3c1f4a9e5b7d4e2a8f6c0d1e2b3a4c5d', 'hex');

/**
 * The record's `name`: a name-based GUID (RFC 9562 version 5) of the device's resource id
 * (case-insensitive, as ARM ids are) and the CVE id, so the same pair keeps the same name across
 * requests, restarts and control-API changes — ServiceNow keys its detection on it.
 *
 * @example
 * vulnerabilityName('/subscriptions/…/devices/0418f897-…', 'CVE-2017-7797'); // the same GUID on every call
 */
export function vulnerabilityName(deviceResourceId: string, cveId: string): string {
  const hash = createHash('sha1')
    .update(NAME_NAMESPACE)
    .update(`${deviceResourceId.toLowerCase()}|${cveId.toUpperCase()}`)
    .digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const DAY = 86_400_000;
// The latest year a CVE of the catalogue can carry dates in: the year before the estate's
// reference instant. Synthetic `CVE-2099-*` ids would otherwise be published in the future.
const LAST_YEAR = new Date(ESTATE_REFERENCE_TIME).getUTCFullYear() - 1;

/**
 * NVD publication and last-modification dates of a CVE. The catalogue has none, so they are
 * derived from the id: published in the id's year (capped at {@link LAST_YEAR}), modified up to
 * two years later but never after the estate's reference instant. Stable per CVE id.
 */
export function nvdDates(cveId: string): { publishedDate: string; lastModifiedDate: string } {
  let dates = datesByCve.get(cveId);
  if (!dates) datesByCve.set(cveId, (dates = deriveNvdDates(cveId)));
  return dates;
}

// Memoised per CVE id: every (device, CVE) row of a Resource Graph scan asks, the catalogue is small.
const datesByCve = new Map<string, { publishedDate: string; lastModifiedDate: string }>();

function deriveNvdDates(cveId: string): { publishedDate: string; lastModifiedDate: string } {
  const year = Math.min(Number(/^CVE-(\d{4})-/i.exec(cveId)?.[1] ?? LAST_YEAR), LAST_YEAR);
  const h = createHash('sha256').update(cveId.toUpperCase()).digest();
  const published =
    Date.UTC(year, 0, 1) + (h.readUInt16BE(0) % 365) * DAY + (h.readUInt16BE(2) % 1440) * 60_000;
  const modified = Math.min(published + (h.readUInt16BE(4) % 730) * DAY, ESTATE_REFERENCE_TIME - DAY);
  return {
    publishedDate: new Date(published).toISOString(),
    lastModifiedDate: new Date(Math.max(published, modified)).toISOString(),
  };
}

/** What a vulnerability record is built from. */
export interface DeviceVulnerabilitySource {
  /** The device record's `name` (its cloud GUID). */
  readonly deviceName: string;
  readonly cve: CveInfo;
}

/**
 * The record's `properties`: the ARM model's fields plus `deviceId` and `vulnerabilityId`, which
 * ServiceNow's mapping reads (UNVERIFIED placement, see the module comment).
 *
 * @example
 * deviceVulnerabilityProperties({ deviceName: d.uuid, cve }).severity; // 'Critical' for 9.8
 */
export function deviceVulnerabilityProperties(v: DeviceVulnerabilitySource): Record<string, unknown> {
  const score = Number(v.cve.score);
  return {
    deviceId: v.deviceName,
    vulnerabilityId: v.cve.cveId,
    description: v.cve.description,
    score,
    severity: cvssSeverity(score),
    exploitType: v.cve.exploitType ?? 'Unknown',
    ...nvdDates(v.cve.cveId),
    source: 'NVD',
    // The catalogue records vendors, not CPEs: no affected versions are claimed.
    affectedVersions: [],
  };
}
