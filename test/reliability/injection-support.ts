/**
 * What the injection scenarios share: hostile values aimed at one record, Resource Graph rows that
 * carry them, and a read of ServiceNow tables as the instance answers them.
 */
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import type { Sandboxes } from '../support/sandboxes.js';
import { seeingSensor } from './support.js';

/**
 * Values that try to make a query on `field` match `victim` as well, or instead: the condition
 * smuggled in after `^OR` / `^NQ` / `^ORDERBY`, after a comma (an IN list's separator), after a
 * newline, behind unicode, or as an operator at the start of the value; and a script the instance
 * would evaluate.
 *
 * @example
 * aimedAt('id', 'sandbox:device:victim') // ['nobody^ORid=sandbox:device:victim', …]
 */
export function aimedAt(field: string, victim: string): string[] {
  return [
    `nobody^OR${field}=${victim}`,
    `nobody^NQ${field}=${victim}`,
    `^NQ${field}=${victim}`,
    `nobody^NQ${field}STARTSWITH${victim.slice(0, 8)}`,
    `nobody,${victim}`,
    `=${victim}`,
    `LIKE${victim}`,
    `STARTSWITH${victim}`,
    `nobody\n^NQ${field}=${victim}`,
    `zoë^OR${field}=${victim}`,
    `nobody^ORDERBY${field}`,
    'javascript:gs.getUserID()',
  ];
}

/** The Resource Graph type of OT device rows, and of OT sensor rows. */
export const RESOURCE_GRAPH_DEVICE = 'microsoft.iotsecurity/locations/devicegroups/devices';
export const RESOURCE_GRAPH_SENSOR = 'microsoft.iotsecurity/locations/sites/sensors';

/** An OT device row of `iotsecurityresources`, as Defender for IoT serves it, with the given identity. */
export function resourceGraphDeviceRow(
  sandboxes: Sandboxes,
  device: {
    /** The row's `name`: the device's GUID, Snowline's device key. */
    readonly deviceId: string;
    /** The row's `id` (the native key); by default the ARM id ending in `deviceId`. */
    readonly id?: string;
    readonly name: string;
    readonly ip: string;
    readonly mac: string;
    /** The sensor that saw it; by default the estate's first connected sensor out of learning mode. */
    readonly sensor?: string;
  },
): Record<string, unknown> {
  const seeing = seeingSensor(sandboxes);
  const { subscriptionId, location } = seeing.site;
  return {
    id:
      device.id ??
      `/subscriptions/${subscriptionId}/providers/Microsoft.IoTSecurity/locations/${location}/deviceGroups/injection/devices/${device.deviceId}`,
    name: device.deviceId,
    type: RESOURCE_GRAPH_DEVICE,
    subscriptionId,
    location,
    properties: {
      deviceDataSource: 'OtSensor',
      deviceName: device.name,
      deviceSubTypeDisplayName: 'PLC',
      sensor: device.sensor
        ? { name: device.sensor }
        : { name: seeing.name, zone: seeing.zone, site: seeing.site.displayName },
      nics: [{ ipv4Address: device.ip, macAddress: device.mac }],
    },
  };
}

/** An OT sensor row of `iotsecurityresources`: connected, out of learning mode, with the given `id` and `name`. */
export function resourceGraphSensorRow(
  sandboxes: Sandboxes,
  sensor: { readonly id: string; readonly name: string },
): Record<string, unknown> {
  const { subscriptionId, location } = seeingSensor(sandboxes).site;
  return {
    id: sensor.id,
    name: sensor.name,
    type: RESOURCE_GRAPH_SENSOR,
    subscriptionId,
    location,
    properties: { sensorStatus: 'Ok', learningMode: false, sensorType: 'Ot', zone: 'injection' },
  };
}

/** Every row of a ServiceNow table, the given fields as text, read as the integration user. */
export async function serviceNowRows(
  loaded: LoadedConfig,
  table: string,
  fields: readonly string[],
): Promise<Record<string, string>[]> {
  const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
    clock: systemClock,
    counters: new RequestCounters(),
  });
  try {
    const rows = await client.listAll(table, { fields, pageSize: 1000 });
    return rows.map((r) => Object.fromEntries(fields.map((f) => [f, stringValue(r[f]) ?? ''])));
  } finally {
    await close();
  }
}
