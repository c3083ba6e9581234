import type { Context, Hono } from 'hono';
import { PROTOCOLS } from '../dataset/index.js';
import { otError, streamJsonArray } from './http.js';
import type { DefenderState, LiveAlert, LiveDevice, LiveSensor, RawConsoleList } from './state.js';

/** Raw access tokens of the on-premises APIs (no `Bearer` prefix, contract §7). */
export interface OtTokens {
  readonly sensors: ReadonlyMap<string, string>;
  readonly console: string;
}

const CONSOLE_APPLIANCE = 'Management console (CM)';
const LAYER = (level: number): string =>
  level <= 1 ? 'Process Control' : level <= 3 ? 'Supervisory' : 'Enterprise';
const PROTOCOL_BY_NAME = new Map(PROTOCOLS.map((p, i) => [p.name, i]));

function authorised(c: Context, expected: string): boolean {
  // The on-premises APIs take the raw token; "Bearer <token>" is refused as a real appliance would.
  return c.req.header('authorization') === expected;
}

// ---- sensor API v1 -------------------------------------------------------------------------

/** `/api/v1/devices` item: exactly the fields the sensor documents (no Purdue level, site, zone or times). */
function sensorDeviceJson(d: LiveDevice): Record<string, unknown> {
  const ips = d.nics.map((n) => n.ip);
  return {
    id: d.id,
    ipAddresses: ips.length > 0 ? ips : null,
    name: d.name,
    vendor: d.vendor,
    operatingSystem: d.operatingSystem,
    macAddresses: d.nics.length > 0 ? d.nics.map((n) => n.mac) : null,
    type: d.type,
    engineeringStation: d.engineeringStation,
    authorized: d.authorized,
    scanner: d.scanner,
    protocols: d.protocols.map((p) => ({ id: (PROTOCOL_BY_NAME.get(p) ?? 0) + 1, name: p, addresses: [] })),
    firmware:
      d.modules.length > 0
        ? d.modules.map((m) => ({
            address: ips[0] ?? '',
            moduleAddress: m.moduleAddress,
            serial: m.serial,
            model: m.model,
            firmwareVersion: m.firmwareVersion,
            additionalData: m.slotType,
            rack: String(m.rack),
            slot: String(m.slot),
          }))
        : [
            {
              address: ips[0] ?? '',
              moduleAddress: 'N/A',
              serial: d.serialNumber,
              model: d.model,
              firmwareVersion: d.firmwareVersion,
              additionalData: 'N/A',
              rack: 'N/A',
              slot: 'N/A',
            },
          ],
    hasDynamicAddress: d.hasDynamicAddress,
  };
}

function sensorIndex(state: DefenderState): Map<number, { devices: number[]; connections: number[] }> {
  const index = new Map<number, { devices: number[]; connections: number[] }>();
  for (const s of state.estate.sensors) index.set(s.id, { devices: [], connections: [] });
  for (const d of state.estate.devices) index.get(d.sensorId)?.devices.push(d.id);
  const conns = state.estate.connections;
  for (let i = 0; i < conns.length; i++) {
    const src = state.estate.devices[conns.sourceOf(i) - 1];
    if (src) index.get(src.sensorId)?.connections.push(i);
  }
  return index;
}

function optionalNumber(c: Context, name: string): number | undefined | 'bad' {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : 'bad';
}

/** Sensor types of the sensor API's `type` filter; "other values are ignored" (sensor-alert-apis.md). */
const SENSOR_ALERT_TYPES = new Set(['unexpected new devices', 'disconnections']);

/**
 * The filters the sensor and console alert APIs share: `state` (handled / unhandled; handled is
 * Azure's Closed, the statuses being synchronised), `fromTime` / `toTime` (creation time, epoch
 * ms) and the sensor's `type`. A string is what is wrong with the query.
 */
