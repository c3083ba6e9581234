import { z } from 'zod';

/**
 * Typed records of the Defender for IoT on-premises APIs (OT sensor v1, management console v3
 * integration), parsed leniently at the edge: unknown fields are ignored, `null` lists become
 * empty, and every field-name variant that Microsoft's docs disagree on is accepted (the table
 * and the example of the same page often differ; the contract says a client accepts both).
 */

/** Epoch milliseconds (the APIs' unit), a numeric string, or an ISO string, as a `Date`. */
const epochMs = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const date =
    typeof value === 'number' || /^\d+$/.test(value.trim()) ? new Date(Number(value)) : new Date(value);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a time` });
    return z.NEVER;
  }
  return date;
});

const optionalTime = epochMs.nullish().transform((v) => v ?? undefined);
const text = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || v === '' ? undefined : v));
const strings = z
  .array(z.union([z.string(), z.number()]).transform(String))
  .nullish()
  .transform((v) => v ?? []);
const id = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);
const flag = z
  .boolean()
  .nullish()
  .transform((v) => v ?? false);

/** A score sent as a string (`"9.3"`) or a number. */
const score = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: `score "${value}" is not a number` });
    return z.NEVER;
  }
  return n;
});

// ---- OT sensor API v1 ----------------------------------------------------------------------

const sensorProtocol = z
  .looseObject({
    id: z.number().nullish(),
    name: z.string(),
    // The table says `ipAddresses`, the example says `addresses`.
    ipAddresses: strings,
    addresses: strings,
  })
  .transform((p) => ({
    id: p.id ?? undefined,
    name: p.name,
    addresses: p.ipAddresses.length ? p.ipAddresses : p.addresses,
  }));

const firmwareModule = z
  .looseObject({
    address: text,
    moduleAddress: text,
    serial: text,
    model: text,
    firmwareVersion: text,
    additionalData: text,
    rack: z.union([z.string(), z.number()]).nullish(),
    slot: z.union([z.string(), z.number()]).nullish(),
  })
  .transform((f) => ({
    address: f.address,
    moduleAddress: f.moduleAddress,
    serial: notApplicable(f.serial),
    model: notApplicable(f.model),
    firmwareVersion: notApplicable(f.firmwareVersion),
    additionalData: notApplicable(f.additionalData),
    rack: notApplicable(f.rack === null || f.rack === undefined ? undefined : String(f.rack)),
    slot: notApplicable(f.slot === null || f.slot === undefined ? undefined : String(f.slot)),
  }));

/** A device as `GET /api/v1/devices` reports it (no Purdue level, site, zone or times: the API has none). */
export const SensorDeviceSchema = z
  .looseObject({
    id,
    name: text,
    type: text,
    vendor: text,
    operatingSystem: text,
    ipAddresses: strings,
    macAddresses: strings,
    engineeringStation: flag,
    authorized: flag,
    scanner: flag,
    hasDynamicAddress: flag,
    protocols: z
      .array(sensorProtocol)
      .nullish()
      .transform((v) => v ?? []),
    firmware: z
      .array(firmwareModule)
      .nullish()
      .transform((v) => v ?? []),
  })
  .transform((d) => ({
    id: d.id,
    name: d.name ?? d.ipAddresses[0] ?? String(d.id),
    type: d.type ?? 'Unknown',
    vendor: d.vendor,
    operatingSystem: d.operatingSystem,
    ipAddresses: d.ipAddresses,
    macAddresses: d.macAddresses,
    engineeringStation: d.engineeringStation,
    authorized: d.authorized,
    scanner: d.scanner,
    hasDynamicAddress: d.hasDynamicAddress,
    protocols: d.protocols,
    firmware: d.firmware,
  }));

/** An OT device read from a sensor. */
export type SensorDevice = z.output<typeof SensorDeviceSchema>;

/** A connection between two devices of one sensor. */
export const SensorConnectionSchema = z
  .looseObject({
    firstDeviceId: id,
    secondDeviceId: id,
    lastSeen: optionalTime,
    discovered: optionalTime,
    ports: z
      .array(z.number())
      .nullish()
      .transform((v) => v ?? []),
    protocols: z
      .array(z.looseObject({ name: z.string(), commands: strings }))
      .nullish()
      .transform((v) => (v ?? []).map((p) => ({ name: p.name, commands: p.commands }))),
  })
  .transform((c) => ({
    firstDeviceId: c.firstDeviceId,
    secondDeviceId: c.secondDeviceId,
    lastSeen: c.lastSeen,
    discovered: c.discovered,
    ports: c.ports,
    protocols: c.protocols,
  }));

/** A device connection as the sensor reports it (ports and protocols included). */
export type SensorConnection = z.output<typeof SensorConnectionSchema>;

/** A CVE of a device (by IP address) as `GET /api/v1/devices/cves` reports it. */
export const SensorCveSchema = z
  .looseObject({
    cveId: z.string().min(1),
    ipAddress: z.string(),
    score,
    attackVector: text,
    description: text,
  })
  .transform((c) => ({
    cveId: c.cveId,
    ipAddress: c.ipAddress,
    score: c.score,
    attackVector: c.attackVector,
    description: c.description,
  }));

/** A CVE found on a device address. */
export type SensorCve = z.output<typeof SensorCveSchema>;

/**
 * The alert fields the sensor (`/api/v1|v2/alerts`) and the console (`/external/v1|v2/alerts`)
 * share: sensor-alert-apis.md and management-alert-apis.md (the addresses are v2's).
 */
const onPremAlertFields = {
  time: epochMs,
  title: text,
  message: text,
  severity: text,
  engine: text,
  sourceDevice: z.union([z.number(), z.string()]).nullish(),
  destinationDevice: z.union([z.number(), z.string()]).nullish(),
  sourceDeviceAddress: text,
  destinationDeviceAddress: text,
};

/** The shared alert fields, normalised (null as undefined). */
function onPremAlertOf(a: z.output<z.ZodObject<typeof onPremAlertFields>>) {
  return {
    time: a.time,
    title: a.title,
    message: a.message,
    severity: a.severity,
    engine: a.engine,
    sourceDevice: a.sourceDevice ?? undefined,
    destinationDevice: a.destinationDevice ?? undefined,
    sourceDeviceAddress: a.sourceDeviceAddress,
    destinationDeviceAddress: a.destinationDeviceAddress,
  };
}

/** An alert as `GET /api/v1/alerts` reports it; the docs spell `ID`/`id` and `additionalinformation`/`additionalInformation`. */
export const SensorAlertSchema = z
  .looseObject({
    id: id.optional(),
    ID: id.optional(),
    ...onPremAlertFields,
    additionalInformation: z.unknown().optional(),
    additionalinformation: z.unknown().optional(),
    // `/api/v2/alerts` adds the addresses (in onPremAlertFields) and these (sensor-alert-apis.md).
    remediationSteps: strings,
  })
  .refine((a) => a.id !== undefined || a.ID !== undefined, { message: 'an alert needs an id' })
  .transform((a) => ({
    id: (a.id ?? a.ID) as number,
    ...onPremAlertOf(a),
    additionalInformation: a.additionalInformation ?? a.additionalinformation ?? undefined,
    remediationSteps: a.remediationSteps,
  }));

/** A sensor alert. */
export type SensorAlert = z.output<typeof SensorAlertSchema>;

// ---- Management console integration API v3 ------------------------------------------------

/** `[{u_mac_address}]`, `["aa:bb…"]` or a single string: the v3 docs use all of them. */
const macList = z
  .union([z.array(z.union([z.string(), z.looseObject({ u_mac_address: z.string() })])), z.string()])
  .nullish()
  .transform((v) => {
    if (v === null || v === undefined) return [];
    if (typeof v === 'string') return v ? [v] : [];
    return v.map((m) => (typeof m === 'string' ? m : m.u_mac_address));
  });

const consoleIpAddress = z
  .looseObject({
    u_ip_address: z.string().optional(),
    u_address: z.string().optional(),
    // Table: `u_guessed_mac_address`; example: `u_guessed_mac_addresses`.
    u_guessed_mac_addresses: macList,
    u_guessed_mac_address: macList,
  })
  .refine((a) => a.u_ip_address !== undefined || a.u_address !== undefined, {
    message: 'an IP address object needs u_ip_address',
  })
  .transform((a) => ({
    address: (a.u_ip_address ?? a.u_address) as string,
    guessedMacAddresses: [...new Set([...a.u_guessed_mac_addresses, ...a.u_guessed_mac_address])],
  }));

const listOf = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((v): z.output<T>[] => v ?? []);

/** Picks one field of each object of a list (`[{u_protocol: "MODBUS"}]` → `["MODBUS"]`), accepting plain values too. */
const fieldList = (field: string) =>
  listOf(z.union([z.string(), z.number(), z.looseObject({})])).transform((items) =>
    items
      .map((item) => (typeof item === 'object' ? (item as Record<string, unknown>)[field] : item))
      .filter((v): v is string | number => typeof v === 'string' || typeof v === 'number')
      .map(String),
  );

/** `u_device_type` is documented as a string but the example is `{u_category, u_purdue_layer, u_name}`. */
const deviceType = z
  .union([z.string(), z.looseObject({ u_name: text, u_category: text, u_purdue_layer: text })])
  .nullish()
  .transform((t) => {
    if (t === null || t === undefined)
      return { name: undefined, category: undefined, purdueLayer: undefined };
    if (typeof t === 'string') return { name: t || undefined, category: undefined, purdueLayer: undefined };
    return { name: t.u_name, category: t.u_category, purdueLayer: t.u_purdue_layer };
  });

const consoleFirmware = z
  .looseObject({
    u_appliance: text,
    u_id: z.union([z.number(), z.string()]).nullish(),
    u_asset: z.unknown().optional(),
    u_address: text,
    u_module_address: text,
    u_serial: text,
    u_model: text,
    u_version: text,
    u_additional_data: text,
  })
  .transform((f) => ({
    address: f.u_address,
    moduleAddress: f.u_module_address,
    serial: notApplicable(f.u_serial),
    model: notApplicable(f.u_model),
    firmwareVersion: notApplicable(f.u_version),
    additionalData: notApplicable(f.u_additional_data),
  }));

/** A device of `GET /external/v3/integration/devices/{timestamp}` (and `device/{id}`). */
export const ConsoleDeviceSchema = z
  .looseObject({
    u_id: id,
    u_name: text,
    u_vendor: text,
    u_operating_system: text,
    u_appliance: text,
    u_site: text,
    u_zone: text,
    u_groups: strings,
    u_device_type: deviceType,
    u_purdue_layer: text,
    u_ip_address_objects: listOf(consoleIpAddress),
    u_mac_address_objects: fieldList('u_mac_address'),
    u_protocol_objects: fieldList('u_protocol'),
    u_vlans: fieldList('u_vlan'),
    u_sensor_ids: fieldList('u_sensor_id'),
    u_device_urls: fieldList('u_device_url'),
    u_cm_device_url: text,
    u_firmwares: listOf(consoleFirmware),
    u_first_discovered: optionalTime,
    u_last_activity: optionalTime,
    u_last_update: optionalTime,
  })
  .transform((d) => ({
    id: d.u_id,
    name: d.u_name ?? d.u_ip_address_objects[0]?.address ?? String(d.u_id),
    vendor: d.u_vendor,
    operatingSystem: d.u_operating_system,
    appliance: d.u_appliance,
    site: d.u_site,
    zone: d.u_zone,
    groups: d.u_groups,
    type: d.u_device_type.name,
    category: d.u_device_type.category,
    /**
     * The Purdue layer (`Process Control`, `Supervisory`, `Enterprise`). The doc example has
     * `"N/A"` at the top level and the real layer inside `u_device_type`; the first meaningful
     * value wins.
     */
    purdueLayer: notApplicable(d.u_purdue_layer) ?? notApplicable(d.u_device_type.purdueLayer),
    ipAddresses: d.u_ip_address_objects,
    macAddresses: d.u_mac_address_objects,
    protocols: d.u_protocol_objects,
    vlans: d.u_vlans,
    sensorIds: d.u_sensor_ids.map(Number).filter(Number.isFinite),
    deviceUrls: d.u_device_urls,
    consoleUrl: d.u_cm_device_url,
    firmware: d.u_firmwares,
    firstDiscovered: d.u_first_discovered,
    lastActivity: d.u_last_activity,
    lastUpdate: d.u_last_update,
  }));

/** An OT device read from the management console, with site, zone, Purdue layer and times. */
export type ConsoleDevice = z.output<typeof ConsoleDeviceSchema>;

/** A connection of `GET /external/v3/integration/connections/{timestamp}` (direction, no ports). */
export const ConsoleConnectionSchema = z
  .looseObject({
    u_appliance: text,
    u_src_device_id: id,
    u_src_device_name: text,
    u_dest_device_id: id,
    u_dest_device_name: text,
    u_connection_type: text,
  })
  .transform((c) => ({
    appliance: c.u_appliance,
    sourceDeviceId: c.u_src_device_id,
    sourceDeviceName: c.u_src_device_name,
    destinationDeviceId: c.u_dest_device_id,
    destinationDeviceName: c.u_dest_device_name,
    /** `One Way`, `Two Way` or `Multicast`. */
    connectionType: c.u_connection_type,
  }));

/** A connection between two console devices. */
export type ConsoleConnection = z.output<typeof ConsoleConnectionSchema>;

/** A sensor of `GET /external/v3/integration/sensors`. */
export const ConsoleSensorSchema = z
  .looseObject({
    u_id: id,
    u_name: z.string(),
    u_interface_address: text,
    u_connection_state: text,
    u_version: text,
    u_alert_count: z.number().nullish(),
    u_device_count: z.number().nullish(),
    u_unhandled_alert_count: z.number().nullish(),
    u_is_activated: flag,
    u_data_intelligence_version: text,
    u_uid: text,
    u_zone_id: z.union([z.number(), z.string()]).nullish(),
    u_is_in_learning_mode: flag,
    u_remote_upgrade_stage: text,
  })
  .transform((s) => ({
    id: s.u_id,
    name: s.u_name,
    interfaceAddress: s.u_interface_address,
    /** `SYNCED`, `OUT_OF_SYNC`, `TIME_DIFF_OFFSET` or `DISCONNECTED`. */
    connectionState: s.u_connection_state,
    version: s.u_version,
    alertCount: s.u_alert_count ?? undefined,
    deviceCount: s.u_device_count ?? undefined,
    unhandledAlertCount: s.u_unhandled_alert_count ?? undefined,
    activated: s.u_is_activated,
    dataIntelligenceVersion: s.u_data_intelligence_version,
    uid: s.u_uid,
    zoneId: s.u_zone_id === null || s.u_zone_id === undefined ? undefined : String(s.u_zone_id),
    learningMode: s.u_is_in_learning_mode,
    remoteUpgradeStage: s.u_remote_upgrade_stage,
  }));

/** A sensor managed by the console. */
export type ConsoleSensor = z.output<typeof ConsoleSensorSchema>;

const consoleCve = z
  .looseObject({
    u_cve_id: z.string().min(1),
    u_score: score,
    // Example: `u_ip_address`; table: `u_address`.
    u_ip_address: z.string().optional(),
    u_address: z.string().optional(),
    u_attack_vector: text,
    u_description: text,
  })
  .transform((c) => ({
    cveId: c.u_cve_id,
    score: c.u_score,
    ipAddress: c.u_ip_address ?? c.u_address,
    /** `ADJACENT_NETWORK`, `LOCAL` or `NETWORK`. */
    attackVector: c.u_attack_vector,
    description: c.u_description,
  }));

/** A device and its CVEs, from `GET /external/v3/integration/devicecves/{timestamp}`. */
export const ConsoleDeviceCvesSchema = z
  .looseObject({
    u_id: id,
    u_name: text,
    u_ip_address_objects: listOf(consoleIpAddress),
    u_mac_address_objects: fieldList('u_mac_address'),
    u_last_activity: optionalTime,
    u_last_update: optionalTime,
    u_cves: listOf(consoleCve),
  })
  .transform((d) => ({
    deviceId: d.u_id,
    name: d.u_name,
    ipAddresses: d.u_ip_address_objects,
    macAddresses: d.u_mac_address_objects,
    lastActivity: d.u_last_activity,
    lastUpdate: d.u_last_update,
    cves: d.u_cves,
  }));

/** The CVEs of one console device. */
export type ConsoleDeviceCves = z.output<typeof ConsoleDeviceCvesSchema>;

/** `{u_id}` of `deleteddevices/{timestamp}`. */
export const DeletedDeviceSchema = z.looseObject({ u_id: id }).transform((d) => d.u_id);

/** The APIs write `N/A` (and `""`) where a value is unknown. */
function notApplicable(value: string | undefined): string | undefined {
  return value === undefined || value === '' || value.toUpperCase() === 'N/A' ? undefined : value;
}

// ---- Resource Graph `iotsecurityresources` (the cloud inventory) -------------------------

const isoTime = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((value, ctx) => {
    if (value === null || value === undefined || value === '') return undefined;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a time` });
      return z.NEVER;
    }
    return date;
  });

