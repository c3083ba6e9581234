import { z } from 'zod';
import { enabled, schedule, verify } from '../../config/common.js';

/** `flows.otVulnerabilities`: the configuration section of flow ot-vulnerabilities (composed by config/schema.ts). */
export const otVulnerabilitiesSection = z
  .strictObject({
    enabled,
    schedule,
    verify,
    source: z.enum(['console', 'sensor', 'resourceGraph']).meta({
      description:
        "Where CVEs per device come from: Azure Resource Graph (cloud-connected sensors; the device vulnerabilities ServiceNow's own Defender for IoT (Azure) VR integration reads; works with ot-inventory from `resourceGraph` or `sensor`), the OT sensor API `/api/v1/devices/cves` (defender.sensors, keyed by IP; ot-inventory from `sensor`), or the management console integration API v3 `devicecves` (retired by Microsoft on 2025-01-01; ot-inventory from `console`).",
      examples: ['resourceGraph'],
    }),
    detectionSource: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .meta({
        description:
          "The `source` written on every detection (default `Snowline`). One detection exists per (CI, CVE, source), so keep it stable: a run refuses to start when detections were written under another source. `Microsoft Azure Defender for IoT` is the value ServiceNow's own Defender for IoT (Azure) VR integration writes (support-for-msft-defender-iot-azure.md): choose it only when that integration does not run, or both write the same detections (see docs/ot-vulnerabilities.md).",
        examples: ['Snowline'],
      }),
    sourceName: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .meta({
        description:
          'Deprecated: the former name of `detectionSource` (its default was `Microsoft Defender for IoT`). Still read when `detectionSource` is not set.',
        examples: ['Microsoft Defender for IoT'],
      }),
    severityMap: z
      .strictObject({
        Critical: z.string().min(1).max(40).optional(),
        High: z.string().min(1).max(40).optional(),
        Medium: z.string().min(1).max(40).optional(),
        Low: z.string().min(1).max(40).optional(),
        None: z.string().min(1).max(40).optional(),
      })
      .optional()
      .meta({
        description:
          "The stored `severity` value written on NVD entries Snowline creates, per CVSS v3 band of Defender's score. By default read from the instance's `sys_choice` for `sn_vul_entry.severity` by label (`1- Critical`, `2 - High`, `3 - Medium`, `4 - Low`, `5 - None`: create-severity-map.md); set a band here to override it.",
        examples: [{ Critical: '1', High: '2' }],
      }),
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .meta({
        description:
          "Requests per Batch API call (NVD entries and detections); keep a call well under the instance's 30 s batch timeout.",
        examples: [100],
      }),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(4)
      .meta({
        description:
          "Batch API calls (and the reads of NVD entries, detections and vulnerable items before them) in flight at once, so a chunk of devices does not wait one round trip after another. The instance's `limits.maxInFlight` still caps the requests of all flows together; 1 sends one at a time.",
        examples: [4],
      }),
    sensorTop: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(1000)
      .meta({
        description:
          'The `top` asked of the sensor API per IP (its default is 100). A device that returns exactly this many CVEs may be truncated: the summary counts it, and CVEs missing from its list are not closed.',
        examples: [1000],
      }),
    refreshLastFoundDays: z
      .number()
      .min(1)
      .default(7)
      .meta({
        description:
          "A CVE still reported, but whose detection was not written for this many days, gets its last found refreshed. Keep it well below the instance's auto-close window (90 days by default), or CVEs Defender still reports go Stale.",
        examples: [7],
      }),
    writeVulnerableItems: z
      .boolean()
      .default(true)
      .meta({
        description:
          'Snowline pairs each detection with its vulnerable item (found by CI and vulnerability, else created) and closes, reopens it with its detections. On by default: ServiceNow documents item creation only inside integration processing (vr-detections-rt-vi-states.md), not for a detection written through the Table API, and pairing the item before the detection yields one item per (CI, vulnerability) whether or not the instance rolls detections up. Off: detections only, for instances known to roll Table API detections up.',
        examples: [true],
      }),
    requireCiMatch: z
      .boolean()
      .default(true)
      .meta({
        description:
          "Like the vendor integration's `sn_msftd4iotazvr.require_ci_match` (support-for-msft-defender-iot-azure.md): true keeps a device's CVEs pending until ot-inventory wrote its CI. false creates an unclassed hardware CI (`cmdb_ci_hardware`, through IRE, named and identified by MAC) for a device that has none and that the source names (Resource Graph), and writes its CVEs there; sources that give no device name or MAC keep them pending.",
        examples: [true],
      }),
  })
  .meta({
    description:
      'Flow ot-vulnerabilities: Defender for IoT CVEs per device → Vulnerability Response (NVD entries, detections and their vulnerable items).',
  });

/** The flow's configuration section (`flows.otVulnerabilities`), with defaults applied. */
export type OtVulnerabilitiesConfig = z.output<typeof otVulnerabilitiesSection>;

/** 0.1's default detection source, assumed for detections written before the source was recorded. */
export const LEGACY_DETECTION_SOURCE = 'Microsoft Defender for IoT';

/** The `source` written on detections: `detectionSource`, else the deprecated `sourceName`, else `Snowline`. */
export function detectionSourceOf(
  config: Pick<OtVulnerabilitiesConfig, 'detectionSource' | 'sourceName'>,
): string {
  return config.detectionSource ?? config.sourceName ?? 'Snowline';
}
