/**
 * Out-of-box reference records the emulated instance seeds: OT device types, CSDM life-cycle
 * stages and statuses, the ISA-95 equipment-model template, system properties and Table
 * Cleanup rules. One list per kind, read by the seeding code and by the payload builders in
 * `examples.ts`, so the two never disagree.
 *
 * Each record gets a stable sys_id ({@link baselineSysId}). A real instance also ships its
 * out-of-box records with fixed sys_ids, but those are not published: a client must look them up
 * by name, and tests that name a sys_id directly only prove something about the sandbox.
 */
import { createHash } from 'node:crypto';

/**
 * The stable sys_id of a baseline record: a hash of its table and natural key.
 *
 * @example
 * baselineSysId('cmdb_ot_entity_type', 'PLC'); // same 32 hex characters on every run
 */
export function baselineSysId(table: string, key: string): string {
  return createHash('sha256').update(`snowline-sandbox-baseline:${table}:${key}`).digest('hex').slice(0, 32);
}

/** One `cmdb_ot_entity_type` record: `name` and `label` are the same text. */
export interface OtEntityTypeSeed {
  readonly name: string;
  /** The OT class whose CIs default to this type (`ot_table`). UNVERIFIED per type. */
  readonly otTable?: string;
}

/**
 * OT device types. The first nine were seeded before (common OT functions, plus the "No OT
 * Function" and "Unknown" choices of the Class Mappings form: [SND]
 * markdown/operational-technology/operational-technology-manager/sgc-microsoft-d4iot-azure-classes.md).
 * The rest are the distinct "NOW OT type" values of the connector's device-subtype table ([SND]
 * markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md,
 * table_gth_v4f_d1c; NULL/NA/empty left out). That table writes the IED type as "ied": the
 * existing "IED" record stands for it.
 */
export const otEntityTypes: readonly OtEntityTypeSeed[] = [
  { name: 'PLC', otTable: 'cmdb_ci_ot_plc' },
  { name: 'HMI', otTable: 'cmdb_ci_ot_hmi' },
  { name: 'EWS', otTable: 'cmdb_ci_ot_ews' },
  { name: 'Historian', otTable: 'cmdb_ci_ot_historian' },
  { name: 'RTU', otTable: 'cmdb_ci_ot_rtu' },
  { name: 'IED', otTable: 'cmdb_ci_ot_ied' },
  { name: 'DCS', otTable: 'cmdb_ci_ot_dcs' },
  { name: 'No OT Function' },
  { name: 'Unknown' },
  { name: 'OT Control System', otTable: 'cmdb_ci_ot_control' },
  { name: 'OT Field Device', otTable: 'cmdb_ci_ot_field_device' },
  { name: 'Industrial Robot', otTable: 'cmdb_ci_ot_industrial_robot' },
  { name: 'Industrial Sensor', otTable: 'cmdb_ci_ot_industrial_sensor' },
  { name: 'Industrial Actuator', otTable: 'cmdb_ci_ot_industrial_actuator' },
  { name: 'OT Control Module', otTable: 'cmdb_ci_ot_control_module' },
  { name: 'Industrial Drive', otTable: 'cmdb_ci_ot_industrial_drive' },
  { name: 'Operational Technology (OT)', otTable: 'cmdb_ci_ot' },
];

/** The sys_id of a seeded `cmdb_ot_entity_type` by name. */
export function otEntityTypeSysId(name: string): string {
  return baselineSysId('cmdb_ot_entity_type', name);
}

/** One CSDM life-cycle stage and the statuses it allows. */
export interface LifeCycleStageSeed {
  readonly name: string;
  readonly statuses: readonly string[];
}

/**
 * Tangible/physical life-cycle stages and statuses as the CSDM defines them ([SND]
 * markdown/servicenow-platform/common-service-data-model-csdm/csdm-lifecycle-df-tangible-physical.md).
 * Operational also gets the two learning-mode statuses the Defender for IoT connector uses for a
 * sensor: "Learning" on the mapping page ([SND]
 * markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md,
 * row properties.learningMode) and "Learning Mode" on the validation page ([SND]
 * markdown/operational-technology/operational-technology-manager/validate-nids-appliances-sgc-msft-d4iot-azure.md).
 * The docs disagree, so both exist. UNVERIFIED: whether either ships with the platform or with
 * the connector.
 */
