import { describe, expect, it } from 'vitest';
import { DeviceIdentityIndex, sensorOfKey } from './identity.js';

describe('one device identity across Defender sources', () => {
  const index = new DeviceIdentityIndex();
  index.add({ key: 'line-1/1', nics: [{ mac: '00:1a:2b:3c:4d:01', ip: '10.0.0.1' }] });
  index.add({ key: 'line-1/2', nics: [{ mac: '00:1a:2b:3c:4d:02', ip: '10.0.0.2' }] });
  // Two devices behind one address (a NAT or a gateway's proxied devices).
  index.add({ key: 'line-1/3', nics: [{ ip: '10.0.0.9' }] });
  index.add({ key: 'line-1/4', nics: [{ ip: '10.0.0.9' }] });
  // The same MAC on another sensor is another device.
  index.add({ key: 'line-2/1', nics: [{ mac: '00:1a:2b:3c:4d:01', ip: '10.0.0.1' }] });

  it('recognises a device by a MAC of its sensor, whatever the notation', () => {
    expect(index.recognise({ sensor: 'line-1', macs: ['00-1A-2B-3C-4D-01'], ips: [] })).toEqual({
      key: 'line-1/1',
    });
    expect(index.recognise({ sensor: 'line-2', macs: ['001a2b3c4d01'], ips: [] })).toEqual({
      key: 'line-2/1',
    });
  });

  it('falls back to an IP only one device of the sensor has', () => {
    expect(index.recognise({ sensor: 'line-1', macs: [], ips: ['10.0.0.2'] })).toEqual({ key: 'line-1/2' });
    expect(index.recognise({ sensor: 'line-1', macs: ['00:99:99:99:99:99'], ips: ['10.0.0.2'] })).toEqual({
      key: 'line-1/2',
    });
  });

  it('recognises no device where the addresses are shared, conflict or unknown, and says why', () => {
    expect(index.recognise({ sensor: 'line-1', macs: [], ips: ['10.0.0.9'] })).toEqual({
      reason: 'its IP address 10.0.0.9 is shared by several devices of sensor line-1',
    });
    expect(
      index.recognise({ sensor: 'line-1', macs: ['00:1a:2b:3c:4d:01', '00:1a:2b:3c:4d:02'], ips: [] }),
    ).toEqual({
      reason: 'its MAC addresses belong to different devices of sensor line-1 (line-1/1, line-1/2)',
    });
    expect(index.recognise({ sensor: 'line-3', macs: ['00:1a:2b:3c:4d:01'], ips: [] })).toEqual({
      reason: 'no device of sensor line-3 that ot-inventory recorded has its addresses (00:1a:2b:3c:4d:01)',
    });
    expect(index.recognise({ sensor: 'line-1', macs: [], ips: [] })).toEqual({
      reason: 'the source gives no MAC or IP address to recognise it by',
    });
  });

  it('reads the sensor of a sensor-source key only', () => {
    expect(sensorOfKey('line-1/42')).toBe('line-1');
    expect(sensorOfKey('0418f897-6ee3-4c4b-a8f1-4cb8e4a2c6a1')).toBeUndefined();
  });
});
