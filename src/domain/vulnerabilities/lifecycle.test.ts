import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { days } from '../time.js';
import {
  decideDetection,
  detectionStatusOf,
  personOwnedReason,
  vrChoicesFrom,
  type ChoiceRow,
  type DetectionStatus,
  type VrChoices,
} from './lifecycle.js';

/** Deliberately not the sandbox's codes: the lifecycle must use whatever sys_choice says. */
const rows: ChoiceRow[] = [
  { name: 'sn_vul_detection', element: 'status', value: '10', label: 'Open' },
  { name: 'sn_vul_detection', element: 'status', value: '11', label: 'Fixed' },
  { name: 'sn_vul_detection', element: 'status', value: '12', label: 'Stale' },
  { name: 'sn_vul_vulnerable_item', element: 'state', value: '1', label: 'Open' },
  { name: 'sn_vul_vulnerable_item', element: 'state', value: '12', label: 'Deferred' },
  { name: 'sn_vul_vulnerable_item', element: 'state', value: '3', label: 'Closed' },
  { name: 'sn_vul_vulnerable_item', element: 'substate', value: '7', label: 'false  positive' },
  { name: 'sn_vul_vulnerable_item', element: 'substate', value: '8', label: 'Risk Accepted' },
  { name: 'sn_vul_vulnerable_item', element: 'substate', value: '9', label: 'Fixed' },
  { name: 'sn_vul_vulnerable_item', element: 'substate', value: '6', label: 'CI Decommissioned' },
];
const choices = vrChoicesFrom(rows).choices as VrChoices;
const now = new Date('2026-11-01T00:00:00Z');
const refreshAfterMs = days(7);

describe('choices from sys_choice', () => {
  it('finds the codes by label, whatever their values', () => {
    expect(choices).toEqual({
      detectionStatus: { open: '10', fixed: '11', stale: '12' },
      itemState: { open: '1', deferred: '12', closed: '3' },
      itemSubstate: { fixed: '9', decommissioned: '6', falsePositive: '7', riskAccepted: '8' },
      // None listed in these rows: the documented values (create-severity-map.md).
      severity: { Critical: '1', High: '2', Medium: '3', Low: '4', None: '5' },
    });
    expect(detectionStatusOf('11', choices)).toBe('fixed');
    expect(detectionStatusOf('99', choices)).toBe('other');
  });

  it('names every label it could not find', () => {
    const result = vrChoicesFrom(rows.filter((r) => r.label !== 'Stale' && r.label !== 'Deferred'));
    expect(result.missing).toEqual([
      'sn_vul_detection.status = Stale',
      'sn_vul_vulnerable_item.state = Deferred',
    ]);
  });
});

describe('items a person owns', () => {
  it('are Deferred, or Closed as False Positive or Risk Accepted', () => {
    expect(personOwnedReason({ state: '12' }, choices)).toMatch(/Deferred/);
    expect(personOwnedReason({ state: '3', substate: '7' }, choices)).toMatch(/False Positive/);
    expect(personOwnedReason({ state: '3', substate: '8' }, choices)).toMatch(/Risk Accepted/);
    expect(personOwnedReason({ state: '3', substate: '9' }, choices)).toBeUndefined();
    expect(personOwnedReason({ state: '1' }, choices)).toBeUndefined();
  });
});

describe('detection lifecycle', () => {
  const open = (known?: Parameters<typeof decideDetection>[0]['known'], hash = 'h') =>
    decideDetection({ wanted: 'open', known, hash, now, refreshAfterMs });

  it('creates, reopens, updates on change or when last found is due, and leaves the rest', () => {
    expect(open(undefined).action).toBe('create');
    expect(open({ status: 'fixed' })).toMatchObject({
      action: 'reopen',
      reason: expect.stringMatching(/Fixed/),
    });
    expect(open({ status: 'stale', hash: 'h', lastWrittenAt: now })).toMatchObject({ action: 'reopen' });
    expect(open({ status: 'open', hash: 'old', lastWrittenAt: now }).action).toBe('update');
    expect(open({ status: 'open', hash: 'h', lastWrittenAt: new Date(now.getTime() - days(6)) }).action).toBe(
      'unchanged',
    );
    expect(
      open({ status: 'open', hash: 'h', lastWrittenAt: new Date(now.getTime() - days(7)) }),
    ).toMatchObject({
      action: 'update',
      reason: expect.stringMatching(/refreshed/),
    });
  });

  it('closes only open detections, saying why', () => {
    expect(
      decideDetection({ wanted: 'notReported', known: { status: 'open' }, now, refreshAfterMs }),
    ).toMatchObject({
      action: 'resolve',
      reason: expect.stringMatching(/no longer reports/),
    });
    expect(
      decideDetection({ wanted: 'deviceRetired', known: { status: 'open' }, now, refreshAfterMs }),
    ).toMatchObject({
      action: 'resolve',
      reason: expect.stringMatching(/decommissioned/),
    });
    expect(decideDetection({ wanted: 'notReported', known: undefined, now, refreshAfterMs }).action).toBe(
      'unchanged',
    );
    expect(
      decideDetection({ wanted: 'notReported', known: { status: 'stale' }, now, refreshAfterMs }).action,
    ).toBe('unchanged');
  });

  it('is idempotent: after doing what it decided, the same situation asks for nothing', () => {
    const status = fc.constantFrom<DetectionStatus>('open', 'fixed', 'stale', 'other');
    fc.assert(
      fc.property(
        fc.constantFrom<'open' | 'notReported' | 'deviceRetired'>('open', 'notReported', 'deviceRetired'),
        fc.option(
          fc.record({ status, hash: fc.constantFrom('h', 'x'), ageDays: fc.integer({ min: 0, max: 200 }) }),
          {
            nil: undefined,
          },
        ),
        (wanted, before) => {
          const known = before
            ? {
                status: before.status,
                hash: before.hash,
                lastWrittenAt: new Date(now.getTime() - days(before.ageDays)),
              }
            : undefined;
          const first = decideDetection({ wanted, known, hash: 'h', now, refreshAfterMs });
          if (first.action === 'unchanged') return;
          const after = {
            status: wanted === 'open' ? ('open' as const) : ('fixed' as const),
            hash: 'h',
            lastWrittenAt: now,
          };
          expect(decideDetection({ wanted, known: after, hash: 'h', now, refreshAfterMs }).action).toBe(
            'unchanged',
          );
        },
      ),
    );
  });
});
