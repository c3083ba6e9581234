import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRecords } from '../common.js';
import {
  CloudIotDeviceSchema,
  CloudIotSensorSchema,
  ConsoleDeviceSchema,
  SensorAlertSchema,
} from './models.js';
import { kqlString } from './resource-graph-iot.js';

const fixture = (path: string): any =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/contracts/${path}`, import.meta.url), 'utf8'));

describe('Defender for IoT models', () => {
  it('parses the cloud device example of Microsoft.IoTSecurity 2021-02-01-preview', () => {
    const body = fixture(
      'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-02-01-preview/examples/Devices/Get.json',
    ).responses['200'].body;
    const page = parseRecords(CloudIotDeviceSchema, [body], 'fixture');
    expect(page.problems).toEqual([]);
    expect(page.items[0]).toMatchObject({
      deviceId: 'fa30e727-16e1-4e81-84f1-d26b9153d1b2',
      name: '10.168.140.1',
      sensor: { name: 'mySensor', zone: 'myZone', site: 'mySite' },
      subType: 'Historian',
      purdueLevel: 'ProcessControl',
      authorized: true,
      programming: false,
      firstSeen: new Date('2020-05-13T06:32:25Z'),
      nics: [
        {
          ipv4Address: '10.168.140.1',
          macAddress: '34-E1-2D-77-80-D0',
          vlans: ['name(1)->2', '3', 'another_name(4)'],
        },
      ],
    });
  });

  it('reports a cloud device or sensor whose id is no Azure resource id, and keeps query syntax after one', () => {
    const body = fixture(
      'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-02-01-preview/examples/Devices/Get.json',
    ).responses['200'].body;
    const ids = [
      'sandbox:device:fa30e727',
      'javascript:gs.getUserID()',
      '/subscriptions/x',
      `${body.id}^NQid=sandbox:device:victim`,
    ];
    const devices = parseRecords(
      CloudIotDeviceSchema,
      ids.map((id) => ({ ...body, id })),
      'fixture',
    );
    expect(devices.problems.map((p) => [p.key, p.error.message])).toEqual(
      ids.slice(0, 3).map((id) => [id, expect.stringContaining('not an Azure resource id')]),
    );
    expect(devices.items.map((d) => d.id)).toEqual([ids[3]]);
    const sensors = parseRecords(
      CloudIotSensorSchema,
      ['javascript:gs.getUserID()', `${body.id.replace(/deviceGroups.*$/, 'sites/s/sensors/n')}`].map(
        (id) => ({ id, name: 'n' }),
      ),
      'fixture',
    );
    expect(sensors.problems.map((p) => p.key)).toEqual(['javascript:gs.getUserID()']);
    expect(sensors.items).toHaveLength(1);
  });

  it('parses every documented sensor alert, in either casing', () => {
    const alerts = fixture('defender-iot/sensor-alert-apis/api-v1-alerts.json') as unknown[];
    const page = parseRecords(SensorAlertSchema, alerts, 'fixture');
    expect(page.problems).toEqual([]);
    expect(page.items).toHaveLength(alerts.length);
  });

  it('reports a console device with a bad time instead of guessing', () => {
    const device = fixture(
      'defender-iot/management-integration-apis/external-v3-integration-device-deviceId.json',
    )[0];
    const page = parseRecords(
      ConsoleDeviceSchema,
      [device, { ...device, u_id: 7, u_last_update: 'yesterday' }],
      'fixture',
    );
    expect(page.items.map((d) => d.id)).toEqual([1]);
    expect(page.problems[0]).toMatchObject({ index: 1, key: '7' });
    expect(page.problems[0]!.error.message).toMatch(/u_last_update.*"yesterday" is not a time/);
  });
});

describe('kqlString', () => {
  it('quotes names so that quotes and backslashes cannot change the query', () => {
    expect(kqlString('plant-a')).toBe("'plant-a'");
    expect(kqlString("o'brien \\ x")).toBe("'o\\'brien \\\\ x'");
  });
});
