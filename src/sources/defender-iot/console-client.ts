import type { z } from 'zod';
import { InputError, UpstreamError } from '../../errors.js';
import type { ResilientHttpClient } from '../../runtime/http/resilient-client.js';
import { parseRecords, type SourcePage } from '../common.js';
import {
  ConsoleAlertSchema,
  ConsoleConnectionSchema,
  ConsoleDeviceCvesSchema,
  ConsoleDeviceSchema,
  ConsoleSensorSchema,
  DeletedDeviceSchema,
  type ConsoleAlert,
  type ConsoleConnection,
  type ConsoleDevice,
  type ConsoleDeviceCves,
  type ConsoleSensor,
} from './models.js';
import { otGet, otSend } from './ot-http.js';

/** The console's default page size is 50; larger pages mean fewer requests. */
export const DEFAULT_CONSOLE_PAGE_SIZE = 500;

/** Upper bound on pages of one read, so that a console whose `u_count` keeps growing cannot hang a run. */
const MAX_PAGES = 100_000;

/** Options for {@link ConsoleClient}. */
export interface ConsoleClientOptions {
  readonly url: string;
  readonly token: string;
  /** The retry loop of the console (service `console`). */
  readonly http: ResilientHttpClient;
  readonly pageSize?: number;
  readonly configKey?: string;
}

/** A point in time for the `{timestamp}` path segment: only records updated since then are returned. */
export type Since = Date | number;

/**
 * The on-premises management console's integration API v3 (`/external/v3/integration/...`),
 * authenticated with the raw API token. Lists are polled by timestamp (epoch ms) and paged by
 * `page` (0-based) and `size`; `u_count` is the total across pages, so reading stops once it is
 * covered (or on a short page), without asking for an empty page after an exact multiple.
 *
 * @example
 * for await (const page of console.devices(lastRun)) for (const device of page.items) …
 */
export class ConsoleClient {
  private readonly pageSize: number;
  private readonly target: { label: string; url: string; token: string; configKey: string };

  constructor(private readonly options: ConsoleClientOptions) {
    this.pageSize = options.pageSize ?? DEFAULT_CONSOLE_PAGE_SIZE;
    this.target = {
      label: 'management console',
      url: options.url,
      token: options.token,
      configKey: options.configKey ?? 'defender.console.token',
    };
  }

  /**
   * Devices new or updated since `since` (0 = all), optionally of one sensor.
   *
   * @param notificationType 0 = new and updated (default), 1 = new only, 2 = updated only.
   */
  devices(
    since: Since = 0,
    options: { sensorId?: number; notificationType?: 0 | 1 | 2 } = {},
  ): AsyncIterable<SourcePage<ConsoleDevice>> {
    const params: Record<string, string> = {};
    if (options.sensorId !== undefined) params.sensorId = String(options.sensorId);
    if (options.notificationType !== undefined) params.notificationType = String(options.notificationType);
    return this.paged(`devices/${epoch(since)}`, 'u_devices', ConsoleDeviceSchema, params);
  }

  /** Connections new or updated since `since` (direction, no ports). */
  connections(since: Since = 0): AsyncIterable<SourcePage<ConsoleConnection>> {
    return this.paged(`connections/${epoch(since)}`, 'u_connections', ConsoleConnectionSchema, {});
  }

  /**
   * Devices with their CVEs, updated since `since`.
   *
   * @param options.score minimum CVE score; `deviceIds` limits the read to those devices.
   */
  deviceCves(
    since: Since = 0,
    options: { sensorId?: number; score?: number; deviceIds?: readonly number[] } = {},
  ): AsyncIterable<SourcePage<ConsoleDeviceCves>> {
    const params: Record<string, string> = {};
    if (options.sensorId !== undefined) params.sensorId = String(options.sensorId);
    if (options.score !== undefined) params.score = String(options.score);
    if (options.deviceIds?.length) params.deviceIds = options.deviceIds.join(',');
    return this.paged(`devicecves/${epoch(since)}`, 'u_device_cves', ConsoleDeviceCvesSchema, params);
  }

  /** One device, or `undefined` when the console does not know it. The doc example wraps it in an array. */
  async device(deviceId: number): Promise<ConsoleDevice | undefined> {
    const body = await otGet(this.options.http, this.target, `/external/v3/integration/device/${deviceId}`, {
      notFound: 'undefined',
    });
    if (body === undefined || body === null) return undefined;
    const records = Array.isArray(body) ? body : [body];
    if (records.length === 0) return undefined;
    const page = parseRecords(
      ConsoleDeviceSchema,
      records.slice(0, 1),
      `${this.target.label} device ${deviceId}`,
    );
    const item = page.items[0];
    if (item === undefined)
      throw page.problems[0]?.error ?? new InputError(`console device ${deviceId} could not be read`);
    return item;
  }

