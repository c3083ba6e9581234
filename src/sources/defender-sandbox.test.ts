import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateEstate, type Estate } from '../../sandbox/dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from '../../sandbox/defender/index.js';
import type { IntegrationConfig } from '../config/schema.js';
import { systemClock } from '../domain/clock.js';
import { RateLimitedError } from '../errors.js';
import { RequestCounters } from '../runtime/http/counters.js';
import { createHttpTransport } from '../runtime/http/transport.js';
import type { SourcePage } from './common.js';
import { createDefenderSources, type DefenderSources } from './index.js';

/**
 * The Microsoft-side clients against the Defender sandbox over real HTTPS on loopback, with
 * the sandbox CA trusted through `tls.caFile` and a client-secret credential fetched from the
 * sandbox's token endpoint: what the engine will do against Azure and the appliances.
 */
let estate: Estate;
let sandbox: DefenderSandbox;
let sources: DefenderSources;
let counters: RequestCounters;
let config: IntegrationConfig['defender'];
/** ARM page size chosen so that subscription 0's assessments are an exact multiple of it. */
let armPageSize: number;
let firstSubscriptionCount: number;

function divisorOf(n: number): number {
  for (let d = Math.floor(n / 3); d >= 10; d--) if (n % d === 0) return d;
  return n;
}

