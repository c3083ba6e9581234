import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledWithin } from '../common/settled.js';
import { generateEstate, type Estate } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import { TestClient } from './test-support.js';

let estate: Estate;
let sandbox: DefenderSandbox;
let client: TestClient;
const V = '2021-06-01';
const G = '2022-01-01-preview';

beforeAll(async () => {
  estate = generateEstate({ devices: 120, seed: 4 });
  sandbox = await startDefenderSandbox({ estate, now: new Date('2027-03-01T12:00:00Z') });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const control = (method: string, path: string, body?: unknown) =>
  client.call(method, `/_sandbox${path}`, { auth: 'none', ...(body !== undefined ? { body } : {}) });

describe('control API', () => {
  it("seeds an assignment as Defender's own ServiceNow integration leaves it, as strictly as the ARM PUT", async () => {
    await control('POST', '/reset');
    const a = estate.assessments.find((x) => x.code === 'Unhealthy') as Estate['assessments'][number];
    const assessmentId = `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`;
    const properties = {
      owner: 'ana@contoso.com',
      remediationDueDate: '2027-03-15T00:00:00Z',
      isGracePeriod: true,
      additionalData: { ticketNumber: 10042, ticketLink: 'https://snow.example.com', ticketStatus: 'New' },
    };
    const seeded = await control('POST', '/servicenow-integration/assignments', { assessmentId, properties });
    expect(seeded.status).toBe(201);
    const key = (seeded.json as { name: string }).name;
    const listed = await client.call(
      'GET',
      `/subscriptions/${a.subscriptionId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments?api-version=${G}`,
    );
    expect((listed.json as { value: unknown[] }).value).toEqual([
      expect.objectContaining({ name: key, properties }),
    ]);
    // ticketNumber is an int32 (contract §3.1), and the integration always records its ticket.
    const wrong = {
      ...properties,
      additionalData: { ...properties.additionalData, ticketNumber: 'INC0010042' },
    };
    expect(
      (await control('POST', '/servicenow-integration/assignments', { assessmentId, properties: wrong }))
        .status,
    ).toBe(400);
    const { additionalData: _none, ...noTicket } = properties;
    expect(
      (await control('POST', '/servicenow-integration/assignments', { assessmentId, properties: noTicket }))
        .status,
    ).toBe(400);
    expect(
      (
        await control('POST', '/servicenow-integration/assignments', {
          assessmentId: `/subscriptions/x/providers/Microsoft.Security/assessments/${a.key}`,
          properties,
        })
      ).status,
    ).toBe(404);
  });

  it('describes the sandbox', async () => {
    const res = await control('GET', '');
    expect(res.json).toMatchObject({
      tenantId: sandbox.tenantId,
      subscriptions: sandbox.subscriptions,
      console: sandbox.console,
    });
  });

  it('adds an assessment on a resource the estate does not have; ARM, Resource Graph and governance PUTs take it until a reset', async () => {
    await control('POST', '/reset');
    const a = estate.assessments.find((x) => x.code === 'Unhealthy') as Estate['assessments'][number];
    const resourceId = `/subscriptions/${a.subscriptionId}/resourceGroups/rg^NQ=ünï/providers/Microsoft.Compute/virtualMachines/vm^ORsys_id!=0`;
    const added = await control('POST', '/assessments', { resourceId, assessmentKey: a.key });
    expect(added.status).toBe(201);
    const id = `${resourceId}/providers/Microsoft.Security/assessments/${a.key}`;
    expect(added.json).toEqual({ id, resourceId, assessmentKey: a.key, code: 'Unhealthy' });
    expect((await control('POST', '/assessments', { resourceId, assessmentKey: a.key })).status).toBe(409);
    expect(
      (await control('POST', '/assessments', { resourceId: '/subscriptions/x/rg', assessmentKey: a.key }))
        .status,
    ).toBe(400);
    expect((await control('POST', '/assessments', { resourceId, assessmentKey: 'no-such-key' })).status).toBe(
      404,
    );

    const got = async () =>
      (await client.call('GET', `${encodeURI(id)}?api-version=${V}`)).json as { id?: string };
    expect(await got()).toMatchObject({ id });
    const arg = await client.call(
      'POST',
      '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01',
      {
        body: {
          query: `securityresources | where type == 'microsoft.security/assessments' | where tostring(properties.resourceDetails.Id) == '${resourceId}' | project id`,
        },
      },
    );
    expect((arg.json as { data: unknown[] }).data).toEqual([{ id }]);
    const put = await client.call(
      'PUT',
      `${encodeURI(id)}/governanceAssignments/6f2b3c1e-0000-4000-8000-000000000001?api-version=${G}`,
      { body: { properties: { owner: 'ana@contoso.com', remediationDueDate: '2027-03-15T00:00:00Z' } } },
    );
    expect(put.status).toBe(201);

    await control('POST', '/reset');
    expect(await got()).not.toMatchObject({ id });
    expect((await control('POST', '/assessments', { resourceId, assessmentKey: a.key })).status).toBe(201);
    await control('POST', '/reset');
  });

  it('sets an assessment status at the sandbox clock; ARM and Resource Graph show it', async () => {
    await control('POST', '/reset');
    const a = estate.assessments.find((x) => x.code === 'Unhealthy') as Estate['assessments'][number];
    const clock = await control('POST', '/clock', { now: '2027-04-01T08:00:00Z' });
    expect(clock.json).toMatchObject({ now: expect.stringMatching(/^2027-04-01T08:00:0/) });
    const set = await control('POST', '/assessments/status', {
      resourceId: a.resourceId,
      assessmentName: a.key,
      code: 'Healthy',
    });
    expect(set.status).toBe(200);
    const got = await client.call(
      'GET',
      `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}?api-version=${V}`,
    );
    const status = (got.json as { properties: { status: { code: string; statusChangeDate: string } } })
      .properties.status;
    expect(status.code).toBe('Healthy');
    expect(status.statusChangeDate.startsWith('2027-04-01T08:00:0')).toBe(true);
    const arg = await client.call(
      'POST',
      '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01',
      {
        body: {
          query: `securityresources | where type == 'microsoft.security/assessments' and name == '${a.key}' and tolower(tostring(properties.resourceDetails.Id)) == '${a.resourceId.toLowerCase()}' | project code = tostring(properties.status.code)`,
        },
      },
    );
    expect((arg.json as { data: unknown[] }).data).toEqual([{ code: 'Healthy' }]);
    const byId = await control('POST', '/assessments/status', {
      id: `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`,
      code: 'Unhealthy',
    });
    expect(byId.json).toMatchObject({ code: 'Unhealthy' });
    expect(
      (
        await control('POST', '/assessments/status', {
          resourceId: a.resourceId,
          assessmentName: a.key,
          code: 'Broken',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await control('POST', '/assessments/status', {
          resourceId: '/subscriptions/x',
          assessmentName: a.key,
          code: 'Healthy',
        })
      ).status,
    ).toBe(404);
    const advanced = await control('POST', '/clock', { advanceSeconds: 3600 });
    expect(advanced.json).toMatchObject({ now: expect.stringMatching(/^2027-04-01T09:00:0/) });
  });

  it('counts requests per API and method, and resets the counters', async () => {
    await control('POST', '/stats/reset');
    const sub = sandbox.subscriptions[0] as string;
    await client.call(
      'GET',
      `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`,
    );
    await client.call('POST', '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01', {
      body: { query: 'resources | limit 1' },
    });
    await client.call('GET', '/console/external/v3/integration/sensors', { auth: sandbox.console.token });
    const a = estate.assessments[5] as Estate['assessments'][number];
    await client.call(
      'DELETE',
      `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments/abc?api-version=${G}`,
    );
    const stats = (await control('GET', '/stats')).json as {
      total: number;
      writes: number;
      byApi: Record<string, { total: number; byMethod: Record<string, number> }>;
      byMethod: Record<string, number>;
    };
    expect(stats.total).toBe(4);
    expect(stats.writes).toBe(1);
    expect(stats.byApi['arm']).toMatchObject({ total: 2, byMethod: { GET: 1, DELETE: 1 } });
    expect(stats.byApi['resourcegraph']).toMatchObject({ total: 1, byMethod: { POST: 1 } });
    expect(stats.byApi['console']).toMatchObject({ total: 1 });
    expect(stats.byMethod).toEqual({ GET: 2, POST: 1, DELETE: 1 });
    expect(((await control('POST', '/stats/reset')).json as { total: number }).total).toBe(0);
  });

  it('counts the most writes in flight at once (reads apart), and resets it', async () => {
    await control('POST', '/stats/reset');
    await control('POST', '/faults', { latencyMs: 50 });
    try {
      const [a, b, c] = estate.assessments.slice(6, 9) as Estate['assessments'];
      const remove = (x: Estate['assessments'][number]) =>
        client.call(
          'DELETE',
          `${x.resourceId}/providers/Microsoft.Security/assessments/${x.key}/governanceAssignments/abc?api-version=${G}`,
        );
      const sub = sandbox.subscriptions[0] as string;
      const read = () =>
        client.call('GET', `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`);
      await Promise.all([remove(a!), remove(b!), read(), read()]);
      await remove(c!);
    } finally {
      await control('POST', '/faults', {});
    }
    const most = () =>
      control('GET', '/stats').then((r) => (r.json as { mostWritesInFlight: number }).mostWritesInFlight);
    expect(await most()).toBe(2);
    await control('POST', '/stats/reset');
    expect(await most()).toBe(0);
  });

  it('injects 429 with Retry-After and 500 deterministically from a seed', async () => {
    const sub = sandbox.subscriptions[0] as string;
    const url = `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`;
    const run = async () => {
      await control('POST', '/faults', {
        seed: 42,
        error429Rate: 0.3,
        error500Rate: 0.3,
        retryAfterSeconds: 7,
      });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await client.call('GET', url);
        statuses.push(res.status);
        if (res.status === 429) {
          expect(res.headers['retry-after']).toBe('7');
          expect(res.json).toMatchObject({ error: { code: 'TooManyRequests' } });
        }
        if (res.status === 500) expect(res.json).toMatchObject({ error: { code: 'InternalServerError' } });
      }
      return statuses;
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(first).toContain(429);
    expect(first).toContain(500);
    expect(first).toContain(200);
    await control('DELETE', '/faults');
    expect((await client.call('GET', url)).status).toBe(200);
    const sensorApi = sandbox.sensors.find(
      (s) => estate.sensors.find((x) => x.name === s.name)?.connected,
    ) as DefenderSandbox['sensors'][number];
    await control('POST', '/faults', { error500Rate: 1 });
    const sensorFault = await client.call('GET', `/sensors/${sensorApi.name}/api/v1/devices`, {
      auth: sensorApi.token,
    });
    expect(sensorFault.status).toBe(500);
    expect(sensorFault.json).toMatchObject({ error: expect.any(String) });
    await control('DELETE', '/faults');
  });

  it('resets connections when asked to', async () => {
    await control('POST', '/faults', { resetRate: 1 });
    const sub = sandbox.subscriptions[0] as string;
    await expect(
      client.call('GET', `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`),
    ).rejects.toThrow();
    await control('DELETE', '/faults');
  });

  it('holdWrite commits the N-th write and never answers it', async () => {
    const a = estate.assessments.find((x) =>
      x.resourceId.includes('/resourceGroups/'),
    ) as Estate['assessments'][number];
    const path = (k: string) =>
      `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments/${k}?api-version=${G}`;
    const body = {
      properties: { owner: 'held@contoso.example', remediationDueDate: '2030-01-01T00:00:00Z' },
    };
    await control('POST', '/faults', { holdWrite: 2 });
    expect((await client.call('PUT', path('00000000-0000-4000-8000-000000000001'), { body })).status).toBe(
      201,
    );
    const held = client.call('PUT', path('00000000-0000-4000-8000-000000000002'), { body });
    expect(await settledWithin(held, 1500)).toBe('pending');
    await control('DELETE', '/faults');
    const committed = await client.call('GET', path('00000000-0000-4000-8000-000000000002'));
    expect(committed.status).toBe(200);
    expect((committed.json as { properties: { owner: string } }).properties.owner).toBe(
      'held@contoso.example',
    );
    held.catch(() => undefined);
  });

  it('holdRead holds the N-th read unanswered; token requests are not counted', async () => {
    const sub = sandbox.subscriptions[0] as string;
    const list = () =>
      client.call('GET', `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`);
    // Held requests stay held until the sandbox closes, earlier tests' included.
    const heldBefore = ((await control('GET', '/faults')).json as { held: number }).held;
    await control('POST', '/faults', { holdRead: 2 });
    expect((await list()).status).toBe(200);
    const held = list();
    expect(await settledWithin(held, 1500)).toBe('pending');
    expect((await control('GET', '/faults')).json).toMatchObject({
      held: heldBefore + 1,
      readsSeen: 2,
      writesSeen: 0,
    });
    await control('DELETE', '/faults');
    held.catch(() => undefined);
  });

  it('sees every device again at the sandbox clock, so last seen and the incremental readers move', async () => {
    await control('POST', '/reset');
    await control('POST', '/clock', { now: '2027-03-03T00:00:00Z' });
    const seen = await control('POST', '/devices/seen');
    expect(seen.json).toEqual({ seen: estate.devices.length });
    for (const d of estate.devices.slice(0, 5)) {
      const device = await control('GET', `/devices/${d.id}`);
      expect(device.json).toMatchObject({ lastActivity: expect.stringMatching(/^2027-03-03T00:00:0/) });
    }
    await control('POST', '/reset');
  });

  it('adds, changes and removes devices and CVEs; toggles sensors; validates input', async () => {
    await control('POST', '/reset');
    const sensor = estate.sensors[0] as Estate['sensors'][number];
    const added = await control('POST', '/devices', {
      sensor: sensor.name,
      name: 'NEW-PLC-1',
      type: 'PLC',
      ip: '10.99.0.10',
      vendor: 'Siemens',
      model: 'SIMATIC S7-1500',
      cves: ['CVE-2015-2373'],
    });
    expect(added.status).toBe(201);
    const id = (added.json as { id: number }).id;
    expect(id).toBe(estate.devices.length + 1);
    const api = sandbox.sensors.find((s) => s.name === sensor.name) as DefenderSandbox['sensors'][number];
    await control('POST', `/sensors/${sensor.name}`, { connected: true, learningMode: true });
    const list = (await client.call('GET', `/sensors/${api.name}/api/v1/devices`, { auth: api.token }))
      .json as Array<{ id: number; name: string }>;
    expect(list.find((d) => d.id === id)?.name).toBe('NEW-PLC-1');
    const consoleSensors = (
      await client.call('GET', '/console/external/v3/integration/sensors', { auth: sandbox.console.token })
    ).json as Array<{ u_name: string; u_is_in_learning_mode: boolean }>;
    expect(consoleSensors.find((s) => s.u_name === sensor.name)?.u_is_in_learning_mode).toBe(true);
    const patched = await control('PATCH', `/devices/${id}`, { name: 'NEW-PLC-1b', ip: '10.99.0.11' });
    expect(patched.json).toMatchObject({ name: 'NEW-PLC-1b', ips: ['10.99.0.11'] });
    expect((await control('POST', `/devices/${id}/cves`, { cveId: 'CVE-2031-0001' })).status).toBe(400);
    expect((await control('DELETE', `/devices/${id}/cves/CVE-2015-2373`)).json).toMatchObject({ cves: [] });
    expect((await control('DELETE', `/devices/${id}/cves/CVE-2015-2373`)).status).toBe(404);
    expect(
      (await control('POST', '/devices', { sensor: 'nope', name: 'x', type: 'PLC', ip: '10.0.0.1' })).status,
    ).toBe(404);
    expect(
      (await control('POST', '/devices', { sensor: sensor.name, name: 'x', type: 'Toaster', ip: '10.0.0.1' }))
        .status,
    ).toBe(400);
    expect((await control('POST', '/devices', '{oops')).status).toBe(400);
    expect((await control('PATCH', '/devices/999999', { name: 'x' })).status).toBe(404);
    expect((await control('DELETE', `/devices/${id}`)).status).toBe(200);
    expect((await control('DELETE', `/devices/${id}`)).status).toBe(404);
    expect((await control('GET', '/nothing')).status).toBe(404);
  });

  it('dumps a canonical, stable state; reset restores the estate', async () => {
    await control('POST', '/reset');
    const dump1 = await control('GET', '/dump?what=devices,assessments,governanceAssignments');
    expect(dump1.status).toBe(200);
    const parsed = dump1.json as {
      assessments: Array<{ id: string }>;
      devices: Array<{ id: number }>;
      governanceAssignments: unknown[];
    };
    expect(Object.keys(parsed)).toEqual(['assessments', 'devices', 'governanceAssignments']);
    expect(parsed.devices).toHaveLength(estate.devices.length);
    expect(parsed.assessments).toHaveLength(estate.assessments.length);
    const ids = parsed.assessments.map((a) => a.id.toLowerCase());
    expect(ids).toEqual([...ids].sort());
    const a = estate.assessments[0] as Estate['assessments'][number];
    await control('POST', '/assessments/status', {
      resourceId: a.resourceId,
      assessmentName: a.key,
      code: a.code === 'Healthy' ? 'Unhealthy' : 'Healthy',
    });
    await control('DELETE', `/devices/${estate.devices[3]?.id}`);
    const dump2 = await control('GET', '/dump?what=devices,assessments,governanceAssignments');
    expect(dump2.text).not.toBe(dump1.text);
    await control('POST', '/reset');
    const dump3 = await control('GET', '/dump?what=governanceAssignments,assessments,devices');
    expect(dump3.text).toBe(dump1.text);
    expect((await control('GET', '/dump?what=everything')).status).toBe(400);
  });
});

describe('control API input', () => {
  it('rejects unknown fields instead of ignoring them', async () => {
    const d = estate.devices[0] as Estate['devices'][number];
    const res = await control('PATCH', `/devices/${d.id}`, { firmware: 'V1' });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { message: expect.stringContaining('firmware') } });
    expect((await control('POST', '/faults', { error503Rate: 1 })).status).toBe(400);
  });
});

describe('fault injection: latency spikes and injected counts', () => {
  it('delays a seeded share of requests by latencySpikeMs and counts every injected fault', async () => {
    const sub = sandbox.subscriptions[0] as string;
    const url = `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`;
    await control('POST', '/faults', {
      seed: 9,
      latencySpikeRate: 0.5,
      latencySpikeMs: 200,
      error429Rate: 0.2,
    });
    let slowest = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const started = performance.now();
      statuses.push((await client.call('GET', url)).status);
      slowest = Math.max(slowest, performance.now() - started);
    }
    const report = (await control('GET', '/faults')).json as { injected: Record<string, number> };
    expect(report.injected.latencySpike).toBeGreaterThan(0);
    expect(report.injected.latencySpike).toBeLessThan(12);
    expect(report.injected.error429).toBe(statuses.filter((s) => s === 429).length);
    // A spiked request is answered no sooner than the spike (a lower bound, not a performance claim).
    expect(slowest).toBeGreaterThanOrEqual(190);
    await control('DELETE', '/faults');
    expect(((await control('GET', '/faults')).json as { injected: unknown }).injected).toEqual({
      reset: 0,
      error500: 0,
      error429: 0,
      latencySpike: 0,
    });
  });
});

describe('module models', () => {
  it("renames a device's modules in slot order, as the console lists them", async () => {
    await control('POST', '/reset');
    const device = estate.devices.find((d) => d.modules.length >= 2) as Estate['devices'][number];
    const hostile = 'Nobody^NQname=CPU 315-2 PN/DP';
    const patched = await control('PATCH', `/devices/${device.id}`, { moduleModels: [hostile] });
    expect(patched.status).toBe(200);
    // The console answers one device wrapped in an array, as its doc example does.
    const [consoleDevice] = (
      await client.call('GET', `/console/external/v3/integration/device/${device.id}`, {
        auth: sandbox.console.token,
      })
    ).json as { u_firmwares: { u_model: string }[] }[];
    expect(consoleDevice!.u_firmwares.map((f) => f.u_model)).toEqual([
      hostile,
      ...device.modules.slice(1).map((m) => m.model),
    ]);
    expect((await control('PATCH', `/devices/${device.id}`, { moduleModels: 'x' })).status).toBe(400);
    await control('POST', '/reset');
  });
});

describe('CVE ids that are not CVE ids', () => {
  it('serves an id made of query syntax as given, with its score', async () => {
    await control('POST', '/reset');
    const device = estate.devices[0] as Estate['devices'][number];
    const hostile = 'CVE-2031-0001^NQidSTARTSWITHCVE';
    const added = await control('POST', `/devices/${device.id}/cves`, { cveId: hostile, score: '9.8' });
    expect(added.status).toBe(201);
    expect((added.json as { cves: string[] }).cves).toContain(hostile);
    expect((await control('POST', `/devices/${device.id}/cves`, { cveId: '', score: '9.8' })).status).toBe(
      400,
    );
    await control('POST', '/reset');
  });
});

describe('raw sensor devices', () => {
  it('serves injected records verbatim after the sensor devices until reset', async () => {
    await control('POST', '/reset');
    const sensor = sandbox.sensors.find(
      (s) => estate.sensors.find((x) => x.name === s.name)?.connected,
    ) as DefenderSandbox['sensors'][number];
    const list = async () =>
      (await client.call('GET', `/sensors/${sensor.name}/api/v1/devices`, { auth: sensor.token }))
        .json as unknown[];
    const generated = (await list()).length;
    const records = [{ id: 'not a number', name: 42 }, null, 'text', { name: 'x^NQsys_id!=0' }];
    expect((await control('POST', `/sensors/${sensor.name}/raw-devices`, { records })).json).toEqual({
      name: sensor.name,
      rawDevices: 4,
    });
    expect((await list()).slice(generated)).toEqual(records);
    expect((await control('POST', '/sensors/no-such-sensor/raw-devices', { records })).status).toBe(404);
    expect((await control('POST', `/sensors/${sensor.name}/raw-devices`, { rows: [] })).status).toBe(400);
    await control('POST', '/reset');
    expect(await list()).toHaveLength(generated);
  });
});

describe('raw Resource Graph rows', () => {
  it('serves injected rows verbatim after the rows of their type, to queries that pin it, until reset', async () => {
    await control('POST', '/reset');
    const type = 'microsoft.iotsecurity/locations/devicegroups/devices';
    const query = async (q: string) =>
      (
        (
          await client.call('POST', '/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01', {
            body: { query: q, options: { $top: 1000 } },
          })
        ).json as { data: unknown[] }
      ).data;
    const devices = `iotsecurityresources | where type == '${type}' | project id, name, properties`;
    const generated = (await query(devices)).length;
    const records = [
      { id: 42, name: null },
      null,
      'text',
      { id: 'x', name: "x'^NQsys_id!=0", properties: 1 },
    ];
    expect(
      (await control('POST', '/resource-graph/raw-rows', { type: type.toUpperCase(), records })).json,
    ).toEqual({
      type,
      rawRows: 4,
    });
    const served = await query(devices);
    expect(served.slice(generated)).toEqual(records);
    // Past the query's operators, but only where the query asks for the type.
    expect(
      await query(`iotsecurityresources | where type == 'microsoft.iotsecurity/locations/sites'`),
    ).not.toContainEqual(null);
    expect(await query('iotsecurityresources | project id')).not.toContainEqual(null);
    expect((await control('POST', '/resource-graph/raw-rows', { type: 'no/such', records })).status).toBe(
      404,
    );
    expect((await control('POST', '/resource-graph/raw-rows', { records })).status).toBe(400);
    await control('POST', '/reset');
    expect(await query(devices)).toHaveLength(generated);
  });
});

describe('raw console records', () => {
  it('serves injected records verbatim after the generated ones of a v3 list, across pages, until reset', async () => {
    await control('POST', '/reset');
    const list = async (path: string, key: string, size: number) => {
      const out: unknown[] = [];
      for (let page = 0; ; page++) {
        const body = (
          await client.call('GET', `/console/external/v3/integration/${path}?page=${page}&size=${size}`, {
            auth: sandbox.console.token,
          })
        ).json as Record<string, unknown[] | number>;
        out.push(...(body[key] as unknown[]));
        if ((page + 1) * size >= (body['u_count'] as number)) return out;
      }
    };
    const generated = (await list('devices/0', 'u_devices', 1000)).length;
    const records = [{ u_id: 'x', u_name: 42 }, null, 'text', { u_id: 7, u_name: 'x^NQsys_id!=0' }];
    expect((await control('POST', '/console/raw-records', { list: 'devices', records })).json).toEqual({
      list: 'devices',
      rawRecords: 4,
    });
    // Pages that end inside the generated records, and pages made of raw records only.
    const pages = await list('devices/0', 'u_devices', 3);
    expect(pages).toHaveLength(generated + 4);
    expect(pages.slice(generated)).toEqual(records);
    expect((await list('devicecves/0', 'u_device_cves', 1000)).slice(-1)).not.toEqual([records[3]]);
    expect((await control('POST', '/console/raw-records', { list: 'alerts', records })).status).toBe(400);
    await control('POST', '/reset');
    expect(await list('devices/0', 'u_devices', 1000)).toHaveLength(generated);
  });
});

describe('request journal', () => {
  it('records API requests while on, and nothing while off', async () => {
    const sub = sandbox.subscriptions[0] as string;
    const path = `/subscriptions/${sub}/providers/Microsoft.Security/assessments?api-version=${V}`;
    expect((await control('POST', '/journal', { enabled: true })).json).toEqual({ enabled: true });
    await client.call('GET', path);
    expect(((await control('GET', '/journal')).json as { requests: unknown[] }).requests).toEqual([
      { seq: expect.any(Number), method: 'GET', path },
    ]);
    await control('POST', '/journal', { enabled: false });
    await client.call('GET', path);
    expect(((await control('GET', '/journal')).json as { requests: unknown[] }).requests).toEqual([]);
  });
});