/**
 * The `id` of a sensor or device row: an Azure resource id, which Snowline writes as the record's
 * source key (`sys_object_source`, correlation ids) as ServiceNow's connector does. ARM gives every
 * resource "Fully qualified resource ID … Ex - /subscriptions/{subscriptionId}/resourceGroups/…/
 * providers/…" (Azure/azure-rest-api-specs
 * specification/common-types/resource-management/v3/types.json, `Resource.id`; a device's is
 * `/subscriptions/…/providers/Microsoft.IoTSecurity/locations/…/deviceGroups/…/devices/<GUID>`,
 * specification/iotsecurity/…/2021-02-01-preview/examples/Devices/Get.json). The spec types it as
 * a plain string with no pattern, so the form is checked here: a row whose id is not an ARM
 * resource id is reported and skipped, never keyed. That keeps Azure keys apart from Snowline's
 * own namespaced keys (`<integration>:device:<id>`, which a row's id could otherwise equal and so
 * take over another record's CI), and keeps a `javascript:` id, which no query may carry, out of
 * the sensor look-ups that would then fail the whole run.
 */
const azureResourceId = z
  .string()
  .regex(
    /^\/subscriptions\/[^/]+\/providers\/[^/]+\/./i,
    'not an Azure resource id (/subscriptions/<subscription>/providers/<namespace>/…)',
  );