function alertFilter(c: Context): ((a: LiveAlert) => boolean) | string {
  const stateFilter = c.req.query('state');
  if (
    stateFilter !== undefined &&
    stateFilter !== '' &&
    stateFilter !== 'handled' &&
    stateFilter !== 'unhandled'
  )
    return 'Failure – error: state must be handled or unhandled';
  const from = optionalNumber(c, 'fromTime');
  const to = optionalNumber(c, 'toTime');
  if (from === 'bad' || to === 'bad') return 'Failure – error: invalid time';
  const type = c.req.query('type');
  const sensorType = type !== undefined && SENSOR_ALERT_TYPES.has(type) ? type : undefined;
  return (a) =>
    (!stateFilter || (stateFilter === 'handled') === (a.status === 'Closed')) &&
    (from === undefined || a.time >= from) &&
    (to === undefined || a.time <= to) &&
    (sensorType === undefined || a.sensorType === sensorType);
}

/** A sensor `/api/v1/alerts` item; v2 adds the addresses and remediation steps (sensor-alert-apis.md). */
function sensorAlertJson(a: LiveAlert, version: 1 | 2): Record<string, unknown> {
  return {
    id: a.id,
    time: a.time,
    title: a.title,
    message: a.message,
    severity: a.severity,
    engine: a.engine,
    sourceDevice: a.sourceDevice,
    destinationDevice: a.destinationDevice,
    ...(version === 2
      ? {
          sourceDeviceAddress: a.sourceDeviceAddress,
          destinationDeviceAddress: a.destinationDeviceAddress,
          remediationSteps: [...a.remediationSteps],
        }
      : {}),
    additionalInformation: a.additionalInformation,
  };
}

/**
 * The `<UUID>` of `PUT /external/v1/alerts/<UUID>`. UNVERIFIED: the GET answer carries no UUID and
 * the doc names none; its one example, `1-1594550943000`, reads as `<alert id>-<epoch ms>`, so
 * the sandbox takes `<id>-<time>` of the GET answer's `id` and `time`.
 */
export function consoleAlertUuid(a: Pick<LiveAlert, 'id' | 'time'>): string {
  return `${a.id}-${a.time}`;
}

