import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBTYPE_CLASS } from '../../test/support/connector-classes.js';
import { startDefenderSandbox, type DefenderSandbox } from '../defender/index.js';
import { TestClient, argQueryAll } from '../defender/test-support.js';
import { DEVICE_TYPES } from './catalog.js';
import {
  ESTATE_REFERENCE_TIME,
  PROTOCOLS,
  estateCounts,
  estateDigest,
  generateEstate,
  type Estate,
} from './index.js';

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(net) & mask) >>> 0;
}

/** Invariants every estate must satisfy, whatever the seed and size. */
function checkInvariants(e: Estate): void {
  const zones = new Map(e.zones.map((z) => [z.id, z]));
  const ips = new Set<string>();
  const macs = new Set<string>();
  e.devices.forEach((d, i) => {
    expect(d.id).toBe(i + 1);
    const zone = zones.get(d.zoneId);
    expect(zone).toBeDefined();
    expect(zone?.levels).toContain(d.purdueLevel);
    expect(zone?.sensorId).toBe(d.sensorId);
    expect(zone?.siteId).toBe(d.siteId);
    expect(inSubnet(d.nics[0]?.ip as string, zone?.subnet as string)).toBe(true);
    for (const n of d.nics) {
      expect(ips.has(n.ip)).toBe(false);
      ips.add(n.ip);
      expect(macs.has(n.mac)).toBe(false);
      macs.add(n.mac);
    }
    expect(d.firstSeen).toBeLessThanOrEqual(d.lastActivity);
    expect(d.lastActivity).toBeLessThanOrEqual(ESTATE_REFERENCE_TIME);
    expect(new Set(d.cves).size).toBe(d.cves.length);
  });
  const cveIds = new Set(e.cves.map((c) => c.cveId));
  for (const d of e.devices) for (const c of d.cves) expect(cveIds.has(c)).toBe(true);
  const pairs = new Set<string>();
  for (const c of e.connections) {
    expect(c.sourceId).not.toBe(c.destinationId);
    expect(e.devices[c.sourceId - 1]).toBeDefined();
    expect(e.devices[c.destinationId - 1]).toBeDefined();
    expect(PROTOCOLS[c.protocol]).toBeDefined();
    const key = [c.sourceId, c.destinationId].sort((a, b) => a - b).join('-');
    expect(pairs.has(key)).toBe(false);
    pairs.add(key);
    expect(c.discovered).toBeLessThanOrEqual(c.lastSeen);
  }
  const metadataKeys = new Set(e.assessmentMetadata.map((m) => m.key));
  const assessmentKeys = new Set<string>();
  for (const a of e.assessments) {
    expect(metadataKeys.has(a.key)).toBe(true);
    expect(e.subscriptions.some((s) => s.id === a.subscriptionId)).toBe(true);
    expect(a.resourceId.startsWith(`/subscriptions/${a.subscriptionId}`)).toBe(true);
    const k = `${a.resourceId.toLowerCase()}|${a.key}`;
    expect(assessmentKeys.has(k)).toBe(false);
    assessmentKeys.add(k);
  }
}

