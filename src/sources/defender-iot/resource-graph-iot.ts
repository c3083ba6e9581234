import { InputError } from '../../errors.js';
import type { ResourceGraphClient } from '../azure/resource-graph.js';
import { parseRecords, type SourcePage } from '../common.js';
import {
  CloudIotAlertSchema,
  CloudIotDeviceSchema,
  CloudIotSensorSchema,
  CloudIotSiteSchema,
  CloudIotVulnerabilitySchema,
  IOT_ALERT_TYPE,
  IOT_VULNERABILITY_TYPE,
  type CloudIotAlert,
  type CloudIotDevice,
  type CloudIotSensor,
  type CloudIotSite,
  type CloudIotVulnerability,
} from './models.js';

/** Columns every query projects: `id` first, so that Resource Graph can page stably. */
const COLUMNS = 'project id, name, type, subscriptionId, location, properties';

/** The Resource Graph type of OT devices. */
const IOT_DEVICE_TYPE = 'microsoft.iotsecurity/locations/devicegroups/devices';

/**
 * Which sensor's devices a read is of: one sensor's (`sensor`), or those of no sensor in
 * `otherThan` (a device naming none included), the rest of a run split per sensor.
 */
export type SensorScope = { readonly sensor: string } | { readonly otherThan: readonly string[] };

/** A device row's sensor name as KQL reads it. */
const DEVICE_SENSOR = 'tostring(properties.sensor.name)';

/** The `where` clause of a {@link SensorScope} on device rows; '' for every device. */
function sensorWhere(scope: SensorScope | undefined): string {
  if (!scope) return '';
  if ('sensor' in scope) {
    if (scope.sensor === '') throw new InputError('a sensor name must not be empty');
    return ` | where ${DEVICE_SENSOR} == ${kqlString(scope.sensor)}`;
  }
  if (scope.otherThan.length === 0) return '';
  return ` | where isempty(${DEVICE_SENSOR}) or ${DEVICE_SENSOR} !in (${scope.otherThan.map(kqlString).join(', ')})`;
}

/**
 * Device vulnerabilities ordered by device, then by id: see
 * {@link IotResourceGraphReader.vulnerabilities}.
 */
export const IOT_VULNERABILITIES_QUERY = iotVulnerabilitiesQuery();

/**
 * The device vulnerabilities query, of the devices of one {@link SensorScope} when given. The
 * rows name no sensor (the ARM model, vulnerabilities.json, has none), so they are joined with the
 * device rows of that scope by device id: Resource Graph joins a table with itself (`inner`,
 * MicrosoftDocs/azure-docs articles/governance/resource-graph/concepts/query-language.md, which
 * also has the join column kept in the right side's `project`).
 */
export function iotVulnerabilitiesQuery(scope?: SensorScope): string {
  const join = scope
    ? ` | join kind=inner (iotsecurityresources | where type == '${IOT_DEVICE_TYPE}'${sensorWhere(scope)}` +
      ` | project deviceId = tostring(name)) on deviceId`
    : '';
  return (
    `iotsecurityresources | where type == '${IOT_VULNERABILITY_TYPE}'` +
    ` | extend deviceId = tostring(properties.deviceId)${join} | order by deviceId asc, id asc | ${COLUMNS}`
  );
}

/**
 * A KQL string literal. Names come from configuration or Azure; quoting them keeps a quote in a
 * sensor name from changing the query.
 */
export function kqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Defender for IoT's cloud inventory in Resource Graph (`iotsecurityresources`): sites,
 * sensors and devices, as the ServiceNow Service Graph Connector (Azure) reads them, and device
 * vulnerabilities, as ServiceNow's VR integration for Defender for IoT (Azure) reads them. Devices
 * carry Purdue level, site, zone and first/last seen, but no connections.
 *
 * @example
 * const iot = new IotResourceGraphReader(sources.resourceGraph, { subscriptions });
 * for await (const page of iot.devices({ sensor: 'plant-a-line-1' })) …
 */
export class IotResourceGraphReader {
  constructor(
    private readonly graph: ResourceGraphClient,
    private readonly scope: { subscriptions?: readonly string[]; managementGroups?: readonly string[] } = {},
    private readonly pageSize = 1000,
  ) {}

  /** OT sites (`microsoft.iotsecurity/locations/sites`). */
  sites(): AsyncIterable<SourcePage<CloudIotSite>> {
    return this.graph.queryRecords(
      `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/sites' | ${COLUMNS}`,
      CloudIotSiteSchema,
      { ...this.scope, pageSize: this.pageSize, what: 'IoT sites' },
    );
  }