/** `…/locations/<loc>/sites/<site>/…` → `<site>` (and the location), from an IoTSecurity resource id. */
function idSegment(id: string, name: string): string | undefined {
  const parts = id.split('/');
  const at = parts.findIndex((p) => p.toLowerCase() === name);
  return at === -1 ? undefined : parts[at + 1];
}

/** A site row (`microsoft.iotsecurity/locations/sites`). */
export const CloudIotSiteSchema = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    subscriptionId: text,
    location: text,
    properties: z
      .looseObject({ displayName: text, tags: z.record(z.string(), z.unknown()).nullish() })
      .nullish(),
  })
  .transform((s) => ({
    id: s.id,
    name: s.name,
    displayName: s.properties?.displayName ?? s.name,
    subscriptionId: s.subscriptionId,
    location: s.location ?? idSegment(s.id, 'locations'),
    tags: Object.fromEntries(Object.entries(s.properties?.tags ?? {}).map(([k, v]) => [k, String(v)])),
  }));

/** An OT site in Azure. */
export type CloudIotSite = z.output<typeof CloudIotSiteSchema>;

/** A sensor row (`microsoft.iotsecurity/locations/sites/sensors`). */
export const CloudIotSensorSchema = z
  .looseObject({
    id: azureResourceId,
    name: z.string(),
    subscriptionId: text,
    properties: z
      .looseObject({
        zone: text,
        sensorStatus: text,
        sensorVersion: text,
        sensorType: text,
        learningMode: z.boolean().nullish(),
        connectivityTime: isoTime,
        // Mapped by ServiceNow's connector, absent from the stored spec (a newer schema).
        hostname: text,
        ip: text,
        mac: text,
        upSince_utc: isoTime,
      })
      .nullish(),
  })
  .transform((s) => {
    const p = s.properties;
    return {
      id: s.id,
      name: s.name,
      /** Site resource name, from the id (`…/sites/<site>/sensors/<name>`). */
      site: idSegment(s.id, 'sites'),
      zone: p?.zone,
      /** `Ok`, `Disconnected`, … */
      status: p?.sensorStatus,
      version: p?.sensorVersion,
      type: p?.sensorType,
      learningMode: p?.learningMode ?? false,
      connectivityTime: p?.connectivityTime,
      hostname: p?.hostname,
      ip: p?.ip,
      mac: p?.mac,
      upSince: p?.upSince_utc,
    };
  });

