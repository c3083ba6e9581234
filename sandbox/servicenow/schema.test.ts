import { describe, expect, it } from 'vitest';
import { Schema } from './schema.js';
import { otEntityTypes } from './baseline.js';

const schema = new Schema();

describe('dictionary', () => {
  it('every reference field points at a table the instance has', () => {
    const dangling: string[] = [];
    for (const table of schema.names())
      for (const [field, def] of schema.fields(table))
        if (def.type === 'reference' && !schema.has(def.ref ?? ''))
          dangling.push(`${table}.${field} → ${def.ref}`);
    expect(dangling).toEqual([]);
  });

  // [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md:
  // "The Manufacturer and Model ID attributes are reference attributes to the Company [core_company]
  // and Product Model [cmdb_model] tables respectively".
  it('cmdb_ci manufacturer, model_id, vendor and the life-cycle pair are references (cmdb-ci-class-models-operation-technology.md)', () => {
    const ref = (table: string, field: string): string | undefined =>
      schema.field(table, field)?.type === 'reference' ? schema.field(table, field)?.ref : undefined;
    expect(ref('cmdb_ci_ot_plc', 'manufacturer')).toBe('core_company');
    expect(ref('cmdb_ci_ot_plc', 'model_id')).toBe('cmdb_model');
    expect(ref('cmdb_ci_ot_control_module', 'vendor')).toBe('core_company');
    expect(ref('cmdb_ci_nids', 'life_cycle_stage')).toBe('life_cycle_stage');
    expect(ref('cmdb_ci_nids', 'life_cycle_stage_status')).toBe('life_cycle_stage_status');
    expect(ref('life_cycle_stage_status', 'life_cycle_stage')).toBe('life_cycle_stage');
    expect(ref('cmdb_model', 'manufacturer')).toBe('core_company');
  });

  // [SND] markdown/operational-technology/operational-technology-manager/ot-use-case.md: levels and
  // level types are records; an entity without a parent is a site.
  it('ISA entities reference their parent, level and level type (ot-use-case.md)', () => {
    expect(schema.field('cmdb_ci_ot_isa_entity', 'parent')?.ref).toBe('cmdb_ci_ot_isa_entity');
    expect(schema.field('cmdb_ci_ot_isa_entity', 'isa_entity_level')?.ref).toBe('isa_entity_level');
    expect(schema.field('cmdb_ci_ot_isa_entity', 'isa_entity_type')?.ref).toBe('isa_entity_type');
    expect(schema.field('isa_entity_level', 'parent')?.ref).toBe('isa_entity_level');
  });

  // [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-network-ids-nids-ci-extension-class.md
  // and the NIDS table of markdown/operational-technology/operational-technology-manager/sgc-microsoft-d4iot-azure-classes.md.
  it('cmdb_ci_nids has the documented columns (cmdb-network-ids-nids-ci-extension-class.md, sgc-microsoft-d4iot-azure-classes.md)', () => {
    const type = (f: string): string | undefined => schema.field('cmdb_ci_nids', f)?.type;
    expect(schema.ancestry('cmdb_ci_nids')).toContain('cmdb_ci_ids_network');
    for (const f of [
      'nids_source_name',
      'source_name',
      'network_type_assignment',
      'connection_state',
      'fqdn',
      'zone',
      'correlation_id',
      'firmware_version',
    ])
      expect(type(f), f).toBe('string');
    expect(type('validated')).toBe('boolean');
    expect(type('first_discovered')).toBe('datetime');
    expect(schema.field('cmdb_ci_nids', 'isa_entity_site')?.ref).toBe('cmdb_ci_ot_isa_entity');
  });

  // The "NOW OT type" column of table_gth_v4f_d1c in [SND]
  // markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md.
  it('seeds an OT device type for every type of the connector subtype table (attribute-mapping-sgc-msft-d4iot-azure.md)', () => {
    const names = otEntityTypes.map((t) => t.name);
    for (const t of [
      'OT Control System',
      'EWS',
      'Historian',
      'HMI',
      'IED',
      'OT Field Device',
      'Industrial Robot',
      'Industrial Sensor',
      'PLC',
      'Industrial Actuator',
      'OT Control Module',
      'Industrial Drive',
      'Operational Technology (OT)',
    ])
      expect(names).toContain(t);
    for (const t of otEntityTypes) if (t.otTable) expect(schema.has(t.otTable), t.otTable).toBe(true);
  });
});