/** Mounts one base URL per sensor: `/sensors/<name>/api/v1/...`. */
export function mountSensorApi(app: Hono, state: DefenderState, tokens: OtTokens): void {
  const index = sensorIndex(state);
  const sensorDevices = (sensor: LiveSensor): number[] => {
    const own = (index.get(sensor.id)?.devices ?? []).filter((id) => !state.isDeleted(id));
    // Devices added, or moved to another sensor, through the control API.
    const extra = state
      .overlayDeviceIds()
      .filter(
        (id) =>
          state.deviceSensorId(id) === sensor.id && state.estate.devices[id - 1]?.sensorId !== sensor.id,
      );
    return [...own.filter((id) => state.deviceSensorId(id) === sensor.id), ...extra];
  };

  app.use('/sensors/:sensor/*', async (c, next) => {
    const sensor = state.sensorByName(c.req.param('sensor') ?? '');
    if (!sensor) return otError(c, 404, 'Failure – error: unknown sensor');
    const token = tokens.sensors.get(sensor.name);
    if (!token || !authorised(c, token))
      return otError(c, 401, 'Failure – error: invalid or missing access token');
    if (!sensor.connected && state.behaviour.disconnectedSensorApi === 'unavailable') {
      return otError(c, 503, 'Failure – error: sensor unreachable');
    }
    c.set('sensor' as never, sensor as never);
    return next();
  });

  const sensorOf = (c: Context) => c.get('sensor' as never) as unknown as LiveSensor;

  app.get('/sensors/:sensor/api/v1/devices', (c) => {
    const authorizedFilter = c.req.query('authorized');
    if (authorizedFilter !== undefined && authorizedFilter !== 'true' && authorizedFilter !== 'false') {
      return otError(c, 400, 'Failure – error: authorized must be true or false');
    }
    const ids = sensorDevices(sensorOf(c));
    const raw = state.rawSensorDevices.get(sensorOf(c).id) ?? [];
    return streamJsonArray(ids.length + raw.length, (i) => {
      if (i >= ids.length) return raw[i - ids.length];
      const d = state.device(ids[i] as number);
      if (!d) return undefined;
      if (authorizedFilter !== undefined && String(d.authorized) !== authorizedFilter) return undefined;
      return sensorDeviceJson(d);
    });
  });

  const connections = (c: Context, deviceId?: number) => {
    const sensor = sensorOf(c);
    const before = optionalNumber(c, 'discoveredBefore');
    const after = optionalNumber(c, 'discoveredAfter');
    const lastActive = optionalNumber(c, 'lastActiveInMinutes');
    if (before === 'bad' || after === 'bad' || lastActive === 'bad')
      return otError(c, 400, 'Failure – error: invalid query parameter');
    const list = index.get(sensor.id)?.connections ?? [];
    const now = state.now();
    return streamJsonArray(list.length, (k) => {
      const conn = state.estate.connections.get(list[k] as number);
      if (state.isDeleted(conn.sourceId) || state.isDeleted(conn.destinationId)) return undefined;
      if (deviceId !== undefined && conn.sourceId !== deviceId && conn.destinationId !== deviceId)
        return undefined;
      const discovered = state.at(conn.discovered);
      const lastSeen = state.at(conn.lastSeen);
      if (before !== undefined && discovered >= before) return undefined;
      if (after !== undefined && discovered <= after) return undefined;
      if (lastActive !== undefined && lastSeen < now - lastActive * 60_000) return undefined;
      const protocol = PROTOCOLS[conn.protocol];
      return {
        firstDeviceId: conn.sourceId,
        secondDeviceId: conn.destinationId,
        lastSeen,
        discovered,
        ports: [conn.port],
        protocols: protocol ? [{ name: protocol.wireName, commands: [...protocol.commands] }] : [],
      };
    });
  };

  app.get('/sensors/:sensor/api/v1/devices/connections', (c) => connections(c));

  app.get('/sensors/:sensor/api/v1/devices/cves', (c) => {
    const top = optionalNumber(c, 'top');
    if (top === 'bad' || (top !== undefined && (top < 1 || !Number.isInteger(top))))
      return otError(c, 400, 'Failure – error: top must be a positive integer');
    const ids = sensorDevices(sensorOf(c));
    const limit = top ?? 100;
    const rows: unknown[] = [];
    for (const id of ids) {
      const d = state.device(id);
      if (!d || d.cves.length === 0) continue;
      const cves = state.cvesOf(d);
      for (const nic of d.nics) {
        for (const cve of cves.slice(0, limit)) {
          rows.push({
            cveId: cve.cveId,
            score: cve.score,
            ipAddress: nic.ip,
            attackVector: cve.attackVector,
            description: cve.description,
          });
        }
      }
    }
    return streamJsonArray(rows.length, (i) => rows[i]);
  });

  app.get('/sensors/:sensor/api/v1/devices/:key/cves', (c) => {
    const top = optionalNumber(c, 'top');
    if (top === 'bad') return otError(c, 400, 'Failure – error: top must be a positive integer');
    const ip = c.req.param('key');
    const d = state.deviceByIp(ip);
    if (!d || d.sensorId !== sensorOf(c).id) return c.json([]);
    return c.json(
      state
        .cvesOf(d)
        .slice(0, top ?? 100)
        .map((cve) => ({
          cveId: cve.cveId,
          score: cve.score,
          ipAddress: ip,
          attackVector: cve.attackVector,
          description: cve.description,
        })),
    );
  });

  app.get('/sensors/:sensor/api/v1/devices/:key/connections', (c) => {
    const id = Number(c.req.param('key'));
    if (!Number.isInteger(id)) return otError(c, 400, 'Failure – error: invalid device id');
    return connections(c, id);
  });

  // Read-only: the sensor documents GET only (azure-docs .../api/sensor-alert-apis.md); a PUT or
  // POST falls through to the unknown-endpoint answer below.
  for (const version of [1, 2] as const) {
    app.get(`/sensors/:sensor/api/v${version}/alerts`, (c) => {
      const filter = alertFilter(c);
      if (typeof filter === 'string') return otError(c, 400, filter);
      const alerts = state.alertsOfSensor(sensorOf(c).id).filter(filter);
      return c.json(alerts.map((a) => sensorAlertJson(a, version)));
    });
  }

  app.all('/sensors/:sensor/*', (c) => otError(c, 404, 'Failure – error: unknown endpoint'));
}