export const lifeCycleStages: readonly LifeCycleStageSeed[] = [
  { name: 'Ideation', statuses: ['Under Evaluation', 'Pilot'] },
  { name: 'Purchase', statuses: ['On Order', 'Preallocated'] },
  { name: 'Design', statuses: ['Design', 'Chartered', 'Build'] },
  {
    name: 'Inventory',
    statuses: ['Available', 'Reserved', 'Preallocated', 'Pending Repair', 'Legal Hold', 'Quarantine'],
  },
  { name: 'Deploy', statuses: ['In Stock', 'Reserved', 'Pending Transfer', 'In Transit', 'Test'] },
  {
    name: 'Operational',
    statuses: [
      'Pending Fulfillment',
      'In Use',
      'In Maintenance',
      'End of Support',
      'Pending Retirement',
      'Learning',
      'Learning Mode',
    ],
  },
  {
    name: 'End of Operation',
    statuses: [
      'Pending Evaluation',
      'Pending Return',
      'In Transit',
      'Pending Resale',
      'Pending Certificate',
      'Pending Disposal',
      'Pending Donation',
      'On Hold',
    ],
  },
  { name: 'Defective', statuses: ['In Stock', 'In Transit'] },
  { name: 'Missing', statuses: ['Lost', 'Stolen'] },
  {
    name: 'End of Life',
    statuses: [
      'Pending Disposal',
      'In Transit',
      'Pending Certificate',
      'Disposed',
      'Donated',
      'RMA',
      'Sold',
      'Vendor Credit',
      'Buyout',
      'Lease Return',
    ],
  },
];

/** The sys_id of a seeded `life_cycle_stage` by name. */
export function lifeCycleStageSysId(stage: string): string {
  return baselineSysId('life_cycle_stage', stage);
}

/** The sys_id of a seeded `life_cycle_stage_status`: names repeat across stages, so both are needed. */
export function lifeCycleStatusSysId(stage: string, status: string): string {
  return baselineSysId('life_cycle_stage_status', `${stage}/${status}`);
}

/** One level of the equipment-model template and the level types under it. */
export interface IsaLevelSeed {
  readonly name: string;
  readonly order: number;
  readonly types: readonly string[];
}

/**
 * The default ISA-95 equipment-model template: "the levels shown here (area, work center, and
 * work units) are included in the base system" and "the types shown here (process cell,
 * production unit, production line, and storage zone) are included in the base system" ([SND]
 * markdown/operational-technology/operational-technology-manager/ot-use-case.md). Each level's
 * parent is the one before it. The types sit under Work Center as in the level-type example of
 * [SND] markdown/operational-technology/industrial-process-manager/create-equipment-model-template-type.md
 * (which names them "Production Cell, Production Unit, Production Zone, Storage Zone"; the base
 * system list above is used). UNVERIFIED: the template's name.
 */
export const isaTemplate: { readonly name: string; readonly levels: readonly IsaLevelSeed[] } = {
  name: 'ISA-95',
  levels: [
    { name: 'Area', order: 1, types: [] },
    {
      name: 'Work Center',
      order: 2,
      types: ['Process Cell', 'Production Unit', 'Production Line', 'Storage Zone'],
    },
    { name: 'Work Unit', order: 3, types: [] },
  ],
};

/** One `sys_properties` record. */
export interface SystemPropertySeed {
  readonly name: string;
  readonly value: string;
  readonly type: string;
  readonly description: string;
}

/**
 * Properties the sandbox's behaviour reads. The three class properties and
 * `glide.reconciliation.override.null` are on the Identification/Reconciliation properties page
 * with default true ([SND]
 * markdown/servicenow-platform/configuration-management-database-cmdb/properties-id-reconciliation.md).
 * The `glide.identification_engine.update_without_*_enabled` properties are read too, but not
 * seeded: that page says to add them to sys_properties (absent means false).
 */
export const systemProperties: readonly SystemPropertySeed[] = [
  {
    name: 'glide.class.upgrade.enabled',
    value: 'true',
    type: 'true|false',
    description: 'Allow class upgrade during IRE identification and reconciliation.',
  },
  {
    name: 'glide.class.downgrade.enabled',
    value: 'true',
    type: 'true|false',
    description: 'Allow class downgrades during IRE identification and reconciliation.',
  },
  {
    name: 'glide.class.switch.enabled',
    value: 'true',
    type: 'true|false',
    description: 'Allow class switching during IRE identification and reconciliation.',
  },
  {
    // Same page: read by the static reconciliation rules (reconcile.ts).
    name: 'glide.reconciliation.override.null',
    value: 'true',
    type: 'true|false',
    description: 'Allow the update of an empty field by a lower priority data source.',
  },
];

/** One Table Cleanup (`sys_auto_flush`) rule. Column names UNVERIFIED (only labels are documented). */
export interface TableCleanupSeed {
  readonly tablename: string;
  readonly matchfield: string;
  readonly age: number;
}

/**
 * Table Cleanup rules. "Any device-to-device connection record with a Last Communication Time
 * stamp of 90 days or longer is deleted", configurable in Table Cleanup with "Age in seconds"
 * default 7,776,000 ([SND]
 * markdown/operational-technology/operational-technology-manager/view-device-to-device-connections.md).
 * The match field is the sandbox's `last_communication` column, whose name is UNVERIFIED.
 */
export const tableCleanupRules: readonly TableCleanupSeed[] = [
  { tablename: 'sn_ot_device_network_connection', matchfield: 'last_communication', age: 7_776_000 },
];
