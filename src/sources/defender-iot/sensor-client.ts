import type { z } from 'zod';
import type { IntegrationConfig } from '../../config/schema.js';
import { UpstreamError } from '../../errors.js';
import type { ResilientHttpClient } from '../../runtime/http/resilient-client.js';
import { chunk, parseRecords, type SourcePage } from '../common.js';
import {
  SensorAlertSchema,
  SensorConnectionSchema,
  SensorCveSchema,
  SensorDeviceSchema,
  type SensorAlert,
  type SensorConnection,
  type SensorCve,
  type SensorDevice,
} from './models.js';
import { otGet } from './ot-http.js';

/** One configured sensor (`defender.sensors[i]`). */
export type SensorConfig = IntegrationConfig['defender']['sensors'][number];

/** Options for {@link SensorClient}. */
export interface SensorClientOptions {
  readonly sensor: SensorConfig;
  /** The retry loop of this sensor (service `sensor`). */
  readonly http: ResilientHttpClient;
  /** Where the token is configured, quoted when it is refused, e.g. `defender.sensors[0].token`. */
  readonly configKey?: string;
  /** Records per yielded page (the API answers whole lists; pages keep consumers uniform). */
  readonly pageSize?: number;
}

/**
 * One OT sensor's on-premises API v1 (`/api/v1/...`), authenticated with the raw API token.
 * The API answers whole lists without paging; they are yielded in pages of `pageSize` so that
 * every source has the same shape. The sensor reports no site, zone or Purdue level: those come
 * from the configuration ({@link SensorClient.site} etc.).
 *
 * @example
 * for await (const page of sensor.devices()) for (const device of page.items) …
 */
export class SensorClient {
  private readonly pageSize: number;
  private readonly target: { label: string; url: string; token: string; configKey: string };

  constructor(private readonly options: SensorClientOptions) {
    this.pageSize = options.pageSize ?? 500;
    this.target = {
      label: `sensor ${options.sensor.name}`,
      url: options.sensor.url,
      token: options.sensor.token,
      configKey: options.configKey ?? `the token of sensor ${options.sensor.name}`,
    };
  }

  /** Name of the sensor as configured. */
  get name(): string {
    return this.options.sensor.name;
  }

  /** Site of the sensor, from the configuration. */
  get site(): string | undefined {
    return this.options.sensor.site;
  }

  /** Zone of the sensor, from the configuration. */
  get zone(): string | undefined {
    return this.options.sensor.zone;
  }

  /** Default Purdue level of this sensor's devices, from the configuration. */
  get purdueLevel(): number | undefined {
    return this.options.sensor.purdueLevel;
  }

  /** Every device the sensor knows (`GET /api/v1/devices`), optionally only (un)authorized ones. */
  devices(options: { authorized?: boolean } = {}): AsyncIterable<SourcePage<SensorDevice>> {
    const query = options.authorized === undefined ? '' : `?authorized=${options.authorized}`;
    return this.list(`/api/v1/devices${query}`, SensorDeviceSchema);
  }

  /** Connections between devices (`GET /api/v1/devices/connections`); times are epoch ms. */
  connections(
    options: { discoveredAfter?: Date; discoveredBefore?: Date; lastActiveInMinutes?: number } = {},
  ): AsyncIterable<SourcePage<SensorConnection>> {
    const params = new URLSearchParams();
    if (options.discoveredAfter) params.set('discoveredAfter', String(options.discoveredAfter.getTime()));
    if (options.discoveredBefore) params.set('discoveredBefore', String(options.discoveredBefore.getTime()));
    if (options.lastActiveInMinutes !== undefined)
      params.set('lastActiveInMinutes', String(options.lastActiveInMinutes));
    return this.list(`/api/v1/devices/connections${suffix(params)}`, SensorConnectionSchema);
  }

  /**
   * CVEs of every device address (`GET /api/v1/devices/cves`), highest score first. `top` is
   * per address and defaults to 100 on the sensor.
   */
  cves(options: { top?: number } = {}): AsyncIterable<SourcePage<SensorCve>> {
    const params = new URLSearchParams();
    if (options.top !== undefined) params.set('top', String(options.top));
    return this.list(`/api/v1/devices/cves${suffix(params)}`, SensorCveSchema);
  }

  /**
   * Alerts (`GET /api/v1/alerts`, or `/api/v2/alerts` which adds the source and destination
   * addresses and remediation steps: sensor-alert-apis.md), optionally by state and time window.
   */
  alerts(
    options: { state?: 'handled' | 'unhandled'; fromTime?: Date; toTime?: Date; version?: 1 | 2 } = {},
  ): AsyncIterable<SourcePage<SensorAlert>> {
    const params = new URLSearchParams();
    if (options.state) params.set('state', options.state);
    if (options.fromTime) params.set('fromTime', String(options.fromTime.getTime()));
    if (options.toTime) params.set('toTime', String(options.toTime.getTime()));
    return this.list(`/api/v${options.version ?? 1}/alerts${suffix(params)}`, SensorAlertSchema);
  }

  private async *list<S extends z.ZodType>(path: string, schema: S): AsyncIterable<SourcePage<z.output<S>>> {
    const body = await otGet(this.options.http, this.target, path);
    if (!Array.isArray(body)) {
      throw new UpstreamError(
        this.options.http.service,
        200,
        `${this.target.label} answered GET ${path.split('?')[0]} with something other than a list`,
        { retryable: false },
      );
    }
    for (const records of chunk(body, this.pageSize)) {
      yield parseRecords(schema, records, `${this.target.label} ${path.split('?')[0]}`);
    }
  }
}

function suffix(params: URLSearchParams): string {
  const query = params.toString();
  return query ? `?${query}` : '';
}
