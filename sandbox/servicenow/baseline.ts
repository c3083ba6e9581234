/**
 * Out-of-box reference records the emulated instance seeds. One list per kind, read by the
 * seeding code and by the payload builders in `examples.ts`, so the two never disagree.
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
 * OT device types: common OT functions, plus the "No OT Function" and "Unknown" choices of the
 * Class Mappings form ([SND]
 * markdown/operational-technology/operational-technology-manager/sgc-microsoft-d4iot-azure-classes.md).
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
];

/** The sys_id of a seeded `cmdb_ot_entity_type` by name. */
export function otEntityTypeSysId(name: string): string {
  return baselineSysId('cmdb_ot_entity_type', name);
}
