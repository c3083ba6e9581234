/**
 * The data dictionary of the emulated instance: table hierarchy, field types, references, defaults,
 * choice lists, relationship types and IRE identification rules. Everything here mirrors the
 * out-of-box platform as ServiceNow's public documentation (ServiceNow/ServiceNowDocs) describes
 * it; gaps are marked UNVERIFIED and can be overridden through {@link SchemaOverrides}.
 */

/** How a field is stored and rendered. All values are strings on the wire, as on a real instance. */
export type FieldType = 'string' | 'reference' | 'boolean' | 'integer' | 'datetime' | 'journal';

/** One field of the dictionary. */
export interface FieldDef {
  readonly type: FieldType;
  /** Target table of a reference field. */
  readonly ref?: string;
  /** Value given on insert when the caller sends nothing. */
  readonly default?: string;
  /** Label, used in Data Policy messages. */
  readonly label?: string;
}

/** One table of the dictionary. */
export interface TableDef {
  readonly name: string;
  /** Display name, served as `sys_db_object.label` (the table name when absent). */
  readonly label?: string;
  readonly parent?: string;
  /** Own fields (inherited ones come from the parent chain). */
  readonly fields: Readonly<Record<string, FieldDef>>;
  /** `number` prefix (INC, PRB, ...), when the table numbers its records. */
  readonly numberPrefix?: string;
  /** Field whose value is the record's display value. */
  readonly displayField?: string;
  /**
   * An open table accepts any well-formed field name on write. UNVERIFIED: a real instance
   * silently ignores unknown fields; the CMDB and VR class models have hundreds of columns we
   * do not enumerate, so their tables are open and the task/user tables are closed.
   */
  readonly open?: boolean;
}

const S: FieldDef = { type: 'string' };
const B = (d: string): FieldDef => ({ type: 'boolean', default: d });
const I = (d = ''): FieldDef => ({ type: 'integer', default: d });
const D: FieldDef = { type: 'datetime' };
const R = (ref: string, d?: string): FieldDef =>
  d === undefined ? { type: 'reference', ref } : { type: 'reference', ref, default: d };
const J: FieldDef = { type: 'journal' };
const Sd = (d: string, label?: string): FieldDef =>
  label ? { type: 'string', default: d, label } : { type: 'string', default: d };

/** A CMDB class: open (the class models have many more columns than we list). */
const C = (name: string, parent: string, label: string, fields: Record<string, FieldDef> = {}): TableDef => ({
  name,
  label,
  parent,
  open: true,
  fields,
});

/** Fields every record has (§1.5). */
const systemFields: Record<string, FieldDef> = {
  sys_id: S,
  sys_created_on: D,
  sys_created_by: S,
  sys_updated_on: D,
  sys_updated_by: S,
  sys_mod_count: I('0'),
  sys_tags: S,
};

/** Fields of `task`, with the out-of-box defaults seen in the Table API examples. */
const taskFields: Record<string, FieldDef> = {
  sys_class_name: S,
  sys_domain: R('sys_user_group', 'global'),
  sys_domain_path: Sd('/'),
  number: S,
  short_description: S,
  description: S,
  state: S,
  active: B('true'),
  impact: Sd('3'),
  urgency: Sd('3'),
  priority: Sd('5'),
  assignment_group: R('sys_user_group'),
  assigned_to: R('sys_user'),
  opened_by: R('sys_user'),
  opened_at: D,
  closed_at: D,
  closed_by: R('sys_user'),
  close_notes: { type: 'string', label: 'Close notes' },
  correlation_id: S,
  correlation_display: S,
  work_notes: J,
  comments: J,
  comments_and_work_notes: J,
  work_notes_list: S,
  cmdb_ci: R('cmdb_ci'),
  company: R('core_company'),
  location: R('cmn_location'),
  watch_list: S,
  approval: Sd('not requested'),
  approval_history: S,
  approval_set: D,
  escalation: Sd('0'),
  reassignment_count: I('0'),
  sla_due: D,
  parent: R('task'),
  business_service: R('cmdb_ci_service'),
  contact_type: S,
  made_sla: B('true'),
  knowledge: B('false'),
  upon_approval: Sd('proceed'),
  upon_reject: Sd('cancel'),
  order: S,
  user_input: S,
  additional_assignee_list: S,
  group_list: S,
  delivery_plan: S,
  delivery_task: S,
  follow_up: D,
  due_date: D,
  expected_start: D,
  activity_due: D,
  work_start: D,
  work_end: D,
  time_worked: S,
  business_duration: S,
  calendar_duration: S,
  wf_activity: S,
  rejection_goto: S,
};

const ciFields: Record<string, FieldDef> = {
  sys_class_name: S,
  sys_domain: R('sys_user_group', 'global'),
  sys_domain_path: Sd('/'),
  name: S,
  serial_number: S,
  asset_tag: S,
  // "The Manufacturer and Model ID attributes are reference attributes to the Company
  // [core_company] and Product Model [cmdb_model] tables respectively" ([SND]
  // markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md).
  manufacturer: R('core_company'),
  model_id: R('cmdb_model'),
  model_number: S,
  // A CI's Vendor [vendor] is a "reference from core_company" ([SND]
  // markdown/it-operations-management/discovery-and-service-mapping-patterns/cassandra-discovery.md).
  vendor: R('core_company'),
  company: R('core_company'),
  location: R('cmn_location'),
  // "The Owned By, Assigned To, Managed By, and Supported By attributes are reference attributes
  // to the User [sys_user] table. The Change Group and Support Group attributes are reference
  // attributes to the Group [sys_user_group] table" ([SND] cmdb-ci-class-models-operation-technology.md);
  // columns per the Hardware table of [SND]
  // markdown/operational-technology/operational-technology-manager/sgc-microsoft-d4iot-azure-classes.md
  // (Approval group = change_control, Change Group = assignment_group).
  assigned_to: R('sys_user'),
  assignment_group: R('sys_user_group'),
  support_group: R('sys_user_group'),
  change_control: R('sys_user_group'),
  managed_by_group: R('sys_user_group'),
  managed_by: R('sys_user'),
  owned_by: R('sys_user'),
  supported_by: R('sys_user'),
  discovery_source: S,
  first_discovered: D,
  last_discovered: D,
  install_status: Sd('1'),
  operational_status: Sd('1'),
  correlation_id: S,
  short_description: S,
  ip_address: S,
  mac_address: S,
  firmware_version: S,
  cmdb_ot_entity: R('cmdb_ot_entity'),
  isa_entity_site: R('cmdb_ci_ot_isa_entity'),
  zone: S,
  // CSDM life-cycle value pair: references to the stage and status tables (labels "Life Cycle
  // Stage" / "Life Cycle Stage Status" on [SND] sgc-microsoft-d4iot-azure-classes.md, NIDS table;
  // values per [SND] markdown/servicenow-platform/common-service-data-model-csdm/csdm-lifecycle-df-tangible-physical.md).
  life_cycle_stage: R('life_cycle_stage'),
  life_cycle_stage_status: R('life_cycle_stage_status'),
  // A de-duplicated CI points at the main CI; IRE refuses references to such a duplicate ([SND]
  // markdown/servicenow-platform/configuration-management-database-cmdb/id-engine-error-messages.md, INVALID_INPUT_DATA).
  duplicate_of: R('cmdb_ci'),
};