  /** OT sensors (`microsoft.iotsecurity/locations/sites/sensors`). */
  sensors(): AsyncIterable<SourcePage<CloudIotSensor>> {
    return this.graph.queryRecords(
      `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/sites/sensors' | ${COLUMNS}`,
      CloudIotSensorSchema,
      { ...this.scope, pageSize: this.pageSize, what: 'IoT sensors' },
    );
  }

  /**
   * Devices seen by OT sensors, optionally of one sensor (the connector reads per validated
   * sensor, so that a sensor in learning mode can be left out).
   */
  devices(scope?: SensorScope): AsyncIterable<SourcePage<CloudIotDevice>> {
    return this.graph.queryRecords(
      `iotsecurityresources | where type == '${IOT_DEVICE_TYPE}'` +
        ` | where tostring(properties.deviceDataSource) == 'OtSensor'${sensorWhere(scope)} | ${COLUMNS}`,
      CloudIotDeviceSchema,
      { ...this.scope, pageSize: this.pageSize, what: 'IoT devices' },
    );
  }

  /**
   * Alerts not Closed (type {@link IOT_ALERT_TYPE}), filtered as Microsoft's workbook samples do
   * (`where properties.status != 'Closed'`, MicrosoftDocs/azure-docs
   * articles/defender-for-iot/organizations/workbooks.md). An alert closed before it was ever
   * read needs no ticket; the caller applies its creation-time watermark to the rows.
   */
  openAlerts(): AsyncIterable<SourcePage<CloudIotAlert>> {
    return this.graph.queryRecords(
      `iotsecurityresources | where type == '${IOT_ALERT_TYPE}' | where properties.status != 'Closed' | ${COLUMNS}`,
      CloudIotAlertSchema,
      { ...this.scope, pageSize: this.pageSize, what: 'IoT alerts' },
    );
  }

  /**
   * Alerts by their resource ids (any status), 100 ids a query: how the state of alerts with an
   * open ticket is read again each run (a creation-time filter never shows an alert closed later).
   */
  async *alertsById(ids: readonly string[]): AsyncIterable<SourcePage<CloudIotAlert>> {
    for (let i = 0; i < ids.length; i += 100) {
      const list = ids
        .slice(i, i + 100)
        .map(kqlString)
        .join(', ');
      yield* this.graph.queryRecords(
        `iotsecurityresources | where type == '${IOT_ALERT_TYPE}' | where id in~ (${list}) | ${COLUMNS}`,
        CloudIotAlertSchema,
        { ...this.scope, pageSize: this.pageSize, what: 'IoT alerts' },
      );
    }
  }

  /**
   * Device vulnerabilities (type {@link IOT_VULNERABILITY_TYPE}), one row per (device, CVE),
   * ordered by device and then by id, so that a device's rows come together and a reader can
   * finish one device before the next starts. Ordering by a column that is not unique needs `id`
   * after it for pages that neither repeat nor skip rows: Microsoft Learn, "Guidance for
   * pagination" (MicrosoftDocs/azure-docs articles/governance/resource-graph/concepts/paging-results.md).
   * A row that does not parse is a problem keyed by its device (`properties.deviceId`) when the
   * row names one, so that the device's other CVEs are not taken as its whole list. With a
   * `scope`, only the rows of that scope's devices (see {@link iotVulnerabilitiesQuery}).
   */
  async *vulnerabilities(scope?: SensorScope): AsyncIterable<SourcePage<CloudIotVulnerability>> {
    const what = 'resourcegraph IoT device vulnerabilities';
    for await (const rows of this.graph.queryRows(iotVulnerabilitiesQuery(scope), {
      ...this.scope,
      pageSize: this.pageSize,
    })) {
      const page = parseRecords(CloudIotVulnerabilitySchema, rows, what);
      yield {
        items: page.items,
        problems: page.problems.map((p) => {
          const deviceId = deviceIdOf(rows[p.index]);
          return deviceId ? { ...p, key: deviceId } : p;
        }),
      };
    }
  }
}

/** The `properties.deviceId` of a raw Resource Graph row, when it has a usable one. */
function deviceIdOf(row: unknown): string | undefined {
  const properties = (row as { properties?: { deviceId?: unknown } } | undefined)?.properties;
  return typeof properties?.deviceId === 'string' && properties.deviceId !== ''
    ? properties.deviceId
    : undefined;
}
