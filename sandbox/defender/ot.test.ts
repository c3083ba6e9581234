import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate, type Estate } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import { TestClient, fixture, fixturePaths, shapeDiff } from './test-support.js';

let estate: Estate;
let sandbox: DefenderSandbox;
let client: TestClient;

beforeAll(async () => {
  estate = generateEstate({ size: 'demo', seed: 9 });
  sandbox = await startDefenderSandbox({ estate });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const connectedSensor = () => {
  const s = estate.sensors.find(
    (x) =>
      x.connected &&
      !x.learningMode &&
      estate.devices.some((d) => d.sensorId === x.id && d.modules.length > 0),
  );
  if (!s) throw new Error('no connected sensor with controllers');
  return {
    estateSensor: s,
    api: sandbox.sensors.find((x) => x.name === s.name) as DefenderSandbox['sensors'][number],
  };
};

describe('OT sensor API v1', () => {
  it('serves devices, connections, CVEs and alerts in the documented shapes, with the raw token', async () => {
    const { estateSensor, api } = connectedSensor();
    const path = (p: string) => `/sensors/${api.name}/api/v1/${p}`;
    const devices = await client.call('GET', path('devices'), { auth: api.token });
    expect(devices.status).toBe(200);
    const list = devices.json as Array<Record<string, unknown>>;
    expect(list).toHaveLength(estate.devices.filter((d) => d.sensorId === estateSensor.id).length);
    const withFirmware = list.find((d) => (d['firmware'] as unknown[]).length > 1);
    expect(shapeDiff(fixture<unknown[]>(fixturePaths.sensorDevices)[0], withFirmware)).toEqual([]);
    // The sensor API has no Purdue level, site, zone or times (contract §7.1).
    for (const forbidden of [
      'purdueLevel',
      'site',
      'zone',
      'firstSeen',
      'lastSeen',
      'lastActivity',
      'sensor',
    ]) {
      expect(Object.keys(list[0] ?? {})).not.toContain(forbidden);
    }

    const connections = await client.call('GET', path('devices/connections'), { auth: api.token });
    const conns = connections.json as Array<{
      firstDeviceId: number;
      secondDeviceId: number;
      lastSeen: number;
      discovered: number;
    }>;
    expect(conns.length).toBeGreaterThan(0);
    expect(shapeDiff(fixture<unknown[]>(fixturePaths.sensorConnections)[0], conns[0])).toEqual([]);
    expect(conns.every((c) => c.lastSeen >= c.discovered && c.lastSeen <= Date.now() + 1000)).toBe(true);
    const one = conns[0] as (typeof conns)[number];
    const perDevice = await client.call('GET', path(`devices/${one.firstDeviceId}/connections`), {
      auth: api.token,
    });
    expect(
      shapeDiff(
        fixture<unknown[]>(fixturePaths.sensorDeviceConnections)[0],
        (perDevice.json as unknown[])[0],
      ),
    ).toEqual([]);
    expect(
      (perDevice.json as typeof conns).every(
        (c) => c.firstDeviceId === one.firstDeviceId || c.secondDeviceId === one.firstDeviceId,
      ),
    ).toBe(true);
    const afterAll = await client.call(
      'GET',
      path(`devices/connections?discoveredAfter=${Date.now() + 86_400_000}`),
      { auth: api.token },
    );
    expect(afterAll.json).toEqual([]);

    const cves = await client.call('GET', path('devices/cves'), { auth: api.token });
    const cveRows = cves.json as Array<{ cveId: string; score: string; ipAddress: string }>;
    const expectedPairs = estate.devices
      .filter((d) => d.sensorId === estateSensor.id)
      .reduce((n, d) => n + d.cves.length * d.nics.length, 0);
    expect(cveRows).toHaveLength(expectedPairs);
    expect(shapeDiff(fixture<unknown[]>(fixturePaths.sensorCves)[0], cveRows[0])).toEqual([]);
    const top1 = await client.call('GET', path('devices/cves?top=1'), { auth: api.token });
    const ips = new Set(cveRows.map((r) => r.ipAddress));
    expect((top1.json as unknown[]).length).toBe(ips.size);
    const ip = cveRows[0]?.ipAddress as string;
    const byIp = await client.call('GET', path(`devices/${ip}/cves`), { auth: api.token });
    expect(shapeDiff(fixture<unknown[]>(fixturePaths.sensorIpCves)[0], (byIp.json as unknown[])[0])).toEqual(
      [],
    );
    const scores = (byIp.json as typeof cveRows).map((r) => Number(r.score));
    expect(scores).toEqual([...scores].sort((a, b) => b - a));

    const alerts = await client.call('GET', path('alerts'), { auth: api.token });
    expect(alerts.status).toBe(200);
    const alertRows = alerts.json as unknown[];
    expect(alertRows.length).toBe(estate.alerts.filter((a) => a.sensorId === estateSensor.id).length);
    expect(
      shapeDiff(fixture<unknown[]>(fixturePaths.sensorAlerts)[1], alertRows[0], '$', ['$.sourceDevice']),
    ).toEqual([]);
  });

  it('refuses a Bearer-prefixed, wrong or missing token, unknown sensors and bad parameters', async () => {
    const { api } = connectedSensor();
    const url = `/sensors/${api.name}/api/v1/devices`;
    for (const auth of [`Bearer ${api.token}`, 'wrong', 'none', sandbox.console.token]) {
      const res = await client.call('GET', url, { auth });
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({ error: expect.any(String) });
    }
    expect((await client.call('GET', '/sensors/nope/api/v1/devices', { auth: api.token })).status).toBe(404);
    expect((await client.call('GET', `${url}?authorized=maybe`, { auth: api.token })).status).toBe(400);
    expect(
      (await client.call('GET', `/sensors/${api.name}/api/v1/devices/cves?top=zero`, { auth: api.token }))
        .status,
    ).toBe(400);
  });

  it('a disconnected sensor is unreachable (503) until reconnected', async () => {
    const s = estate.sensors.find((x) => !x.connected) as Estate['sensors'][number];
    const api = sandbox.sensors.find((x) => x.name === s.name) as DefenderSandbox['sensors'][number];
    const down = await client.call('GET', `/sensors/${api.name}/api/v1/devices`, { auth: api.token });
    expect(down.status).toBe(503);
    await client.call('POST', `/_sandbox/sensors/${api.name}`, { auth: 'none', body: { connected: true } });
    expect(
      (await client.call('GET', `/sensors/${api.name}/api/v1/devices`, { auth: api.token })).status,
    ).toBe(200);
    await client.call('POST', `/_sandbox/sensors/${api.name}`, { auth: 'none', body: { connected: false } });
  });
});

describe('management console v3 integration API', () => {
  const base = '/console/external/v3/integration';
  const auth = () => sandbox.console.token;

  it('pages devices with u_count and replays the examples’ shapes', async () => {
    const page0 = await client.call('GET', `${base}/devices/0?page=0&size=100`, { auth: auth() });
    expect(page0.status).toBe(200);
    const body = page0.json as { u_count: number; u_devices: Array<Record<string, unknown>> };
    expect(body.u_count).toBe(estate.devices.length);
    expect(body.u_devices).toHaveLength(100);
    expect(shapeDiff(fixture(fixturePaths.consoleDevices), body)).toEqual([]);
    const ids = new Set<number>();
    for (let page = 0; page < 20; page++) {
      const res = await client.call('GET', `${base}/devices/0?page=${page}&size=250`, { auth: auth() });
      const devices = (res.json as typeof body).u_devices;
      if (devices.length === 0) break;
      for (const d of devices) ids.add(d['u_id'] as number);
    }
    expect(ids.size).toBe(estate.devices.length);
    const d = estate.devices[0] as Estate['devices'][number];
    const single = await client.call('GET', `${base}/device/${d.id}`, { auth: auth() });
    expect(shapeDiff(fixture(fixturePaths.consoleDevice), single.json)).toEqual([]);
    expect(single.json).toMatchObject([
      { u_id: d.id, u_name: d.name, u_zone: estate.zones[d.zoneId - 1]?.name },
    ]);
    expect((await client.call('GET', `${base}/device/999999`, { auth: auth() })).status).toBe(404);
    const sensor2 = await client.call('GET', `${base}/devices/0?sensorId=2&size=1000`, { auth: auth() });
    expect((sensor2.json as typeof body).u_count).toBe(estate.devices.filter((x) => x.sensorId === 2).length);
  });

  it('serves sensors, connections and device CVEs in the examples’ shapes', async () => {
    const sensors = await client.call('GET', `${base}/sensors`, { auth: auth() });
    expect(shapeDiff(fixture(fixturePaths.consoleSensors), sensors.json)).toEqual([]);
    const rows = sensors.json as Array<{
      u_name: string;
      u_is_in_learning_mode: boolean;
      u_connection_state: string;
    }>;
    for (const s of estate.sensors) {
      expect(rows).toContainEqual(
        expect.objectContaining({
          u_name: s.name,
          u_is_in_learning_mode: s.learningMode,
          u_connection_state: s.connected ? 'SYNCED' : 'DISCONNECTED',
        }),
      );
    }
    const conns = await client.call('GET', `${base}/connections/0?size=50`, { auth: auth() });
    expect(shapeDiff(fixture(fixturePaths.consoleConnections), conns.json)).toEqual([]);
    expect((conns.json as { u_count: number }).u_count).toBe(estate.connections.length);
    const cves = await client.call('GET', `${base}/devicecves/0?size=10`, { auth: auth() });
    expect(shapeDiff(fixture(fixturePaths.consoleDeviceCves), cves.json)).toEqual([]);
    expect((cves.json as { u_count: number }).u_count).toBe(
      estate.devices.filter((d) => d.cves.length > 0).length,
    );
    const high = await client.call('GET', `${base}/devicecves/0?size=1000&score=9.5`, { auth: auth() });
    const highRows = (high.json as { u_device_cves: Array<{ u_cves: Array<{ u_score: string }> }> })
      .u_device_cves;
    expect(
      highRows.every((r) => r.u_cves.length > 0 && r.u_cves.every((c) => Number(c.u_score) >= 9.5)),
    ).toBe(true);
  });

  it('is incremental: changes bump u_last_update, removals appear in deleteddevices', async () => {
    const since = Date.now() + 1;
    await new Promise((r) => setTimeout(r, 5));
    const nothing = await client.call('GET', `${base}/devices/${since}`, { auth: auth() });
    expect((nothing.json as { u_count: number }).u_count).toBe(0);
    const [a, b, c] = estate.devices as [
      Estate['devices'][number],
      Estate['devices'][number],
      Estate['devices'][number],
    ];
    expect(
      (
        await client.call('PATCH', `/_sandbox/devices/${a.id}`, {
          auth: 'none',
          body: { firmwareVersion: 'V9.9.9' },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await client.call('POST', `/_sandbox/devices/${b.id}/cves`, {
          auth: 'none',
          body: { cveId: 'CVE-2024-12345', score: '9.8' },
        })
      ).status,
    ).toBe(201);
    expect((await client.call('DELETE', `/_sandbox/devices/${c.id}`, { auth: 'none' })).status).toBe(200);
    const changed = await client.call('GET', `${base}/devices/${since}`, { auth: auth() });
    const changedIds = (changed.json as { u_devices: Array<{ u_id: number }> }).u_devices
      .map((d) => d.u_id)
      .sort((x, y) => x - y);
    expect(changedIds).toEqual([a.id, b.id].sort((x, y) => x - y));
    const updatedOnly = await client.call('GET', `${base}/devices/${since}?notificationType=2`, {
      auth: auth(),
    });
    expect((updatedOnly.json as { u_count: number }).u_count).toBe(2);
    const newOnly = await client.call('GET', `${base}/devices/${since}?notificationType=1`, { auth: auth() });
    expect((newOnly.json as { u_count: number }).u_count).toBe(0);
    const deleted = await client.call('GET', `${base}/deleteddevices/${since}`, { auth: auth() });
    expect(deleted.json).toEqual([{ u_id: c.id }]);
    expect(shapeDiff(fixture(fixturePaths.consoleDeleted), deleted.json)).toEqual([]);
    const cves = await client.call('GET', `${base}/devicecves/${since}`, { auth: auth() });
    const rows = (
      cves.json as { u_device_cves: Array<{ u_id: number; u_cves: Array<{ u_cve_id: string }> }> }
    ).u_device_cves;
    expect(rows.find((r) => r.u_id === b.id)?.u_cves[0]?.u_cve_id).toBe('CVE-2024-12345');
    expect((await client.call('GET', `${base}/device/${c.id}`, { auth: auth() })).status).toBe(404);
    const sensorApi = sandbox.sensors.find(
      (s) => s.name === estate.sensors[c.sensorId - 1]?.name,
    ) as DefenderSandbox['sensors'][number];
    await client.call('POST', `/_sandbox/sensors/${sensorApi.name}`, {
      auth: 'none',
      body: { connected: true },
    });
    const sensorList = await client.call('GET', `/sensors/${sensorApi.name}/api/v1/devices`, {
      auth: sensorApi.token,
    });
    expect((sensorList.json as Array<{ id: number }>).map((d) => d.id)).not.toContain(c.id);
    await client.call('POST', '/_sandbox/reset', { auth: 'none' });
  });

  it('refuses a wrong token and bad parameters', async () => {
    expect((await client.call('GET', `${base}/sensors`, { auth: 'wrong' })).status).toBe(401);
    expect(
      (await client.call('GET', `${base}/sensors`, { auth: `Bearer ${sandbox.console.token}` })).status,
    ).toBe(401);
    expect((await client.call('GET', `${base}/devices/yesterday`, { auth: auth() })).status).toBe(400);
    expect((await client.call('GET', `${base}/devices/0?size=0`, { auth: auth() })).status).toBe(400);
    expect((await client.call('GET', `${base}/nothing`, { auth: auth() })).status).toBe(404);
  });
});
