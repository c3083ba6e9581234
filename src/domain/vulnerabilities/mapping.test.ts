import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  changedFields,
  cvssSeverity,
  detectionEntityKey,
  detectionHash,
  detectionKey,
  newDetectionValues,
  missingFields,
  newNvdEntryValues,
  nvdEntryHash,
  nvdEntryValues,
  parseDetectionEntityKey,
  sightingValues,
} from './mapping.js';
import { DOCUMENTED_SEVERITY, severityChoices } from './lifecycle.js';
import { distinctCves, normaliseCveId } from './records.js';

const identity = {
  integrationId: 'plant-a',
  ciSysId: '0123456789abcdef0123456789abcdef',
  cveId: 'CVE-2021-44228',
  source: 'Microsoft Defender for IoT',
};

describe('CVE records', () => {
  it('normalises CVE ids and refuses what is not one', () => {
    expect(normaliseCveId(' cve-2021-44228 ')).toBe('CVE-2021-44228');
    expect(normaliseCveId('CVE-2024-123456')).toBe('CVE-2024-123456');
    expect(normaliseCveId('QID-1234')).toBeUndefined();
    expect(normaliseCveId('CVE-21-1')).toBeUndefined();
    expect(normaliseCveId(undefined)).toBeUndefined();
  });

  it('keeps one entry per CVE id, sorted, the first entry winning and later ones filling gaps', () => {
    expect(
      distinctCves([
        { id: 'cve-2022-0002', score: 5 },
        { id: 'CVE-2022-0001' },
        { id: 'CVE-2022-0002', score: 9, description: 'later' },
        { id: 'not-a-cve' },
      ]),
    ).toEqual([{ id: 'CVE-2022-0001' }, { id: 'CVE-2022-0002', score: 5, description: 'later' }]);
  });

  it('does not depend on the order the source used', () => {
    const cve = fc.record({
      id: fc.integer({ min: 1000, max: 1020 }).map((n) => `CVE-2023-${n}`),
      score: fc.option(fc.double({ min: 0, max: 10, noNaN: true }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(cve, { maxLength: 30 }), (cves) => {
        const ids = distinctCves(cves).map((c) => c.id);
        expect(distinctCves([...cves].reverse()).map((c) => c.id)).toEqual(ids);
        expect(new Set(ids).size).toBe(ids.length);
      }),
    );
  });
});

describe('severity', () => {
  it('follows the CVSS v3 bands at their edges', () => {
    expect([0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(cvssSeverity)).toEqual([
      'NONE',
      'LOW',
      'LOW',
      'MEDIUM',
      'MEDIUM',
      'HIGH',
      'HIGH',
      'CRITICAL',
      'CRITICAL',
    ]);
    expect(cvssSeverity(undefined)).toBeUndefined();
    expect(cvssSeverity(11)).toBeUndefined();
    expect(cvssSeverity(Number.NaN)).toBeUndefined();
  });

  it('never ranks a higher score lower', () => {
    const rank = ['NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 10, noNaN: true }),
        (a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(rank.indexOf(cvssSeverity(low)!)).toBeLessThanOrEqual(rank.indexOf(cvssSeverity(high)!));
        },
      ),
    );
  });
});

describe('NVD entry', () => {
  // ServiceNow/ServiceNowDocs …/support-for-msft-defender-iot-azure.md: description → summary,
  // score → score, exploit → Exploit exists and public_exploit; severity the stored choice value.
  it('maps id, summary, score, stored severity and exploit flags, and leaves out what the source did not give', () => {
    expect(
      nvdEntryValues(
        { id: 'CVE-2021-44228', score: 10, description: ' Log4Shell ', exploit: true },
        DOCUMENTED_SEVERITY,
      ),
    ).toEqual({
      id: 'CVE-2021-44228',
      summary: 'Log4Shell',
      score: '10.0',
      severity: '1',
      exploit: '1',
      public_exploit: 'true',
    });
    expect(nvdEntryValues({ id: 'CVE-2020-0001', score: 5.3, exploit: false }, DOCUMENTED_SEVERITY)).toEqual({
      id: 'CVE-2020-0001',
      score: '5.3',
      severity: '3',
    });
    expect(nvdEntryValues({ id: 'CVE-2020-0001' }, { ...DOCUMENTED_SEVERITY, Critical: '9' })).toEqual({
      id: 'CVE-2020-0001',
    });
    expect(newNvdEntryValues({ id: 'CVE-2020-0001' })).toEqual({ id: 'CVE-2020-0001', source: 'NVD' });
  });

  it('fills only the empty fields of an entry it did not create', () => {
    expect(
      missingFields(
        { id: 'CVE-1', summary: 'Defender text', score: '9.8', severity: '1' },
        { id: 'CVE-1', summary: 'NVD text', score: '', severity: null },
      ),
    ).toEqual({ score: '9.8', severity: '1' });
  });

  it('reads severity values from sys_choice labels, the documented ones where the instance lists none', () => {
    expect(
      severityChoices([
        { name: 'sn_vul_entry', element: 'severity', value: '1', label: '1- Critical' },
        { name: 'sn_vul_entry', element: 'severity', value: '20', label: '2 - High' },
      ]),
    ).toEqual({ Critical: '1', High: '20', Medium: '3', Low: '4', None: '5' });
    expect(severityChoices([], { Low: '7' })).toEqual({ ...DOCUMENTED_SEVERITY, Low: '7' });
  });

  it('hashes equal values equally whatever their key order', () => {
    expect(nvdEntryHash({ id: 'CVE-1', summary: 'x' })).toBe(nvdEntryHash({ summary: 'x', id: 'CVE-1' }));
    expect(nvdEntryHash({ id: 'CVE-1', summary: 'x' })).not.toBe(nvdEntryHash({ id: 'CVE-1', summary: 'y' }));
  });

  it('patches only the fields that differ, treating equal scores as equal', () => {
    expect(
      changedFields(
        { id: 'CVE-1', summary: 'new', v3_base_score: '9.8' },
        { id: 'CVE-1', summary: 'old', v3_base_score: '9.80', sys_id: 'x' },
      ),
    ).toEqual({ summary: 'new' });
    expect(changedFields({ summary: 'a' }, { summary: 'a' })).toEqual({});
  });
});

describe('detection', () => {
  it('has a stable key per integration, CI, CVE and source', () => {
    expect(detectionKey(identity)).toBe(detectionKey({ ...identity }));
    expect(detectionKey(identity)).toMatch(/^plant-a:0123456789abcdef0123456789abcdef:CVE-2021-44228:.{8}$/);
    expect(detectionKey({ ...identity, source: 'Other scanner' })).not.toBe(detectionKey(identity));
    expect(detectionKey({ ...identity, integrationId: 'plant-b' })).not.toBe(detectionKey(identity));
    expect(detectionKey({ ...identity, ciSysId: 'f'.repeat(32) })).not.toBe(detectionKey(identity));
  });

  it('keys (device, CVE) pairs so that they split back, whatever the device key', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1000, max: 99999 }), (device, n) => {
        const cve = `CVE-2024-${n}`;
        expect(parseDetectionEntityKey(detectionEntityKey(device, cve))).toEqual({
          deviceKey: device,
          cveId: cve,
        });
      }),
    );
  });

  it('creates an open detection found once, with its key, and records further sightings', () => {
    const now = new Date('2026-11-01T10:00:00Z');
    const content = {
      ciSysId: identity.ciSysId,
      cve: { id: identity.cveId, score: 10, attackVector: 'NETWORK' },
      source: identity.source,
      ipAddress: '10.0.0.5',
    };
    expect(newDetectionValues(identity, content, 'v'.repeat(32), '0', now)).toEqual({
      cmdb_ci: identity.ciSysId,
      vulnerability: 'v'.repeat(32),
      source: 'Microsoft Defender for IoT',
      detection_key: detectionKey(identity),
      status: '0',
      first_found: '2026-11-01 10:00:00',
      last_found: '2026-11-01 10:00:00',
      times_found: '1',
      ip_address: '10.0.0.5',
      proof:
        'Microsoft Defender for IoT reports CVE-2021-44228 on this device (CVSS 10.0, attack vector NETWORK, address 10.0.0.5).',
    });
    expect(sightingValues(content, '0', 3, now)).toMatchObject({
      status: '0',
      last_found: '2026-11-01 10:00:00',
      times_found: '4',
    });
  });

  it('changes its hash when what it says changes, and only then', () => {
    const base = {
      ciSysId: identity.ciSysId,
      cve: { id: identity.cveId, score: 7.5 },
      source: identity.source,
    };
    expect(detectionHash(base)).toBe(detectionHash({ ...base, cve: { score: 7.5, id: identity.cveId } }));
    expect(detectionHash({ ...base, cve: { ...base.cve, score: 9.1 } })).not.toBe(detectionHash(base));
    expect(detectionHash({ ...base, ipAddress: '10.0.0.9' })).not.toBe(detectionHash(base));
  });
});
