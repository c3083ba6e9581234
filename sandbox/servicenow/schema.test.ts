import { describe, expect, it } from 'vitest';
import { Schema, ruleFor } from './schema.js';
import { otEntityTypes } from './baseline.js';
import { connectorTargetClasses } from './examples.js';

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

/** The expected parent of every class the connector targets. */
const parents: Readonly<Record<string, string>> = {
  cmdb_ci_iot: 'cmdb_ci_hardware',
  cmdb_ci_ot_control: 'cmdb_ci_ot',
  cmdb_ci_ot_dcs: 'cmdb_ci_ot_control',
  cmdb_ci_ot_ews: 'cmdb_ci_ot_supervisory',
  cmdb_ci_ot_historian: 'cmdb_ci_ot_supervisory',
  cmdb_ci_ot_hmi: 'cmdb_ci_ot_supervisory',
  cmdb_ci_ot_ied: 'cmdb_ci_ot_control',
  cmdb_ci_ot_field_device: 'cmdb_ci_ot',
  cmdb_ci_ot_industrial_robot: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_industrial_sensor: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_industrial_actuator: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_industrial_drive: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_plc: 'cmdb_ci_ot_control',
  cmdb_ci_ot_rtu: 'cmdb_ci_ot_control',
  cmdb_ci_ot_control_module: 'cmdb_ci_ot_control',
  cmdb_ci_ot: 'cmdb_ci_hardware',
  cmdb_ci_server: 'cmdb_ci_computer',
  cmdb_ci_ip_firewall: 'cmdb_ci_netgear',
  cmdb_ci_ip_router: 'cmdb_ci_netgear',
  cmdb_ci_ip_switch: 'cmdb_ci_netgear',
  cmdb_ci_netgear: 'cmdb_ci_hardware',
  cmdb_ci_wap_network: 'cmdb_ci_netgear',
  cmdb_ci_game_console: 'cmdb_ci_multimedia',
  cmdb_ci_hvac: 'cmdb_ci_hardware',
  cmdb_ci_ip_camera: 'cmdb_ci_imaging',
  cmdb_ci_ip_phone: 'cmdb_ci_hardware',
  cmdb_ci_printer: 'cmdb_ci_hardware',
  cmdb_ci_handheld_computing: 'cmdb_ci_computer',
  cmdb_ci_stv: 'cmdb_ci_display',
  cmdb_ci_ups: 'cmdb_ci_hardware',
  cmdb_ci_computer: 'cmdb_ci_hardware',
  cmdb_ci_win_server: 'cmdb_ci_server',
  cmdb_ci_linux_server: 'cmdb_ci_server',
  cmdb_ci_aix_server: 'cmdb_ci_unix_server',
  cmdb_ci_esx_server: 'cmdb_ci_server',
  cmdb_ci_hpux_server: 'cmdb_ci_unix_server',
  cmdb_ci_hyper_v_server: 'cmdb_ci_server',
  cmdb_ci_solaris_server: 'cmdb_ci_unix_server',
  cmdb_ci_osx_server: 'cmdb_ci_unix_server',
  cmdb_ci_unix_server: 'cmdb_ci_server',
};

// Classes: [SND] attribute-mapping-sgc-msft-d4iot-azure.md (table_gth_v4f_d1c). Parents:
// cmdb-ci-class-models-operation-technology.md and cmdb-ci-class-models-iot.md ("Extends"), the
// rest as marked UNVERIFIED in schema.ts.
describe('classes of the connector subtype table (attribute-mapping-sgc-msft-d4iot-azure.md)', () => {
  it('each exists with its parent and has an identification rule', () => {
    expect(Object.keys(parents).sort()).toEqual([...connectorTargetClasses].sort());
    for (const [cls, parent] of Object.entries(parents)) {
      expect(schema.table(cls)?.parent, cls).toBe(parent);
      expect(schema.ancestry(cls), cls).toContain('cmdb_ci_hardware');
      expect(ruleFor(cls, schema), cls).toBeDefined();
    }
  });

  // [SND] sgc-microsoft-d4iot-azure-classes.md: Computer, PLC and OT Control Module tables.
  it('computers carry the OS columns, PLCs the switch columns, control modules rack/slot/vendor/model (sgc-microsoft-d4iot-azure-classes.md)', () => {
    for (const cls of ['cmdb_ci_win_server', 'cmdb_ci_handheld_computing', 'cmdb_ci_osx_server'])
      for (const f of ['os', 'os_version', 'os_domain', 'os_address_width'])
        expect(schema.field(cls, f)?.type, `${cls}.${f}`).toBe('string');
    expect(schema.field('cmdb_ci_ot_plc', 'switch_position')).toBeDefined();
    expect(schema.field('cmdb_ci_ot_plc', 'switch_remote_mode')).toBeDefined();
    const module = (f: string): string | undefined => schema.field('cmdb_ci_ot_control_module', f)?.type;
    expect(['rack_number', 'slot_number'].map(module)).toEqual(['integer', 'integer']);
    expect(['vendor', 'model_id'].map(module)).toEqual(['reference', 'reference']);
    expect(['firmware_version', 'serial_number'].map(module)).toEqual(['string', 'string']);
  });

  // "The OT Control Module [cmdb_ci_ot_control_module] rule contains the following related
  // entries" ([SND] cmdb-ci-class-models-operation-technology.md): OT classes share the OT rule,
  // the control module has its own, IT and IoT classes use the Hardware rule.
  it('OT classes use the OT rule, control modules their own, the others the Hardware rule (cmdb-ci-class-models-operation-technology.md)', () => {
    expect(ruleFor('cmdb_ci_ot_industrial_drive', schema)?.name).toBe('OT Rule');
    expect(ruleFor('cmdb_ci_ot_control_module', schema)?.name).toBe('OT Control Module Rule');
    expect(ruleFor('cmdb_ci_ot_control_module', schema)?.related?.cmdb_key_value_v2).toBeUndefined();
    expect(ruleFor('cmdb_ci_ot_control_module', schema)?.related?.cmdb_ot_entity).toBeDefined();
    expect(ruleFor('cmdb_ci_ip_camera', schema)?.name).toBe('Hardware Rule');
    expect(ruleFor('cmdb_ci_hyper_v_server', schema)?.name).toBe('Hardware Rule');
  });
});
