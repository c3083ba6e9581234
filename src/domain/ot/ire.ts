import { contentHash } from '../hash.js';
import { toSnDateTime } from '../time.js';
import { classForDevice, COMPUTER_CLASSES, type ClassInput, type DeviceClass } from './classes.js';
import { formatPurdueLevel, purdueLevelOf } from './purdue.js';
import type { OtConnection, OtDevice, OtModule, OtSensor, OtSite } from './records.js';
import { normaliseMac } from './records.js';

/**
 * Pure mapping of canonical OT records to Identification and Reconciliation Engine payloads,
 * following the ServiceNow Service Graph Connector for Defender for IoT: sensors → `cmdb_ci_nids`,
 * sites → `cmdb_ci_ot_isa_entity`, devices → their class with `cmdb_ot_entity`, NICs and IPs
 * (`Owns::Owned by`), control modules, `Detects::Detected by` from sensor to device, and
 * connections (`sn_ot_device_network_connection` + `Connects to::Connected by`).
 */

/**
 * The version of what this mapping sends. Raise it whenever a release maps an unchanged Defender
 * record differently (classes, fields, references): flows then read every record once more
 * instead of only what changed. 1 = Snowline 0.1; 2 = the connector's class map and references.
 */
export const MAPPING_VERSION = 2;

/** One IRE payload item. All values are strings, as IRE requires. */
export interface IreItem {
  readonly className: string;
  readonly values: Readonly<Record<string, string>>;
  readonly related?: readonly {
    readonly className: string;
    readonly values: Readonly<Record<string, string>>;
  }[];
  /** Records that identify the item through a table referencing it (serial numbers, NICs). */
  readonly lookup?: readonly {
    readonly className: string;
    readonly values: Readonly<Record<string, string>>;
  }[];
  readonly sys_object_source_info?: {
    readonly source_name: string;
    readonly source_native_key: string;
    readonly source_recency_timestamp?: string;
  };
}

/** A relation between two items of the same group, by their index in the group. */
export interface GroupRelation {
  readonly parent: number;
  readonly child: number;
  readonly type: string;
}

/**
 * The items that describe one entity (a device with its NICs, IPs, modules and its sensor), with
 * the hash of their content. Item 0 is the entity itself; the rest are identified through it.
 */
export interface IreGroup {
  readonly entity: 'sensor' | 'site' | 'device' | 'connection' | 'hardware';
  /** Source key of the entity (not namespaced). */
  readonly key: string;
  readonly items: readonly IreItem[];
  readonly relations: readonly GroupRelation[];
  /** Hash of items and relations: equal hash, nothing to send. */
  readonly hash: string;
}

/**
 * sys_ids of the records reference fields point at. IRE takes only a sys_id for a reference field
 * ("For a reference field, the value must be the referenced sys_id": ServiceNow/ServiceNowDocs
 * `markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md`); a name with no record found is
 * left out rather than sent as text, which IRE would refuse with INVALID_INPUT_DATA.
 */
export interface ReferenceIds {
  /** `cmdb_ot_entity_type` by name or label, lower case (the instance's records may differ in case). */
  readonly otTypes?: ReadonlyMap<string, string>;
  /** `core_company` by vendor name as Defender reports it (lower case). */
  readonly companies?: ReadonlyMap<string, string>;
  /** `cmdb_model` by {@link modelKey} (the module's vendor company and model name). */
  readonly models?: ReadonlyMap<string, string>;
  /** `life_cycle_stage` / `life_cycle_stage_status` sys_ids the sensor mapping uses. */
  readonly lifeCycle?: {
    readonly operational?: string;
    readonly inUse?: string;
    readonly learning?: string;
  };
}

/**
 * How a company is found: its name, trimmed and lower case. The same key where the company is
 * looked up or created (ot-inventory's references) and where a device or module refers to it, so
 * that a vendor with stray spaces or a newline around it is linked to the company made for it.
 */
export function companyKey(vendor: string): string {
  return vendor.trim().toLowerCase();
}

/**
 * How a product model is found: its manufacturer's `core_company` sys_id (empty when the vendor is
 * unknown) and its name, lower case, as Integration Commons' "Cleanse Hardware Model" takes the
 * manufacturer and model name (cmdb-rte-transforms.md).
 */