/** An OT sensor in Azure. */
export type CloudIotSensor = z.output<typeof CloudIotSensorSchema>;

/** Purdue layers of the cloud device model. */
export type CloudPurdueLevel = 'ProcessControl' | 'Supervisory' | 'Enterprise';

/** A device row (`microsoft.iotsecurity/locations/devicegroups/devices`). */
export const CloudIotDeviceSchema = z
  .looseObject({
    id: azureResourceId,
    name: z.string(),
    subscriptionId: text,
    properties: z.looseObject({
      // The spec says `name`; the examples, Resource Graph and ServiceNow say `deviceName`.
      deviceName: text,
      name: text,
      deviceDataSource: text,
      sensor: z.looseObject({ name: text, zone: text, site: text }).nullish(),
      deviceCategoryDisplayName: text,
      deviceTypeDisplayName: text,
      deviceSubTypeDisplayName: text,
      purdueLevel: text,
      criticality: text,
      riskScore: z.number().nullish(),
      authorizedState: text,
      programmingState: text,
      deviceStatus: text,
      firstSeen: isoTime,
      lastSeen: isoTime,
      lastUpdated: isoTime,
      hardware: z.looseObject({ vendor: text, model: text, serialNumber: text }).nullish(),
      operatingSystem: z
        .looseObject({ platform: text, version: text, distribution: text, architecture: text })
        .nullish(),
      firmwares: listOf(z.looseObject({ version: text })),
      // The connector maps plcKeyState → switch_position, plcRunState → switch_remote_mode
      // (ServiceNow/ServiceNowDocs attribute-mapping-sgc-msft-d4iot-azure.md).
      additionalFields: z.looseObject({ plcKeyState: text, plcRunState: text }).nullish(),
      nics: listOf(
        z.looseObject({
          ipv4Address: text,
          ipv6Address: text,
          macAddress: text,
          vlans: strings,
          lastSeen: isoTime,
        }),
      ),
      slots: listOf(
        z.looseObject({
          slotNumber: z.union([z.number(), z.string()]).nullish(),
          rackNumber: z.union([z.number(), z.string()]).nullish(),
          slotType: text,
          hardwareVendor: text,
          firmwareVersion: text,
          model: text,
          serialNumber: text,
        }),
      ),
    }),
  })
  .transform((d) => {
    const p = d.properties;
    const asText = (v: string | number | null | undefined) =>
      v === null || v === undefined || v === '' ? undefined : String(v);
    return {
      id: d.id,
      /** The device's GUID (last segment of its id). */
      deviceId: d.name,
      name: p.deviceName ?? p.name ?? d.name,
      dataSource: p.deviceDataSource,
      sensor: p.sensor ? { name: p.sensor.name, zone: p.sensor.zone, site: p.sensor.site } : undefined,
      category: p.deviceCategoryDisplayName,
      type: p.deviceTypeDisplayName,
      subType: p.deviceSubTypeDisplayName,
      purdueLevel: p.purdueLevel as CloudPurdueLevel | (string & {}) | undefined,
      criticality: p.criticality,
      riskScore: p.riskScore ?? undefined,
      authorized: p.authorizedState === undefined ? undefined : p.authorizedState === 'Authorized',
      programming: p.programmingState === undefined ? undefined : p.programmingState === 'ProgrammingDevice',
      status: p.deviceStatus,
      firstSeen: p.firstSeen,
      lastSeen: p.lastSeen,
      lastUpdated: p.lastUpdated,
      vendor: p.hardware?.vendor,
      model: p.hardware?.model,
      serialNumber: p.hardware?.serialNumber,
      operatingSystem: p.operatingSystem ?? undefined,
      plcKeyState: p.additionalFields?.plcKeyState,
      plcRunState: p.additionalFields?.plcRunState,
      firmwareVersion: p.firmwares.find((f) => f.version)?.version,
      nics: p.nics.map((n) => ({
        ipv4Address: n.ipv4Address,
        ipv6Address: n.ipv6Address,
        macAddress: n.macAddress,
        vlans: n.vlans,
        lastSeen: n.lastSeen,
      })),
      slots: p.slots.map((s) => ({
        slotNumber: asText(s.slotNumber),
        rackNumber: asText(s.rackNumber),
        slotType: s.slotType,
        vendor: s.hardwareVendor,
        firmwareVersion: s.firmwareVersion,
        model: s.model,
        serialNumber: s.serialNumber,
      })),
    };
  });