/** Table definitions. Order does not matter; `parent` builds the hierarchy. */
const tableList: TableDef[] = [
  // ---- users, groups, roles, choices
  {
    name: 'sys_user',
    displayField: 'name',
    fields: {
      user_name: S,
      first_name: S,
      last_name: S,
      name: S,
      email: S,
      active: B('true'),
      title: S,
      department: S,
      manager: R('sys_user'),
      phone: S,
      locked_out: B('false'),
      time_zone: Sd('GMT'),
    },
  },
  {
    name: 'sys_user_group',
    displayField: 'name',
    fields: {
      name: S,
      description: S,
      manager: R('sys_user'),
      email: S,
      active: B('true'),
      parent: R('sys_user_group'),
      type: S,
    },
  },
  { name: 'sys_user_grmember', fields: { user: R('sys_user'), group: R('sys_user_group') } },
  { name: 'sys_user_role', displayField: 'name', fields: { name: S, description: S } },
  {
    name: 'sys_user_has_role',
    fields: { user: R('sys_user'), role: R('sys_user_role'), state: Sd('active') },
  },
  {
    name: 'sys_choice',
    displayField: 'label',
    fields: {
      name: S,
      element: S,
      value: S,
      label: S,
      sequence: I(),
      inactive: B('false'),
      language: Sd('en'),
      dependent_value: S,
    },
  },
  {
    name: 'sys_journal_field',
    fields: { element_id: S, element: S, name: S, value: S },
  },
  {
    name: 'sys_db_object',
    displayField: 'name',
    fields: { name: S, label: S, super_class: R('sys_db_object') },
  },
  {
    // Table Cleanup rules: rows of `tablename` whose `matchfield` is older than `age` seconds are
    // deleted by the platform's cleanup job. UNVERIFIED column names (the docs show the "Age in
    // seconds" label: [SND] markdown/operational-technology/operational-technology-manager/view-device-to-device-connections.md).
    name: 'sys_auto_flush',
    label: 'Table Cleanup',
    displayField: 'tablename',
    fields: { tablename: S, matchfield: S, age: I(), active: B('true') },
  },
  {
    // Business rules ([SND] markdown/api-reference/business-rules-classic/c_BusinessRules.md: Table,
    // When — before, after, async, display —, Insert/Update, Active, Condition, Script). Column
    // names UNVERIFIED (the page gives form labels). Stored only: the sandbox's own webhook
    // (/_sandbox/webhooks) stands in for a rule's effect.
    name: 'sys_script',
    displayField: 'name',
    fields: {
      name: S,
      collection: S,
      when: Sd('after'),
      action_insert: B('false'),
      action_update: B('false'),
      active: B('true'),
      condition: S,
      script: S,
    },
  },
  {
    // System properties the sandbox reads (baseline.ts lists them).
    name: 'sys_properties',
    displayField: 'name',
    fields: { name: S, value: S, type: Sd('string'), description: S },
  },
  {
    // Manufacturers and vendors are companies flagged as such.
    name: 'core_company',
    displayField: 'name',
    fields: { name: S, manufacturer: B('false'), vendor: B('false') },
    open: true,
  },
  {
    // Product Model, the target of cmdb_ci.model_id ([SND] cmdb-ci-class-models-operation-technology.md).
    name: 'cmdb_model',
    displayField: 'name',
    fields: { name: S, manufacturer: R('core_company'), model_number: S },
    open: true,
  },
  {
    // Hardware models: what Integration Commons' "Cleanse Hardware Model" creates or finds for a
    // model_id ([SND] markdown/servicenow-platform/cmdb-integration-commons/cmdb-rte-transforms.md).
    // UNVERIFIED: the page does not name the table; cmdb_hardware_product_model is the hardware
    // models' class under cmdb_model on every instance we know of.
    name: 'cmdb_hardware_product_model',
    parent: 'cmdb_model',
    displayField: 'name',
    fields: {},
    open: true,
  },
  { name: 'life_cycle_stage', displayField: 'name', fields: { name: S } },
  {
    // Statuses belong to a stage ("which life cycle stage status values are available for each
    // life cycle stage", [SND] markdown/servicenow-platform/common-service-data-model-csdm/csdm-lifecycle-hardware.md).
    name: 'life_cycle_stage_status',
    displayField: 'name',
    fields: { name: S, life_cycle_stage: R('life_cycle_stage') },
  },
  { name: 'cmn_location', displayField: 'name', fields: { name: S }, open: true },
  // ---- ITSM (task family)
  { name: 'task', displayField: 'number', numberPrefix: 'TASK', fields: taskFields },
  {
    name: 'incident',
    parent: 'task',
    numberPrefix: 'INC',
    fields: {
      state: Sd('1'),
      incident_state: Sd('1'),
      caller_id: R('sys_user'),
      category: Sd('inquiry'),
      subcategory: S,
      problem_id: R('problem'),
      rfc: R('change_request'),
      caused_by: R('change_request'),
      parent_incident: R('incident'),
      child_incidents: I('0'),
      resolved_by: R('sys_user'),
      resolved_at: D,
      close_code: { type: 'string', label: 'Resolution code' },
      reopen_count: I('0'),
      severity: Sd('3'),
      notify: Sd('1'),
      hold_reason: { type: 'string', label: 'On hold reason' },
      calendar_stc: S,
      business_stc: S,
      contact_type: Sd('phone'),
    },
  },
  {
    name: 'problem',
    parent: 'task',
    numberPrefix: 'PRB',
    fields: {
      state: Sd('101'),
      problem_state: Sd('101'),
      resolution_code: { type: 'string', label: 'Resolution code' },
      cause_notes: { type: 'string', label: 'Cause notes' },
      fix_notes: { type: 'string', label: 'Fix notes' },
      duplicate_of: R('problem'),
      known_error: B('false'),
      workaround: S,
      first_reported_by_task: R('task'),
      resolved_by: R('sys_user'),
      resolved_at: D,
      contact_type: Sd('phone'),
    },
  },
  {
    name: 'change_request',
    parent: 'task',
    numberPrefix: 'CHG',
    fields: {
      state: Sd('-5'),
      type: Sd('normal'),
      risk: Sd('3'),
      category: Sd('Other'),
      start_date: D,
      end_date: D,
      implementation_plan: S,
      backout_plan: S,
      test_plan: S,
      justification: S,
      on_hold: B('false'),
      on_hold_reason: S,
      close_code: { type: 'string', label: 'Close code' },
      chg_model: S,
      std_change_producer_version: S,
    },
  },
  {
    // OT Incident Management (Store app sn_ot_inc_mgmt), "OT Incidents [sn_ot_incident]" ([SND]
    // markdown/operational-technology/operational-technology-incident-management/components-installed-with-operational-technology-service-management.md);
    // number prefix OTINC (report-ot-incident.md). UNVERIFIED: the parent table (no page names it;
    // an upgrade step migrates OT incidents "from the incident table to the OT incident table",
    // configuring-operational-technology-incident-mgt.md, so it is not incident itself): task, whose
    // cmdb_ci, correlation_id, close_notes and work_notes it has. Its states are labelled as
    // incident's (operational-technology-incident-management.md); the stored values are UNVERIFIED
    // and taken as incident's 1/2/3/6/7/8. "Resolution code" is close_code's label
    // (it-service-management/incident-management/t_CreatingAUIAction.md).
    name: 'sn_ot_incident',
    parent: 'task',
    label: 'OT Incident',
    numberPrefix: 'OTINC',
    fields: {
      state: Sd('1'),
      caller_id: R('sys_user'),
      category: S,
      subcategory: S,
      hold_reason: { type: 'string', label: 'On hold reason' },
      close_code: { type: 'string', label: 'Resolution code' },
      close_notes: { type: 'string', label: 'Resolution notes' },
      resolved_by: R('sys_user'),
      resolved_at: D,
      reopen_count: I('0'),
      severity: Sd('3'),
    },
  },
  {
    // Security Incident Response (plugin com.snc.security_incident), "Security Incident[sn_si_incident]"
    // ([SND] markdown/security-management/security-incident-response/installed-with-sir.md). States:
    // initial 10 Draft (setup-assistant-reference.md); 16/18/19/3/7 are the values public
    // integrations use (demisto/content Packs/ServiceNow/Integrations/ServiceNowv2/ServiceNowv2.py,
    // TICKET_STATES); 20 Recover and 100 Review are UNVERIFIED. Close code / Close notes are the
    // Closure Information fields (t_ClosingSecIncidents.md). UNVERIFIED: the parent (task) and the
    // number prefix SIR.
    name: 'sn_si_incident',
    parent: 'task',
    label: 'Security Incident',
    numberPrefix: 'SIR',
    fields: {
      state: Sd('10'),
      substate: S,
      category: S,
      subcategory: S,
      close_code: { type: 'string', label: 'Close code' },
      risk_score: S,
      business_criticality: S,
      affected_user: R('sys_user'),
    },
  },
  {
    // Created when IRE may not reclassify a CI. Form fields: Configuration item, Short
    // description, Description, Internal payload ([SND]
    // markdown/servicenow-platform/configuration-management-database-cmdb/t_ViewReclassificationTask.md).
    // UNVERIFIED: that it extends task, and the payload column's name.
    name: 'reclassification_task',
    parent: 'task',
    label: 'Reclassification Task',
    fields: { internal_payload: S },
  },
  // ---- Vulnerability Response
  // Entry columns as the integrations' field mappings name them ([SND]
  // markdown/security-management/vulnerability-response/aws-inspector-mapping.md,
  // aws-security-hub-mapping.md ("score / v2_base_score / v3_base_score / v4_base_score —
  // Version-dependent base score"), mstvm-data-transformref.md (u_publicexploit → public_exploit,
  // u_cvssv3 → v3_base_score), and the Azure D4IoT page
  // markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md:
  // properties/score → score, source "NVD", exploittype → "Exploit exists" and public_exploit).
  // No page names a v2/v3 "base severity" column, so there is none: on these open tables such a
  // field is stored as any other undeclared one.
  {
    name: 'sn_vul_entry',
    displayField: 'id',
    open: true,
    fields: {
      id: S,
      summary: S,
      source: S,
      // A choice stored as 1–5 (labels in `choiceLists`).
      severity: { type: 'string', label: 'Severity' },
      score: S,
      v2_base_score: S,
      v3_base_score: S,
      // "Exploit exists": AWS Inspector maps exploitAvailable to it as "YES=1, NO=2".
      exploit: { type: 'string', label: 'Exploit exists' },
      // UNVERIFIED type: the Azure page sets it "to Yes"; no page lists its values.
      public_exploit: S,
      date_published: D,
      last_modified: D,
      sys_class_name: S,
    },
  },
  {
    name: 'sn_vul_nvd_entry',
    parent: 'sn_vul_entry',
    open: true,
    fields: {
      epss_score: S,
      patch_available: B('false'),
      cwe_entry: S,
    },
  },
  { name: 'sn_vul_third_party_entry', parent: 'sn_vul_entry', open: true, fields: {} },
  {
    // UNVERIFIED: whether sn_vul_vulnerable_item extends task on every release; modelled so.
    name: 'sn_vul_vulnerable_item',
    parent: 'task',
    numberPrefix: 'VIT',
    open: true,
    fields: {
      state: Sd('1'),
      substate: S,
      vulnerability: R('sn_vul_entry'),
      source: S,
      risk_score: S,
      risk_rating: S,
      // A choice stored as 1–5, like the entry's (labels in `choiceLists`).
      severity: { type: 'string', label: 'Severity' },
      first_found: D,
      last_found: D,
      last_opened: D,
      external_id: S,
      ip_address: S,
      dns: S,
      netbios: S,
      port: S,
      protocol: S,
      reopen_count: I('0'),
    },
  },
  {
    name: 'sn_vul_vulnerability',
    parent: 'task',
    numberPrefix: 'VUL',
    open: true,
    fields: { state: Sd('1'), risk_score: S, ttr_target_date: D, vulnerability: R('sn_vul_entry') },
  },
  {
    name: 'sn_vul_m2m_vul_group_item',
    fields: {
      sn_vul_vulnerability: R('sn_vul_vulnerability'),
      sn_vul_vulnerable_item: R('sn_vul_vulnerable_item'),
    },
  },
  {
    name: 'sn_vul_detection',
    open: true,
    fields: {
      vulnerable_item: R('sn_vul_vulnerable_item'),
      vulnerability: R('sn_vul_entry'),
      cmdb_ci: R('cmdb_ci'),
      status: Sd('0'),
      first_found: D,
      last_found: D,
      // "Number of times this vulnerability has been detected on this asset by the third-party
      // source" ([SND] vulnerable-item-fields.md, Detections): the source's count, stored as given.
      // No page says the platform counts it, nor gives a default. UNVERIFIED column name.
      times_found: I(),
      ip_address: S,
      dns: S,
      netbios: S,
      port: S,
      protocol: S,
      ssl: S,
      proof: S,
      detection_key: S,
      // Free text: the Azure D4IoT page says "Always set this field to Microsoft Azure Defender
      // for IoT", Claroty's "Always set to Claroty CTD", AWS's mappings a static "AWS"; no page
      // gives it a choice list or a reference table.
      source: S,
      integration_run: S,
    },
  },
  // ---- CMDB
  { name: 'cmdb_ci', label: 'Configuration Item', displayField: 'name', open: true, fields: ciFields },
  // Parents below cite the page that states them. Sources used throughout:
  // [OTM] = [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md
  //         (Classes table, "Extends" column; Form view table),
  // [IOT] = [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-iot.md ("Extends" column),
  // [TU]  = [SND] markdown/api-reference/server-api-reference/c_TableUtilsAPI.md (getHierarchy of
  //         cmdb_ci_server, getTableExtensions of cmdb_ci_computer: descendants, not direct parents),
  // labels from [SND] markdown/operational-technology/operational-technology-manager/integration-sgc-microsoft-defender-iot-azure.md.
  // "cmdbi_ci > cmdb_ci_hardware > cmdb_ci_computer > cmdb_ci_server > cmdb_ci_linux_server"
  // ([SND] markdown/platform-user-interface/r_HelpContextTypes.md) and "The Computer class is
  // extended to the Server [cmdb_ci_server] class, which is extended to the UNIX Server
  // [cmdb_ci_unix_server] class" ([SND] markdown/servicenow-platform/configuration-management-database-cmdb/c_ConfigurationManagementDatabase.md).
  C('cmdb_ci_hardware', 'cmdb_ci', 'Hardware', { serial_number_type: S }),
  // OS columns the connector writes on Computer ([SND] sgc-microsoft-d4iot-azure-classes.md).
  C('cmdb_ci_computer', 'cmdb_ci_hardware', 'Computer', {
    os: S,
    os_version: S,
    os_domain: S,
    os_address_width: S,
    host_name: S,
    cpu_core_count: S,
    ram: S,
  }),
  C('cmdb_ci_server', 'cmdb_ci_computer', 'Server'),
  C('cmdb_ci_linux_server', 'cmdb_ci_server', 'Linux Server', { os_name: S }),
  // UNVERIFIED direct parent: [TU] shows it below cmdb_ci_server.
  C('cmdb_ci_win_server', 'cmdb_ci_server', 'Windows Server'),
  C('cmdb_ci_unix_server', 'cmdb_ci_server', 'Unix Server'),
  // UNVERIFIED: [TU] shows AIX, HP-UX, Solaris and OSX below cmdb_ci_server, listed after
  // cmdb_ci_unix_server; no page names their direct parent (searched the class names with
  // "extend"/"parent"/"child"). Modelled as UNIX servers.
  C('cmdb_ci_aix_server', 'cmdb_ci_unix_server', 'AIX Server'),
  C('cmdb_ci_hpux_server', 'cmdb_ci_unix_server', 'HP-UX Server'),
  C('cmdb_ci_solaris_server', 'cmdb_ci_unix_server', 'Solaris Server'),
  C('cmdb_ci_osx_server', 'cmdb_ci_unix_server', 'OSX Server'),
  // UNVERIFIED: [TU] shows ESX below cmdb_ci_server; Hyper-V is on no page with a parent.
  C('cmdb_ci_esx_server', 'cmdb_ci_server', 'ESX Server'),
  C('cmdb_ci_hyper_v_server', 'cmdb_ci_server', 'HyperV Server'),
  // [TU] getTableExtensions('cmdb_ci_computer') lists it (UNVERIFIED: direct).
  C('cmdb_ci_handheld_computing', 'cmdb_ci_computer', 'Handheld Computing Device'),
  C('cmdb_ci_netgear', 'cmdb_ci_hardware', 'Netgear'), // [OTM]
  // "Specialization of the Network Gear [cmdb_ci_netgear] table" [OTM, Form view].
  C('cmdb_ci_ip_switch', 'cmdb_ci_netgear', 'IP Switch'),
  C('cmdb_ci_ip_router', 'cmdb_ci_netgear', 'IP Router'),
  // UNVERIFIED: searched "cmdb_ci_ip_firewall" with "extend"/"parent"; only its children are documented.
  C('cmdb_ci_ip_firewall', 'cmdb_ci_netgear', 'IP Firewall'),
  // UNVERIFIED: searched "cmdb_ci_wap_network"; no page names its parent.
  C('cmdb_ci_wap_network', 'cmdb_ci_netgear', 'Wireless Access Point'),
  // [OTM] says cmdb_ci_hardware_network_gear, a table that does not exist: read as cmdb_ci_netgear.
  C('cmdb_ci_protocol_converter', 'cmdb_ci_netgear', 'Protocol Converter'),
  C('cmdb_ci_ids_network', 'cmdb_ci_netgear', 'IDS Network'),
  {
    name: 'cmdb_ci_nids',
    label: 'Network Intrusion Detection System',
    parent: 'cmdb_ci_ids_network',
    open: true,
    // Columns of [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-network-ids-nids-ci-extension-class.md
    // (nids_source_name, network_type_assignment, isa_entity_site; correlation_id is cmdb_ci's) and
    // of the NIDS table of [SND] sgc-microsoft-d4iot-azure-classes.md (source_name "NIDS source
    // name", fqdn, zone, connection_state, validated).
    fields: {
      nids_source_name: S,
      source_name: S,
      network_type_assignment: S,
      isa_entity_site: R('cmdb_ci_ot_isa_entity'),
      connection_state: S,
      validated: B('false'),
      fqdn: S,
      // UNVERIFIED column name of the "is manager" flag.
      is_manager: B('false'),
    },
  },
  C('cmdb_ci_iot', 'cmdb_ci_hardware', 'IoT Device'), // [IOT]
  C('cmdb_ci_display', 'cmdb_ci_iot', 'Display Device'), // [IOT]
  C('cmdb_ci_imaging', 'cmdb_ci_iot', 'Imaging Device'), // [IOT]
  C('cmdb_ci_multimedia', 'cmdb_ci_iot', 'Multimedia Device'), // [IOT]
  C('cmdb_ci_stv', 'cmdb_ci_display', 'Smart Television'), // [IOT]
  C('cmdb_ci_ip_camera', 'cmdb_ci_imaging', 'IP Camera'), // [IOT]
  C('cmdb_ci_game_console', 'cmdb_ci_multimedia', 'Game Console'), // [IOT]
  // UNVERIFIED parents (searched each name with "extend"/"parent"/"child", and the CMDB tables
  // page, which gives no parents): modelled directly under Hardware. Printer and UPS may sit
  // under Computer Peripheral [cmdb_ci_peripheral], whose description mentions UPS.
  C('cmdb_ci_hvac', 'cmdb_ci_hardware', 'HVAC Equipment'),
  C('cmdb_ci_ip_phone', 'cmdb_ci_hardware', 'IP Phone'),
  C('cmdb_ci_printer', 'cmdb_ci_hardware', 'Printer'),
  C('cmdb_ci_ups', 'cmdb_ci_hardware', 'Uninterruptible Power Supply (UPS)'),
  C('cmdb_ci_ot', 'cmdb_ci_hardware', 'Operational Technology (OT)', { hardware_version: S }), // [OTM]
  C('cmdb_ci_ot_control', 'cmdb_ci_ot', 'OT Control System', {
    has_module: B('false'),
    backplane_name: S,
    backplane_id: S,
  }), // [OTM]
  C('cmdb_ci_ot_supervisory', 'cmdb_ci_ot', 'OT Supervisory System'), // [OTM]
  // UNVERIFIED: [OTM] lists its children but not its own row; the OT base class is the evident parent.
  C('cmdb_ci_ot_field_device', 'cmdb_ci_ot', 'OT Field Device', { device_type: S }),
  C('cmdb_ci_ot_system', 'cmdb_ci_ot', 'OT System'),
  C('cmdb_ci_ot_system_service', 'cmdb_ci_ot_system', 'OT System Service', { display_name: S }), // [OTM]
  // PLC key and run state ([SND] sgc-microsoft-d4iot-azure-classes.md, PLC table).
  C('cmdb_ci_ot_plc', 'cmdb_ci_ot_control', 'PLC', { switch_position: S, switch_remote_mode: S }), // [OTM]
  ...(
    [
      ['dcs', 'DCS'],
      ['dpu', 'DPU'],
      ['rtu', 'RTU'],
      ['ied', 'IED'],
      ['cnc', 'CNC'],
      ['industrial_3d_printer', 'Industrial 3D Printer'],
      ['qics', 'Quality Inspection Control System'],
      ['opc_server', 'OPC Server'],
      ['scada_server', 'SCADA Server'],
    ] as const
  ).map(([k, label]) => C(`cmdb_ci_ot_${k}`, 'cmdb_ci_ot_control', label)), // [OTM]
  // vendor is cmdb_ci's reference to core_company; rack and slot are integers in the source
  // (Azure slots[].rackNumber / slotNumber: [SND] attribute-mapping-sgc-msft-d4iot-azure.md).
  C('cmdb_ci_ot_control_module', 'cmdb_ci_ot_control', 'OT Control Module', {
    slot_number: I(),
    module_type: S,
    rack_number: I(),
  }), // [OTM]
  ...(
    [
      ['hmi', 'HMI'],
      ['ews', 'EWS'],
      ['historian', 'Historian'],
      ['opc_client', 'OPC Client'],
      ['scada_client', 'SCADA Client'],
    ] as const
  ).map(([k, label]) => C(`cmdb_ci_ot_${k}`, 'cmdb_ci_ot_supervisory', label)), // [OTM]
  ...(
    [
      ['industrial_actuator', 'Industrial Actuator'],
      ['industrial_drive', 'Industrial Drive'],
      ['industrial_robot', 'Industrial Robot'],
      ['industrial_sensor', 'Industrial Sensor'],
    ] as const
  ).map(([k, label]) => C(`cmdb_ci_ot_${k}`, 'cmdb_ci_ot_field_device', label)), // [OTM]
  { name: 'cmdb_ci_network_adapter', parent: 'cmdb_ci', open: true, fields: { cmdb_ci: R('cmdb_ci') } },
  {
    name: 'cmdb_ci_ip_address',
    parent: 'cmdb_ci',
    open: true,
    // UNVERIFIED: `owned_by_cmdb_ci` is named by the contract; `nic` is the platform's NIC reference.
    fields: { ip_version: S, nic: R('cmdb_ci_network_adapter'), owned_by_cmdb_ci: R('cmdb_ci') },
  },
  { name: 'cmdb_ci_service', parent: 'cmdb_ci', open: true, fields: {} },
  { name: 'cmdb_ci_service_auto', parent: 'cmdb_ci_service', open: true, fields: {} },
  {
    // "A record in the Equipment Model Entity table (cmdb_ci_ot_isa_entity) without a parent is
    // considered a site"; levels (isa_entity_level) and level types (isa_entity_type) are records
    // ([SND] markdown/operational-technology/operational-technology-manager/ot-use-case.md). Column
    // names UNVERIFIED (the entity form shows Parent, Entity name, Short Code, Entity type:
    // [SND] markdown/operational-technology/industrial-process-manager/create-entity-new-equipment-model.md).
    name: 'cmdb_ci_ot_isa_entity',
    parent: 'cmdb_ci_service_auto',
    open: true,
    fields: {
      parent: R('cmdb_ci_ot_isa_entity'),
      short_code: S,
      isa_entity_level: R('isa_entity_level'),
      isa_entity_type: R('isa_entity_type'),
      isa_entity_template: R('isa_entity_template'),
    },
  },
  { name: 'isa_entity_template', displayField: 'name', fields: { name: S } },
  {
    // Level form: Level name, Parent, Application, Template, Order ([SND]
    // markdown/operational-technology/industrial-process-manager/create-equipment-model-template-levels.md).
    name: 'isa_entity_level',
    displayField: 'name',
    fields: { name: S, parent: R('isa_entity_level'), template: R('isa_entity_template'), order: I() },
  },
  {
    // Level type form: Level type name, Level name, Application, Template ([SND]
    // markdown/operational-technology/industrial-process-manager/create-equipment-model-template-type.md).
    // UNVERIFIED: the level column's name.
    name: 'isa_entity_type',
    displayField: 'name',
    fields: { name: S, isa_entity_level: R('isa_entity_level'), template: R('isa_entity_template') },
  },
  {
    name: 'cmdb_rel_type',
    displayField: 'name',
    fields: { name: S, parent_descriptor: S, child_descriptor: S },
  },
  {
    name: 'cmdb_rel_ci',
    open: true,
    fields: {
      parent: R('cmdb_ci'),
      child: R('cmdb_ci'),
      type: R('cmdb_rel_type'),
      connection_strength: S,
      percent_outage: S,
      port: S,
    },
  },
  {
    name: 'sys_object_source',
    displayField: 'name',
    fields: {
      name: S,
      id: S,
      target_table: S,
      target_sys_id: S,
      last_scan: D,
      source_feed: S,
      source_recency_timestamp: D,
    },
  },
  {
    name: 'cmdb_serial_number',
    open: true,
    fields: {
      cmdb_ci: R('cmdb_ci'),
      serial_number: S,
      serial_number_type: S,
      valid: B('true'),
      absent: B('false'),
    },
  },
  {
    name: 'cmdb_ot_entity',
    displayField: 'ot_correlation_id',
    open: true,
    fields: {
      ot_device: R('cmdb_ci'),
      ot_asset_type: R('cmdb_ot_entity_type'),
      purdue_level: S,
      zone: S,
      business_criticality: S,
      isa_entity_site: R('cmdb_ci_ot_isa_entity'),
      ot_correlation_id: S,
      discovery_source_id: S,
      ire_criterion_attribute: S,
    },
  },
  {
    name: 'cmdb_ot_entity_type',
    displayField: 'name',
    fields: { label: S, name: S, ot_table: S, parent: R('cmdb_ot_entity_type') },
  },
  { name: 'cmdb_key_value', open: true, fields: { configuration_item: R('cmdb_ci'), key: S, value: S } },
  {
    name: 'cmdb_key_value_v2',
    open: true,
    fields: {
      configuration_item: R('cmdb_ci'),
      key: S,
      string_value: S,
      url_value: S,
      value_type: S,
      source_key: S,
      discovery_source: S,
    },
  },
  {
    // Column names UNVERIFIED (only labels are documented).
    name: 'sn_ot_device_network_connection',
    open: true,
    fields: {
      relationship: R('cmdb_rel_ci'),
      source_ci: R('cmdb_ci'),
      destination_ci: R('cmdb_ci'),
      source_ip: S,
      destination_ip: S,
      source_mac: S,
      destination_mac: S,
      destination_port: S,
      transport_protocol: S,
      application_protocol: S,
      source_managed_network: S,
      destination_managed_network: S,
      last_communication: D,
      discovery_source: S,
    },
  },
  { name: 'sn_ot_site_map', open: true, fields: { name: S, isa_entity_site: R('cmdb_ci_ot_isa_entity') } },
  {
    name: 'cmdb_ire_partial_payloads',
    fields: { payload: S, source_name: S, source_native_key: S, class_name: S },
  },
  // ---- Static reconciliation rules and what they read and keep ([SND]
  // markdown/servicenow-platform/configuration-management-database-cmdb/r_IWIdentAndReconcil.md:
  // "Reconciliation Definition [cmdb_reconciliation_definition]", "Data Source History
  // [cmdb_datasource_last_update]", "Data Source Staleness Definition [cmdb_datasource_staleness]").
  // The pages give form labels only (create-reconciliation-rule.md, create-reconciliation-rule-non-cmdb.md,
  // create-datasource-staleness-rule.md). Column names UNVERIFIED: `applies_to`, `discovery_source`,
  // `priority`, `attributes`, `active` are the labels' names and what two public scripts read
  // (a GlideRecord export of the rules and a CMDB-health extractor); `null_update` ("Update with
  // null") and `condition` ("Filter condition") are that export script's. "Apply to all
  // attributes" has no column: the rule leaves Attributes empty (r_ReconciliationRulesPrinciples.md,
  // example rule #3). Behaviour: reconcile.ts.
  {
    name: 'cmdb_reconciliation_definition',
    label: 'Reconciliation Definition',
    displayField: 'applies_to',
    fields: {
      applies_to: S,
      discovery_source: S,
      // UNVERIFIED default; "Smaller numbers designate higher priority" (create-reconciliation-rule.md).
      priority: I('100'),
      active: B('true'),
      /** Comma-separated element names; empty = all attributes of the class. */
      attributes: S,
      null_update: S,
      condition: S,
    },
  },
  {
    // Column names UNVERIFIED (the CMDB-health extractor's: discovery_source, class, attribute,
    // record, updated_on).
    name: 'cmdb_datasource_last_update',
    label: 'Data Source History',
    fields: { record: R('cmdb_ci'), class: S, attribute: S, discovery_source: S, updated_on: D },
  },
  {
    // Data refresh rules. Column names UNVERIFIED (labels: Applies to, Data source, Effective
    // Duration, Active). `duration` is kept as typed: "15 x" counts as 15, an invalid value as 0.
    name: 'cmdb_datasource_staleness',
    label: 'Data Source Staleness Definition',
    fields: { applies_to: S, discovery_source: S, duration: Sd('0'), active: B('true') },
  },
  // ---- Import sets
  {
    name: 'sys_import_set',
    numberPrefix: 'ISET',
    displayField: 'number',
    fields: { number: S, table_name: S, state: Sd('loaded'), mode: Sd('synchronous') },
  },
  {
    name: 'sys_import_set_row',
    open: true,
    fields: {
      sys_class_name: S,
      sys_import_set: R('sys_import_set'),
      sys_import_state: Sd('pending'),
      sys_import_state_comment: S,
      sys_target_sys_id: S,
      sys_target_table: S,
      sys_transform_map: S,
    },
  },
  {
    name: 'imp_user',
    parent: 'sys_import_set_row',
    open: true,
    fields: { first_name: S, last_name: S, user_id: S, email: S },
  },
  {
    name: 'u_employee_import_set_table',
    parent: 'sys_import_set_row',
    open: true,
    fields: { u_address: S, u_name: S, u_id: S },
  },
];

