import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../../test/support/databases.js';
import type { DeviceFacts } from '../../domain/ot/identity.js';
import { upsertEntityStates } from '../../store/models/entity-state.js';
import { RunScratch } from '../../store/models/scratch.js';
import { openStore, type Store } from '../../store/store.js';
import { StoredDeviceIdentity, deviceIdentityIndex, type DeviceMemory } from './memory.js';

const postgresUrl = inject('postgresUrl');
const dir = mkdtempSync(join(tmpdir(), 'snowline-identity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backends = [
  { name: 'sqlite', available: true, url: async () => join(dir, 'identity.sqlite') },
  {
    name: 'postgres',
    available: postgresUrl !== null,
    url: () => createTestDatabase(postgresUrl!, 'identity'),
  },
];

/** Devices ot-inventory recorded: MACs and IPs shared on purpose, one retired, one without addresses. */
const devices: Array<{ key: string; nics: DeviceMemory['nics']; retired?: boolean }> = [
  { key: 'line-1/1', nics: [{ mac: '00:1a:2b:3c:4d:01', ip: '10.0.0.1' }] },
  { key: 'line-1/2', nics: [{ mac: '00:1a:2b:3c:4d:02', ip: '10.0.0.2' }, { ip: '10.0.9.9' }] },
  // Shares 10.0.0.3 with line-1/4: an IP that identifies neither.
  { key: 'line-1/3', nics: [{ ip: '10.0.0.3' }] },
  { key: 'line-1/4', nics: [{ ip: '10.0.0.3' }, { ip: ' 10.0.0.4 ' }] },
  // The same MAC on another sensor is another device.
  { key: 'line-2/1', nics: [{ mac: '00-1A-2B-3C-4D-01', ip: '10.0.0.1' }] },
  { key: 'line-2/9', nics: [{ mac: '00:1a:2b:3c:4d:09' }], retired: true },
  { key: 'line-2/10', nics: [] },
];

const asked: DeviceFacts[] = [
  { sensor: 'line-1', macs: ['00-1A-2B-3C-4D-01'], ips: [] },
  { sensor: 'line-2', macs: ['00:1A:2B:3C:4D:01'], ips: ['10.0.0.1'] },
  { sensor: 'line-1', macs: [], ips: ['10.0.9.9'] },
  { sensor: 'line-1', macs: [], ips: ['10.0.0.3'] },
  { sensor: 'line-1', macs: [], ips: ['10.0.0.4'] },
  { sensor: 'line-1', macs: ['00:1a:2b:3c:4d:01', '00:1a:2b:3c:4d:02'], ips: [] },
  { sensor: 'line-2', macs: ['00:1a:2b:3c:4d:09'], ips: [] },
  { sensor: 'line-3', macs: ['00:1a:2b:3c:4d:01'], ips: ['10.0.0.1'] },
  { sensor: 'line-1', macs: [], ips: [] },
];

describe.each(backends)('ot-inventory device identity in the run scratch on $name', ({ available, url }) => {
  let store: Store;
  const scope = { integrationId: 'i1' };

  beforeAll(async () => {
    if (!available) return;
    store = await openStore(await url());
    await store.migrate();
    await upsertEntityStates(
      store.db,
      { integrationId: 'i1', flow: 'ot-inventory', entity: 'device' },
      devices.map((d) => ({
        sourceKey: d.key,
        data: { name: d.key, deviceType: 'PLC', nics: d.nics },
        ...(d.retired ? { retiredAt: '2026-12-01T00:00:00.000Z' } : {}),
      })),
    );
  });
  afterAll(async () => store?.close());

  it.skipIf(!available)(
    'recognises a page of facts as the in-memory index does, with one look-up',
    async () => {
      const index = await deviceIdentityIndex({ ...scope, store });
      const expected = asked.map((facts) => index.recognise(facts));
      // The cases cover every outcome of the rule: found, shared, two devices, none, no address.
      expect(expected.map((r) => ('key' in r ? r.key : r.reason.split(' ').slice(0, 3).join(' ')))).toEqual([
        'line-1/1',
        'line-2/1',
        'line-1/2',
        'its IP address',
        'line-1/4',
        'its MAC addresses',
        'no device of',
        'no device of',
        'the source gives',
      ]);
      const scratch = await RunScratch.open(store.db, { integrationId: 'i1', flow: 'ot-vulnerabilities' });
      try {
        const stored = await StoredDeviceIdentity.build({ ...scope, store }, scratch);
        expect(await stored.recognise(asked)).toEqual(expected);
        // Page by page gives the same answers.
        const oneByOne = [];
        for (const facts of asked) oneByOne.push(...(await stored.recognise([facts])));
        expect(oneByOne).toEqual(expected);
      } finally {
        await scratch.close();
      }
    },
  );
});