// ---- management console v3 integration API ------------------------------------------------

function consoleDeviceJson(state: DefenderState, d: LiveDevice, origin: string): Record<string, unknown> {
  const site = state.estate.sites[d.siteId - 1];
  const zone = state.estate.zones[d.zoneId - 1];
  const primaryMac = d.nics[0]?.mac;
  return {
    u_id: d.id,
    u_name: d.name,
    u_vendor: d.vendor,
    u_operating_system: d.operatingSystem ?? '',
    u_appliance: CONSOLE_APPLIANCE,
    u_site: site?.displayName ?? '',
    u_zone: zone?.name ?? '',
    u_groups: [site?.displayName ?? ''],
    // Follows the doc example: u_device_type is an object, not the string the table claims.
    u_device_type: { u_category: d.category, u_purdue_layer: LAYER(d.purdueLevel), u_name: d.type },
    u_purdue_layer: LAYER(d.purdueLevel),
    u_ip_address_objects: d.nics.map((n) => ({
      u_ip_address: n.ip,
      u_guessed_mac_addresses: [{ u_mac_address: n.mac }],
    })),
    u_mac_address_objects: primaryMac ? d.nics.map((n) => ({ u_mac_address: n.mac })) : [],
    u_protocol_objects: d.protocols.map((p) => ({ u_protocol: p })),
    u_vlans: [...new Set(d.nics.map((n) => n.vlan))].map((v) => ({ u_vlan: v })),
    u_sensor_ids: [{ u_sensor_id: d.sensorId }],
    u_cm_device_url: `${origin}/#/sites/${d.siteId}/zones/${d.zoneId}/devices-maps?devices=${d.id}`,
    u_device_urls: [{ u_device_url: `${origin}/#/assets/highlight/${d.id}` }],
    u_firmwares: d.modules.map((m, i) => ({
      u_appliance: CONSOLE_APPLIANCE,
      u_id: d.id * 100 + i,
      u_asset: d.name,
      u_address: d.nics[0]?.ip ?? '',
      u_module_address: m.moduleAddress,
      u_serial: m.serial,
      u_model: m.model,
      u_version: m.firmwareVersion,
      u_additional_data: m.slotType,
    })),
    u_first_discovered: d.firstSeen,
    u_last_activity: d.lastActivity,
    u_last_update: d.lastUpdate,
  };
}

function pageParams(c: Context): { page: number; size: number } | null {
  const page = c.req.query('page') === undefined ? 0 : Number(c.req.query('page'));
  const size = c.req.query('size') === undefined ? 50 : Number(c.req.query('size'));
  if (!Number.isInteger(page) || page < 0 || !Number.isInteger(size) || size < 1) return null;
  return { page, size };
}

function timestampParam(c: Context): number | null {
  const t = Number(c.req.param('timestamp'));
  return Number.isFinite(t) && t >= 0 ? t : null;
}

