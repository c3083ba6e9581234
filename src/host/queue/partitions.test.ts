import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLOWS, type Flow } from '../../domain/flows.js';
import type { IntegrationConfig } from '../../config/schema.js';
import type { FlowRunner } from '../../sync/kernel/flow.js';
import { firstJobOf, flowChains, jobPartitionKey, partitionKey, partsOf } from './partitions.js';

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

describe('split flows', () => {
  const integration = { id: 'plant-a' } as IntegrationConfig;
  const runner = (flow: FlowRunner['flow'], parts?: readonly string[]): FlowRunner => ({
    flow,
    enabled: () => true,
    ...(parts ? { parts: () => parts } : {}),
    run: () => Promise.reject(new Error('not run here')),
  });
  const runners = [runner('ot-inventory', ['sensor:a', 'sensor:b']), runner('ot-vulnerabilities')];
  const job = { integrationId: 'plant-a', then: [], trigger: 'schedule' as const };

  it('starts a flow that splits with its plan part, any other whole', () => {
    expect(firstJobOf(runners, integration, { ...job, flow: 'ot-inventory' })).toEqual({
      ...job,
      flow: 'ot-inventory',
      part: 'plan',
    });
    expect(firstJobOf(runners, integration, { ...job, flow: 'ot-vulnerabilities' })).toEqual({
      ...job,
      flow: 'ot-vulnerabilities',
    });
    expect(partsOf(runners, integration, 'ot-inventory')).toEqual(['sensor:a', 'sensor:b']);
    expect(partsOf(runners, integration, 'cloud-tickets')).toBeUndefined();
  });

  it("keys each part's partition apart from the whole flow's", () => {
    expect(jobPartitionKey({ integrationId: 'plant-a', flow: 'ot-inventory', part: 'sensor:a' })).toBe(
      'plant-a/ot-inventory/sensor:a',
    );
    expect(jobPartitionKey({ integrationId: 'plant-a', flow: 'ot-inventory' })).toBe(
      'plant-a/ot-inventory/*',
    );
  });
});
