/**
 * Purdue levels. Defender reports three layers (console `u_purdue_layer`, Resource Graph
 * `purdueLevel`); the CMDB stores a level 0–5 (3.5 for the DMZ). The sensor API reports none:
 * the level then comes from the sensor's configuration.
 */

/** Layer → level (default: Process Control → 1, Supervisory → 2, Enterprise → 4). Keys compare without case or spaces. */
export const DEFAULT_LAYER_LEVELS: Readonly<Record<string, number>> = {
  processcontrol: 1,
  supervisory: 2,
  enterprise: 4,
};

/** Device types whose level is more precise than their layer's (e.g. field devices → 0). */
export const DEFAULT_TYPE_LEVELS: Readonly<Record<string, number>> = {
  'industrial sensor': 0,
  'industrial actuator': 0,
  'industrial drive': 0,
  'field device': 0,
};

const squash = (text: string) => text.toLowerCase().replace(/[\s_-]/g, '');

/**
 * The Purdue level of a device: its device type's refinement, else the numeric level its source
 * gave, else its layer through the layer table, else the sensor's configured level.
 */
export function purdueLevelOf(
  device: { readonly deviceType: string; readonly purdueLevel?: number; readonly purdueLayer?: string },
  options: {
    readonly sensorLevel?: number;
    readonly layerLevels?: Readonly<Record<string, number>>;
    readonly typeLevels?: Readonly<Record<string, number>>;
  } = {},
): number | undefined {
  const typeLevels = options.typeLevels ?? DEFAULT_TYPE_LEVELS;
  const byType = Object.entries(typeLevels).find(([type]) => squash(type) === squash(device.deviceType));
  if (byType) return byType[1];
  if (device.purdueLevel !== undefined && Number.isFinite(device.purdueLevel)) return device.purdueLevel;
  if (device.purdueLayer) {
    const layers = options.layerLevels ?? DEFAULT_LAYER_LEVELS;
    const byLayer = Object.entries(layers).find(([layer]) => squash(layer) === squash(device.purdueLayer!));
    if (byLayer) return byLayer[1];
  }
  return options.sensorLevel;
}

/** A level as the CMDB stores it: `"1.0"`, `"3.5"`. */
export function formatPurdueLevel(level: number | undefined): string | undefined {
  return level === undefined ? undefined : level.toFixed(1);
}