/** Mounts the console's v3 integration API under `/console/external/v3/integration/`. */
export function mountConsoleApi(app: Hono, state: DefenderState, tokens: OtTokens): void {
  const base = '/console/external/v3/integration';
  const filterCache = new Map<string, number[]>();
  const cached = (key: string, compute: () => number[]): number[] => {
    const k = `${key}|${state.version}`;
    const hit = filterCache.get(k);
    if (hit) return hit;
    if (filterCache.size > 64) filterCache.clear();
    const value = compute();
    filterCache.set(k, value);
    return value;
  };
  const origin = (c: Context) => `${new URL(c.req.url).origin}/console`;
  /**
   * One page of a list of generated records followed by the list's raw records
   * (`POST /_sandbox/console/raw-records`); `u_count` counts both.
   */
  const pageWithRaw = (
    list: RawConsoleList,
    ids: readonly number[],
    paging: { page: number; size: number },
    json: (id: number) => unknown,
  ): { count: number; records: unknown[] } => {
    const raw = state.rawConsoleRecords.get(list) ?? [];
    const from = paging.page * paging.size;
    const to = from + paging.size;
    return {
      count: ids.length + raw.length,
      records: [
        ...ids.slice(from, to).map(json),
        ...raw.slice(Math.max(0, from - ids.length), Math.max(0, to - ids.length)),
      ],
    };
  };

  app.use('/console/*', async (c, next) => {
    if (!authorised(c, tokens.console))
      return otError(c, 401, 'Failure – error: invalid or missing access token');
    return next();
  });

  const sensorFilter = (c: Context): Set<number> | null | 'bad' => {
    const raw = c.req.query('sensorId');
    if (raw === undefined || raw === '') return null;
    const ids = raw.split(',').map(Number);
    return ids.every(Number.isInteger) ? new Set(ids) : 'bad';
  };

  app.get(`${base}/devices/:timestamp`, (c) => {
    const since = timestampParam(c);
    const paging = pageParams(c);
    const sensors = sensorFilter(c);
    const type = c.req.query('notificationType') ?? '0';
    if (since === null || !paging || sensors === 'bad' || !['0', '1', '2'].includes(type)) {
      return otError(c, 400, 'Failure – error: invalid parameters');
    }
    const ids = cached(`devices|${since}|${[...(sensors ?? [])].join(',')}|${type}`, () => {
      const out: number[] = [];
      for (const id of state.deviceIds()) {
        const last = state.deviceLastUpdate(id) as number;
        if (last < since) continue;
        if (sensors && !sensors.has(state.deviceSensorId(id) as number)) continue;
        if (type !== '0') {
          const d = state.device(id) as LiveDevice;
          const isNew = d.firstSeen >= since;
          if ((type === '1') !== isNew) continue;
        }
        out.push(id);
      }
      return out;
    });
    const page = pageWithRaw('devices', ids, paging, (id) =>
      consoleDeviceJson(state, state.device(id) as LiveDevice, origin(c)),
    );
    return c.json({ u_count: page.count, u_devices: page.records });
  });

  app.get(`${base}/device/:deviceId`, (c) => {
    const d = state.device(Number(c.req.param('deviceId')));
    if (!d) return otError(c, 404, 'Failure – error: device not found');
    // The doc example wraps the single device in an array.
    return c.json([consoleDeviceJson(state, d, origin(c))]);
  });

  app.get(`${base}/deleteddevices/:timestamp`, (c) => {
    const since = timestampParam(c);
    if (since === null) return otError(c, 400, 'Failure – error: invalid timestamp');
    return c.json(state.deletedSince(since).map((id) => ({ u_id: id })));
  });

  app.get(`${base}/connections/:timestamp`, (c) => {
    const since = timestampParam(c);
    const paging = pageParams(c);
    if (since === null || !paging) return otError(c, 400, 'Failure – error: invalid parameters');
    // UNVERIFIED: connections carry no update time; the filter is on the connection's last activity.
    const list = cached(`connections|${since}`, () => {
      const out: number[] = [];
      const conns = state.estate.connections;
      for (let i = 0; i < conns.length; i++) {
        const conn = conns.get(i);
        if (state.at(conn.lastSeen) < since) continue;
        if (state.isDeleted(conn.sourceId) || state.isDeleted(conn.destinationId)) continue;
        out.push(i);
      }
      return out;
    });
    const slice = list.slice(paging.page * paging.size, (paging.page + 1) * paging.size);
    return c.json({
      u_count: list.length,
      u_connections: slice.map((i) => {
        const conn = state.estate.connections.get(i);
        return {
          u_appliance: CONSOLE_APPLIANCE,
          u_src_device_id: conn.sourceId,
          u_src_device_name: state.device(conn.sourceId)?.name ?? '',
          u_dest_device_id: conn.destinationId,
          u_dest_device_name: state.device(conn.destinationId)?.name ?? '',
          u_connection_type: conn.direction,
        };
      }),
    });
  });

  app.get(`${base}/sensors`, (c) => {
    const deviceCounts = new Map<number, number>();
    for (const id of state.deviceIds()) {
      const s = state.deviceSensorId(id) as number;
      deviceCounts.set(s, (deviceCounts.get(s) ?? 0) + 1);
    }
    return c.json(
      state.sensors().map((s) => {
        const alerts = state.alertsOfSensor(s.id);
        return {
          u_id: s.id,
          u_name: s.name,
          u_interface_address: s.ip,
          u_connection_state: s.connected ? 'SYNCED' : 'DISCONNECTED',
          u_version: s.version,
          u_alert_count: alerts.length,
          u_device_count: deviceCounts.get(s.id) ?? 0,
          u_unhandled_alert_count: alerts.filter((a) => a.status !== 'Closed').length,
          u_is_activated: true,
          u_data_intelligence_version: new Date(s.activatedAt).toISOString().slice(0, 10),
          u_uid: s.uid,
          u_zone_id: s.zoneId,
          u_is_in_learning_mode: s.learningMode,
          u_remote_upgrade_stage: '',
        };
      }),
    );
  });

  app.get(`${base}/devicecves/:timestamp`, (c) => {
    const since = timestampParam(c);
    const paging = pageParams(c);
    const sensors = sensorFilter(c);
    const minScore = c.req.query('score') === undefined ? undefined : Number(c.req.query('score'));
    const deviceIdsRaw = c.req.query('deviceIds');
    const deviceIds = deviceIdsRaw ? new Set(deviceIdsRaw.split(',').map(Number)) : null;
    if (
      since === null ||
      !paging ||
      sensors === 'bad' ||
      (minScore !== undefined && !Number.isFinite(minScore))
    ) {
      return otError(c, 400, 'Failure – error: invalid parameters');
    }
    const ids = cached(`cves|${since}|${[...(sensors ?? [])].join(',')}|${minScore}|${deviceIdsRaw}`, () => {
      const out: number[] = [];
      for (const id of state.deviceIds()) {
        if ((state.deviceLastUpdate(id) as number) < since) continue;
        if (sensors && !sensors.has(state.deviceSensorId(id) as number)) continue;
        if (deviceIds && !deviceIds.has(id)) continue;
        const d = state.device(id) as LiveDevice;
        if (!state.cvesOf(d).some((cve) => minScore === undefined || Number(cve.score) >= minScore)) continue;
        out.push(id);
      }
      return out;
    });
    const page = pageWithRaw('devicecves', ids, paging, (id) => {
      const d = state.device(id) as LiveDevice;
      const ip = d.nics[0]?.ip ?? '';
      return {
        u_id: d.id,
        u_name: d.name,
        u_ip_address_objects: d.nics.map((n) => ({
          u_ip_address: n.ip,
          u_guessed_mac_addresses: [{ u_mac_address: n.mac }],
        })),
        u_mac_address_objects: d.nics.map((n) => ({ u_mac_address: n.mac })),
        u_last_activity: d.lastActivity,
        u_last_update: d.lastUpdate,
        u_cves: state
          .cvesOf(d)
          .filter((cve) => minScore === undefined || Number(cve.score) >= minScore)
          .map((cve) => ({
            u_cve_id: cve.cveId,
            u_score: cve.score,
            // The doc example names it u_ip_address (the table says u_address); the sandbox follows the example.
            u_ip_address: ip,
            u_attack_vector: cve.attackVector,
            u_description: cve.description,
          })),
      };
    });
    return c.json({ u_count: page.count, u_device_cves: page.records });
  });

  mountConsoleAlerts(app, state);

  app.all('/console/*', (c) => otError(c, 404, 'Failure – error: unknown endpoint'));
}