export function modelKey(companySysId: string | undefined, model: string): string {
  return `${companySysId ?? ''}\u241f${model.trim().toLowerCase()}`;
}

/**
 * Classes whose identification rule has no External system metadata (`cmdb_key_value_v2`) related
 * entry: "The OT Control Module [cmdb_ci_ot_control_module] rule contains the following related
 * entries" lists Backup Storage Information, OT Device, Firmware Installation, Key Value and
 * Software Instance, but not External system metadata (ServiceNow/ServiceNowDocs
 * markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md).
 * IRE refuses a related item its rule lacks (IDENTIFICATION_RULE_FOR_RELATED_ITEM_MISSING), which
 * kept every device of subtype Slot out of the CMDB.
 */
const NO_EXTERNAL_METADATA: ReadonlySet<string> = new Set(['cmdb_ci_ot_control_module']);

/** What the mapping needs besides the record. */
export interface MappingContext {
  /** Integration id: namespaces every source key, so two consoles' device 1 never collide. */
  readonly integrationId: string;
  /** The `cmdb_ci.discovery_source` choice Snowline writes as (IRE rejects unknown ones). */
  readonly dataSource: string;
  readonly classMap?: Readonly<Record<string, DeviceClass>>;
  readonly layerLevels?: Readonly<Record<string, number>>;
  readonly typeLevels?: Readonly<Record<string, number>>;
  readonly references?: ReferenceIds;
  /** The class the instance has for a mapped class (a missing class's nearest ancestor). */
  readonly classOnInstance?: (className: string) => string;
}

/** A device's class as mapped, then as the instance can hold it. */
function deviceClass(context: MappingContext, device: ClassInput) {
  const mapped = classForDevice(device, context.classMap);
  const className = context.classOnInstance?.(mapped.className) ?? mapped.className;
  return className === mapped.className ? mapped : { ...mapped, className };
}

/** The namespaced source key written to `sys_object_source` and the OT discovery source id. */
export function sourceKey(context: Pick<MappingContext, 'integrationId'>, kind: string, key: string): string {
  return `${context.integrationId}:${kind}:${key}`;
}

/**
 * The key a record is written under, in `sys_object_source` (`source_native_key`) and in the
 * correlation ids: the key ServiceNow's own Defender for IoT connector uses when the source has
 * it (the Azure resource `id`: "snk in sys_object_source", `correlation_id` for sensors,
 * "discovery_source_id in cmdb_ot_entity" for devices, ServiceNow/ServiceNowDocs
 * markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md),
 * so ServiceNow's Azure VR integration, which looks CIs up by device id in `sys_object_source`
 * (support-for-msft-defender-iot-azure.md, "CI lookup"), finds Snowline's CIs; else Snowline's
 * namespaced key (the sensor and console APIs have no Azure id).
 */
export function nativeKeyOf(
  context: Pick<MappingContext, 'integrationId'>,
  kind: string,
  record: { readonly key: string; readonly nativeKey?: string | undefined },
): string {
  return record.nativeKey ?? sourceKey(context, kind, record.key);
}

function sourceInfo(
  context: Pick<MappingContext, 'integrationId' | 'dataSource'>,
  kind: string,
  record: { readonly key: string; readonly nativeKey?: string | undefined },
): IreItem['sys_object_source_info'] {
  return { source_name: context.dataSource, source_native_key: nativeKeyOf(context, kind, record) };
}

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-f:]+$/i;

/**
 * The CI name of a device. Defender names a device it could not name by its IP address, and IPs
 * repeat across plants and over time: as a name (the OT identification rule's last identifier)
 * it would merge two plants' devices. "If both Serial Number and Name are not available, and only
 * MAC Address is available, use MAC Address as the name of the CI" (ServiceNow/ServiceNowDocs
 * `markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md`):
 * such a device is named by its first MAC; with no MAC, the IP stays its name.
 */
export function ciName(device: {
  readonly name: string;
  readonly nics?: readonly { readonly mac?: string }[];
}): string {
  const name = device.name.trim();
  const isIp = IPV4.test(name) || (name.includes(':') && IPV6.test(name) && normaliseMac(name) === undefined);
  if (!isIp) return device.name;
  return device.nics?.map((n) => normaliseMac(n.mac)).find((m) => m !== undefined) ?? device.name;
}

/** Drops undefined and empty values (IRE treats a missing value as "not known", `""` as "clear"). */
function values(record: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
}

