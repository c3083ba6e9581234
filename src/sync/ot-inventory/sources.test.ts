import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../errors.js';
import type { IotResourceGraphReader } from '../../sources/defender-iot/resource-graph-iot.js';
import type { SensorClient } from '../../sources/defender-iot/sensor-client.js';
import { SensorApiSource } from './sources.js';

/** Sensor clients as the sensor source reads them: a name and what the configuration says. */
const clients = [
  { name: 'line-1', site: 'Rotterdam', zone: 'Line 1', purdueLevel: 1 },
  { name: 'line-2', site: 'Rotterdam' },
] as unknown as SensorClient[];

describe('SensorApiSource sensors', () => {
  // attribute-mapping-sgc-msft-d4iot-azure.md maps sensorStatus and learningMode; the sensor API has neither.
  it("takes cloud-connected sensors' state and learning mode from their Resource Graph resources", async () => {
    const cloud = {
      async *sensors() {
        yield {
          items: [{ name: 'line-1', status: 'Disconnected', learningMode: true }],
          problems: [],
        };
      },
    } as unknown as IotResourceGraphReader;
    const { items, problems } = await new SensorApiSource(clients, cloud).sensors();
    expect(problems).toEqual([]);
    expect(items).toEqual([
      {
        key: 'line-1',
        name: 'line-1',
        site: 'Rotterdam',
        zone: 'Line 1',
        purdueLevel: 1,
        connectionState: 'Disconnected',
        connected: false,
        learningMode: true,
      },
      { key: 'line-2', name: 'line-2', site: 'Rotterdam' },
    ]);
  });

  it('writes the sensors without a state, and says why, when Resource Graph can not be read', async () => {
    const cloud = {
      // eslint-disable-next-line require-yield
      async *sensors() {
        throw new UpstreamError('resourcegraph', 403, 'resourcegraph answered 403');
      },
    } as unknown as IotResourceGraphReader;
    const { items, problems } = await new SensorApiSource(clients, cloud).sensors();
    expect(items.map((s) => s.connected)).toEqual([undefined, undefined]);
    expect(problems.map((p) => p.error.message)).toEqual([
      "the sensors' connection state and learning mode could not be read from Resource Graph: resourcegraph answered 403",
    ]);
  });

  it('reads no Resource Graph without subscriptions', async () => {
    const { items } = await new SensorApiSource(clients).sensors();
    expect(items[0]).toEqual({
      key: 'line-1',
      name: 'line-1',
      site: 'Rotterdam',
      zone: 'Line 1',
      purdueLevel: 1,
    });
  });
});
