import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate, type Estate, type SensorAlert } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import { consoleAlertUuid } from './ot.js';
import { TestClient, argQueryAll, fixture, fixturePaths, shapeDiff } from './test-support.js';

// Sources, cited per test:
// [SPEC]    Azure/azure-rest-api-specs specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/alerts.json
//           (+ examples/Alerts/GetAlertList.json, PatchAlert.json)
// [WB]      MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/workbooks.md ("Alert queries")
// [SENSOR]  MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/api/sensor-alert-apis.md
// [CM]      MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/api/management-alert-apis.md
// [SEV]     MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/alert-engine-messages.md ("Alert severities")
// [SYNC]    MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/alerts.md (statuses synchronised)
// [RBAC]    MicrosoftDocs/azure-docs articles/role-based-access-control/permissions/internet-of-things.md

let estate: Estate;
let sandbox: DefenderSandbox;
let client: TestClient;
const V = '2021-07-01-preview';

beforeAll(async () => {
  estate = generateEstate({ size: 'demo', seed: 5 });
  sandbox = await startDefenderSandbox({ estate, behaviour: { armPageSize: 25 } });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

/** An open alert of a connected sensor. */
function openAlert(skip = 0): SensorAlert {
  const connected = new Set(estate.sensors.filter((s) => s.connected).map((s) => s.id));
  const a = estate.alerts.filter((x) => x.status === 'New' && connected.has(x.sensorId))[skip];
  if (!a) throw new Error('no open alert');
  return a;
}

const groupOf = (a: SensorAlert) => a.resourceId.slice(0, a.resourceId.lastIndexOf('/alerts/'));
const sensorApi = (a: SensorAlert) => {
  const name = estate.sensors[a.sensorId - 1]?.name;
  return sandbox.sensors.find((s) => s.name === name) as DefenderSandbox['sensors'][number];
};
const argAlerts = async (query: string) =>
  (
    await argQueryAll(
      client,
      { query },
      { top: 1000, maxPages: 5, check: (res) => expect(res.status).toBe(200) },
    )
  ).rows;

describe('estate alerts', () => {
  it('tie alerts to devices of their own sensor, with bursts and closed alerts, deterministically', () => {
    const again = generateEstate({ size: 'demo', seed: 5 });
    expect(again.alerts).toEqual(estate.alerts);
    for (const a of estate.alerts) {
      const dst = estate.devices[(a.destinationDevice as number) - 1];
      expect(dst?.sensorId).toBe(a.sensorId);
      if (a.sourceDevice !== null) expect(estate.devices[a.sourceDevice - 1]?.sensorId).toBe(a.sensorId);
      expect(a.resourceId).toMatch(
        /^\/subscriptions\/[^/]+\/providers\/Microsoft\.IoTSecurity\/locations\/[^/]+\/deviceGroups\/[^/]+\/alerts\/[0-9a-f-]{36}$/,
      );
      expect(a.resourceId.endsWith(a.uuid)).toBe(true);
    }
    const bursts = new Map<number, SensorAlert[]>();
    for (const a of estate.alerts)
      if (a.burst !== null) bursts.set(a.burst, [...(bursts.get(a.burst) ?? []), a]);
    expect(bursts.size).toBeGreaterThanOrEqual(3);
    for (const burst of bursts.values()) {
      expect(burst.length).toBeGreaterThanOrEqual(20);
      expect(burst.length).toBeLessThanOrEqual(50);
      expect(new Set(burst.map((a) => `${a.type}|${a.sourceDevice}|${a.destinationDevice}`)).size).toBe(1);
      const span = (burst.at(-1) as SensorAlert).time - (burst[0] as SensorAlert).time;
      expect(span).toBeLessThan(15 * 60_000);
    }
    expect(estate.alerts.some((a) => a.status === 'Closed')).toBe(true);
    expect(generateEstate({ devices: 3000, seed: 1 }).alerts.some((a) => a.burst !== null)).toBe(true);
  });
});

describe('ARM device-group alerts [SPEC]', () => {
  it('gets one alert and lists a device group across pages in the example shape', async () => {
    const a = openAlert();
    const one = await client.call('GET', `${a.resourceId}?api-version=${V}`);
    expect(one.status).toBe(200);
    const body = one.json as { id: string; name: string; properties: Record<string, unknown> };
    expect(body.id).toBe(a.resourceId);
    expect(body.name).toBe(a.uuid);
    expect(body.properties['systemAlertId']).toBe(a.uuid);
    expect(body.properties['status']).toBe('New');

    const example = fixture<{ responses: { '200': { body: { value: unknown[] } } } }>(
      fixturePaths.iotAlertList,
    ).responses['200'].body;
    const expected = estate.alerts.filter((x) => groupOf(x) === groupOf(a)).length;
    let url: string | undefined = `${groupOf(a)}/alerts?api-version=${V}`;
    const ids: string[] = [];
    let pages = 0;
    while (url && pages < 50) {
      const res = await client.call('GET', url);
      expect(res.status).toBe(200);
      const page = res.json as { value: Array<{ id: string }>; nextLink?: string };
      // The example's entities and extendedProperties describe an IoT Hub alert, not an OT one.
      if (pages === 0)
        expect(
          shapeDiff(example, page, '$', [
            '$.value[0].properties.entities',
            '$.value[0].properties.extendedProperties',
          ]),
        ).toEqual([]);
      ids.push(...page.value.map((v) => v.id));
      url = page.nextLink;
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(ids).toHaveLength(expected);
  });

  it('maps the sensor severity to Azure: Critical→High, Major→Medium, Minor/Warning→Low [SEV]', async () => {
    const map = { Critical: 'High', Major: 'Medium', Minor: 'Low', Warning: 'Low' } as const;
    for (const severity of Object.keys(map) as Array<keyof typeof map>) {
      const a = estate.alerts.find((x) => x.severity === severity);
      if (!a) continue;
      const res = await client.call('GET', `${a.resourceId}?api-version=${V}`);
      expect((res.json as { properties: { severity: string } }).properties.severity).toBe(map[severity]);
    }
  });

  it('PATCHes status and severity as the example does, and refuses values outside the enums with ARM errors', async () => {
    const a = openAlert(1);
    const example = fixture<{
      parameters: { alertPatchModel: unknown };
      responses: { '200': { body: unknown } };
    }>(fixturePaths.iotAlertPatch);
    const res = await client.call('PATCH', `${a.resourceId}?api-version=${V}`, {
      body: example.parameters.alertPatchModel,
    });
    expect(res.status).toBe(200);
    expect(
      shapeDiff(example.responses['200'].body, res.json, '$', [
        '$.properties.entities',
        '$.properties.extendedProperties',
      ]),
    ).toEqual([]);
    expect((res.json as { properties: { status: string; severity: string } }).properties).toMatchObject({
      status: 'InProgress',
      severity: 'Medium',
    });

    for (const properties of [{ status: 'Active' }, { status: 'closed' }, { severity: 'Critical' }]) {
      const bad = await client.call('PATCH', `${a.resourceId}?api-version=${V}`, { body: { properties } });
      expect(bad.status).toBe(400);
      expect(bad.json).toMatchObject({ error: { code: 'InvalidRequestContent' } });
    }
    const noBody = await client.call('PATCH', `${a.resourceId}?api-version=${V}`);
    expect(noBody.status).toBe(400);
  });

  it('answers 404 for an unknown alert, 400 for a wrong or missing api-version, 405 for PUT', async () => {
    const a = openAlert();
    const unknown = await client.call(
      'GET',
      `${groupOf(a)}/alerts/00000000-0000-0000-0000-000000000000?api-version=${V}`,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: { code: 'NotFound' } });
    const wrong = await client.call('GET', `${a.resourceId}?api-version=2021-02-01-preview`);
    expect(wrong.status).toBe(400);
    expect(wrong.json).toMatchObject({ error: { code: 'InvalidApiVersionParameter' } });
    const missing = await client.call('GET', a.resourceId);
    expect(missing.json).toMatchObject({ error: { code: 'MissingApiVersionParameter' } });
    const put = await client.call('PUT', `${a.resourceId}?api-version=${V}`, { body: { properties: {} } });
    expect(put.status).toBe(405);
    const noAuth = await client.call('GET', `${a.resourceId}?api-version=${V}`, { auth: 'none' });
    expect(noAuth.status).toBe(401);
  });

  it('learn closes the alert and marks it learned (UNVERIFIED path: RBAC lists learn/write, no REST path is published) [RBAC]', async () => {
    const a = openAlert(2);
    const res = await client.call('POST', `${a.resourceId}/learn?api-version=${V}`);
    expect(res.status).toBe(200);
    expect((res.json as { properties: { status: string } }).properties.status).toBe('Closed');
    const truth = await client.call('GET', `/_sandbox/alerts/${a.id}`);
    expect(truth.json).toMatchObject({ status: 'Closed', learned: true, handled: true });
  });
});

describe('Resource Graph alerts [WB]', () => {
  it('serves the workbook fields, and the status written through ARM is the one Resource Graph shows', async () => {
    const a = openAlert(3);
    const type = "iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/alerts'";
    const open = await argAlerts(`${type} | where properties.status != 'Closed'`);
    expect(open.length).toBe(
      estate.alerts.filter((x) => x.status !== 'Closed').length -
        // the tests above closed one alert (learn)
        1,
    );
    const row = (await argAlerts(`${type} | where id in ('${a.resourceId}')`))[0] as {
      properties: Record<string, unknown> & { extendedProperties: Record<string, unknown> };
    };
    expect(row.properties).toMatchObject({
      status: 'New',
      systemAlertId: a.uuid,
      alertType: a.type,
      displayName: a.title,
      startTimeUtc: expect.any(String),
    });
    expect(row.properties.extendedProperties).toMatchObject({
      SensorId: estate.sensors[a.sensorId - 1]?.name,
      SourceDeviceAddress: a.sourceDeviceAddress ?? '',
      DestinationDeviceAddress: a.destinationDeviceAddress ?? '',
    });
    // DeviceResourceIds joins a device row's id (the workbook's "alerts by Purdue level").
    const deviceId = row.properties.extendedProperties['DeviceResourceIds'] as string;
    const device = await argAlerts(
      `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' | where id in ('${deviceId}')`,
    );
    expect(device).toHaveLength(1);

    await client.call('PATCH', `${a.resourceId}?api-version=${V}`, {
      body: { properties: { status: 'Closed' } },
    });
    const after = (
      await argAlerts(`${type} | where id in ('${a.resourceId}') | project status = properties.status`)
    )[0];
    expect(after).toEqual({ status: 'Closed' });
  });
});

describe('sensor alert API [SENSOR]', () => {
  it('filters by state, creation time and type; v2 adds addresses and remediation steps', async () => {
    const a = openAlert(4);
    const api = sensorApi(a);
    const own = estate.alerts.filter((x) => x.sensorId === a.sensorId);
    const v1 = (await client.call('GET', `/sensors/${api.name}/api/v1/alerts`, { auth: api.token }))
      .json as Array<Record<string, unknown>>;
    expect(v1).toHaveLength(own.length);
    expect(
      shapeDiff(fixture<unknown[]>(fixturePaths.sensorAlerts)[1], v1[0], '$', ['$.sourceDevice']),
    ).toEqual([]);
    expect(Object.keys(v1[0] ?? {})).not.toContain('remediationSteps');

    const v2 = (await client.call('GET', `/sensors/${api.name}/api/v2/alerts`, { auth: api.token }))
      .json as Array<Record<string, unknown>>;
    const mine = v2.find((x) => x['id'] === a.id) as Record<string, unknown>;
    expect(mine).toMatchObject({
      sourceDeviceAddress: a.sourceDeviceAddress,
      destinationDeviceAddress: a.destinationDeviceAddress,
      remediationSteps: [...a.remediationSteps],
    });

    const unhandled = (
      await client.call('GET', `/sensors/${api.name}/api/v1/alerts?state=unhandled`, {
        auth: api.token,
      })
    ).json as unknown[];
    const live = (await client.call('GET', `/_sandbox/alerts?sensor=${api.name}`)).json as Array<{
      status: string;
    }>;
    expect(unhandled).toHaveLength(live.filter((x) => x.status !== 'Closed').length);

    const time = mine['time'] as number;
    const window = (
      await client.call('GET', `/sensors/${api.name}/api/v1/alerts?fromTime=${time}&toTime=${time}`, {
        auth: api.token,
      })
    ).json as Array<{ id: number }>;
    expect(window.map((x) => x.id)).toContain(a.id);

    const disconnections = (
      await client.call('GET', `/sensors/${api.name}/api/v1/alerts?type=disconnections`, {
        auth: api.token,
      })
    ).json as Array<{ title: string }>;
    for (const d of disconnections)
      expect(d.title).toBe('Device is Suspected to be Disconnected (Unresponsive)');
    // "Other values are ignored": an unknown type filters nothing.
    const ignored = (
      await client.call('GET', `/sensors/${api.name}/api/v1/alerts?type=malware`, {
        auth: api.token,
      })
    ).json as unknown[];
    expect(ignored).toHaveLength(own.length);
  });

  it('is read-only: PUT and POST on alerts get the unknown-endpoint answer', async () => {
    const a = openAlert(4);
    const api = sensorApi(a);
    for (const method of ['PUT', 'POST']) {
      const res = await client.call(method, `/sensors/${api.name}/api/v1/alerts/${a.id}`, {
        auth: api.token,
        body: { action: 'handle' },
      });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: 'Failure – error: unknown endpoint' });
    }
  });

  it('shows an alert closed in Azure as handled [SYNC]', async () => {
    const a = openAlert(5);
    const api = sensorApi(a);
    await client.call('PATCH', `${a.resourceId}?api-version=${V}`, {
      body: { properties: { status: 'Closed' } },
    });
    const handled = (
      await client.call('GET', `/sensors/${api.name}/api/v1/alerts?state=handled`, {
        auth: api.token,
      })
    ).json as Array<{ id: number }>;
    expect(handled.map((x) => x.id)).toContain(a.id);
  });
});