/** Resolved, queryable view over the table list. */
export class Schema {
  private readonly tables = new Map<string, TableDef>();
  private readonly fieldCache = new Map<string, ReadonlyMap<string, FieldDef>>();
  private readonly familyCache = new Map<string, ReadonlySet<string>>();

  constructor(defs: readonly TableDef[] = tableList) {
    for (const d of defs) this.tables.set(d.name, d);
  }

  /** The out-of-box dictionary less these tables and every table extending them. */
  static without(absent: readonly string[]): Schema {
    if (absent.length === 0) return new Schema();
    const full = new Schema();
    const gone = new Set(full.names().filter((t) => absent.some((a) => full.isA(t, a))));
    return new Schema(tableList.filter((d) => !gone.has(d.name)));
  }

  has(table: string): boolean {
    return this.tables.has(table);
  }

  table(name: string): TableDef | undefined {
    return this.tables.get(name);
  }

  names(): string[] {
    return [...this.tables.keys()];
  }

  private readonly ancestryCache = new Map<string, readonly string[]>();

  /** The chain `[table, parent, ..., root]` (cached: the IRE asks for it per item). */
  ancestry(table: string): readonly string[] {
    let a = this.ancestryCache.get(table);
    if (!a) {
      const out: string[] = [];
      let t: string | undefined = table;
      while (t) {
        out.push(t);
        t = this.tables.get(t)?.parent;
      }
      a = out;
      this.ancestryCache.set(table, a);
    }
    return a;
  }

