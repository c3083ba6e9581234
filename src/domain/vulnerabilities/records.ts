/**
 * Canonical vulnerability records: what every Defender for IoT source (management console
 * `devicecves`, sensor `/api/v1/devices/cves`, Resource Graph) is normalised into before it is
 * mapped to Vulnerability Response. A field a source does not provide stays undefined.
 */

/** One CVE reported for a device. */
export interface DeviceCve {
  /** The CVE id, e.g. `CVE-2021-44228` (normalised with {@link normaliseCveId}). */
  readonly id: string;
  /** CVSS base score, 0–10 (the sensor and console send it as a string; sources parse it). */
  readonly score?: number;
  readonly description?: string;
  /** Defender's attack vector: `NETWORK`, `ADJACENT_NETWORK`, `LOCAL`… */
  readonly attackVector?: string;
  /**
   * True when Defender says an exploit exists (Resource Graph `properties.exploitType` other than
   * `Unknown`/`None`); undefined when the source does not say (the sensor and the console).
   */
  readonly exploit?: boolean;
  /**
   * The source's own id of this (device, CVE) record, written as the detection key where the
   * source has one (Resource Graph `name`, which ServiceNow's Azure VR integration maps to
   * `detection_key`: support-for-msft-defender-iot-azure.md).
   */
  readonly detectionKey?: string;
}

/**
 * What a source knows of a device besides its key, for recognising it in another source's
 * inventory (domain/ot/identity.ts): the sensor that sees it, its name, MAC and IP addresses.
 */
export interface DeviceClues {
  readonly sensor?: string;
  readonly name?: string;
  readonly macs: readonly string[];
  readonly ips: readonly string[];
}

/** The CVEs Defender reports for one device. */
export interface DeviceCves {
  /** The device's source key: the same key ot-inventory records for the device. */
  readonly deviceKey: string;
  readonly cves: readonly DeviceCve[];
  /** The address the CVEs were reported on (the sensor API is keyed by IP). */
  readonly ipAddress?: string;
  /**
   * True when the source may have cut the list (the sensor API returns at most `top` CVEs per
   * IP). CVEs missing from a truncated list are not taken as fixed.
   */
  readonly truncated?: boolean;
  /** Set by a source whose device keys differ from ot-inventory's: how to recognise the device there. */
  readonly clues?: DeviceClues;
}

const CVE_ID = /^CVE-\d{4}-\d{4,}$/;

/**
 * The canonical form of a CVE id (upper case, trimmed), or undefined when `value` is not one.
 *
 * @example
 * normaliseCveId(' cve-2021-44228 ') // 'CVE-2021-44228'
 * normaliseCveId('QID-1234') // undefined
 */
export function normaliseCveId(value: string | undefined | null): string | undefined {
  if (typeof value !== 'string') return undefined;
  const id = value.trim().toUpperCase();
  return CVE_ID.test(id) ? id : undefined;
}

/**
 * The CVEs of a device with one entry per CVE id (a source may repeat a CVE, e.g. once per IP of
 * the device): the first entry wins, later ones only fill what it lacks. Sorted by id, so the
 * result (and any hash of it) does not depend on the order the source used.
 */
export function distinctCves(cves: readonly DeviceCve[]): DeviceCve[] {
  const byId = new Map<string, DeviceCve>();
  for (const cve of cves) {
    const id = normaliseCveId(cve.id);
    if (!id) continue;
    const known = byId.get(id);
    byId.set(id, known ? { ...cve, ...stripUndefined(known), id } : { ...stripUndefined(cve), id });
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