/** An OT device of the cloud inventory (Resource Graph), normalised. */
export type CloudIotDevice = z.output<typeof CloudIotDeviceSchema>;

/**
 * A device vulnerability row of Resource Graph (`iotsecurityresources`, type
 * {@link IOT_VULNERABILITY_TYPE}): one per (device, CVE). Fields as ServiceNow's own "Vulnerability
 * Response Integration with Microsoft Defender for IoT (Azure)" reads them — `name` → detection
 * key, `properties/vulnerabilityid` → CVE id, `properties/description` → summary,
 * `properties/score` → score, `properties/exploittype` → exploit flags, CI found by `deviceid`
 * (ServiceNow/ServiceNowDocs
 * markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md)
 * — and as the ARM model types them (`DeviceVulnerabilityPropertiesModel`:
 * Azure/azure-rest-api-specs
 * specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/vulnerabilities.json).
 * UNVERIFIED: that `deviceId` sits under `properties` (ServiceNow names it `deviceid` without a
 * path; the ARM model, nested under the device, has none); when absent, the device is taken
 * from an id of the ARM form `…/devices/<deviceId>/vulnerabilities/<cve>`.
 */
export const CloudIotVulnerabilitySchema = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    properties: z.looseObject({
      deviceId: text,
      vulnerabilityId: text,
      description: text,
      score: z.union([z.number(), z.string()]).nullish(),
      severity: text,
      exploitType: text,
      publishedDate: isoTime,
      lastModifiedDate: isoTime,
    }),
  })
  .transform((v, ctx) => {
    const p = v.properties;
    const deviceId = p.deviceId ?? idSegment(v.id, 'devices');
    const cveId = p.vulnerabilityId ?? (idSegment(v.id, 'vulnerabilities') === v.name ? v.name : undefined);
    if (!deviceId || !cveId) {
      ctx.addIssue({
        code: 'custom',
        message: `vulnerability ${v.name} names no ${deviceId ? 'vulnerabilityId' : 'deviceId'}`,
      });
      return z.NEVER;
    }
    const score = p.score === null || p.score === undefined || p.score === '' ? undefined : Number(p.score);
    if (score !== undefined && !Number.isFinite(score)) {
      ctx.addIssue({ code: 'custom', message: `vulnerability ${v.name} has score "${String(p.score)}"` });
      return z.NEVER;
    }
    return {
      name: v.name,
      deviceId,
      cveId,
      description: p.description,
      score,
      severity: p.severity,
      exploitType: p.exploitType,
      publishedDate: p.publishedDate,
      lastModifiedDate: p.lastModifiedDate,
    };
  });