function group(
  entity: IreGroup['entity'],
  key: string,
  items: IreItem[],
  relations: GroupRelation[],
): IreGroup {
  return { entity, key, items, relations, hash: contentHash({ items, relations }) };
}

/**
 * The group with more values on some items (by item index), and the same hash: for what is sent
 * only at times the flow chooses (fields written on creation only, the daily freshness stamp), so
 * that sending it or not never makes an unchanged entity look changed. Undefined values are left out.
 */
export function withValues(
  g: IreGroup,
  extra: Readonly<Record<number, Readonly<Record<string, string | undefined>>>>,
): IreGroup {
  const items = g.items.map((item, i) => {
    const added = values(extra[i] ?? {});
    return Object.keys(added).length ? { ...item, values: { ...item.values, ...added } } : item;
  });
  return { ...g, items };
}

/**
 * `os_address_width` is "OS Address Width (bits)": "Operating system bit (such as 32, 64)"
 * (ServiceNow/ServiceNowDocs `markdown/servicenow-platform/configuration-management-database-cmdb/class-computer.md`);
 * Defender reports an architecture name (`x64`, `x86`…). Names that say neither are left out.
 */
function addressWidth(architecture: string | undefined): string | undefined {
  const arch = architecture?.toLowerCase();
  if (!arch) return undefined;
  if (/64/.test(arch)) return '64';
  if (/^(x86|i[3-6]86|ia32|arm|armv7.*|32.*)$/.test(arch)) return '32';
  return undefined;
}

/**
 * Adds an IP item owned by item `owner` per address, once each, and a NIC per MAC: as an item it
 * owns, or — for devices — returned as `lookup` entries, so IRE can identify the device by a MAC
 * another source (Discovery, the vendor connector) already recorded ("Mac Address in Network
 * Adapter table" is an identifier entry of the OT and Hardware rules:
 * `cmdb-ci-class-models-operation-technology.md`). A NIC's `name` is its MAC (same page).
 */
function addNetworkItems(
  items: IreItem[],
  relations: GroupRelation[],
  owner: number,
  nics: readonly { mac?: string; ip?: string }[],
  nicsAs: 'items' | 'lookup' = 'items',
): NonNullable<IreItem['lookup']>[number][] {
  const seenMacs = new Set<string>();
  const seenIps = new Set<string>();
  const lookup: NonNullable<IreItem['lookup']>[number][] = [];
  for (const nic of nics) {
    const mac = normaliseMac(nic.mac);
    if (mac && !seenMacs.has(mac)) {
      seenMacs.add(mac);
      const adapter = { className: 'cmdb_ci_network_adapter', values: { name: mac, mac_address: mac } };
      if (nicsAs === 'lookup') lookup.push(adapter);
      else {
        relations.push({ parent: owner, child: items.length, type: 'Owns::Owned by' });
        items.push(adapter);
      }
    }
    if (nic.ip && !seenIps.has(nic.ip)) {
      seenIps.add(nic.ip);
      relations.push({ parent: owner, child: items.length, type: 'Owns::Owned by' });
      items.push({
        className: 'cmdb_ci_ip_address',
        values: { name: nic.ip, ip_address: nic.ip, ip_version: nic.ip.includes(':') ? '6' : '4' },
      });
    }
  }
  return lookup;
}

/**
 * An unclassed hardware CI (`cmdb_ci_hardware`) for a Defender device that has no CI, as the
 * vendor's VR integration creates one when `require_ci_match` is false ("Setting the property to
 * false allows the creation of unclassed hardware CIs if a CI match isn't found":
 * ServiceNow/ServiceNowDocs
 * markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md).
 * Identified as the Hardware rule identifies it — name, and the NIC's MAC as a lookup
 * (ServiceNow/ServiceNowDocs markdown/servicenow-platform/configuration-management-database-cmdb/t_CreateCIIdentificationRule.md)
 * — with the device's source key, so ot-inventory's later write of the same device (same key,
 * or the same MAC) updates this CI, where identification rules allow, instead of adding one.
 * Undefined when the device has neither a name nor a MAC to be identified by.
 */
