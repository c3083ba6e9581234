import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLOWS, type Flow } from '../../domain/flows.js';
import { flowChains, partitionKey } from './partitions.js';

describe('flowChains', () => {
  it('runs ot-vulnerabilities after ot-inventory and the other flows beside them', () => {
    expect(flowChains(['cloud-tickets', 'ot-vulnerabilities', 'ot-inventory'])).toEqual([
      ['ot-inventory', 'ot-vulnerabilities'],
      ['cloud-tickets'],
    ]);
    expect(flowChains(['ot-vulnerabilities'])).toEqual([['ot-vulnerabilities']]);
    expect(flowChains(['ticket-sync', 'cloud-tickets', 'ot-inventory'])).toEqual([
      ['ot-inventory'],
      ['cloud-tickets', 'ticket-sync'],
    ]);
  });

  it('keeps every flow exactly once, each chain in dependency order', () => {
    fc.assert(
      fc.property(fc.subarray([...FLOWS]), (flows: Flow[]) => {
        const chains = flowChains(flows);
        expect(chains.flat().sort()).toEqual([...flows].sort());
        for (const chain of chains)
          expect(chain).toEqual([...chain].sort((a, b) => FLOWS.indexOf(a) - FLOWS.indexOf(b)));
      }),
    );
  });
});

describe('partitionKey', () => {
  it('names integration, flow and sub-partition', () => {
    expect(partitionKey({ integrationId: 'plant-a', flow: 'ot-inventory', subKey: '*' })).toBe(
      'plant-a/ot-inventory/*',
    );
  });
});