beforeAll(async () => {
  estate = generateEstate({ size: 'demo' });
  const firstSubscription = estate.subscriptions[0]!.id;
  firstSubscriptionCount = estate.assessments.filter((a) => a.subscriptionId === firstSubscription).length;
  armPageSize = divisorOf(firstSubscriptionCount);
  sandbox = await startDefenderSandbox({
    estate,
    // A disconnected sensor's API answers 503 by default; here every sensor is read.
    behaviour: { armPageSize, disconnectedSensorApi: 'serve' },
  });
  config = {
    tenantId: sandbox.tenantId,
    armUrl: sandbox.url,
    authorityHost: sandbox.url,
    auth: { type: 'clientSecret', clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    subscriptions: sandbox.subscriptions,
    sensors: sandbox.sensors.map((s) => ({ name: s.name, url: s.url, token: s.token })),
    console: sandbox.console,
    tls: { caFile: sandbox.caFile! },
  };
}, 120_000);
afterAll(async () => {
  await sources?.close();
  await sandbox?.close();
});

beforeEach(async () => {
  await sources?.close();
  await control('DELETE', '/_sandbox/faults');
  counters = new RequestCounters();
  sources = createDefenderSources(config, {
    clock: systemClock,
    counters,
    limits: { maxWaitMs: 5_000, backoff: { baseMs: 5, maxMs: 40, maxAttempts: 6 } },
  });
});

/** Calls the sandbox control API (`/_sandbox/...`). */
async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const transport = createHttpTransport({ caFile: sandbox.caFile! });
  try {
    const response = await transport.send({
      method,
      url: `${sandbox.url}${path}`,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(response.status).toBeLessThan(300);
    return JSON.parse(response.body.toString('utf8'));
  } finally {
    await transport.close();
  }
}

async function drain<T>(pages: AsyncIterable<SourcePage<T>>): Promise<{ items: T[]; problems: number }> {
  const items: T[] = [];
  let problems = 0;
  for await (const page of pages) {
    items.push(...page.items);
    problems += page.problems.length;
  }
  return { items, problems };
}

describe('ARM against the Defender sandbox', () => {
  it('lists every assessment of each subscription once, at both api-versions, with a client-secret token', async () => {
    for (const subscription of sandbox.subscriptions) {
      const expected = estate.assessments.filter((a) => a.subscriptionId === subscription).length;
      for (const apiVersion of ['2021-06-01', '2025-05-04'] as const) {
        const { items, problems } = await drain(sources.arm.listAssessments(subscription, apiVersion));
        expect(problems).toBe(0);
        expect(items).toHaveLength(expected);
        expect(new Set(items.map((a) => a.id.toLowerCase())).size).toBe(expected);
      }
    }
    // One token request for both pipelines (MSAL caches it), after one metadata discovery.
    expect(counters.snapshot()).toMatchObject({ 'entra POST 200': 1, 'entra GET 200': 1 });
  });

  it('reads an exact multiple of the ARM page size without an extra request', async () => {
    expect(firstSubscriptionCount % armPageSize).toBe(0);
    const { items } = await drain(sources.arm.listAssessments(sandbox.subscriptions[0]!, '2025-05-04'));
    expect(items).toHaveLength(firstSubscriptionCount);
    expect(counters.snapshot()['arm GET 200']).toBe(firstSubscriptionCount / armPageSize);
  });

  it('lists the metadata catalogue at 2025-05-04 and joins it with an assessment', async () => {
    const { items, problems } = await drain(sources.arm.listAssessmentMetadata());
    expect(problems).toBe(0);
    expect(items).toHaveLength(estate.assessmentMetadata.length);
    const sample = estate.assessments.find((a) => a.resourceId.includes('/resourceGroups/'))!;
    const assessment = await sources.arm.getAssessment(sample.resourceId, sample.key, {
      expand: 'metadata',
      apiVersion: '2025-05-04',
    });
    expect(assessment?.status.code).toBe(sample.code);
    expect(assessment?.metadata?.severity).toBe(items.find((m) => m.assessmentKey === sample.key)?.severity);
    // The same through @azure/arm-security at 2021-06-01, whose severity enum has no Critical.
    const viaSdk = await sources.arm.getAssessment(sample.resourceId, sample.key, { expand: 'metadata' });
    expect(viaSdk?.id.toLowerCase()).toBe(assessment?.id.toLowerCase());
    expect(viaSdk?.metadata?.displayName).toBe(assessment?.metadata?.displayName);
    expect(['Low', 'Medium', 'High']).toContain(viaSdk?.metadata?.severity);
  });

  it('writes, reads and deletes a governance assignment', async () => {
    const sample = estate.assessments.find(
      (a) => a.code === 'Unhealthy' && a.resourceId.includes('/resourceGroups/'),
    )!;
    const key = '6634ff9f-127b-4bf2-8e6e-b1737f5e789c';
    const put = await sources.arm.putGovernanceAssignment(sample.resourceId, sample.key, key, {
      owner: 'owner@contoso.com',
      remediationDueDate: new Date('2026-03-01T00:00:00Z'),
      additionalData: {
        ticketNumber: 10023,
        ticketLink: 'https://acme.service-now.com/x',
        ticketStatus: 'New',
      },
    });
    expect(put.created).toBe(true);
    const again = await sources.arm.putGovernanceAssignment(sample.resourceId, sample.key, key, {
      owner: 'next@contoso.com',
      remediationDueDate: new Date('2026-03-01T00:00:00Z'),
      additionalData: {
        ticketNumber: 10023,
        ticketLink: 'https://acme.service-now.com/x',
        ticketStatus: 'In Progress',
      },
    });
    expect(again.created).toBe(false);
    const listed = await drain(
      sources.arm.listGovernanceAssignments(`/subscriptions/${sample.subscriptionId}`, sample.key),
    );
    expect(
      listed.items.map((a) => [a.assignmentKey, a.owner, a.additionalData?.ticketStatus]),
    ).toContainEqual([key, 'next@contoso.com', 'In Progress']);
    expect(await sources.arm.deleteGovernanceAssignment(sample.resourceId, sample.key, key)).toBe(true);
    expect(await sources.arm.getGovernanceAssignment(sample.resourceId, sample.key, key)).toBeUndefined();
  });

  it('completes under injected 5xx, resets and short 429s', async () => {
    await control('POST', '/_sandbox/faults', {
      seed: 7,
      error500Rate: 0.15,
      resetRate: 0.1,
      error429Rate: 0.1,
      retryAfterSeconds: 1,
    });
    const subscription = sandbox.subscriptions[0]!;
    const { items } = await drain(sources.arm.listAssessments(subscription, '2025-05-04'));
    expect(items).toHaveLength(firstSubscriptionCount);
    expect(new Set(items.map((a) => a.id)).size).toBe(firstSubscriptionCount);
    expect(counters.retries).toBeGreaterThan(0);
  });

  it('defers on a long Retry-After', async () => {
    // Token first, so that the 429 hits ARM itself.
    await drain(sources.arm.listAssessmentMetadata());
    await control('POST', '/_sandbox/faults', { error429Rate: 1, retryAfterSeconds: 3600 });
    const error = await drain(sources.arm.listAssessments(sandbox.subscriptions[0]!, '2021-06-01')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ service: 'arm' });
    expect(Math.abs((error as RateLimitedError).retryAt.getTime() - Date.now() - 3_600_000)).toBeLessThan(
      10_000,
    );
  });

  it('defers, not fails, when the token endpoint answers a long Retry-After', async () => {
    await control('POST', '/_sandbox/faults', { error429Rate: 1, retryAfterSeconds: 3600 });
    const error = await drain(sources.arm.listAssessments(sandbox.subscriptions[0]!, '2025-05-04')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ service: 'entra' });
  });
});