  root(table: string): string {
    const a = this.ancestry(table);
    return a[a.length - 1] ?? table;
  }

  isA(table: string, ancestor: string): boolean {
    return this.ancestry(table).includes(ancestor);
  }

  /** A table and all its descendants (a query on `task` returns incidents, problems, ...). */
  family(table: string): ReadonlySet<string> {
    let f = this.familyCache.get(table);
    if (!f) {
      f = new Set(this.names().filter((n) => this.isA(n, table)));
      this.familyCache.set(table, f);
    }
    return f;
  }

  /** All fields of a table including inherited ones. */
  fields(table: string): ReadonlyMap<string, FieldDef> {
    let m = this.fieldCache.get(table);
    if (!m) {
      const out = new Map<string, FieldDef>(Object.entries(systemFields));
      for (const t of [...this.ancestry(table)].reverse()) {
        for (const [k, v] of Object.entries(this.tables.get(t)?.fields ?? {})) out.set(k, v);
      }
      m = out;
      this.fieldCache.set(table, m);
    }
    return m;
  }

  field(table: string, name: string): FieldDef | undefined {
    return this.fields(table).get(name);
  }

  private readonly openCache = new Map<string, boolean>();
  private readonly defaultsCache = new Map<string, Readonly<Record<string, string>>>();

