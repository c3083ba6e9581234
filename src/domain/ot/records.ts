/**
 * Canonical OT records: what every Defender for IoT source (sensor API, management console,
 * Resource Graph) is normalised into before mapping to the CMDB. A field a source does not
 * provide stays undefined (see docs/ot-inventory.md, "Sources"); the mapping
 * then fills it from configuration (site, zone, Purdue level per sensor) or leaves it empty.
 */

/** A network interface of a device. MACs are lower-case, colon-separated. */
export interface OtNic {
  readonly mac?: string;
  readonly ip?: string;
}

/** A controller module (rack slot) of a PLC or DCS controller. */
export interface OtModule {
  readonly rack?: string;
  readonly slot?: string;
  readonly model?: string;
  readonly serialNumber?: string;
  readonly firmwareVersion?: string;
  readonly vendor?: string;
  readonly moduleType?: string;
}

/** An OT sensor (a NIDS in ServiceNow's words). */
export interface OtSensor {
  /** Stable source key: the sensor's resource id, console id, or configured name. */
  readonly key: string;
  /** The key ServiceNow's own Defender connector gives the sensor (its Azure resource id), when the source has it. */
  readonly nativeKey?: string;
  readonly name: string;
  readonly site?: string;
  readonly zone?: string;
  readonly fqdn?: string;
  readonly ip?: string;
  readonly mac?: string;
  readonly firmwareVersion?: string;
  /** Connected to its manager / the cloud; undefined when the source does not say. */
  readonly connected?: boolean;
  /** The source's own connection state text (`SYNCED`, `Disconnected`…), kept for display. */
  readonly connectionState?: string;
  readonly learningMode?: boolean;
  readonly firstSeen?: Date;
  /** Default Purdue level of the devices it sees (configured for the sensor API). */
  readonly purdueLevel?: number;
}

/**
 * An ISA-95 site. Sites are keyed by name: devices and sensors name their site, and every
 * source must land on the same site CI whichever way it learnt of it.
 */
export interface OtSite {
  readonly key: string;
  readonly name: string;
}

/** An OT (or IT) device seen by sensors. */
export interface OtDevice {
  /** Stable source key (device resource id, console `u_id`, or `<sensor>/<id>`). */
  readonly key: string;
  /** The key ServiceNow's own Defender connector gives the device (its Azure resource id), when the source has it. */
  readonly nativeKey?: string;
  readonly name: string;
  /** Defender's device type (`PLC`, `HMI`, `Engineering Station`…); `Unknown` when not classified. */
  readonly deviceType: string;
  /** Defender's category (`ICS`, `IT`, `Network`…), when given. */
  readonly category?: string;
  readonly vendor?: string;
  readonly model?: string;
  readonly serialNumber?: string;
  readonly firmwareVersion?: string;
  /** The operating system's name (Resource Graph `operatingSystem.distribution`); it can reclassify the CI. */
  readonly operatingSystem?: string;
  /** Resource Graph `operatingSystem.version` → `os_version`. */
  readonly osVersion?: string;
  /** Resource Graph `operatingSystem.platform` → `os_domain` (as the connector's mapping page says). */
  readonly osPlatform?: string;
  /** Resource Graph `operatingSystem.architecture` (`x64`, `x86`…) → `os_address_width`. */
  readonly osArchitecture?: string;
  /** PLC key switch state (Resource Graph `additionalFields.plcKeyState`) → `switch_position`. */
  readonly plcKeyState?: string;
  /** PLC run state (Resource Graph `additionalFields.plcRunState`) → `switch_remote_mode`. */
  readonly plcRunState?: string;
  readonly nics: readonly OtNic[];
  readonly modules: readonly OtModule[];
  readonly protocols: readonly string[];
  /** Numeric Purdue level when the source gives one. */
  readonly purdueLevel?: number;
  /** Purdue layer name (`Process Control`, `Supervisory`, `Enterprise`) when the source gives one. */
  readonly purdueLayer?: string;
  readonly site?: string;
  readonly zone?: string;
  readonly criticality?: string;
  /** Keys of the sensors that detect it. */
  readonly sensorKeys: readonly string[];
  readonly firstSeen?: Date;
  readonly lastSeen?: Date;
}

/** A network connection between two devices. */
export interface OtConnection {
  readonly key: string;
  readonly sourceDeviceKey: string;
  readonly destinationDeviceKey: string;
  readonly ports: readonly number[];
  readonly protocols: readonly string[];
  readonly lastSeen?: Date;
}

/** Normalises a MAC address to ServiceNow's convention: lower-case, colon-separated, zero-padded. */
export function normaliseMac(mac: string | undefined | null): string | undefined {
  if (!mac) return undefined;
  const hex = mac.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12) return undefined;
  return hex.match(/../g)!.join(':');
}