export function unclassedHardwareGroup(
  context: Pick<MappingContext, 'integrationId' | 'dataSource'>,
  device: {
    readonly key: string;
    readonly name?: string;
    readonly nics: readonly { mac?: string; ip?: string }[];
  },
): IreGroup | undefined {
  const name = device.name?.trim() ? ciName({ name: device.name, nics: device.nics }) : undefined;
  const mac = device.nics.map((n) => normaliseMac(n.mac)).find((m) => m !== undefined);
  if (!name && !mac) return undefined;
  const items: IreItem[] = [];
  const relations: GroupRelation[] = [];
  items.push({ className: 'cmdb_ci_hardware', values: {} });
  const lookup = addNetworkItems(items, relations, 0, device.nics, 'lookup');
  items[0] = {
    className: 'cmdb_ci_hardware',
    values: values({
      name: name ?? mac,
      mac_address: mac,
      ip_address: device.nics.find((n) => n.ip)?.ip,
    }),
    ...(lookup.length ? { lookup } : {}),
    sys_object_source_info: sourceInfo(context, 'device', device),
  };
  return group('hardware', device.key, items, relations);
}

/** The minimal item that lets IRE find an already-written sensor (through sys_object_source). */
export function sensorReference(
  context: MappingContext,
  sensor: Pick<OtSensor, 'key' | 'name' | 'nativeKey'>,
): IreItem {
  return {
    className: 'cmdb_ci_nids',
    values: { name: sensor.name, correlation_id: nativeKeyOf(context, 'sensor', sensor) },
    sys_object_source_info: sourceInfo(context, 'sensor', sensor),
  };
}

/**
 * A sensor as a `cmdb_ci_nids`, as the connector maps it (`attribute-mapping-sgc-msft-d4iot-azure.md`,
 * sensor table): learning mode → life cycle Operational / Learning (a learning sensor fails
 * validation), else Operational / In Use; both are references, sent as the sys_ids found on the
 * instance. `network_type_assignment` is the admin's when validating the NIDS
 * (`validate-nids-appliances-sgc-msft-d4iot-azure.md`): the flow adds it on creation only
 * ({@link NEW_SENSOR_VALUES}).
 */
export function sensorGroup(context: MappingContext, sensor: OtSensor, siteSysId?: string): IreGroup {
  const lifeCycle = context.references?.lifeCycle;
  const items: IreItem[] = [
    {
      className: 'cmdb_ci_nids',
      values: values({
        name: sensor.name,
        correlation_id: nativeKeyOf(context, 'sensor', sensor),
        nids_source_name: 'Microsoft Defender for IoT',
        fqdn: sensor.fqdn,
        firmware_version: sensor.firmwareVersion,
        zone: sensor.zone,
        isa_entity_site: siteSysId,
        connection_state:
          sensor.connectionState ??
          (sensor.connected === undefined ? undefined : sensor.connected ? 'Connected' : 'Disconnected'),
        life_cycle_stage: lifeCycle?.operational,
        life_cycle_stage_status:
          sensor.learningMode === undefined
            ? undefined
            : sensor.learningMode
              ? lifeCycle?.learning
              : lifeCycle?.inUse,
        first_discovered: sensor.firstSeen ? toSnDateTime(sensor.firstSeen) : undefined,
      }),
      sys_object_source_info: sourceInfo(context, 'sensor', sensor),
    },
  ];
  const relations: GroupRelation[] = [];
  addNetworkItems(items, relations, 0, [
    { ...(sensor.mac ? { mac: sensor.mac } : {}), ...(sensor.ip ? { ip: sensor.ip } : {}) },
  ]);
  return group('sensor', sensor.key, items, relations);
}

/** Values a new sensor gets and a known one never: the NIDS network type is the admin's afterwards. */
export const NEW_SENSOR_VALUES: Readonly<Record<string, string>> = { network_type_assignment: 'OT' };

/**
 * A site as an ISA-95 `cmdb_ci_ot_isa_entity`. "A record in the Equipment Model Entity table
 * (cmdb_ci_ot_isa_entity) without a parent is considered a site" (ServiceNow/ServiceNowDocs
 * `operational-technology-manager/ot-use-case.md`): no parent, and no `isa_entity_level` /
 * `isa_entity_type`, which are references to level and level-type records of a template.
 */
export function siteGroup(context: MappingContext, site: OtSite): IreGroup {
  return group(
    'site',
    site.key,
    [
      {
        className: 'cmdb_ci_ot_isa_entity',
        values: { name: site.name },
        sys_object_source_info: sourceInfo(context, 'site', site),
      },
    ],
    [],
  );
}