  isOpen(table: string): boolean {
    let open = this.openCache.get(table);
    if (open === undefined) {
      open = this.ancestry(table).some((t) => this.tables.get(t)?.open === true);
      this.openCache.set(table, open);
    }
    return open;
  }

  /** Values a new record of `table` starts with (field defaults). */
  defaults(table: string): Readonly<Record<string, string>> {
    let d = this.defaultsCache.get(table);
    if (!d) {
      const out: Record<string, string> = {};
      for (const [k, def] of this.fields(table)) if (def.default !== undefined) out[k] = def.default;
      d = out;
      this.defaultsCache.set(table, d);
    }
    return d;
  }

  /** Whether `name` may be written/queried on `table`. */
  acceptsField(table: string, name: string): boolean {
    return this.fields(table).has(name) || (this.isOpen(table) && /^[a-z_][a-z0-9_]*$/.test(name));
  }

  numberPrefix(table: string): string | undefined {
    for (const t of this.ancestry(table)) {
      const p = this.tables.get(t)?.numberPrefix;
      if (p) return p;
    }
    return undefined;
  }

  displayField(table: string): string {
    for (const t of this.ancestry(table)) {
      const d = this.tables.get(t)?.displayField;
      if (d) return d;
    }
    return 'name';
  }

  /** Whether records of this table carry `sys_class_name` (class hierarchies). */
  hasClassName(table: string): boolean {
    return this.fields(table).has('sys_class_name');
  }
}