// ---- management console alert API (legacy) ------------------------------------------------

/** Messages of `PUT /external/v1/alerts/<UUID>` (management-alert-apis.md, "Possible content values"). */
const HANDLE_ANSWERS = {
  done: 'Alert update request finished successfully',
  alreadyHandled: 'Alert was already handled',
  alreadyLearned: 'Alert was already handled and learned',
  learnedNow: 'Alert was already handled. Handle and learn was performed on the alert',
  ignoredHandle: 'Alert was already handled and learned. Ignored handle request',
  invalidAction: 'Invalid action',
  noAlert: "Couldn't execute request because no alert was found for this UUID",
} as const;

/**
 * `GET /external/v1|v2/alerts` and `PUT /external/v1/alerts/<UUID>` under `/console`
 * (azure-docs articles/defender-for-iot/organizations/api/management-alert-apis.md).
 */
function mountConsoleAlerts(app: Hono, state: DefenderState): void {
  for (const version of [1, 2] as const) {
    app.get(`/console/external/v${version}/alerts`, (c) => {
      const filter = alertFilter(c);
      if (typeof filter === 'string') return otError(c, 400, filter);
      // The doc's table and curl example name the sensor filter `sensor`; other versions say `sensorId`.
      const ids = ['siteId', 'zoneId', 'sensor', 'sensorId'].map((n) => optionalNumber(c, n));
      if (ids.includes('bad')) return otError(c, 400, 'Failure – error: invalid parameters');
      const [siteId, zoneId, sensor, sensorId] = ids as Array<number | undefined>;
      const wantedSensor = sensor ?? sensorId;
      const rows: unknown[] = [];
      for (const s of state.sensors()) {
        if (wantedSensor !== undefined && s.id !== wantedSensor) continue;
        if (siteId !== undefined && s.siteId !== siteId) continue;
        if (zoneId !== undefined && s.zoneId !== zoneId) continue;
        const site = state.estate.sites[s.siteId - 1];
        const zone = state.estate.zones[s.zoneId - 1];
        for (const a of state.alertsOfSensor(s.id).filter(filter)) {
          const sensorJson = sensorAlertJson(a, version);
          rows.push({
            ...sensorJson,
            // The console example writes 0, not null, for "no device".
            sourceDevice: a.sourceDevice ?? 0,
            destinationDevice: a.destinationDevice ?? 0,
            sensorId: s.id,
            zoneId: s.zoneId,
            siteId: s.siteId,
            handled: a.status === 'Closed',
            ...(version === 2
              ? { sensorName: s.name, zoneName: zone?.name ?? '', siteName: site?.displayName ?? '' }
              : {}),
          });
        }
      }
      return c.json(rows);
    });
  }

  app.put('/console/external/v1/alerts/:uuid', async (c) => {
    let action: unknown;
    try {
      action = (JSON.parse(await c.req.text()) as { action?: unknown } | null)?.action;
    } catch {
      action = undefined;
    }
    // The documented failures are 500s with `{error}`.
    if (action !== 'handle' && action !== 'handleAndLearn')
      return otError(c, 500, HANDLE_ANSWERS.invalidAction);
    const m = /^(\d+)-(\d+)$/.exec(c.req.param('uuid'));
    const alert = m ? state.alert(Number(m[1])) : undefined;
    if (!alert || consoleAlertUuid(alert) !== c.req.param('uuid'))
      return otError(c, 500, HANDLE_ANSWERS.noAlert);
    const closed = alert.status === 'Closed';
    let content: string;
    if (action === 'handle') {
      content = !closed
        ? HANDLE_ANSWERS.done
        : alert.learned
          ? HANDLE_ANSWERS.ignoredHandle
          : HANDLE_ANSWERS.alreadyHandled;
      state.updateAlert(alert.id, closed ? { closeWrite: true } : { status: 'Closed', closeWrite: true });
    } else {
      content = !closed
        ? HANDLE_ANSWERS.done
        : alert.learned
          ? HANDLE_ANSWERS.alreadyLearned
          : HANDLE_ANSWERS.learnedNow;
      state.updateAlert(
        alert.id,
        !closed || !alert.learned
          ? { status: 'Closed', learned: true, closeWrite: true }
          : { closeWrite: true },
      );
    }
    return c.json({ content });
  });
}