describe('Resource Graph against the Defender sandbox', () => {
  it('reads every assessment row once with $skipToken paging', async () => {
    const ids: string[] = [];
    for await (const rows of sources.resourceGraph.query(
      "securityresources | where type == 'microsoft.security/assessments' | project id, name",
      { subscriptions: sandbox.subscriptions, pageSize: 1000 },
    )) {
      ids.push(...rows.map((r) => String(r.id).toLowerCase()));
    }
    expect(ids).toHaveLength(estate.assessments.length);
    expect(new Set(ids).size).toBe(estate.assessments.length);
  });
});

describe('Defender for IoT in Resource Graph (iotsecurityresources) against the sandbox', () => {
  it('reads every site, sensor and OT device, also sensor by sensor', async () => {
    const iot = sources.iotResourceGraph;
    const sites = await drain(iot.sites());
    expect(sites.problems).toBe(0);
    expect(sites.items.map((s) => s.displayName).sort()).toEqual(
      estate.sites.map((s) => s.displayName).sort(),
    );
    const sensors = await drain(iot.sensors());
    expect(sensors.problems).toBe(0);
    expect(sensors.items.map((s) => s.name).sort()).toEqual(estate.sensors.map((s) => s.name).sort());
    expect(sensors.items.every((s) => s.site !== undefined && s.zone !== undefined)).toBe(true);

    const devices = await drain(iot.devices());
    expect(devices.problems).toBe(0);
    expect(devices.items).toHaveLength(estate.devices.length);
    expect(new Set(devices.items.map((d) => d.id)).size).toBe(estate.devices.length);
    expect(
      devices.items.every((d) =>
        ['ProcessControl', 'Supervisory', 'Enterprise'].includes(String(d.purdueLevel)),
      ),
    ).toBe(true);
    expect(devices.items.every((d) => d.sensor?.site !== undefined && d.firstSeen instanceof Date)).toBe(
      true,
    );

    let perSensor = 0;
    for (const sensor of estate.sensors) {
      const page = await drain(iot.devices({ sensor: sensor.name }));
      expect(page.items.every((d) => d.sensor?.name === sensor.name)).toBe(true);
      perSensor += page.items.length;
    }
    expect(perSensor).toBe(estate.devices.length);
    expect((await drain(iot.devices({ sensor: "no such ' sensor" }))).items).toEqual([]);
  });
});

describe('Defender for IoT against the Defender sandbox', () => {
  it('the sensor clients read every device of the estate once', async () => {
    const ids: number[] = [];
    for (const sensor of sources.sensors) {
      const { items, problems } = await drain(sensor.devices());
      expect(problems).toBe(0);
      ids.push(...items.map((d) => d.id));
    }
    expect(ids).toHaveLength(estate.devices.length);
    expect(new Set(ids).size).toBe(estate.devices.length);
  });

  it('the console client reads every device once in exact pages, and its sensors', async () => {
    const { items, problems } = await drain(sources.console!.devices(0));
    expect(problems).toBe(0);
    expect(items).toHaveLength(estate.devices.length);
    expect(new Set(items.map((d) => d.id)).size).toBe(estate.devices.length);
    expect(items.every((d) => d.site !== undefined && d.lastActivity instanceof Date)).toBe(true);
    const sensors = await sources.console!.sensors();
    expect(sensors.items.map((s) => s.name).sort()).toEqual(estate.sensors.map((s) => s.name).sort());
  });

  it('sensor and console reads complete under injected faults', async () => {
    await control('POST', '/_sandbox/faults', { seed: 3, error500Rate: 0.2, resetRate: 0.1 });
    const sensorIds: number[] = [];
    for (const sensor of sources.sensors)
      sensorIds.push(...(await drain(sensor.devices())).items.map((d) => d.id));
    expect(new Set(sensorIds).size).toBe(estate.devices.length);
    const consoleIds = (await drain(sources.console!.devices(0))).items.map((d) => d.id);
    expect(consoleIds).toHaveLength(estate.devices.length);
    expect(new Set(consoleIds).size).toBe(estate.devices.length);
    expect(counters.retries).toBeGreaterThan(0);
  });

  it('reads connections and CVEs from sensors and the console', async () => {
    const sensor = sources.sensors[0]!;
    const connections = await drain(sensor.connections());
    expect(connections.problems).toBe(0);
    expect(connections.items.length).toBeGreaterThan(0);
    const cves = await drain(sensor.cves());
    expect(cves.problems).toBe(0);
    const consoleCves = await drain(sources.console!.deviceCves(0));
    expect(consoleCves.problems).toBe(0);
    expect(consoleCves.items.length).toBeGreaterThan(0);
    const consoleConnections = await drain(sources.console!.connections(0));
    expect(consoleConnections.problems).toBe(0);
    expect(consoleConnections.items.length).toBeGreaterThan(0);
  });
});
