import { DEFAULT_CLASS_MAP, FALLBACK_CLASS } from '../../domain/ot/classes.js';
import { DEFAULT_LAYER_LEVELS, DEFAULT_TYPE_LEVELS } from '../../domain/ot/purdue.js';

const titleCase = (text: string) => text.replace(/\b\w/g, (c) => c.toUpperCase());

/**
 * docs/ot-inventory.md, with its mapping tables generated from the code that maps, so the page
 * can not drift from what Snowline writes (`npm run docs` rewrites it; a test fails when stale).
 */
export function renderOtInventoryReference(): string {
  const classes = Object.entries(DEFAULT_CLASS_MAP)
    .map(
      ([type, c]) =>
        `| ${titleCase(type)} | \`${c.className}\` | ${c.otAssetType ?? '(IT gear, no OT function)'} |`,
    )
    .join('\n');
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

\`\`\`sh
snowline sync --job ot-inventory --dry-run   # what would change, and why; writes nothing
snowline sync --job ot-inventory --json      # do it; prints the summary
\`\`\`

## Order of a run

1. **Sites** → \`cmdb_ci_ot_isa_entity\` (keyed by name; sites named only on devices are added as they appear).
2. **Sensors** → \`cmdb_ci_nids\` with \`correlation_id\`, fqdn, firmware, zone, site, connection state;
   learning mode → life cycle *Operational / Learning Mode*, else *Operational / In Use*; the sensor's NIC and IP.
3. **Which sensors feed devices** (\`sensorValidation\`): \`servicenow\` (default) = only sensors an admin
   marked *validated* on \`cmdb_ci_nids\`, as the connector does; \`list\` = the sensors named in \`sensors\`;
   \`auto\` = connected sensors not in learning mode. Devices of other sensors are skipped, and the ledger
   records one *skip* per sensor and run.
4. **Devices** → their class (table below) with \`cmdb_ot_entity\` (Purdue level, zone, criticality, site,
   OT discovery source id), vendor details in \`cmdb_key_value_v2\`, NICs (\`cmdb_ci_network_adapter\`)
   and IPs (\`cmdb_ci_ip_address\`) it \`Owns::Owned by\`, control modules (\`cmdb_ci_ot_control_module\`) under
   PLC, DCS, RTU, IED and DPU, and \`Detects::Detected by\` from each sensor that sees it.
5. **Retirement**: a device not reported for \`retireAfterDays\` (default 30) gets install status *Retired*;
   nothing is deleted, and a device that comes back is revived. With the incremental console source only
   devices the console reports deleted are retired (it does not repeat unchanged devices).
6. **Connections** → \`sn_ot_device_network_connection\` plus \`Connects to::Connected by\` between the two
   devices, where the source has connections and both devices have an IP.

## What is sent, and when

- Each entity is mapped to a group of IRE items and hashed; the hash is kept in the store after a write.
  An unchanged entity sends nothing, so a second run over an unchanged estate makes no write request.
- Changed groups are packed into payloads of \`batchSize\` items (default 100, up to 1000) without splitting a
  group; an item many groups share (the sensor that detects a hundred devices) is sent once per payload.
  \`concurrency\` payloads are in flight at once.
- IRE finds existing CIs through \`sys_object_source\` (source name + the namespaced key
  \`<integration>:<kind>:<Defender id>\`), so a payload sent again after a crash updates the same CI and
  never creates a duplicate.
- \`last_discovered\` is left to IRE (it stamps every write): a moving "last seen" would otherwise turn every
  device into an update on every run.
- A rate limit longer than \`servicenow.limits.maxWaitSeconds\` defers the rest of the run: the summary says
  \`deferred\` with \`retryAt\`, the store keeps the deferral, and the next run sends only what is still different.

## Sources

| Source (\`source\`) | Reads | Has | Has not |
| --- | --- | --- | --- |
| \`sensor\` | \`/api/v1/devices\`, \`/api/v1/devices/connections\` of each \`defender.sensors\` entry | devices, NICs, modules, protocols, connections with ports | site, zone, Purdue level (from each sensor's configuration), learning mode, times |
| \`console\` | \`/external/v3/integration/{sensors,devices,deleteddevices,connections}\`, incremental by timestamp | site, zone, Purdue layer, times, deletions, connections | ports, device serial numbers |
| \`resourceGraph\` | \`iotsecurityresources\` sites, sensors, devices | site, zone, Purdue layer, hardware (serial, model), slots, times | connections |

An unreachable sensor is reported (an error in the summary and the ledger) and the other sensors still sync.

## Device classes

By Defender device type (case-insensitive); \`classMap\` in the configuration overrides any entry. A type
not listed lands in \`${FALLBACK_CLASS.className}\` (OT device type *${FALLBACK_CLASS.otAssetType}*), so nothing is dropped.

| Defender device type | CMDB class | OT device type |
| --- | --- | --- |
${classes}

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