describe('management console alert API (legacy) [CM]', () => {
  const auth = () => sandbox.console.token;

  it('lists v1 and v2 alerts with the console fields and filters', async () => {
    const a = openAlert(6);
    const v1 = (
      await client.call('GET', `/console/external/v1/alerts?sensor=${a.sensorId}`, { auth: auth() })
    ).json as Array<Record<string, unknown>>;
    expect(v1.length).toBe(estate.alerts.filter((x) => x.sensorId === a.sensorId).length);
    expect(v1[0]).toMatchObject({ sensorId: a.sensorId, handled: expect.any(Boolean) });
    expect(Object.keys(v1[0] ?? {})).not.toContain('sensorName');
    const v2 = (await client.call('GET', `/console/external/v2/alerts?state=unhandled`, { auth: auth() }))
      .json as Array<Record<string, unknown>>;
    const mine = v2.find((x) => x['id'] === a.id);
    expect(mine).toMatchObject({
      sensorName: estate.sensors[a.sensorId - 1]?.name,
      sourceDeviceAddress: a.sourceDeviceAddress,
      remediationSteps: [...a.remediationSteps],
      handled: false,
    });
  });

  it('handles by UUID with the documented answers, and refuses a bad action or UUID with 500', async () => {
    const a = openAlert(7);
    const list = (
      await client.call('GET', `/console/external/v1/alerts?sensor=${a.sensorId}`, { auth: auth() })
    ).json as Array<{ id: number; time: number }>;
    const uuid = consoleAlertUuid(list.find((x) => x.id === a.id) as { id: number; time: number });
    const put = (action: unknown, id = uuid) =>
      client.call('PUT', `/console/external/v1/alerts/${id}`, { auth: auth(), body: { action } });

    expect((await put('handle')).json).toEqual({ content: 'Alert update request finished successfully' });
    expect((await put('handle')).json).toEqual({ content: 'Alert was already handled' });
    expect((await put('handleAndLearn')).json).toEqual({
      content: 'Alert was already handled. Handle and learn was performed on the alert',
    });
    expect((await put('handleAndLearn')).json).toEqual({ content: 'Alert was already handled and learned' });
    expect((await put('handle')).json).toEqual({
      content: 'Alert was already handled and learned. Ignored handle request',
    });
    const invalid = await put('close');
    expect(invalid.status).toBe(500);
    expect(invalid.json).toEqual({ error: 'Invalid action' });
    const missing = await put('handle', '999999-1');
    expect(missing.status).toBe(500);
    expect(missing.json).toEqual({
      error: "Couldn't execute request because no alert was found for this UUID",
    });
    // Handled on the console is Closed in Azure [SYNC].
    const azure = await client.call('GET', `${a.resourceId}?api-version=${V}`);
    expect((azure.json as { properties: { status: string } }).properties.status).toBe('Closed');
  });
});

