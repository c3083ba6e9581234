/**
 * Device vulnerabilities in Resource Graph (`iotsecurityresources`), against the sensor API and
 * the console's `devicecves` serving the same estate. Sources:
 * - [SN-AZ] ServiceNow/ServiceNowDocs `markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md`
 *   (Resource Graph at api-version 2021-03-01; name, vulnerabilityid, description, score, exploittype, deviceid).
 * - [SPEC] Azure/azure-rest-api-specs `specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/vulnerabilities.json`
 *   (DeviceVulnerabilityPropertiesModel, Severity enum).
 * - [RBAC] MicrosoftDocs/azure-docs `articles/role-based-access-control/permissions/internet-of-things.md`
 *   (`Microsoft.IoTSecurity/locations/deviceGroups/vulnerabilities/read`).
 * - [SENSOR] MicrosoftDocs/azure-docs `articles/defender-for-iot/organizations/api/sensor-inventory-apis.md` (`/api/v1/devices/cves`)
 *   and [CM] `.../api/management-integration-apis.md` (`devicecves`), as the sandbox already serves them.
 * - [ARG-QL] MicrosoftDocs/azure-docs `articles/governance/resource-graph/concepts/query-language.md`
 *   (`join`: flavors innerunique, inner, leftouter; the join column kept in the right side's `project`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate, type Estate } from '../dataset/index.js';
import { cvssSeverity, nvdDates, vulnerabilityName } from './device-vulnerabilities.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import { applyRowOperators, parseKql } from './kql.js';
import { argQueryAll, TestClient, type ArgPage } from './test-support.js';

const ARG = '/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01';
const CONSOLE = '/console/external/v3/integration';
const TYPE = 'microsoft.iotsecurity/locations/devicegroups/vulnerabilities';
/** The query the engine sends ([SN-AZ] reads these records through Resource Graph). */
const VULNERABILITIES_QUERY = `iotsecurityresources | where type == '${TYPE}' | project id, name, type, subscriptionId, location, properties`;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface VulnerabilityRecord {
  id: string;
  name: string;
  type: string;
  subscriptionId: string;
  location: string;
  properties: {
    deviceId: string;
    vulnerabilityId: string;
    description: string;
    score: number;
    severity: string;
    exploitType: string;
    publishedDate: string;
    lastModifiedDate: string;
    source: string;
    affectedVersions: string[];
  };
}

let estate: Estate;
let sandbox: DefenderSandbox;
let client: TestClient;

