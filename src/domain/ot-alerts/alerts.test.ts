import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ALERT_IMPACT_URGENCY,
  alertCorrelationId,
  alertCorrelationPrefix,
  alertDeviceRef,
  alertGroupKey,
  alertTicketContent,
  alertsWorkNote,
  azureSeverityOf,
  closeActionFor,
  highestAlertSeverity,
  matchAlertRule,
  placeAlerts,
  type AlertRule,
  type OtAlert,
} from './alerts.js';

function alert(over: Partial<OtAlert> = {}): OtAlert {
  return {
    key: 'line-1/7',
    source: 'sensor',
    title: 'Unauthorized PLC Programming',
    severity: 'Major',
    engine: 'Policy Violation',
    alertType: 'Unauthorized PLC Programming',
    raisedAt: '2026-03-01T10:00:00.000Z',
    open: true,
    sensor: 'line-1',
    site: 'Plant A',
    zone: 'Line 1',
    sourceAddress: '10.1.0.7',
    destinationAddress: '10.1.0.9',
    ...over,
  };
}

function rule(over: Partial<AlertRule> = {}): AlertRule {
  return {
    name: 'r',
    when: {},
    ticket: true,
    table: 'incident',
    grouping: 'device+alertType',
    windowMinutes: 60,
    ...over,
  };
}

describe('azureSeverityOf', () => {
  it('maps the sensor scale onto the Azure one as alert-engine-messages.md shows it', () => {
    expect(['Critical', 'Major', 'Minor', 'Warning'].map(azureSeverityOf)).toEqual([
      'High',
      'Medium',
      'Low',
      'Low',
    ]);
    expect(azureSeverityOf('Informational')).toBe('Informational');
  });
});

describe('matchAlertRule', () => {
  it('takes the first rule whose conditions all hold, a severity condition matching either scale', () => {
    const rules = [
      rule({ name: 'silence-warnings', when: { severities: ['Warning'] }, ticket: false }),
      rule({ name: 'high', when: { severities: ['High'] } }),
      rule({ name: 'plant-a', when: { sites: ['plant a'] } }),
    ];
    expect(matchAlertRule(rules, alert({ severity: 'Warning' }))?.name).toBe('silence-warnings');
    expect(matchAlertRule(rules, alert({ severity: 'Critical' }))?.name).toBe('high');
    expect(matchAlertRule(rules, alert({ severity: 'Major' }))?.name).toBe('plant-a');
    expect(matchAlertRule(rules, alert({ severity: 'Major', site: 'Plant B' }))).toBeUndefined();
  });

  it('matches engines and alert types (types also by title)', () => {
    const rules = [
      rule({ name: 'malware', when: { engines: ['malware'] } }),
      rule({ name: 'scan', when: { alertTypes: ['IoT_Scan'] } }),
    ];
    expect(matchAlertRule(rules, alert({ engine: 'Malware' }))?.name).toBe('malware');
    expect(matchAlertRule(rules, alert({ alertType: 'iot_scan' }))?.name).toBe('scan');
    expect(matchAlertRule(rules, alert({ engine: undefined }))).toBeUndefined();
  });
});

describe('alertGroupKey', () => {
  it('groups a burst of one type on one device together and apart from other devices and types', () => {
    const r = rule();
    const a = alertGroupKey(r, alert({ key: 'line-1/1' }), alertDeviceRef(alert(), 'line-1/42'));
    const b = alertGroupKey(r, alert({ key: 'line-1/2' }), alertDeviceRef(alert(), 'line-1/42'));
    const otherDevice = alertGroupKey(r, alert(), alertDeviceRef(alert(), 'line-1/43'));
    const otherType = alertGroupKey(r, alert({ alertType: 'Scan' }), alertDeviceRef(alert(), 'line-1/42'));
    expect(a).toBe(b);
    expect(new Set([a, otherDevice, otherType]).size).toBe(3);
  });

  it('gives each alert its own group without grouping', () => {
    const r = rule({ grouping: 'none' });
    expect(alertGroupKey(r, alert({ key: 'x/1' }), 'd')).not.toBe(
      alertGroupKey(r, alert({ key: 'x/2' }), 'd'),
    );
  });

  it('falls back to sensor and source address when the device is not recognised', () => {
    expect(alertDeviceRef(alert(), undefined)).toBe('addr:line-1/10.1.0.7');
    expect(alertDeviceRef(alert({ sourceAddress: undefined }), undefined)).toBe('sensor:line-1');
  });
});

describe('alertCorrelationId', () => {
  it('is namespaced with :oa:, a hash of the group key, stable, within 100 characters, and differs per generation', () => {
    const integrationId = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
    fc.assert(
      fc.property(
        integrationId,
        fc.string({ unit: 'grapheme' }),
        fc.integer({ min: 1, max: 1000 }),
        (id, key, generation) => {
          const cid = alertCorrelationId(id, key, generation);
          expect(cid.startsWith(alertCorrelationPrefix(id))).toBe(true);
          // No text of the alert (its id, device, type) reaches the correlation_id query: a hash only.
          expect(cid.slice(alertCorrelationPrefix(id).length)).toMatch(/^[A-Za-z0-9_-]{20}$/);
          expect(cid.length).toBeLessThanOrEqual(100);
          expect(cid).toBe(alertCorrelationId(id, key, generation));
          expect(cid).not.toBe(alertCorrelationId(id, key, generation + 1));
        },
      ),
    );
    expect(alertCorrelationPrefix('plant-a')).toBe('snowline:plant-a:oa:');
  });
});