describe('generateEstate', () => {
  it('is deterministic: same seed, same estate; another seed, another estate', () => {
    const a = estateDigest(generateEstate({ size: 'demo', seed: 7 }));
    const b = estateDigest(generateEstate({ size: 'demo', seed: 7 }));
    const c = estateDigest(generateEstate({ size: 'demo', seed: 8 }));
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(estateDigest(generateEstate({ devices: 2000, seed: 3 }))).toBe(
      estateDigest(generateEstate({ devices: 2000, seed: 3 })),
    );
  });

  it('demo: ~600 devices, ~2,000 assessments, learning and disconnected sensors, all statuses and severities', () => {
    const e = generateEstate({ size: 'demo', seed: 1 });
    const counts = estateCounts(e);
    expect(counts).toMatchObject({ devices: 600, assessments: 2000, sites: 2, sensors: 6, subscriptions: 2 });
    expect(counts['connections']).toBeGreaterThan(2000);
    expect(counts['deviceCvePairs']).toBeGreaterThan(1000);
    expect(e.sensors.some((s) => s.learningMode)).toBe(true);
    expect(e.sensors.some((s) => !s.connected)).toBe(true);
    expect(new Set(e.devices.map((d) => d.purdueLevel))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    const types = new Set(e.devices.map((d) => d.type));
    for (const t of [
      'PLC',
      'RTU',
      'IED',
      'DCS Controller',
      'HMI',
      'Engineering Station',
      'Historian',
      'OPC Server',
      'SCADA Server',
      'Switch',
      'Firewall',
      'Workstation',
    ]) {
      expect(types.has(t as never), t).toBe(true);
    }
    const protocols = new Set(e.devices.flatMap((d) => d.protocols));
    for (const p of [
      'MODBUS',
      'Siemens S7',
      'DNP3',
      'EtherNet/IP',
      'BACNet',
      'IEC60870-5-104',
      'OPC UA',
      'Profinet',
    ])
      expect(protocols.has(p), p).toBe(true);
    expect(e.devices.some((d) => d.modules.length > 1)).toBe(true);
    expect(new Set(e.assessments.map((a) => a.code))).toEqual(
      new Set(['Healthy', 'Unhealthy', 'NotApplicable']),
    );
    expect(new Set(e.assessmentMetadata.map((m) => m.severity))).toEqual(
      new Set(['Low', 'Medium', 'High', 'Critical']),
    );
    checkInvariants(e);
  });

  it('keeps connections mostly inside a zone or one Purdue level up', () => {
    const e = generateEstate({ size: 'demo', seed: 2 });
    let local = 0;
    for (const c of e.connections) {
      const a = e.devices[c.sourceId - 1];
      const b = e.devices[c.destinationId - 1];
      if (a && b && a.zoneId === b.zoneId && Math.abs(a.purdueLevel - b.purdueLevel) <= 1) local++;
    }
    expect(local / e.connections.length).toBeGreaterThan(0.75);
  });

  it('empty has no OT or assessments but keeps the built-in recommendation catalogue', () => {
    const e = generateEstate({ size: 'empty' });
    expect(estateCounts(e)).toMatchObject({
      devices: 0,
      sensors: 0,
      sites: 0,
      assessments: 0,
      connections: 0,
      users: 0,
    });
    expect(e.assessmentMetadata.length).toBeGreaterThan(20);
    expect(e.subscriptions).toHaveLength(1);
  });

  it('--devices N overrides the device count and scales the rest', () => {
    const small = generateEstate({ devices: 50, seed: 1 });
    const big = generateEstate({ devices: 6000, seed: 1 });
    expect(small.devices).toHaveLength(50);
    expect(big.devices).toHaveLength(6000);
    expect(big.sensors.length).toBeGreaterThan(small.sensors.length);
    expect(big.assessments.length).toBeGreaterThan(small.assessments.length);
    expect(big.size).toBe('custom');
    expect(() => generateEstate({ devices: -1 })).toThrow(RangeError);
    checkInvariants(big);
  });

  it('ServiceNow users match the owners tagged on resources, with duplicates and users without email', () => {
    const e = generateEstate({ devices: 6000, seed: 5 });
    const users = e.servicenow.sys_user;
    const emails = users.map((u) => u.email).filter((x) => x !== '');
    expect(users.some((u) => u.email === '')).toBe(true);
    expect(new Set(emails).size).toBeLessThan(emails.length);
    expect(new Set(users.map((u) => u.user_name)).size).toBe(users.length);
    expect(new Set(users.map((u) => u.sys_id)).size).toBe(users.length);
    for (const u of users) {
      expect(u).toMatchObject({
        sys_id: expect.stringMatching(/^[0-9a-f]{32}$/),
        user_name: expect.any(String),
        name: `${u.first_name} ${u.last_name}`,
        active: expect.stringMatching(/^(true|false)$/),
      });
    }
    const owners = e.resources.map((r) => r.tags['owner']).filter((o): o is string => o !== undefined);
    const known = new Set(emails);
    const matched = owners.filter((o) => known.has(o)).length;
    expect(matched / owners.length).toBeGreaterThan(0.85);
    expect(owners.some((o) => !known.has(o))).toBe(true);
    expect(e.servicenow.sys_user_group.length).toBeGreaterThan(3);
    const groupIds = new Set(e.servicenow.sys_user_group.map((g) => g.sys_id));
    const userIds = new Set(users.map((u) => u.sys_id));
    for (const m of e.servicenow.sys_user_grmember) {
      expect(groupIds.has(m.group as string)).toBe(true);
      expect(userIds.has(m.user as string)).toBe(true);
    }
  });

  it('property: any seed and device count gives a consistent estate of exactly that many devices', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 1500 }),
        (seed, devices) => {
          const e = generateEstate({ devices, seed });
          expect(e.devices).toHaveLength(devices);
          checkInvariants(e);
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('every subtype of the connector class table', () => {
  const subTypes = Object.keys(SUBTYPE_CLASS);
  let sandbox: DefenderSandbox;
  let client: TestClient;
  let estate: Estate;

  beforeAll(async () => {
    // The smallest estate that must hold every catalogue type.
    estate = generateEstate({ devices: DEVICE_TYPES.length, seed: 4 });
    sandbox = await startDefenderSandbox({ estate });
    client = new TestClient(sandbox);
  });
  afterAll(async () => {
    await client?.close();
    await sandbox?.close();
  });

  it('an estate of as many devices as types holds each type once, and each subtype row on every source', async () => {
    expect(estate.devices.map((d) => d.type).sort()).toEqual(DEVICE_TYPES.map((t) => t.type).sort());
    // The catalogue covers every row of the table, plus the two types the table lacks.
    expect(new Set(DEVICE_TYPES.map((t) => t.subTypeDisplayName))).toEqual(
      new Set([...subTypes, 'OPC Server', 'SCADA Server']),
    );

    const sensorTypes: string[] = [];
    for (const s of sandbox.sensors) {
      const res = await client.call('GET', `/sensors/${s.name}/api/v1/devices`, { auth: s.token });
      expect(res.status).toBe(200);
      sensorTypes.push(...(res.json as Array<{ type: string }>).map((d) => d.type));
    }
    const page = await client.call('GET', '/console/external/v3/integration/devices/0?size=1000', {
      auth: sandbox.console.token,
    });
    expect(page.status).toBe(200);
    const consoleTypes = (
      page.json as { u_devices: Array<{ u_device_type: { u_name: string } }> }
    ).u_devices.map((d) => d.u_device_type.u_name);
    const { rows } = await argQueryAll(
      client,
      {
        query:
          "iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' | project properties",
      },
      { maxPages: 10, check: (res) => expect(res.status, res.text).toBe(200) },
    );
    const cloud = rows.map((r) => r['properties'] as Record<string, unknown>);
    const cloudTypes = cloud.map((p) => String(p['deviceSubTypeDisplayName']));

    // The sensor and the console name two subtypes as the sensor API documents its `type`
    // values (Microsoft's sensor-inventory-apis.md); Resource Graph as the connector's table.
    const sensorSpelling: Record<string, string> = {
      'Multicast/Broadcast': 'Multicast and Broadcast',
      'Terminal Station': 'Terminal station',
    };
    const onPremises = subTypes.map((s) => sensorSpelling[s] ?? s);
    expect(sensorTypes).toEqual(expect.arrayContaining(onPremises));
    expect(consoleTypes).toEqual(expect.arrayContaining(onPremises));
    expect(cloudTypes).toEqual(expect.arrayContaining(subTypes));

    // The device fields the connector's Azure mapping names.
    const plc = cloud.find((p) => p['deviceSubTypeDisplayName'] === 'PLC') as Record<string, unknown>;
    expect(plc).toMatchObject({
      hardware: { vendor: expect.any(String), model: expect.any(String), serialNumber: expect.any(String) },
      additionalFields: { plcKeyState: expect.any(String), plcRunState: expect.any(String) },
      firstSeen: expect.any(String),
      lastSeen: expect.any(String),
      nics: [expect.objectContaining({ ipv4Address: expect.any(String), macAddress: expect.any(String) })],
    });
    const withSlots = cloud.filter((p) => (p['slots'] as unknown[]).length > 1);
    expect(withSlots.map((p) => p['deviceSubTypeDisplayName'])).toEqual(
      expect.arrayContaining(['DCS Controller', 'I/O Adapter']),
    );
    const systems = cloud.map((p) => p['operatingSystem'] as Record<string, string>);
    expect(systems.filter((o) => o['architecture']).length).toBeGreaterThan(0);
  });

  it('property: any estate of at least as many devices as types holds every type', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: DEVICE_TYPES.length, max: 1500 }),
        (seed, devices) => {
          const types = new Set(generateEstate({ devices, seed }).devices.map((d) => d.type));
          expect(types.size).toBe(DEVICE_TYPES.length);
        },
      ),
      { numRuns: 12 },
    );
    // Zone layouts change at these sizes (one zone, two, three, a second site).
    for (const devices of [149, 150, 249, 250, 337, 338])
      expect(new Set(generateEstate({ devices, seed: 1 }).devices.map((d) => d.type)).size).toBe(
        DEVICE_TYPES.length,
      );
  });
});