/** A device vulnerability of the cloud inventory (Resource Graph), normalised. */
export type CloudIotVulnerability = z.output<typeof CloudIotVulnerabilitySchema>;

/**
 * The Resource Graph type of device vulnerabilities. UNVERIFIED: Microsoft's Resource Graph
 * tables reference (MicrosoftDocs/azure-docs
 * articles/governance/resource-graph/reference/supported-tables-resources.md) lists no
 * vulnerability type; this one follows the RBAC operation
 * `Microsoft.IoTSecurity/locations/deviceGroups/vulnerabilities/read` "Gets device
 * vulnerabilities" (articles/role-based-access-control/permissions/internet-of-things.md), as the
 * documented devices, alerts and recommendations types follow theirs.
 */
export const IOT_VULNERABILITY_TYPE = 'microsoft.iotsecurity/locations/devicegroups/vulnerabilities';

/**
 * An alert of the management console (`GET /external/v1|v2/alerts`; MicrosoftDocs/azure-docs
 * articles/defender-for-iot/organizations/api/management-alert-apis.md): `Id`/`id`, sensor and
 * zone ids, `handled`; v2 adds the addresses, remediation steps and sensor / zone / site names.
 */
export const ConsoleAlertSchema = z
  .looseObject({
    id: id.optional(),
    Id: id.optional(),
    sensorId: z.union([z.number(), z.string()]).nullish(),
    zoneId: z.union([z.number(), z.string()]).nullish(),
    ...onPremAlertFields,
    remediationSteps: z.union([z.array(z.string()), z.string()]).nullish(),
    sensorName: text,
    zoneName: text,
    siteName: text,
    handled: z.boolean().nullish(),
  })
  .refine((a) => a.id !== undefined || a.Id !== undefined, { message: 'an alert needs an id' })
  .transform((a) => ({
    id: (a.id ?? a.Id) as number,
    sensorId: a.sensorId ?? undefined,
    ...onPremAlertOf(a),
    remediationSteps:
      typeof a.remediationSteps === 'string' ? [a.remediationSteps] : (a.remediationSteps ?? []),
    sensorName: a.sensorName,
    zoneName: a.zoneName,
    siteName: a.siteName,
    handled: a.handled === true,
  }));

