import { CONNECTOR_CLASS_ROWS, FALLBACK_CLASS, OS_CLASS_ROWS } from '../../domain/ot/classes.js';
import { DEFAULT_LAYER_LEVELS, DEFAULT_TYPE_LEVELS } from '../../domain/ot/purdue.js';

const titleCase = (text: string) => text.replace(/\b\w/g, (c) => c.toUpperCase());

/**
 * docs/ot-inventory.md, with its mapping tables generated from the code that maps, so the page
 * can not drift from what Snowline writes (`npm run docs` rewrites it; a test fails when stale).
 */
export function renderOtInventoryReference(): string {
  const classes = CONNECTOR_CLASS_ROWS.map(
    (row) =>
      `| ${row.subType} | \`${row.className}\` | ${row.otAssetType ?? '(none)'} | ${row.designation === 'network' || row.designation === 'iot' ? 'no' : 'yes'} | ${row.erratum ? 'corrected (below)' : 'as published'} |`,
  ).join('\n');
  const osRows = OS_CLASS_ROWS.map(
    (row) =>
      `| ${row.names.join(', ')} | \`${row.className}\` | ${row.erratum ? 'corrected (below)' : 'as published'} |`,
  ).join('\n');
  const errata = [
    ...CONNECTOR_CLASS_ROWS.filter((r) => r.erratum).map((r) => `- **${r.subType}**: ${r.erratum}`),
    ...OS_CLASS_ROWS.filter((r) => r.erratum).map((r) => `- **OS row ${r.names[0]}…**: ${r.erratum}`),
  ].join('\n');
  const layers = Object.entries(DEFAULT_LAYER_LEVELS)
    .map(([layer, level]) => `| ${layer} | ${level} |`)
    .join('\n');
  const types = Object.entries(DEFAULT_TYPE_LEVELS)
    .map(([type, level]) => `| ${titleCase(type)} | ${level} |`)
    .join('\n');
  return `# Flow ot-inventory: Defender for IoT → the OT CMDB

<!-- Generated from src/domain/ot and src/sync/ot-inventory by \`npm run docs\`; do not edit by hand. -->

What the ServiceNow Service Graph Connector for Microsoft Defender for IoT does, from outside the
instance: keep the OT CMDB equal to what the sensors see. Every write goes through the
Identification and Reconciliation Engine (IRE) as the discovery source \`flows.otInventory.dataSource\`
(default \`Snowline\`, which must be a \`cmdb_ci.discovery_source\` choice on the instance).

Every mapping row below comes from the connector's own attribute-mapping pages in
[ServiceNow/ServiceNowDocs](https://github.com/ServiceNow/ServiceNowDocs):
\`markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md\`
and \`attribute-mapping-sgc-msft-d4iot-on-prem.md\`. Their tables are identical (checked on the xanadu,
yokohama, zurich and australia branches), so Snowline maps every Defender source (sensor API, management
console, Resource Graph) by the same rows; the research notes with every citation are in
[research/ot-connector-mapping.md](research/ot-connector-mapping.md) and
[research/ot-cmdb-model.md](research/ot-cmdb-model.md).

\`\`\`sh
snowline sync --job ot-inventory --dry-run   # what IRE would do, per CI, and why; writes nothing
snowline sync --job ot-inventory --json      # do it; prints the summary
\`\`\`

## Order of a run

1. **Sites** → \`cmdb_ci_ot_isa_entity\` (keyed by name; sites named only on devices are added as they appear).
   \`siteMappings\` puts a Defender site onto an ISA entity site the admins already have (by sys_id or name), as the
   connector's Site Mappings table does (\`actively-scan-device-data-msft-azure.md\`): Snowline then creates no
   entity for it, points the site's sensors and devices at it, and copies the mapping's \`location\`, \`company\`
   and \`supportGroup\` onto the devices. A mapped record that is not found is reported as an error and left out.
   A site is an ISA entity without a parent, so none is sent, and no \`isa_entity_level\` / \`isa_entity_type\`
   (those are references to the level records of an equipment-model template: \`ot-use-case.md\`).
2. **Sensors** → \`cmdb_ci_nids\` with \`correlation_id\`, fqdn, firmware, zone, site, connection state;
   learning mode → life cycle *Operational / Learning* (the validation page calls it *Learning Mode*; the first
   record found is used), else *Operational / In Use*; the sensor's NIC and IP. \`network_type_assignment\` = OT is
   sent when the sensor is created and never again: an admin sets it when validating the NIDS.
3. **Which sensors feed devices** (\`sensorValidation\`): \`servicenow\` (default) = only sensors an admin
   marked *validated* on \`cmdb_ci_nids\`, as the connector does; \`list\` = the sensors named in \`sensors\`;
   \`auto\` = connected sensors not in learning mode. Devices of other sensors are skipped, and the ledger
   records one *skip* per sensor and run.
4. **Devices** → their class (table below) with \`cmdb_ot_entity\` (OT device type, Purdue level, zone,
   criticality, site, OT discovery source id), manufacturer, OS fields on computers, PLC key and run state,
   the serial number as a \`cmdb_serial_number\` lookup (type \`system\`), vendor details in
   \`cmdb_key_value_v2\`, NICs (\`cmdb_ci_network_adapter\`)
   and IPs (\`cmdb_ci_ip_address\`) it \`Owns::Owned by\`, control modules (\`cmdb_ci_ot_control_module\`) under
   PLC, DCS, RTU, IED and DPU, and \`Detects::Detected by\` from each sensor that sees it.
5. **Retirement**: a device not reported for \`retireAfterDays\` (default 30) gets install status *Retired*;
   nothing is deleted, and a device that comes back is revived. With the incremental console source only
   devices the console reports deleted are retired (it does not repeat unchanged devices).
6. **Connections** → \`sn_ot_device_network_connection\` plus \`Connects to::Connected by\` between the two
   devices, where the source has connections and both devices have an IP.

On \`snowline worker\` processes (PostgreSQL) a run from the sensors or from Resource Graph is
split: sites and sensors (1–2) in a plan part, then one part per sensor for its devices and
connections (3, 4, 6), side by side on the workers, then retirement (5) in a sweep after the last
part. From Resource Graph the plan names the parts from the sensors it listed, plus one for the
devices of no listed sensor ([scale-out.md](scale-out.md), "Partitions").

## What is sent, and when

- Each entity is mapped to a group of IRE items and hashed; the hash is kept in the store after a write.
  An unchanged entity sends nothing, so a second run over an unchanged estate makes no write request.
- Changed groups are packed into payloads of \`batchSize\` items (default 100, up to 1000) without splitting a
  group; an item many groups share (the sensor that detects a hundred devices) is sent once per payload.
  \`concurrency\` payloads are in flight at once.
- IRE finds existing CIs through \`sys_object_source\` (source name + source key), so a payload sent again
  after a crash updates the same CI and never creates a duplicate. **The source key is the one ServiceNow's own
  connector writes where the source has it**: from Resource Graph, a device's and a sensor's Azure resource
  \`id\` ("snk in sys_object_source", also the sensor's \`correlation_id\` and the device's OT discovery source
  id: \`attribute-mapping-sgc-msft-d4iot-azure.md\`), which is what ServiceNow's Azure VR integration looks CIs
  up by (\`support-for-msft-defender-iot-azure.md\`, "CI lookup"). The sensor and console APIs have no Azure id:
  their records are keyed \`<integration>:<kind>:<Defender id>\`, as are sites.
- **Upgrading from Snowline 0.1**, which keyed Resource Graph records \`<integration>:<kind>:<id>\` too: when the
  instance holds such rows (one read per run tells, until a run finds none), each CI's \`sys_object_source\` row is moved to the Azure
  id (a PATCH through the Batch API, one ledger *update* per record) before the record is sent, so IRE finds it
  by key as before. Writing \`sys_object_source\` may need more than the CMDB roles (UNVERIFIED: no
  ServiceNowDocs page lists its ACLs; the sandbox allows only admin). If the instance refuses (403), nothing
  else is tried for a day and each CI stays written under its old key, because a new key would leave IRE to
  match by serial, MAC or name, and a device Snowline now names differently would be duplicated; each run then
  records once how many records stay under the old key. \`test/e2e/upgrade.test.ts\` runs both cases against a
  sandbox populated by the previous release.
- **Freshness.** \`last_discovered\` (*Most recent discovery*; the mapping page calls it \`most_recent_discovery\`)
  follows Defender's \`lastSeen\`, but at most once per \`freshnessHours\` (default 24) per device: an unchanged
  device whose last seen moved that far is sent as one item (found by its source key, with \`last_discovered\`
  only), packed \`batchSize\` to a request; the summary counts it as \`refreshed\`. Inside the window nothing is
  sent. IRE applies a payload \`last_discovered\` only when newer, and stamps "now" on a CI written without one
  (\`configuration-management-database-cmdb/ire.md\`), so every item Snowline sends for a device carries
  Defender's time.
- **Connections** carry \`last_communication\` = Defender's own last-seen time of the connection (never the
  time of the run), rewritten at most every \`connections.refreshDays\` (default 7). The instance deletes
  connections whose last communication is 90 days old (Table Cleanup, \`view-device-to-device-connections.md\`):
  one Defender keeps reporting stays, one it stopped reporting ages out as the platform intends.
- **References are sys_ids.** IRE takes only a sys_id for a reference field (\`c_IdentifyReconcileAPI.md\`).
  Each run reads \`cmdb_ot_entity_type\`, \`life_cycle_stage\` and \`life_cycle_stage_status\` by name, and
  \`core_company\` by vendor name (a vendor with no company is created as a manufacturer, as Integration
  Commons' *Cleanse Company* does; the ledger records it). A control module's model (\`slots[].model\`) goes to
  \`model_id\`, a reference to \`cmdb_model\`: looked up by name and manufacturer, and created when missing in
  \`cmdb_hardware_product_model\` with its vendor's company as manufacturer, as *Cleanse Hardware Model* does
  (\`cmdb-rte-transforms.md\`; the table it writes is UNVERIFIED). A name with no record is left out and reported
  once per run as a *skip* (for example an OT device type a plugin did not install), never sent as text.
- **Managed networks** on connections (\`source_managed_network\`, \`destination_managed_network\`, identifier
  entries of the connection's IRE rule) carry the device's zone (or site) name. The class-model page says the
  connection data model's own script "helps map IP addresses to managed networks and subnets, and creates records
  in each table" (\`cmdb-ci-class-models-operation-technology.md\`), so Snowline does not create
  \`cmdb_ci_managed_network\` records itself; the two columns' types are not documented (UNVERIFIED: text).
- **Identification.** A device's serial number (\`cmdb_serial_number\`, type \`system\`) and its NICs
  (\`cmdb_ci_network_adapter\`, name = MAC) go in \`lookup\`, as the OT and Hardware identification rules expect,
  so a CI Discovery or the vendor connector wrote first is matched by serial or MAC and adopted, never
  duplicated. Defender names a device it could not name by its IP; IPs repeat across plants and name is the
  rules' last identifier, so such a CI is named by its first MAC ("If both Serial Number and Name are not
  available, and only MAC Address is available, use MAC Address as the name of the CI":
  \`cmdb-ci-class-models-operation-technology.md\`).
- **Reconciliation rules.** Where the instance has static reconciliation rules
  (\`cmdb_reconciliation_definition\`), IRE applies an attribute only from an authorized source, and keeps a
  higher-priority source's value once it has set it (\`r_ReconciliationRulesPrinciples.md\`,
  \`create-reconciliation-rule.md\`); it drops the rest without an error. Each run reads the active rules and
  records one *skip* per rule and attribute that keeps one of Snowline's values from the CIs it writes, for
  example \`reconciliation rule on cmdb_ci_hardware: ServiceNow (priority 10) outranks Snowline on name of
  cmdb_ci_ot_plc, …\`. The precedence follows the pages: a rule for the attribute beats an "all attributes"
  rule, a child class's rule its parent's, then priority. Column names of the rules table are UNVERIFIED (the
  pages give form labels only). \`snowline sandbox\` and the demo pre-load about 5% of the estate as CIs
  ServiceNow Discovery found first (own names, same serial or MAC) with such a rule for \`name\`:
  ot-inventory adopts each (\`test/integration/ot-inventory-adoption.test.ts\`).
- **Reclassification.** When a device's class changes (Defender reports an OS, or a newer map), IRE moves the
  CI where the instance allows it (\`glide.class.upgrade/downgrade/switch.enabled\`; only between classes with
  identical identification rules). When IRE refuses (\`RECLASSIFICATION_NOT_ALLOWED\`, e.g. an OT class to a
  Computer class) it opens a reclassification task for a person: the run reports it once as an error and does
  not send that device again until Defender reports a change. Reference items (a connection's two devices, the
  freshness stamp, a retirement) always use the class the CI was last written as.
- **Classes the instance lacks.** Each run reads \`sys_db_object\` for the classes the map can write; one the
  instance lacks (plugin not installed) is written as its nearest existing ancestor and reported once per run;
  \`snowline doctor\` lists them (\`servicenow.ci-classes\`).
- **Dry run** sends each changed payload to IRE's \`/identifyreconcile/query\`, which identifies without
  committing: the plan says, per CI, whether IRE would insert, update, find nothing to change, or refuse it,
  with IRE's error. A CI Snowline thought new that IRE matches (written first by Discovery or the vendor
  connector) is reported as *adopted*, naming the identifier that matched, in the plan and in the ledger.
- A rate limit longer than \`servicenow.limits.maxWaitSeconds\` defers the rest of the run: the summary says
  \`deferred\` with \`retryAt\`, the store keeps the deferral, and the next run sends only what is still different.

## Sources

| Source (\`source\`) | Reads | Has | Has not |
| --- | --- | --- | --- |
| \`sensor\` | \`/api/v1/devices\`, \`/api/v1/devices/connections\` of each \`defender.sensors\` entry; with \`defender.subscriptions\`, the sensors' Resource Graph resources for their connection state and learning mode | devices, NICs, modules, protocols, connections with ports; sensor state and learning mode (cloud-connected sensors) | site, zone, Purdue level (from each sensor's configuration), times; learning mode of sensors not connected to Azure |
| \`console\` | \`/external/v3/integration/{sensors,devices,deleteddevices,connections}\`, incremental by timestamp | site, zone, Purdue layer, times, deletions, connections | ports, device serial numbers |
| \`resourceGraph\` | \`iotsecurityresources\` sites, sensors, devices | site, zone, Purdue layer, hardware (serial, model), slots, times | connections |

An unreachable sensor is reported (an error in the summary and the ledger) and the other sensors still sync.
With the sensor source, a sensor's connection state (\`sensorStatus\`, e.g. \`Ok\` / \`Disconnected\`) and
learning mode come from its resource in Resource Graph, matched by name, when \`defender.subscriptions\` is
set (attribute-mapping-sgc-msft-d4iot-azure.md maps both); if that read fails, the sensors are written
without them and the run reports it.

## Device classes

By Defender device subtype (\`deviceSubTypeDisplayName\`; the sensor API's and console's device type), compared
without case; the table is the connector's, row for row (\`table_gth_v4f_d1c\` on both mapping pages).
\`classMap\` in the configuration overrides any entry. A subtype not listed ("Any other type") lands in
\`${FALLBACK_CLASS.className}\` (OT device type *${FALLBACK_CLASS.otAssetType}*), so nothing is dropped. The OT
device type is written to \`cmdb_ot_entity.ot_asset_type\` as the sys_id of the \`cmdb_ot_entity_type\` record of
that name; *(none)* is where the page says NULL.

| Defender subtype | CMDB class | OT device type | OS may reclassify | Row |
| --- | --- | --- | --- | --- |
${classes}

### Reclassification by operating system

The page's last rows ("Any above type value except with designation Network and IoT"): when the device
reports an operating system, a subtype that allows it goes to the class of that OS and keeps its OT device type
("if Historian is the target class but Windows Server OS is found in the payload, the CI is classified as a
Windows Server CI and its OT device type is set to Historian": \`sgc-microsoft-d4iot-azure-classes.md\`). The
first row, in the page's order, with a name the OS contains as a whole word wins. Network and IoT subtypes
(switches, routers, cameras, printers…) are never reclassified; a \`classMap\` override is not either, unless it
sets \`allowOsClassification: true\`. How the connector matches OS names is not documented (UNVERIFIED; searched
the Azure and on-premises SGC pages and the OT class-model page).

| Operating system names | CMDB class | Row |
| --- | --- | --- |
${osRows}

OS fields (computer classes only): \`operatingSystem.distribution\` → \`os\`, \`version\` → \`os_version\`,
\`platform\` → \`os_domain\` (as the page maps it), \`architecture\` → \`os_address_width\` (64 or 32). The sensor
API and the console give one OS string, written to \`os\`. PLCs: \`additionalFields.plcKeyState\` →
\`switch_position\`, \`plcRunState\` → \`switch_remote_mode\` (Resource Graph only).

### Errata

Rows of the published table that are evidently wrong or empty, and how Snowline writes them instead:

${errata}
- **\`properties.lastSeen\` → \`most_recent_discovery\`**: no such column; *Most recent discovery* is
  \`last_discovered\` (\`sgc-microsoft-d4iot-azure-classes.md\`).
- **Device \`id\` → \`discovery_source_id\` in \`cmdb_ot_entity\`**: the column is \`ot_correlation_id\` (*OT discovery
  source ID*, same page); no \`discovery_source_id\` column is documented anywhere else.

## Field ownership

What Snowline does with each field it knows, per table. *Owned*: written whenever Defender's value changes, so a
person's edit is put back on the next change. *On creation*: sent when Snowline creates the record, never after.
*Never*: Snowline does not send it.

| Table | Field | Snowline |
| --- | --- | --- |
| device class | name, serial_number, firmware_version, model_number, manufacturer, first_discovered, install_status, operational_status, has_module, os, os_version, os_domain, os_address_width, switch_position, switch_remote_mode | owned |
| device class | last_discovered | owned, at most once per \`freshnessHours\` |
| device class | location, company, assigned_to, support_group, owned_by, managed_by, model_id | never |
| \`cmdb_ot_entity\` | ot_asset_type, purdue_level, zone, business_criticality, isa_entity_site, ot_correlation_id | owned |
| \`cmdb_ci_nids\` | name, correlation_id, nids_source_name, fqdn, firmware_version, zone, isa_entity_site, connection_state, life_cycle_stage, life_cycle_stage_status, first_discovered | owned |
| \`cmdb_ci_nids\` | network_type_assignment | on creation |
| \`cmdb_ci_nids\` | validated | never (the admin validates) |
| \`cmdb_ci_ot_isa_entity\` | name | owned |
| \`cmdb_ci_ot_isa_entity\` | parent, isa_entity_level, isa_entity_type, location, company | never |
| \`cmdb_ci_ot_control_module\` | name, rack_number, slot_number, model_number, model_id, serial_number, firmware_version, vendor, module_type, install_status | owned |
| \`sn_ot_device_network_connection\` | IPs, MACs, port, protocols, managed networks, CIs | owned |
| \`sn_ot_device_network_connection\` | last_communication | owned, at most once per \`connections.refreshDays\` |

"Owned" fields are sent only when the device's mapped content changes (Snowline compares a hash of what it would
send), not on every run: a person's edit to an owned field stays until Defender reports a change for that device.

## Purdue levels

The console and Resource Graph report three layers; the CMDB stores a level (\`purdue_level\`, e.g. \`1.0\`).
\`purdueLayers\` in the configuration overrides the layer table. The sensor API reports none: the level
comes from the sensor's \`purdueLevel\` in the configuration.

| Layer (spaces and case ignored) | Level |
| --- | --- |
${layers}

Device types whose level is more precise than their layer:

| Device type | Level |
| --- | --- |
${types}

## Connections without a port or zone

The connection identification rule needs source IP, destination IP, destination port and both managed
networks. The console reports no ports and a device may have no zone: Snowline then writes port \`0\` and the
device's site (else \`default\`) as its managed network. UNVERIFIED: what the Service Graph Connector writes in
that case is not documented.

## Configuration

See \`integrations[].flows.otInventory\` in [configuration.md](configuration.md).
`;
}
