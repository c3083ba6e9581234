import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
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