/** Relationship types seeded into `cmdb_rel_type` (§3.3). */
export const relationshipTypes: readonly string[] = [
  'Depends on::Used by',
  'Runs on::Runs',
  'Hosted on::Hosts',
  'Contains::Contained by',
  'Owns::Owned by',
  'Uses::Used by',
  'Connects to::Connected by',
  'Managed by::Manages',
  'Members::Member of',
  'Virtualized by::Virtualizes',
  'Cluster of::Cluster',
  'Provides::Provided by',
  'Defines resources for::Gets resources from',
  'Protected by::Protects',
  'Exchanges data with::Exchanges data with',
  'Allocated to::Allocated from',
  'Instantiates::Instantiated by',
  'Replicates to::Replicated by',
  'Consumes::Consumed by',
  'Registered on::Has registered',
  'IP Connection::IP Connection',
  'Detects::Detected by',
];

/** Out-of-box `cmdb_ci.discovery_source` choices; Snowline's is added by default (configurable). */
export const defaultDiscoverySources: readonly string[] = [
  'ServiceNow',
  'SCCM',
  'ImportSet',
  'Manual Entry',
  'Other Automated',
  'Service Graph Connector',
];

type ChoiceSpec = readonly [table: string, element: string, values: ReadonlyArray<readonly [string, string]>];

/** Vulnerability Response severities: value and label ([SND] create-severity-map.md). */
export const vrSeverities: ReadonlyArray<readonly [string, string]> = [
  ['1', '1- Critical'],
  ['2', '2 - High'],
  ['3', '3 - Medium'],
  ['4', '4 - Low'],
  ['5', '5 - None'],
];

/** Incident's states; OT incidents use the same labels (their values UNVERIFIED, see sn_ot_incident). */
const incidentStates: ReadonlyArray<readonly [string, string]> = [
  ['1', 'New'],
  ['2', 'In Progress'],
  ['3', 'On Hold'],
  ['6', 'Resolved'],
  ['7', 'Closed'],
  ['8', 'Canceled'],
];