  /** Ids of devices deleted since `since` (`[{u_id}]`, not paged). */
  async deletedDevices(since: Since = 0): Promise<SourcePage<number>> {
    const path = `/external/v3/integration/deleteddevices/${epoch(since)}`;
    return parseRecords(
      DeletedDeviceSchema,
      this.list(await otGet(this.options.http, this.target, path), path),
      `${this.target.label} ${path}`,
    );
  }

  /** The sensors the console manages, with connection state and learning mode (not paged). */
  async sensors(): Promise<SourcePage<ConsoleSensor>> {
    const path = '/external/v3/integration/sensors';
    return parseRecords(
      ConsoleSensorSchema,
      this.list(await otGet(this.options.http, this.target, path), path),
      `${this.target.label} ${path}`,
    );
  }

  /**
   * Alerts (`GET /external/v2/alerts`, not paged), optionally by state and creation time (epoch
   * ms): MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/api/management-alert-apis.md.
   * v2 adds the addresses, remediation steps and sensor / zone / site names.
   */
  async alerts(
    options: { state?: 'handled' | 'unhandled'; fromTime?: Date } = {},
  ): Promise<SourcePage<ConsoleAlert>> {
    const params = new URLSearchParams();
    if (options.state) params.set('state', options.state);
    if (options.fromTime) params.set('fromTime', String(options.fromTime.getTime()));
    const path = `/external/v2/alerts${params.size ? `?${params.toString()}` : ''}`;
    return parseRecords(
      ConsoleAlertSchema,
      this.list(await otGet(this.options.http, this.target, path), path),
      `${this.target.label} /external/v2/alerts`,
    );
  }

  /**
   * Handles an alert (`PUT /external/v1/alerts/<UUID>` with `{"action": "handle" | "handleAndLearn"}`,
   * management-alert-apis.md). The console answers 200 also when the alert was already handled
   * ("Alert was already handled"), so a repeat after a crash is harmless.
   *
   * @returns the console's message (`content`).
   */
  async handleAlert(uuid: string, action: 'handle' | 'handleAndLearn'): Promise<string> {
    const body = (await otSend(
      this.options.http,
      this.target,
      'PUT',
      `/external/v1/alerts/${encodeURIComponent(uuid)}`,
      { action },
    )) as { content?: unknown; error?: unknown } | null;
    if (typeof body?.error === 'string')
      throw new UpstreamError(
        this.options.http.service,
        200,
        `${this.target.label} refused to ${action} alert ${uuid}: ${body.error}`,
        {
          retryable: false,
        },
      );
    return typeof body?.content === 'string' ? body.content : '';
  }

  private list(body: unknown, path: string): unknown[] {
    if (Array.isArray(body)) return body;
    throw new UpstreamError(
      this.options.http.service,
      200,
      `${this.target.label} answered GET ${path} with something other than a list`,
      {
        retryable: false,
      },
    );
  }

  private async *paged<S extends z.ZodType>(
    resource: string,
    listKey: string,
    schema: S,
    params: Record<string, string>,
  ): AsyncIterable<SourcePage<z.output<S>>> {
    const size = this.pageSize;
    const source = `${this.target.label} /external/v3/integration/${resource.split('/')[0]}`;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ ...params, page: String(page), size: String(size) });
      const path = `/external/v3/integration/${resource}?${query.toString()}`;
      const body = (await otGet(this.options.http, this.target, path)) as Record<string, unknown> | null;
      const records = body && typeof body === 'object' ? body[listKey] : undefined;
      if (!Array.isArray(records)) {
        throw new UpstreamError(
          this.options.http.service,
          200,
          `${source} answered without a "${listKey}" list`,
          {
            retryable: false,
          },
        );
      }
      yield parseRecords(schema, records, source);
      const count = typeof body?.u_count === 'number' ? body.u_count : undefined;
      // A short page is the last; so is the page that reaches u_count (no empty page is asked
      // for after an exact multiple of the page size).
      if (records.length < size) return;
      if (count !== undefined && (page + 1) * size >= count) return;
    }
    throw new UpstreamError(
      this.options.http.service,
      200,
      `${source} paging did not end after ${MAX_PAGES} pages`,
      {
        retryable: false,
      },
    );
  }
}

function epoch(since: Since): number {
  const ms = since instanceof Date ? since.getTime() : since;
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`not a point in time: ${String(since)}`);
  return Math.floor(ms);
}

/**
 * The `<UUID>` `PUT /external/v1/alerts/<UUID>` takes for an alert of the GET answer. UNVERIFIED:
 * the GET answer carries no UUID and management-alert-apis.md names none; its one example,
 * `1-1594550943000`, reads as `<alert id>-<epoch ms of the alert>`.
 */
export function consoleAlertUuid(alert: Pick<ConsoleAlert, 'id' | 'time'>): string {
  return `${alert.id}-${alert.time.getTime()}`;
}