/** A management console alert. */
export type ConsoleAlert = z.output<typeof ConsoleAlertSchema>;

/**
 * A device-group alert of Resource Graph (`iotsecurityresources`, type
 * `microsoft.iotsecurity/locations/devicegroups/alerts`): the ARM `AlertModel`
 * (Azure/azure-rest-api-specs specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/
 * preview/2021-07-01-preview/alerts.json) with the fields Microsoft's workbook queries read
 * (MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/workbooks.md: displayName,
 * extendedProperties.SensorId, SourceDeviceAddress, DestinationDeviceAddress, DeviceResourceIds —
 * one device id, joined with `tostring` to a device's `id`). UNVERIFIED (no document names them
 * for IoT alerts): `description`, `remediationSteps` and `extendedProperties.Protocol`, read when
 * present.
 */
export const CloudIotAlertSchema = z
  .looseObject({
    id: z.string().min(1),
    name: z.string().min(1),
    properties: z.looseObject({
      systemAlertId: text,
      alertType: text,
      displayName: text,
      description: text,
      startTimeUtc: z
        .string()
        .refine((v) => !Number.isNaN(Date.parse(v)), { message: 'startTimeUtc is not a date-time' }),
      severity: z.string().min(1),
      status: z.string().min(1),
      remediationSteps: z.union([z.array(z.string()), z.string()]).nullish(),
      extendedProperties: z.record(z.string(), z.unknown()).nullish(),
    }),
  })
  .transform((a) => {
    const p = a.properties;
    const ext = p.extendedProperties ?? {};
    const str = (key: string): string | undefined => {
      const value = ext[key];
      return typeof value === 'string' && value !== ''
        ? value
        : typeof value === 'number'
          ? String(value)
          : undefined;
    };
    const deviceResourceId = str('DeviceResourceIds');
    return {
      id: a.id,
      name: a.name,
      alertType: p.alertType ?? p.displayName ?? 'unknown',
      title: p.displayName ?? p.alertType ?? a.name,
      description: p.description,
      raisedAt: new Date(p.startTimeUtc).toISOString(),
      severity: p.severity,
      status: p.status,
      remediationSteps:
        typeof p.remediationSteps === 'string' ? [p.remediationSteps] : (p.remediationSteps ?? []),
      sensor: str('SensorId'),
      engine: str('Engine'),
      protocol: str('Protocol'),
      sourceAddress: str('SourceDeviceAddress'),
      destinationAddress: str('DestinationDeviceAddress'),
      /** The device's resource name (its GUID), from DeviceResourceIds, else DeviceId. */
      deviceId: deviceResourceId?.split('/').filter(Boolean).at(-1) ?? str('DeviceId'),
    };
  });

/** A Resource Graph OT alert, normalised. */
export type CloudIotAlert = z.output<typeof CloudIotAlertSchema>;

/** The Resource Graph type of device-group alerts (supported-tables-resources.md, `iotsecurityresources`). */
export const IOT_ALERT_TYPE = 'microsoft.iotsecurity/locations/devicegroups/alerts';