/** Choice lists served by `sys_choice` (§5.2, §6). Numeric VR substates/detection statuses are UNVERIFIED. */
export const choiceLists: readonly ChoiceSpec[] = [
  [
    'task',
    'impact',
    [
      ['1', '1 - High'],
      ['2', '2 - Medium'],
      ['3', '3 - Low'],
    ],
  ],
  [
    'task',
    'urgency',
    [
      ['1', '1 - High'],
      ['2', '2 - Medium'],
      ['3', '3 - Low'],
    ],
  ],
  [
    'task',
    'priority',
    [
      ['1', '1 - Critical'],
      ['2', '2 - High'],
      ['3', '3 - Moderate'],
      ['4', '4 - Low'],
      ['5', '5 - Planning'],
    ],
  ],
  ['incident', 'state', incidentStates],
  ['incident', 'incident_state', incidentStates],
  [
    'incident',
    'hold_reason',
    [
      ['1', 'Awaiting Caller'],
      ['3', 'Awaiting Problem'],
      ['4', 'Awaiting Vendor'],
      ['5', 'Awaiting Change'],
    ],
  ],
  [
    'incident',
    'close_code',
    [
      ['Duplicate', 'Duplicate'],
      ['Known error', 'Known error'],
      ['Resolved by caller', 'Resolved by caller'],
      ['Resolved by change', 'Resolved by change'],
      ['Resolved by problem', 'Resolved by problem'],
      ['Solution provided', 'Solution provided'],
      ['Workaround provided', 'Workaround provided'],
      ['User error', 'User error'],
    ],
  ],
  [
    'problem',
    'state',
    [
      ['101', 'New'],
      ['102', 'Assess'],
      ['103', 'Root Cause Analysis'],
      ['104', 'Fix in Progress'],
      ['106', 'Resolved'],
      ['107', 'Closed'],
    ],
  ],
  [
    'problem',
    'problem_state',
    [
      ['101', 'New'],
      ['102', 'Assess'],
      ['103', 'Root Cause Analysis'],
      ['104', 'Fix in Progress'],
      ['106', 'Resolved'],
      ['107', 'Closed'],
    ],
  ],
  [
    'problem',
    'resolution_code',
    [
      ['fix_applied', 'Fix Applied'],
      ['risk_accepted', 'Risk Accepted'],
      ['duplicate', 'Duplicate'],
      ['canceled', 'Canceled'],
    ],
  ],
  [
    'change_request',
    'state',
    [
      ['-5', 'New'],
      ['-4', 'Assess'],
      ['-3', 'Authorize'],
      ['-2', 'Scheduled'],
      ['-1', 'Implement'],
      ['0', 'Review'],
      ['3', 'Closed'],
      ['4', 'Canceled'],
    ],
  ],
  [
    'change_request',
    'type',
    [
      ['normal', 'Normal'],
      ['standard', 'Standard'],
      ['emergency', 'Emergency'],
    ],
  ],
  [
    'change_request',
    'risk',
    [
      ['1', 'Very High'],
      ['2', 'High'],
      ['3', 'Moderate'],
      ['4', 'Low'],
    ],
  ],
  [
    'change_request',
    'close_code',
    [
      ['successful', 'Successful'],
      ['successful_issues', 'Successful with issues'],
      ['unsuccessful', 'Unsuccessful'],
    ],
  ],
  // OT incidents: incident's labels (operational-technology-incident-management.md); values UNVERIFIED.
  ['sn_ot_incident', 'state', incidentStates],
  // Resolution codes as resolve-and-close-ot-incident.md lists them; UNVERIFIED: stored as the label.
  [
    'sn_ot_incident',
    'close_code',
    [
      'Duplicate',
      'Known error',
      'Resolved by caller',
      'Resolved by change',
      'Resolved by problem',
      'Resolved by request',
      'Solution provided',
    ].map((label) => [label, label] as const),
  ],
  // Security incidents, NIST Stateful (setup-assistant-reference.md); 20 and 100 UNVERIFIED.
  [
    'sn_si_incident',
    'state',
    [
      ['10', 'Draft'],
      ['16', 'Analysis'],
      ['18', 'Contain'],
      ['19', 'Eradicate'],
      ['20', 'Recover'],
      ['100', 'Review'],
      ['3', 'Closed'],
      ['7', 'Cancelled'],
    ],
  ],
  // Severity as the Normalized Severity Mapping's "Target value" lists it, labels verbatim ([SND]
  // markdown/security-management/vulnerability-response/create-severity-map.md); stored as the
  // number (aws-inspector-mapping.md: CRITICAL → 1 … UNTRIAGED → 5).
  ['sn_vul_entry', 'severity', vrSeverities],
  ['sn_vul_vulnerable_item', 'severity', vrSeverities],
  // "exploitAvailable | exploit | YES=1, NO=2" ([SND] aws-inspector-mapping.md); the Azure D4IoT
  // page sets "Exploit exists" "to Yes". UNVERIFIED label case.
  [
    'sn_vul_entry',
    'exploit',
    [
      ['1', 'Yes'],
      ['2', 'No'],
    ],
  ],
  [
    'sn_vul_vulnerable_item',
    'state',
    [
      ['1', 'Open'],
      ['2', 'Under Investigation'],
      ['10', 'Awaiting Implementation'],
      ['11', 'In Review'],
      ['12', 'Deferred'],
      ['101', 'Resolved'],
      ['3', 'Closed'],
    ],
  ],
  [
    'sn_vul_vulnerable_item',
    'substate',
    [
      ['1', 'Fixed'],
      ['2', 'Stale'],
      ['3', 'CI Decommissioned'],
      ['4', 'False Positive'],
      ['5', 'Risk Accepted'],
    ],
  ],
  [
    'sn_vul_detection',
    'status',
    [
      ['0', 'Open'],
      ['1', 'Fixed'],
      ['2', 'Stale'],
    ],
  ],
  [
    'sn_vul_vulnerability',
    'state',
    [
      ['1', 'Open'],
      ['2', 'Under Investigation'],
      ['10', 'Awaiting Implementation'],
      ['11', 'In Review'],
      ['12', 'Deferred'],
      ['101', 'Resolved'],
      ['3', 'Closed'],
    ],
  ],
  [
    'cmdb_ci',
    'install_status',
    [
      ['1', 'Installed'],
      ['7', 'Retired'],
      ['100', 'Absent'],
    ],
  ],
  [
    'cmdb_ci',
    'operational_status',
    [
      ['1', 'Operational'],
      ['2', 'Non-Operational'],
      ['6', 'Retired'],
    ],
  ],
  [
    'cmdb_ci_nids',
    'network_type_assignment',
    [
      ['IT', 'IT'],
      ['OT', 'OT'],
    ],
  ],
];

/**
 * Plugins whose tables a running sandbox can switch off (`POST /_sandbox/config {absentPlugins}`):
 * the table then does not exist, and the Table API answers as an instance without the plugin.
 */
export const pluginTables: Readonly<Record<string, readonly string[]>> = {
  sn_ot_inc_mgmt: ['sn_ot_incident'],
  'com.snc.security_incident': ['sn_si_incident'],
};

/** VR numeric codes used by the rollup (UNVERIFIED values; served by `sys_choice` so clients read them). */
export const VR = {
  detectionOpen: '0',
  detectionFixed: '1',
  detectionStale: '2',
  itemOpen: '1',
  itemDeferred: '12',
  itemClosed: '3',
  substateFixed: '1',
  substateStale: '2',
  substateDecommissioned: '3',
  substateFalsePositive: '4',
  substateRiskAccepted: '5',
} as const;

/** One identifier entry of an identification rule (§3.2). */
export interface IdentifierEntry {
  readonly sysId: string;
  readonly attributes: readonly string[];
  readonly searchOnTable: string;
  /** Lookup entries search a table that references the CI (`cmdb_ci` field) instead of the CI table. */
  readonly lookup?: boolean;
}