/** Options of {@link deviceGroup}. */
export interface DeviceMappingOptions {
  /** The sensors that detect it, as already written (for `Detects::Detected by`). */
  readonly sensors: readonly Pick<OtSensor, 'key' | 'name' | 'purdueLevel' | 'site' | 'zone'>[];
  /** sys_id of the device's site CI, when known. */
  readonly siteSysId?: string;
  /** sys_ids a site mapping copies onto its devices (`location`, `company`, `support_group`). */
  readonly siteValues?: Readonly<Record<string, string>>;
  /** Retire it: install status Retired, nothing deleted. */
  readonly retired?: boolean;
}

const CONTROL_CLASSES_WITH_MODULES = new Set([
  'cmdb_ci_ot_plc',
  'cmdb_ci_ot_dcs',
  'cmdb_ci_ot_rtu',
  'cmdb_ci_ot_ied',
  'cmdb_ci_ot_dpu',
]);

/**
 * A device, as the connector's device table maps it (`attribute-mapping-sgc-msft-d4iot-azure.md`):
 * its class (subtype, then operating system: {@link classForDevice}); `cmdb_ot_entity` with OT
 * device type, Purdue level, zone, criticality, site and OT discovery source id; manufacturer;
 * OS fields on computers; PLC key and run state; its serial number as a `cmdb_serial_number` lookup
 * (the OT and Hardware identification rules' first entry); vendor details in `cmdb_key_value_v2`;
 * NICs and IPs it owns; its control modules; and `Detects::Detected by` from each sensor that sees it.
 * `last_discovered` ("Most recent discovery", which the page calls `most_recent_discovery`) is not
 * part of the group: the flow adds it at most once per `freshnessHours` with {@link withValues}.
 */