beforeAll(async () => {
  estate = generateEstate({ devices: 900, seed: 31 });
  sandbox = await startDefenderSandbox({ estate });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const queryAll = (query: string, top?: number) =>
  argQueryAll(
    client,
    { subscriptions: sandbox.subscriptions, query },
    {
      ...(top ? { top } : {}),
      maxPages: 500,
      check: (res) => expect(res.status, res.text).toBe(200),
    },
  );

const vulnerabilitiesOf = async (deviceNames: readonly string[]) =>
  (
    await queryAll(
      `${VULNERABILITIES_QUERY} | where tostring(properties.deviceId) in (${deviceNames.map((n) => `'${n}'`).join(', ')})`,
      1000,
    )
  ).rows as unknown as VulnerabilityRecord[];

/** CVE ids per device id, from the console's `devicecves` ([CM]), every page. */
async function consoleCves(deviceIds?: readonly number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  const filter = deviceIds ? `&deviceIds=${deviceIds.join(',')}` : '';
  for (let page = 0; ; page++) {
    const res = await client.call('GET', `${CONSOLE}/devicecves/0?page=${page}&size=200${filter}`, {
      auth: sandbox.console.token,
    });
    expect(res.status, res.text).toBe(200);
    const body = res.json as { u_device_cves: Array<{ u_id: number; u_cves: Array<{ u_cve_id: string }> }> };
    for (const d of body.u_device_cves) out.set(d.u_id, d.u_cves.map((c) => c.u_cve_id).sort());
    if (body.u_device_cves.length < 200) return out;
  }
}

/** CVE ids per device id, from a sensor's `/api/v1/devices/cves` ([SENSOR]), which lists rows per IP. */
async function sensorCves(sensorName: string): Promise<Map<number, string[]>> {
  const api = sandbox.sensors.find((s) => s.name === sensorName) as DefenderSandbox['sensors'][number];
  const devices = await client.call('GET', `/sensors/${api.name}/api/v1/devices`, { auth: api.token });
  const rows = await client.call('GET', `/sensors/${api.name}/api/v1/devices/cves`, { auth: api.token });
  expect(rows.status, rows.text).toBe(200);
  const deviceByIp = new Map<string, number>();
  for (const d of devices.json as Array<{ id: number; ipAddresses: string[] | null }>)
    for (const ip of d.ipAddresses ?? []) deviceByIp.set(ip, d.id);
  const out = new Map<number, Set<string>>();
  for (const r of rows.json as Array<{ cveId: string; ipAddress: string }>) {
    const id = deviceByIp.get(r.ipAddress) as number;
    out.set(id, (out.get(id) ?? new Set()).add(r.cveId));
  }
  return new Map([...out].map(([id, set]) => [id, [...set].sort()]));
}

/** CVE ids per device uuid, from Resource Graph records. */
function byDevice(records: readonly VulnerabilityRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of records)
    out.set(r.properties.deviceId, [...(out.get(r.properties.deviceId) ?? []), r.properties.vulnerabilityId]);
  for (const list of out.values()) list.sort();
  return out;
}

const connectedSensorWithCves = () =>
  estate.sensors.find(
    (s) => s.connected && estate.devices.filter((d) => d.sensorId === s.id && d.cves.length > 0).length >= 5,
  ) as Estate['sensors'][number];

describe('Resource Graph device vulnerabilities (support-for-msft-defender-iot-azure.md, vulnerabilities.json)', () => {
  it('equal each device’s sensor-API CVE list and console devicecves list, in the record shape ServiceNow maps [SN-AZ][SPEC][SENSOR][CM]', async () => {
    const { rows, total } = await queryAll(VULNERABILITIES_QUERY, 1000);
    const records = rows as unknown as VulnerabilityRecord[];
    expect(total).toBe(estate.devices.reduce((n, d) => n + d.cves.length, 0));
    expect(records).toHaveLength(total);

    // Every device Resource Graph serves: its records = the console's devicecves list.
    const rg = byDevice(records);
    const uuidOf = new Map(estate.devices.map((d) => [d.id, d.uuid]));
    const console = await consoleCves();
    expect(console.size).toBe(rg.size);
    for (const [id, cves] of console) expect(rg.get(uuidOf.get(id) as string), `device ${id}`).toEqual(cves);

    // A connected sensor's devices: their records = the sensor API's list.
    const sensor = connectedSensorWithCves();
    const fromSensor = await sensorCves(sensor.name);
    expect(fromSensor.size).toBe(
      estate.devices.filter((d) => d.sensorId === sensor.id && d.cves.length > 0).length,
    );
    for (const [id, cves] of fromSensor)
      expect(rg.get(uuidOf.get(id) as string), `device ${id}`).toEqual(cves);

    // The record shape, against the device's own record and the catalogue.
    const device = estate.devices.find(
      (d) => d.sensorId === sensor.id && d.cves.length > 0,
    ) as Estate['devices'][number];
    const deviceRow = (
      await queryAll(
        `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' and name == '${device.uuid}'`,
      )
    ).rows[0] as { id: string; name: string; subscriptionId: string; location: string };
    const own = await vulnerabilitiesOf([deviceRow.name]);
    expect(own.map((r) => r.properties.vulnerabilityId).sort()).toEqual([...device.cves].sort());
    const group = deviceRow.id.replace(/\/devices\/[^/]+$/, '');
    for (const r of own) {
      const cve = estate.cves.find((c) => c.cveId === r.properties.vulnerabilityId) as Estate['cves'][number];
      expect(Object.keys(r)).toEqual(['id', 'name', 'type', 'subscriptionId', 'location', 'properties']);
      expect(r.name).toMatch(GUID);
      expect(r.name).toBe(vulnerabilityName(deviceRow.id, cve.cveId));
      expect(r).toMatchObject({
        id: `${group}/vulnerabilities/${r.name}`,
        type: TYPE,
        subscriptionId: deviceRow.subscriptionId,
        location: deviceRow.location,
      });
      expect(r.properties).toEqual({
        deviceId: device.uuid,
        vulnerabilityId: cve.cveId,
        description: cve.description,
        score: Number(cve.score),
        severity: cvssSeverity(Number(cve.score)),
        exploitType: cve.exploitType ?? 'Unknown',
        publishedDate: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        lastModifiedDate: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        source: 'NVD',
        affectedVersions: [],
      });
      expect(Date.parse(r.properties.lastModifiedDate)).toBeGreaterThanOrEqual(
        Date.parse(r.properties.publishedDate),
      );
    }
    // [SPEC]'s Severity enum and both exploit answers occur across the estate.
    expect(new Set(records.map((r) => r.properties.severity))).toEqual(
      new Set(['Low', 'Medium', 'High', 'Critical']),
    );
    expect(new Set(records.map((r) => r.properties.exploitType))).toEqual(new Set(['Unknown', 'ExploitKit']));
    expect(new Set(records.map((r) => r.name)).size).toBe(records.length);
  });

  it('shows a CVE added or removed through the control API in Resource Graph, the sensor API and the console [SN-AZ][SENSOR][CM]', async () => {
    const sensor = connectedSensorWithCves();
    const device = estate.devices.find(
      (d) => d.sensorId === sensor.id && d.cves.length >= 2,
    ) as Estate['devices'][number];
    const before = await vulnerabilitiesOf([device.uuid]);
    const namesBefore = new Map(before.map((r) => [r.properties.vulnerabilityId, r.name]));

    const added = await client.call('POST', `/_sandbox/devices/${device.id}/cves`, {
      auth: 'none',
      body: {
        cveId: 'CVE-2024-55555',
        score: '9.8',
        description: 'Added for the test.',
        exploitType: 'ExploitKit',
      },
    });
    expect(added.status, added.text).toBe(201);
    const afterAdd = await vulnerabilitiesOf([device.uuid]);
    expect(afterAdd).toHaveLength(before.length + 1);
    expect(afterAdd.find((r) => r.properties.vulnerabilityId === 'CVE-2024-55555')?.properties).toMatchObject(
      {
        deviceId: device.uuid,
        score: 9.8,
        severity: 'Critical',
        exploitType: 'ExploitKit',
        description: 'Added for the test.',
      },
    );
    // Names are stable: the detections ServiceNow keyed on them stay the same ones.
    for (const r of afterAdd)
      if (namesBefore.has(r.properties.vulnerabilityId))
        expect(r.name).toBe(namesBefore.get(r.properties.vulnerabilityId));
    const rgAfterAdd = byDevice(afterAdd).get(device.uuid);
    expect((await sensorCves(sensor.name)).get(device.id)).toEqual(rgAfterAdd);
    expect((await consoleCves([device.id])).get(device.id)).toEqual(rgAfterAdd);

    const removedCve = device.cves[0] as string;
    const removed = await client.call('DELETE', `/_sandbox/devices/${device.id}/cves/${removedCve}`, {
      auth: 'none',
    });
    expect(removed.status, removed.text).toBe(200);
    const afterRemove = await vulnerabilitiesOf([device.uuid]);
    expect(afterRemove.map((r) => r.properties.vulnerabilityId)).not.toContain(removedCve);
    expect(afterRemove).toHaveLength(before.length);
    const rgAfterRemove = byDevice(afterRemove).get(device.uuid);
    expect((await sensorCves(sensor.name)).get(device.id)).toEqual(rgAfterRemove);
    expect((await consoleCves([device.id])).get(device.id)).toEqual(rgAfterRemove);

    await client.call('POST', '/_sandbox/reset', { auth: 'none' });
    expect(await vulnerabilitiesOf([device.uuid])).toEqual(before);
  });

  it('pages over the vulnerability records with options.$top and $skipToken, as ServiceNow’s Resource Graph reads do [SN-AZ]', async () => {
    const all = await queryAll(VULNERABILITIES_QUERY, 1000);
    const paged = await queryAll(VULNERABILITIES_QUERY, 97);
    expect(paged.total).toBe(all.total);
    expect(paged.pages).toBe(Math.ceil(all.total / 97));
    expect(paged.rows).toEqual(all.rows);
    // Without $top the first page's size is the sandbox default and later pages keep it.
    const defaults = await queryAll(VULNERABILITIES_QUERY);
    expect(defaults.pages).toBe(Math.ceil(all.total / sandbox.state.behaviour.resourceGraphDefaultTop));
    expect(defaults.rows).toEqual(all.rows);
    // A filtered query pages too, and a token of one query is refused by another.
    const some = estate.devices
      .filter((d) => d.cves.length > 0)
      .slice(0, 40)
      .map((d) => d.uuid);
    const filtered = `${VULNERABILITIES_QUERY} | where tostring(properties.deviceId) in (${some.map((n) => `'${n}'`).join(',')})`;
    const first = await client.call('POST', ARG, { body: { query: filtered, options: { $top: 10 } } });
    const token = (first.json as ArgPage).$skipToken;
    expect(token).toBeDefined();
    const wrong = await client.call('POST', ARG, {
      body: { query: VULNERABILITIES_QUERY, options: { $skipToken: token } },
    });
    expect(wrong.status).toBe(400);
    const pagedFiltered = await queryAll(filtered, 10);
    expect(
      new Set(pagedFiltered.rows.map((r) => (r['properties'] as { deviceId: string }).deviceId)),
    ).toEqual(new Set(some));
  });

  it('joins vulnerabilities with their devices by device id, one sensor at a time or the rest, as Resource Graph joins tables (query-language.md: join kind=inner|leftouter) [ARG-QL]', async () => {
    // [ARG-QL] MicrosoftDocs/azure-docs articles/governance/resource-graph/concepts/query-language.md:
    // join flavors inner and leftouter; the join column must be in the right side's project.
    const all = byDevice(
      (await queryAll(VULNERABILITIES_QUERY, 1000)).rows as unknown as VulnerabilityRecord[],
    );
    const devices = `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' | project deviceId = tostring(name), sensorName = tostring(properties.sensor.name)`;
    const joined = `iotsecurityresources | where type == '${TYPE}' | extend deviceId = tostring(properties.deviceId) | join kind=leftouter (${devices}) on deviceId`;
    const sensor = connectedSensorWithCves();
    const ofSensor = estate.devices.filter((d) => d.sensorId === sensor.id && d.cves.length > 0);
    const { rows } = await queryAll(
      `${joined} | where sensorName == '${sensor.name}' | order by deviceId asc, id asc | project id, name, type, subscriptionId, location, properties`,
      200,
    );
    const got = byDevice(rows as unknown as VulnerabilityRecord[]);
    expect([...got.keys()].sort()).toEqual(ofSensor.map((d) => d.uuid).sort());
    for (const [id, cves] of got) expect(cves).toEqual(all.get(id));
    // Ordered by device, then id, across pages.
    const order = rows.map((r) => `${(r['properties'] as { deviceId: string }).deviceId} ${String(r['id'])}`);
    expect(order).toEqual([...order].sort());
    // The rest: every other sensor's devices, and none of this one's.
    const rest = await queryAll(
      `${joined} | where isempty(sensorName) or sensorName !in ('${sensor.name}')`,
      1000,
    );
    expect(rest.total + rows.length).toBe([...all.values()].reduce((n, l) => n + l.length, 0));
    expect(rest.rows.some((r) => r['sensorName'] === sensor.name)).toBe(false);
    // An inner join keeps only the rows with a match; the right side's clashing column comes back as deviceId1.
    const inner = await queryAll(
      `iotsecurityresources | where type == '${TYPE}' | extend deviceId = tostring(properties.deviceId) | join kind=inner (${devices} | where sensorName == '${sensor.name}') on deviceId`,
      1000,
    );
    expect(inner.total).toBe(rows.length);
    expect(inner.rows[0]).toMatchObject({
      deviceId: expect.any(String),
      deviceId1: expect.any(String),
      sensorName: sensor.name,
    });
    // Outside what the sandbox evaluates: an error, never a wrong answer.
    for (const query of [
      `${VULNERABILITIES_QUERY} | extend deviceId = tostring(properties.deviceId) | join (${devices}) on deviceId`,
      `${VULNERABILITIES_QUERY} | extend deviceId = tostring(properties.deviceId) | join kind=fullouter (${devices}) on deviceId`,
      // The join column left out of the right side's project ([ARG-QL] note).
      `${VULNERABILITIES_QUERY} | extend deviceId = tostring(properties.deviceId) | join kind=inner (iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' | project sensorName = tostring(properties.sensor.name)) on deviceId`,
      // A key with several right rows (every vulnerability of a device) is refused, not answered row by row.
      `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' | extend deviceId = tostring(name) | join kind=inner (iotsecurityresources | where type == '${TYPE}' | project deviceId = tostring(properties.deviceId)) on deviceId`,
    ]) {
      const res = await client.call('POST', ARG, { body: { subscriptions: sandbox.subscriptions, query } });
      expect(res.status, query).toBe(400);
      expect(res.json, query).toMatchObject({ error: { code: expect.any(String) } });
    }
  });

  it('device records match the sensor API on sensor name, IPs and MACs (devices.json 2021-02-01-preview; sensor-inventory-apis.md)', async () => {
    const sensor = connectedSensorWithCves();
    const api = sandbox.sensors.find((s) => s.name === sensor.name) as DefenderSandbox['sensors'][number];
    const list = (await client.call('GET', `/sensors/${api.name}/api/v1/devices`, { auth: api.token }))
      .json as Array<{
      id: number;
      ipAddresses: string[] | null;
      macAddresses: string[] | null;
    }>;
    const { rows } = await queryAll(
      `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' and properties.sensor.name == '${sensor.name}'`,
      1000,
    );
    expect(rows).toHaveLength(list.length);
    // The sensor API's numeric `id` is not in the cloud record; the record's `name` is the device's
    // cloud GUID. The sandbox links them only through its estate (id ↔ uuid).
    const uuidOf = new Map(estate.devices.map((d) => [d.id, d.uuid]));
    const byName = new Map(
      rows.map((r) => [r['name'] as string, r['properties'] as Record<string, unknown>]),
    );
    for (const d of list) {
      const p = byName.get(uuidOf.get(d.id) as string) as {
        sensor: { name: string };
        nics: Array<{ ipv4Address: string; macAddress: string }>;
      };
      expect(p.sensor.name).toBe(api.name);
      expect(p.nics.map((n) => n.ipv4Address)).toEqual(d.ipAddresses ?? []);
      // Same MACs; the cloud writes them as the devices.json example does (34-E1-2D-77-80-D0).
      expect(p.nics.map((n) => n.macAddress)).toEqual(
        (d.macAddresses ?? []).map((m) => m.toUpperCase().replace(/:/g, '-')),
      );
    }
  });
});

describe('device vulnerability fields', () => {
  it('maps CVSS v3 scores to the spec’s Severity enum by the CVSS v3.1 bands [SPEC]', () => {
    const cases: Array<[number, string]> = [
      [0, 'None'],
      [0.1, 'Low'],
      [3.9, 'Low'],
      [4, 'Medium'],
      [6.9, 'Medium'],
      [7, 'High'],
      [8.9, 'High'],
      [9, 'Critical'],
      [9.8, 'Critical'],
      [10, 'Critical'],
    ];
    for (const [score, severity] of cases) expect(cvssSeverity(score), String(score)).toBe(severity);
  });

  it('derives names and dates deterministically [SN-AZ name → detection_key]', () => {
    const id = '/subscriptions/s/providers/Microsoft.IoTSecurity/locations/eastus/deviceGroups/g/devices/d';
    expect(vulnerabilityName(id, 'CVE-2015-2373')).toBe(vulnerabilityName(id.toUpperCase(), 'CVE-2015-2373'));
    expect(vulnerabilityName(id, 'CVE-2015-2373')).not.toBe(vulnerabilityName(id, 'CVE-2015-1635'));
    expect(vulnerabilityName(id, 'CVE-2015-2373')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(nvdDates('CVE-2015-2373').publishedDate.slice(0, 4)).toBe('2015');
    // Synthetic ids are not published in the future.
    expect(nvdDates('CVE-2099-10001').publishedDate.slice(0, 4)).toBe('2025');
    expect(nvdDates('CVE-2099-10001')).toEqual(nvdDates('CVE-2099-10001'));
  });

  it('filters on a string column with in (KQL subset)', () => {
    const row = { id: '/A', properties: { deviceId: 'b' } };
    const where = (text: string) => applyRowOperators(parseKql(text).operators, row) !== null;
    expect(where("iotsecurityresources | where tostring(properties.deviceId) in ('a', 'b')")).toBe(true);
    expect(where("iotsecurityresources | where tostring(properties.deviceId) in ('a', 'c')")).toBe(false);
    expect(where("iotsecurityresources | where tostring(properties.deviceId) !in ('a', 'c')")).toBe(true);
  });
});