/** One identification rule, attached to a class and inherited by its descendants. */
export interface IdentificationRule {
  readonly name: string;
  readonly appliesTo: string;
  /** Dependent rules: the class needs this relation, as the child, to an item of `dependsOn`. */
  readonly dependent?: { readonly relType: string; readonly dependsOn: string };
  readonly entries: readonly IdentifierEntry[];
  /** Classes allowed in `related[]` and the field that points back at the CI. */
  readonly related?: Readonly<Record<string, { readonly refField: string; readonly key: readonly string[] }>>;
}

const otRelated = {
  cmdb_ot_entity: { refField: 'ot_device', key: [] },
  cmdb_key_value: { refField: 'configuration_item', key: ['key'] },
  cmdb_key_value_v2: { refField: 'configuration_item', key: ['key'] },
  cmdb_serial_number: { refField: 'cmdb_ci', key: ['serial_number', 'serial_number_type'] },
} as const;

/** The OT Control Module rule's related entries are the OT rule's "minus" External system metadata [OTM]. */
const { cmdb_key_value_v2: _externalMetadata, ...controlModuleRelated } = otRelated;

/**
 * Identification rules for the classes Snowline writes and the doc examples. The Hardware rule
 * order is [DOC]; the OT, NIDS, ISA-entity and connection rules follow the contract's text, with
 * entry sys_ids generated deterministically (UNVERIFIED: real sys_ids differ per instance).
 */
export const identificationRules: readonly IdentificationRule[] = [
  {
    name: 'Hardware Rule',
    appliesTo: 'cmdb_ci_hardware',
    entries: [
      {
        sysId: '6c6eb250c3400200d8d4bea192d3ae91',
        attributes: ['serial_number', 'serial_number_type'],
        searchOnTable: 'cmdb_serial_number',
        lookup: true,
      },
      {
        sysId: '2d6eb250c3400200d8d4bea192d3ae92',
        attributes: ['serial_number'],
        searchOnTable: 'cmdb_ci_hardware',
      },
      { sysId: '556eb250c3400200d8d4bea192d3ae92', attributes: ['name'], searchOnTable: 'cmdb_ci_hardware' },
      {
        sysId: '9d6eb250c3400200d8d4bea192d3ae93',
        attributes: ['mac_address', 'name'],
        searchOnTable: 'cmdb_ci_network_adapter',
        lookup: true,
      },
    ],
    related: otRelated,
  },
  {
    name: 'OT Rule',
    appliesTo: 'cmdb_ci_ot',
    entries: [
      {
        sysId: 'a1f0c2e5c3400200d8d4bea192d3ae01',
        attributes: ['serial_number', 'serial_number_type'],
        searchOnTable: 'cmdb_serial_number',
        lookup: true,
      },
      {
        sysId: 'a1f0c2e5c3400200d8d4bea192d3ae02',
        attributes: ['serial_number'],
        searchOnTable: 'cmdb_ci_ot',
      },
      {
        sysId: 'a1f0c2e5c3400200d8d4bea192d3ae03',
        attributes: ['mac_address'],
        searchOnTable: 'cmdb_ci_network_adapter',
        lookup: true,
      },
      { sysId: 'a1f0c2e5c3400200d8d4bea192d3ae04', attributes: ['name'], searchOnTable: 'cmdb_ci_ot' },
    ],
    related: otRelated,
  },
  {
    // "The OT Control Module [cmdb_ci_ot_control_module] rule contains the following related
    // entries" ([SND] cmdb-ci-class-models-operation-technology.md, Related entries): the class has
    // a rule of its own. UNVERIFIED: its identifier entries, modelled on the OT rule's.
    name: 'OT Control Module Rule',
    appliesTo: 'cmdb_ci_ot_control_module',
    entries: [
      {
        sysId: 'a1f0c2e5c3400200d8d4bea192d3ae11',
        attributes: ['serial_number', 'serial_number_type'],
        searchOnTable: 'cmdb_serial_number',
        lookup: true,
      },
      {
        sysId: 'a1f0c2e5c3400200d8d4bea192d3ae12',
        attributes: ['serial_number'],
        searchOnTable: 'cmdb_ci_ot_control_module',
      },
      {
        sysId: 'a1f0c2e5c3400200d8d4bea192d3ae13',
        attributes: ['name'],
        searchOnTable: 'cmdb_ci_ot_control_module',
      },
    ],
    related: controlModuleRelated,
  },
  {
    name: 'NIDS Rule',
    appliesTo: 'cmdb_ci_nids',
    entries: [
      {
        sysId: 'b2f0c2e5c3400200d8d4bea192d3ae01',
        attributes: ['correlation_id'],
        searchOnTable: 'cmdb_ci_nids',
      },
      {
        sysId: 'b2f0c2e5c3400200d8d4bea192d3ae02',
        attributes: ['serial_number'],
        searchOnTable: 'cmdb_ci_nids',
      },
      { sysId: 'b2f0c2e5c3400200d8d4bea192d3ae03', attributes: ['name'], searchOnTable: 'cmdb_ci_nids' },
    ],
    related: otRelated,
  },
  {
    name: 'Network Adapter Rule',
    appliesTo: 'cmdb_ci_network_adapter',
    dependent: { relType: 'Owns::Owned by', dependsOn: 'cmdb_ci' },
    entries: [
      {
        sysId: 'c3f0c2e5c3400200d8d4bea192d3ae01',
        attributes: ['mac_address', 'name'],
        searchOnTable: 'cmdb_ci_network_adapter',
      },
      {
        sysId: 'c3f0c2e5c3400200d8d4bea192d3ae02',
        attributes: ['mac_address'],
        searchOnTable: 'cmdb_ci_network_adapter',
      },
    ],
  },
  {
    name: 'IP Address Rule',
    appliesTo: 'cmdb_ci_ip_address',
    dependent: { relType: 'Owns::Owned by', dependsOn: 'cmdb_ci' },
    entries: [
      {
        sysId: 'd4f0c2e5c3400200d8d4bea192d3ae01',
        attributes: ['ip_address'],
        searchOnTable: 'cmdb_ci_ip_address',
      },
    ],
  },
  {
    name: 'ISA Entity Rule',
    appliesTo: 'cmdb_ci_ot_isa_entity',
    entries: [
      {
        sysId: 'e5f0c2e5c3400200d8d4bea192d3ae01',
        attributes: ['name'],
        searchOnTable: 'cmdb_ci_ot_isa_entity',
      },
    ],
  },
  {
    name: 'Service Rule',
    appliesTo: 'cmdb_ci_service',
    entries: [
      { sysId: 'e5f0c2e5c3400200d8d4bea192d3ae02', attributes: ['name'], searchOnTable: 'cmdb_ci_service' },
    ],
  },
  {
    name: 'OT Device Network Connection',
    appliesTo: 'sn_ot_device_network_connection',
    entries: [
      {
        sysId: 'f6f0c2e5c3400200d8d4bea192d3ae01',
        attributes: [
          'source_ip',
          'destination_ip',
          'destination_port',
          'source_managed_network',
          'destination_managed_network',
        ],
        searchOnTable: 'sn_ot_device_network_connection',
      },
    ],
  },
];

/** Classes the IRE accepts in `items[].className`: CIs plus the non-CMDB connection table. */
export function ireClassKnown(schema: Schema, className: string): boolean {
  return (
    schema.has(className) &&
    (schema.isA(className, 'cmdb_ci') || className === 'sn_ot_device_network_connection')
  );
}

/** The nearest rule for a class (child class rules override the parent's). */
export function ruleFor(className: string, schema: Schema): IdentificationRule | undefined {
  for (const t of schema.ancestry(className)) {
    const r = identificationRules.find((x) => x.appliesTo === t);
    if (r) return r;
  }
  return undefined;
}
