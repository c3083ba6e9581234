import { z } from 'zod';
import { enabled, schedule } from '../../config/common.js';

/** `flows.otVulnerabilities`: the configuration section of flow ot-vulnerabilities (composed by config/schema.ts). */
export const otVulnerabilitiesSection = z
  .strictObject({
    enabled,
    schedule,
    source: z.enum(['console', 'sensor', 'resourceGraph']).meta({
      description:
        'Where CVEs per device come from: the management console integration API v3 `devicecves` (defender.console, incremental), the OT sensor API `/api/v1/devices/cves` (defender.sensors, keyed by IP), or Azure Resource Graph (UNVERIFIED: Microsoft documents no per-device CVE table; see docs/ot-vulnerabilities.md).',
      examples: ['console'],
    }),
    sourceName: z
      .string()
      .min(1)
      .max(100)
      .default('Microsoft Defender for IoT')
      .meta({
        description:
          'The `source` written on every detection. One detection exists per (CI, CVE, source): keep it stable, changing it starts a second set of detections.',
        examples: ['Microsoft Defender for IoT'],
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
      .default(false)
      .meta({
        description:
          'Also write sn_vul_vulnerable_item (create, close as Fixed or CI Decommissioned, reopen), for instances that do not roll detections up into items. Off: the platform owns the item.',
        examples: [false],
      }),
  })
  .meta({
    description:
      'Flow ot-vulnerabilities: Defender for IoT CVEs per device → Vulnerability Response (NVD entries and detections; the platform rolls detections up into vulnerable items).',
  });

/** The flow's configuration section (`flows.otVulnerabilities`), with defaults applied. */
export type OtVulnerabilitiesConfig = z.output<typeof otVulnerabilitiesSection>;