export function deviceGroup(
  context: MappingContext,
  device: OtDevice,
  options: DeviceMappingOptions,
): IreGroup {
  const mapped = deviceClass(context, device);
  const references = context.references;
  const firstSensor = options.sensors[0];
  const level = purdueLevelOf(device, {
    ...(firstSensor?.purdueLevel !== undefined ? { sensorLevel: firstSensor.purdueLevel } : {}),
    ...(context.layerLevels ? { layerLevels: context.layerLevels } : {}),
    ...(context.typeLevels ? { typeLevels: context.typeLevels } : {}),
  });
  const discoveryId = nativeKeyOf(context, 'device', device);
  const hasModules = device.modules.length > 0 && CONTROL_CLASSES_WITH_MODULES.has(mapped.className);
  const keyValues: [string, string | undefined][] = [
    ['defender.device_type', device.deviceType],
    ['defender.category', device.category],
    ['defender.vendor', device.vendor],
    ['defender.model', device.model],
    ['defender.operating_system', device.operatingSystem],
    ['defender.protocols', device.protocols.length ? [...device.protocols].sort().join(', ') : undefined],
  ];
  const computer = COMPUTER_CLASSES.has(mapped.className);
  const plc = mapped.className === 'cmdb_ci_ot_plc';
  const items: IreItem[] = [
    {
      className: mapped.className,
      values: values({
        name: ciName(device),
        serial_number: device.serialNumber,
        firmware_version: device.firmwareVersion,
        model_number: device.model,
        manufacturer: device.vendor ? references?.companies?.get(companyKey(device.vendor)) : undefined,
        first_discovered: device.firstSeen ? toSnDateTime(device.firstSeen) : undefined,
        install_status: options.retired ? '7' : '1',
        operational_status: options.retired ? '6' : '1',
        has_module: hasModules ? 'true' : undefined,
        os: computer ? device.operatingSystem : undefined,
        os_version: computer ? device.osVersion : undefined,
        os_domain: computer ? device.osPlatform : undefined,
        os_address_width: computer ? addressWidth(device.osArchitecture) : undefined,
        switch_position: plc ? device.plcKeyState : undefined,
        switch_remote_mode: plc ? device.plcRunState : undefined,
        ...options.siteValues,
      }),
      related: [
        {
          className: 'cmdb_ot_entity',
          values: values({
            ot_asset_type: mapped.otAssetType
              ? references?.otTypes?.get(mapped.otAssetType.toLowerCase())
              : undefined,
            purdue_level: formatPurdueLevel(level),
            zone: device.zone ?? firstSensor?.zone,
            business_criticality: device.criticality,
            isa_entity_site: options.siteSysId,
            // The mapping page says "discovery_source_id in cmdb_ot_entity"; the column is
            // ot_correlation_id ("OT discovery source ID": sgc-microsoft-d4iot-azure-classes.md).
            ot_correlation_id: discoveryId,
          }),
        },
        ...(NO_EXTERNAL_METADATA.has(mapped.className) ? [] : keyValues)
          .filter((kv): kv is [string, string] => kv[1] !== undefined && kv[1] !== '')
          .map(([key, value]) => ({
            className: 'cmdb_key_value_v2',
            values: {
              key,
              string_value: value,
              value_type: 'string',
              source_key: discoveryId,
              discovery_source: context.dataSource,
            },
          })),
      ],
      sys_object_source_info: sourceInfo(context, 'device', device),
    },
  ];
  const relations: GroupRelation[] = [];
  const nicLookups = addNetworkItems(items, relations, 0, device.nics, 'lookup');
  const lookup = [
    ...(device.serialNumber
      ? [
          {
            // "For Operational Technology (OT), use the string value system for the serial number
            // type" (cmdb-ci-class-models-operation-technology.md).
            className: 'cmdb_serial_number',
            values: { serial_number: device.serialNumber, serial_number_type: 'system', valid: 'true' },
          },
        ]
      : []),
    ...nicLookups,
  ];
  if (lookup.length) items[0] = { ...items[0]!, lookup };
  const moduleVendor = (module: OtModule) =>
    module.vendor ? references?.companies?.get(companyKey(module.vendor)) : undefined;
  if (hasModules) {
    for (const module of device.modules) {
      const place = `${module.rack ?? '0'}/${module.slot ?? '0'}`;
      relations.push({ parent: 0, child: items.length, type: 'Owns::Owned by' });
      items.push({
        className: 'cmdb_ci_ot_control_module',
        values: values({
          name: `${ciName(device)} module ${place}`,
          rack_number: module.rack,
          slot_number: module.slot,
          model_number: module.model,
          // slots[].model → model_id, a reference to cmdb_model (attribute-mapping-sgc-msft-d4iot-azure.md;
          // "Model ID … reference … Product Model [cmdb_model]": cmdb-ci-class-models-operation-technology.md).
          model_id: module.model
            ? references?.models?.get(modelKey(moduleVendor(module), module.model))
            : undefined,
          serial_number: module.serialNumber,
          firmware_version: module.firmwareVersion,
          vendor: moduleVendor(module),
          module_type: module.moduleType,
          install_status: options.retired ? '7' : '1',
        }),
        sys_object_source_info: sourceInfo(context, 'module', { key: `${device.key}/${place}` }),
      });
    }
  }
  for (const sensor of options.sensors) {
    relations.push({ parent: items.length, child: 0, type: 'Detects::Detected by' });
    items.push(sensorReference(context, sensor));
  }
  return group('device', device.key, items, relations);
}

/** The minimal item that lets IRE find an already-written device (through sys_object_source). */
export function deviceReference(
  context: MappingContext,
  device: Pick<OtDevice, 'key' | 'name' | 'nativeKey'> & Partial<Pick<OtDevice, 'nics'>> & ClassInput,
  writtenAs?: string | null,
): IreItem {
  return {
    // The class the CI was last written as, when known: a reference item of another class would
    // ask IRE to reclassify the CI (and a refused reclassification would fail the whole payload).
    className: writtenAs || deviceClass(context, device).className,
    values: { name: ciName(device) },
    sys_object_source_info: sourceInfo(context, 'device', device),
  };
}

/** One end of a connection: the device as written, and its CI once known. */
export type ConnectionEnd = Pick<
  OtDevice,
  'key' | 'nativeKey' | 'name' | 'deviceType' | 'operatingSystem' | 'nics' | 'zone' | 'site'
> & {
  readonly sysId?: string;
  /** The class the device's CI was last written as. */
  readonly remoteTable?: string;
};

/** What a connection needs to know of its two devices, as written. */
export interface ConnectionEnds {
  readonly source: ConnectionEnd;
  readonly destination: ConnectionEnd;
}