describe('alertTicketContent', () => {
  it('names sensor, site, zone, protocol, source and destination, carries remediation and links the CI', () => {
    const content = alertTicketContent(
      [alert({ protocol: 'Modbus', remediationSteps: ['Verify the programming change', 'Lock the PLC'] })],
      { ci: 'ci-1', name: 'PLC-7' },
      { impactUrgency: DEFAULT_ALERT_IMPACT_URGENCY, grouping: 'device+alertType' },
    );
    expect(content.cmdb_ci).toBe('ci-1');
    expect(content.short_description).toBe('[Defender for IoT] Major: Unauthorized PLC Programming (PLC-7)');
    for (const text of [
      'sensor line-1',
      'site Plant A',
      'zone Line 1',
      'Protocol: Modbus',
      'Source: 10.1.0.7',
      'Destination: 10.1.0.9',
      '1. Verify the programming change',
      '2. Lock the PLC',
    ])
      expect(content.description).toContain(text);
    expect([content.impact, content.urgency]).toEqual(['2', '2']);
  });

  it('takes impact and urgency from the highest severity of either scale, and says why no CI is linked', () => {
    const content = alertTicketContent(
      [alert({ severity: 'Minor' }), alert({ key: 'b', severity: 'High' })],
      { why: 'no device of sensor line-1 has its addresses' },
      { impactUrgency: DEFAULT_ALERT_IMPACT_URGENCY, grouping: 'device' },
    );
    expect(content.cmdb_ci).toBeUndefined();
    expect([content.impact, content.urgency]).toEqual(['1', '1']);
    expect(content.short_description).toContain('×2');
    expect(content.description).toContain('no CI linked: no device of sensor line-1 has its addresses');
  });

  it('is the same for the same alerts in any order', () => {
    const a = [alert({ key: 'a' }), alert({ key: 'b', raisedAt: '2026-03-01T09:00:00.000Z' })];
    const options = { impactUrgency: DEFAULT_ALERT_IMPACT_URGENCY, grouping: 'device' as const };
    expect(alertTicketContent(a, {}, options)).toEqual(alertTicketContent([...a].reverse(), {}, options));
  });
});

describe('highestAlertSeverity', () => {
  it('ranks both scales on one order', () => {
    expect(highestAlertSeverity(['Warning', 'Minor'])).toBe('Minor');
    expect(highestAlertSeverity(['Medium', 'Critical', 'Low'])).toBe('Critical');
    expect(highestAlertSeverity(['Informational', 'Warning'])).toBe('Warning');
  });
});

describe('placeAlerts', () => {
  const policy = { windowMinutes: 60, reopenAfterMinutes: 30 };
  const open = { status: 'open' as const, number: 'INC1', lastAlertAt: '2026-03-01T10:00:00.000Z' };

  it('opens the first ticket of a group', () => {
    expect(placeAlerts(undefined, '2026-03-01T10:00:00.000Z', policy)).toMatchObject({
      kind: 'open',
      generation: 'first',
    });
  });

  it('joins an open ticket within the window and opens the next one after it', () => {
    expect(placeAlerts(open, '2026-03-01T10:59:00.000Z', policy).kind).toBe('join');
    // An alert raised before the ticket's last one (read late through the overlap) joins too.
    expect(placeAlerts(open, '2026-03-01T09:59:00.000Z', policy).kind).toBe('join');
    expect(placeAlerts(open, '2026-03-01T11:01:00.000Z', policy)).toMatchObject({
      kind: 'open',
      generation: 'next',
    });
  });

  it('holds alerts back within reopenAfterMinutes of a close, then opens the next ticket', () => {
    const closed = { ...open, status: 'closed' as const, closedAt: '2026-03-01T10:10:00.000Z' };
    const held = placeAlerts(closed, '2026-03-01T10:20:00.000Z', policy);
    expect(held.kind).toBe('hold');
    expect(held.reason).toContain('reopenAfterMinutes 30');
    expect(placeAlerts(closed, '2026-03-01T10:40:00.000Z', policy)).toMatchObject({
      kind: 'open',
      generation: 'next',
    });
  });
});

describe('closeActionFor', () => {
  it('maps a close code (ignoring case) and falls back to the default', () => {
    const map = { default: 'close' as const, byCloseCode: { 'Known error': 'learn' as const } };
    expect(closeActionFor(map, 'known error')).toBe('learn');
    expect(closeActionFor(map, 'Solution provided')).toBe('close');
    expect(closeActionFor(map, undefined)).toBe('close');
  });
});

describe('alertsWorkNote', () => {
  it('lists each added alert with its reason', () => {
    const note = alertsWorkNote([alert({ key: 'line-1/8' }), alert({ key: 'line-1/9' })], 'burst');
    expect(note).toContain('2 more Defender for IoT alert(s) of this group (burst)');
    expect(note).toContain('Defender alert: line-1/8');
    expect(note).toContain('Defender alert: line-1/9');
  });
});