describe('closeWrites: a test instrument of the control API', () => {
  it('counts every client close of an alert (closeWrites, control API only) so that a test sees an alert closed twice', async () => {
    // Alerts no earlier test of this file touched.
    const a = openAlert(12);
    const b = openAlert(13);
    const closeWrites = async (id: number) =>
      ((await client.call('GET', `/_sandbox/alerts/${id}`)).json as { closeWrites: number }).closeWrites;
    expect(await closeWrites(a.id)).toBe(0);
    const close = { body: { properties: { status: 'Closed' } } };
    expect((await client.call('PATCH', `${a.resourceId}?api-version=${V}`, close)).status).toBe(200);
    expect(await closeWrites(a.id)).toBe(1);
    // ARM accepts the same close again (the alert stays Closed); the sandbox counts it.
    expect((await client.call('PATCH', `${a.resourceId}?api-version=${V}`, close)).status).toBe(200);
    expect(await closeWrites(a.id)).toBe(2);
    // A severity change and a person's close through the control API are not client closes.
    await client.call('PATCH', `${b.resourceId}?api-version=${V}`, {
      body: { properties: { severity: 'High' } },
    });
    await client.call('POST', `/_sandbox/alerts/${b.id}/close`, {});
    expect(await closeWrites(b.id)).toBe(0);
  });
});