/**
 * A connection: an `sn_ot_device_network_connection` row (identified by source IP, destination IP,
 * destination port and managed networks) and `Connects to::Connected by` between the devices.
 * Undefined when either device has no IP (the connection rule can not identify it).
 *
 * The identification rule needs every one of its attributes, but the management console reports
 * no ports and a device may have no zone: an unknown port is written as `0` and an unknown
 * managed network as the device's site, else `default` (UNVERIFIED: what the Service Graph
 * Connector writes in that case is not documented).
 */
export function connectionGroup(
  context: MappingContext,
  connection: OtConnection,
  ends: ConnectionEnds,
): IreGroup | undefined {
  const sourceIp = ends.source.nics.find((n) => n.ip)?.ip;
  const destinationIp = ends.destination.nics.find((n) => n.ip)?.ip;
  if (!sourceIp || !destinationIp) return undefined;
  const port = connection.ports.length ? String(Math.min(...connection.ports)) : undefined;
  const items: IreItem[] = [
    {
      className: 'sn_ot_device_network_connection',
      values: values({
        source_ip: sourceIp,
        destination_ip: destinationIp,
        source_mac: normaliseMac(ends.source.nics.find((n) => n.mac)?.mac),
        destination_mac: normaliseMac(ends.destination.nics.find((n) => n.mac)?.mac),
        destination_port: port ?? '0',
        transport_protocol: 'TCP',
        application_protocol: connection.protocols.length
          ? [...connection.protocols].sort().join(', ')
          : undefined,
        source_managed_network: ends.source.zone ?? ends.source.site ?? 'default',
        destination_managed_network: ends.destination.zone ?? ends.destination.site ?? 'default',
        source_ci: ends.source.sysId,
        destination_ci: ends.destination.sysId,
        discovery_source: context.dataSource,
      }),
      sys_object_source_info: sourceInfo(context, 'connection', connection),
    },
    deviceReference(context, ends.source, ends.source.remoteTable),
    deviceReference(context, ends.destination, ends.destination.remoteTable),
  ];
  return group('connection', connection.key, items, [
    { parent: 1, child: 2, type: 'Connects to::Connected by' },
  ]);
}

/** One payload built from whole groups, with where each group's first item landed. */
export interface PackedPayload {
  readonly payload: {
    readonly items: readonly IreItem[];
    readonly relations: readonly { readonly parent: number; readonly child: number; readonly type: string }[];
  };
  /** For each group of the payload: the group, the payload index of its item 0, and of all its items. */
  readonly groups: readonly {
    readonly group: IreGroup;
    readonly index: number;
    readonly indices: readonly number[];
  }[];
}

function itemIdentity(item: IreItem): string | undefined {
  const key = item.sys_object_source_info?.source_native_key;
  return key ? `${item.className}\u241f${key}` : undefined;
}

/**
 * Packs groups into payloads of at most `batchSize` items, never splitting a group. An item that
 * several groups carry (the sensor that detects a hundred devices) is sent once per payload, and
 * relations point at that one copy; a group's own entity always comes first in its group.
 */
export function packPayloads(groups: readonly IreGroup[], batchSize: number): PackedPayload[] {
  const payloads: PackedPayload[] = [];
  let items: IreItem[] = [];
  let relations: { parent: number; child: number; type: string }[] = [];
  let placed: { group: IreGroup; index: number; indices: number[] }[] = [];
  let identities = new Map<string, number>();
  const flush = () => {
    if (placed.length) payloads.push({ payload: { items, relations }, groups: placed });
    items = [];
    relations = [];
    placed = [];
    identities = new Map();
  };
  for (const g of groups) {
    const fresh = g.items.filter((item, i) => i === 0 || !identities.has(itemIdentity(item) ?? '')).length;
    if (items.length > 0 && items.length + fresh > batchSize) flush();
    const at: number[] = [];
    g.items.forEach((item, i) => {
      const identity = itemIdentity(item);
      const existing = identity === undefined ? undefined : identities.get(identity);
      // The group's own entity is always its own item: two groups never share their item 0.
      if (existing !== undefined && i !== 0) {
        at.push(existing);
        return;
      }
      at.push(items.length);
      if (identity !== undefined) identities.set(identity, items.length);
      items.push(item);
    });
    for (const r of g.relations) relations.push({ parent: at[r.parent]!, child: at[r.child]!, type: r.type });
    placed.push({ group: g, index: at[0]!, indices: at });
  }
  flush();
  return payloads;
}
