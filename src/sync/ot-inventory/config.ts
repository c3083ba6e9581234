import { z } from 'zod';
import { enabled, schedule, verify } from '../../config/common.js';

/**
 * One entry of `flows.otInventory.siteMappings`, like a row of the connector's Site Mappings table
 * (ServiceNow/ServiceNowDocs `operational-technology-manager/actively-scan-device-data-msft-azure.md`).
 */
const siteMapping = z.strictObject({
  isaEntity: z.string().min(1).meta({
    description: 'The ISA entity site (cmdb_ci_ot_isa_entity without a parent): sys_id or name.',
  }),
  location: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'cmn_location copied onto devices: sys_id or name.' }),
  company: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'core_company copied onto devices: sys_id or name.' }),
  supportGroup: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'sys_user_group copied onto devices as support_group: sys_id or name.' }),
});

/** One entry of `flows.otInventory.siteMappings`. */
export type SiteMapping = z.output<typeof siteMapping>;

/** `flows.otInventory`: the configuration section of flow ot-inventory (composed by config/schema.ts). */
export const otInventorySection = z
  .strictObject({
    enabled,
    schedule,
    verify,
    source: z.enum(['sensor', 'console', 'resourceGraph']).meta({
      description:
        'Where devices come from: the OT sensor API (defender.sensors), the management console integration API v3 (defender.console, incremental), or Azure Resource Graph (defender.subscriptions).',
      examples: ['console'],
    }),
    sensorValidation: z
      .enum(['servicenow', 'list', 'auto'])
      .default('servicenow')
      .meta({
        description:
          'Which sensors feed devices: servicenow = only sensors an admin marked validated on cmdb_ci_nids (as the Service Graph Connector does); list = the sensors named in `sensors`; auto = connected sensors not in learning mode.',
        examples: ['servicenow'],
      }),
    sensors: z
      .array(z.string().min(1))
      .default([])
      .meta({
        description: 'Sensor names that feed devices when sensorValidation is list.',
        examples: [['line-1']],
      }),
    dataSource: z
      .string()
      .min(1)
      .default('Snowline')
      .meta({
        description:
          'The cmdb_ci.discovery_source choice Snowline writes as; it must exist on the instance (IRE rejects unknown sources).',
        examples: ['Snowline'],
      }),
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .meta({
        description: 'IRE items per request (a device and its NICs, IPs and modules stay together).',
        examples: [100],
      }),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(2)
      .meta({ description: 'IRE requests in flight at once.', examples: [2] }),
    retireAfterDays: z
      .number()
      .min(0)
      .default(30)
      .meta({
        description:
          'A device not reported for this many days is retired (install status Retired), never deleted.',
        examples: [30],
      }),
    connections: z
      .union([
        z.boolean().transform((enabled) => ({ enabled, refreshDays: 7 })),
        z.strictObject({
          enabled: z
            .boolean()
            .default(true)
            .meta({ description: 'Write network connections where the source has them.' }),
          refreshDays: z.number().min(1).max(89).default(7).meta({
            description:
              "How often an unchanged connection's last_communication is rewritten from Defender's last-seen time. The instance deletes connections not communicating for 90 days (Table Cleanup), so this stays below 90.",
          }),
        }),
      ])
      .default({ enabled: true, refreshDays: 7 })
      .meta({
        description:
          'Network connections: true / false, or { enabled, refreshDays }. A connection Defender still reports has its last_communication refreshed every refreshDays; one it stopped reporting ages out on the instance.',
        examples: [{ enabled: true, refreshDays: 7 }],
      }),
    freshnessHours: z
      .number()
      .min(1)
      .default(24)
      .meta({
        description:
          "How often an unchanged device's most recent discovery (last_discovered) follows Defender's last-seen time, in hours: at most once per period per device, so CMDB health sees live devices as fresh without a write per device per run.",
        examples: [24],
      }),
    classMap: z
      .record(
        z.string(),
        z.strictObject({
          className: z
            .string()
            .regex(/^[a-z][a-z0-9_]*$/, { error: 'must be a table name like cmdb_ci_ot_plc' }),
          otAssetType: z.string().optional(),
          allowOsClassification: z.boolean().optional().meta({
            description:
              'Reclassify by operating system (a Windows Server historian becomes cmdb_ci_win_server, OT device type kept). Default for an override: false.',
          }),
        }),
      )
      .default({})
      .meta({
        description: 'Device type → CMDB class overrides of the built-in map (docs/ot-inventory.md).',
        examples: [{ 'Engineering Station': { className: 'cmdb_ci_ot_ews', otAssetType: 'EWS' } }],
      }),
    siteMappings: z
      .record(z.string().min(1), siteMapping)
      .default({})
      .meta({
        description:
          "Defender site (by name) → an existing ISA entity site on the instance, and the location, company and support group copied onto the site's devices; each by sys_id or name. Snowline then creates no ISA entity for that site. Unmapped sites are created as ISA entities named after them.",
        examples: [
          {
            Rotterdam: { isaEntity: 'Rotterdam Plant', location: 'Rotterdam', supportGroup: 'OT Rotterdam' },
          },
        ],
      }),
    purdueLayers: z
      .record(z.string(), z.number().min(0).max(5))
      .default({})
      .meta({
        description:
          'Defender Purdue layer → level overrides (defaults: Process Control 1, Supervisory 2, Enterprise 4).',
        examples: [{ Enterprise: 3.5 }],
      }),
  })
  .meta({
    description: 'Flow ot-inventory: Defender for IoT sensors, sites, devices and connections → the OT CMDB.',
  });

/** The flow's configuration section, with defaults applied. */
export type OtInventoryConfig = z.output<typeof otInventorySection>;
