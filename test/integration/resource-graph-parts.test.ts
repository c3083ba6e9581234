import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flow, FlowSummary } from '../../src/domain/flows.js';
import { referenceValue, stringValue } from '../../src/servicenow/values.js';
import { FLOW_RUNNERS } from '../../src/sync/flows.js';
import { PARTS_FOUND_BY_PLAN } from '../../src/sync/kernel/flow.js';
import { ciNameOf } from '../support/estate.js';
import { vrReferenceNames } from '../support/vr.js';
import { closeSides, openSide, runOnSide as run, type SplitSide as Side } from '../support/split-runs.js';

/**
 * ot-inventory and ot-vulnerabilities from Resource Graph split per sensor (scale-out,
 * docs/scale-out.md): each plan finds the sensors Resource Graph lists and names one part per
 * sensor plus one for the devices of no listed sensor; run one after another as the workers
 * would, with the sweep last, they leave the CMDB and the detections one whole run leaves on an
 * identical pair of sandboxes, also when CVEs and whole devices' lists go away. A part that has
 * not read since a device was last seen keeps the sweep from closing that device's CVEs.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-rg-parts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ot-inventory and ot-vulnerabilities from Resource Graph split per sensor', () => {
  let whole: Side;
  let split: Side;

  const open = (name: string): Promise<Side> =>
    openSide({
      dir,
      name,
      devices: 750,
      seed: 11,
      flows: {
        otInventory: { source: 'resourceGraph', sensorValidation: 'auto', batchSize: 50 },
        otVulnerabilities: { source: 'resourceGraph', batchSize: 50 },
      },
    });

  beforeAll(async () => {
    whole = await open('whole');
    split = await open('split');
    expect(await run(whole, 'ot-inventory')).toMatchObject({ outcome: 'ok', errors: 0 });
  });
  afterAll(() => closeSides([whole, split]));

  /** The plan, the parts it names (all, or all but `skip`) and the sweep, one after another, by part. */
  async function runParts(
    side: Side,
    skip?: string,
    flow: Flow = 'ot-vulnerabilities',
  ): Promise<Record<string, FlowSummary>> {
    const plan = await run(side, flow, 'plan');
    const ran: Record<string, FlowSummary> = { plan };
    for (const part of plan.parts ?? []) if (part !== skip) ran[part] = await run(side, flow, part);
    ran.sweep = await run(side, flow, 'sweep');
    return ran;
  }

  /** The OT devices and sensors in the CMDB, as both sides can compare them. */
  async function cmdb(side: Side): Promise<string[]> {
    const rows = await side.sn.client.listAll('cmdb_ci_hardware', {
      fields: ['name', 'sys_class_name', 'serial_number', 'install_status', 'mac_address'],
      pageSize: 1000,
    });
    return rows.map((r) => JSON.stringify(Object.entries(r).sort())).sort();
  }

  /** The parts a plan should name: one per sensor Resource Graph lists, then the rest. */
  async function sensorPartsOf(side: Side): Promise<string[]> {
    const dump = await side.sandboxes.control('defender', 'GET', '/_sandbox/dump?what=sensors');
    return [
      ...(dump.sensors as Array<{ name: string }>).map((s) => `sensor:${s.name}`).sort(),
      'other-sensors',
    ];
  }

  it('ot-inventory from Resource Graph: its plan names one part per sensor and the rest, which write the CMDB a whole run writes', async () => {
    const runner = FLOW_RUNNERS.find((r) => r.flow === 'ot-inventory')!;
    expect(runner.parts!(split.loaded.config.integrations[0]!)).toBe(PARTS_FOUND_BY_PLAN);
    const parts = await runParts(split, undefined, 'ot-inventory');
    expect(Object.keys(parts)).toEqual(['plan', ...(await sensorPartsOf(split)), 'sweep']);
    for (const summary of Object.values(parts)) expect(summary).toMatchObject({ outcome: 'ok', errors: 0 });
    const created = Object.values(parts).map((s) => Number(s.created));
    expect(created.filter((n) => n > 0).length).toBeGreaterThanOrEqual(3);
    expect(await cmdb(split)).toEqual(await cmdb(whole));
    expect((await cmdb(split)).length).toBeGreaterThan(300);
  });

  /** Every detection as `<CI name>|<CVE>|<status>`, as both sides can compare them. */
  async function detections(side: Side): Promise<string[]> {
    const { client } = side.sn;
    const { ciNames: names, cveIds: cves } = await vrReferenceNames(client);
    return (
      await client.listAll('sn_vul_detection', {
        fields: ['cmdb_ci', 'vulnerability', 'status'],
        pageSize: 1000,
      })
    )
      .map(
        (d) =>
          `${names.get(referenceValue(d.cmdb_ci) ?? '')}|${cves.get(referenceValue(d.vulnerability) ?? '')}|${stringValue(d.status)}`,
      )
      .sort();
  }

  /**
   * On both sides: every CVE of one device removed, and one CVE of another, both devices with
   * detections and of sensors after `first` in the parts' order; the number removed.
   */
  async function removeCves(first: string): Promise<number> {
    const { estate } = split.sandboxes;
    const open = await detections(split);
    const sensorOf = (d: (typeof estate.devices)[number]) =>
      estate.sensors.find((s) => s.id === d.sensorId)!.name;
    const [emptied, thinned] = estate.devices.filter(
      (d) =>
        d.cves.length >= 2 && sensorOf(d) > first && open.some((pair) => pair.startsWith(`${ciNameOf(d)}|`)),
    );
    const removals: Array<[number, string]> = [
      ...emptied!.cves.map((cve) => [emptied!.id, cve] as [number, string]),
      [thinned!.id, thinned!.cves[0]!],
    ];
    for (const side of [whole, split])
      for (const [id, cve] of removals)
        await side.sandboxes.control('defender', 'DELETE', `/_sandbox/devices/${id}/cves/${cve}`);
    return removals.length;
  }

  it('asks its plan for the parts, and leaves what one whole run leaves', async () => {
    const runner = FLOW_RUNNERS.find((r) => r.flow === 'ot-vulnerabilities')!;
    expect(runner.parts!(split.loaded.config.integrations[0]!)).toBe(PARTS_FOUND_BY_PLAN);
    const oneRun = await run(whole, 'ot-vulnerabilities');
    expect(oneRun).toMatchObject({ outcome: 'ok', errors: 0 });
    expect(oneRun.opened).toBeGreaterThan(50);
    const parts = await runParts(split);
    // One part per sensor Resource Graph lists, and the rest.
    expect(Object.keys(parts)).toEqual(['plan', ...(await sensorPartsOf(split)), 'sweep']);
    for (const summary of Object.values(parts)) expect(summary).toMatchObject({ outcome: 'ok', errors: 0 });
    const opened = Object.values(parts).map((s) => Number(s.opened));
    expect(opened.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(opened.reduce((a, b) => a + b, 0)).toBe(oneRun.opened);
    expect(await detections(split)).toEqual(await detections(whole));
    // A second split run writes nothing.
    for (const summary of Object.values(await runParts(split)))
      expect(summary).toMatchObject({ outcome: 'ok', created: 0, updated: 0, closed: 0 });
  });

  it('closes in the sweep the CVEs of a device no part reports, not while a part has not read since it was seen', async () => {
    const plan = await run(split, 'ot-vulnerabilities', 'plan');
    const first = plan.parts![0]!;
    const removed = await removeCves(first.slice('sensor:'.length));
    const oneRun = await run(whole, 'ot-vulnerabilities');
    expect(oneRun).toMatchObject({ outcome: 'ok', closed: removed });
    // The first sensor's part did not run (a worker failed it): its last full read is older than
    // the emptied device's last sighting, so the device may have moved to that sensor since; the
    // sweep closes none of its CVEs. The part of the device that kept a CVE closes the other itself.
    const partial = await runParts(split, first);
    expect(partial.sweep).toMatchObject({ outcome: 'ok', closed: 0 });
    expect(Object.values(partial).reduce((n, s) => n + Number(s.closed), 0)).toBe(1);
    // Every part read in full since: the sweep closes the emptied device's CVEs.
    const full = await runParts(split);
    expect(full.sweep).toMatchObject({ outcome: 'ok', closed: removed - 1 });
    expect(await detections(split)).toEqual(await detections(whole));
  });
});
