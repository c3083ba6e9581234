import { describe, expect, it } from 'vitest';
import { minimalConfigInput } from '../../../test/support/config.js';
import { validateConfig } from '../../config/load.js';
import type { DeviceCves } from '../../domain/vulnerabilities/records.js';
import { ConfigError, InputError, UpstreamError } from '../../errors.js';
import type { RecordProblem, SourcePage } from '../../sources/common.js';
import type { ConsoleClient } from '../../sources/defender-iot/console-client.js';
import type { SensorClient } from '../../sources/defender-iot/sensor-client.js';
import type {
  ConsoleDevice,
  ConsoleDeviceCves,
  DefenderSources,
  SensorCve,
  SensorDevice,
} from '../../sources/index.js';
import type { VulnerabilityPage } from './source.js';
import {
  CONSOLE_OVERLAP_MS,
  ConsoleVulnerabilitySource,
  exploitExists,
  ResourceGraphVulnerabilitySource,
  otVulnerabilitiesSource,
  SensorVulnerabilitySource,
} from './sources.js';

async function collect(pages: AsyncIterable<VulnerabilityPage>) {
  const items: DeviceCves[] = [];
  const problems: string[] = [];
  const unread: string[] = [];
  for await (const page of pages) {
    items.push(...page.items);
    problems.push(...page.problems.map((p) => p.error.message));
    unread.push(...(page.unread ?? []));
  }
  return { items, problems, unread };
}

async function* pagesOf<T>(...pages: T[][]): AsyncIterable<SourcePage<T>> {
  for (const items of pages) yield { items, problems: [] };
}

const sensorDevice = (id: number, ipAddresses: string[]): SensorDevice =>
  ({
    id,
    name: `d${id}`,
    ipAddresses,
    macAddresses: [],
    firmware: [],
    protocols: [],
  }) as unknown as SensorDevice;
const row = (ipAddress: string, cveId: string, score = 5): SensorCve => ({
  cveId,
  ipAddress,
  score,
  attackVector: 'NETWORK',
  description: `${cveId} text`,
});

/** A sensor client answering from memory; `down` makes it fail like an unreachable appliance. */
function fakeSensor(name: string, devices: SensorDevice[], cves: SensorCve[], down = false): SensorClient {
  const tops: (number | undefined)[] = [];
  return {
    name,
    tops,
    devices: () => {
      if (down) throw new UpstreamError('sensor', 503, `sensor ${name} answered 503`);
      return pagesOf(devices);
    },
    cves: (options: { top?: number }) => {
      tops.push(options.top);
      return pagesOf(cves.slice(0, 2), cves.slice(2));
    },
  } as unknown as SensorClient;
}

describe('SensorVulnerabilitySource', () => {
  it('maps CVEs by address to <sensor>/<id>, joins a device’s addresses, and asks for sensorTop', async () => {
    const sensor = fakeSensor(
      'line-1',
      [
        sensorDevice(1, ['10.0.0.1', '10.0.1.1']),
        sensorDevice(2, ['10.0.0.2']),
        sensorDevice(3, ['10.0.0.3']),
      ],
      [
        row('10.0.0.1', 'CVE-2024-0001', 9.8),
        row('10.0.1.1', 'cve-2024-0002'),
        row('10.0.0.2', 'CVE-2024-0001', 9.8),
      ],
    );
    const { items, problems, unread } = await collect(
      new SensorVulnerabilitySource([sensor], 50).deviceCves(),
    );
    expect((sensor as unknown as { tops: number[] }).tops).toEqual([50]);
    expect(problems).toEqual([]);
    expect(unread).toEqual([]);
    // Device 3 has no CVE row: it is not listed (a full read closes what it had).
    expect(items).toEqual([
      {
        deviceKey: 'line-1/1',
        ipAddress: '10.0.0.1',
        cves: [
          { id: 'CVE-2024-0001', score: 9.8, description: 'CVE-2024-0001 text', attackVector: 'NETWORK' },
          { id: 'CVE-2024-0002', score: 5, description: 'cve-2024-0002 text', attackVector: 'NETWORK' },
        ],
      },
      {
        deviceKey: 'line-1/2',
        ipAddress: '10.0.0.2',
        cves: [
          { id: 'CVE-2024-0001', score: 9.8, description: 'CVE-2024-0001 text', attackVector: 'NETWORK' },
        ],
      },
    ]);
  });

  it('marks a device truncated when one of its addresses returned exactly top CVEs', async () => {
    const sensor = fakeSensor(
      'line-1',
      [sensorDevice(1, ['10.0.0.1', '10.0.1.1']), sensorDevice(2, ['10.0.0.2'])],
      [row('10.0.0.1', 'CVE-2024-0001'), row('10.0.0.1', 'CVE-2024-0002'), row('10.0.0.2', 'CVE-2024-0003')],
    );
    const { items } = await collect(new SensorVulnerabilitySource([sensor], 2).deviceCves());
    expect(items.map((d) => [d.deviceKey, d.cves.length, d.truncated ?? false])).toEqual([
      ['line-1/1', 2, true],
      ['line-1/2', 1, false],
    ]);
  });

  it('gives CVEs on an unknown or shared address to no device, reports them, and marks the sharers truncated', async () => {
    const sensor = fakeSensor(
      'line-1',
      [sensorDevice(1, ['10.0.0.9']), sensorDevice(2, ['10.0.0.9', '10.0.0.2'])],
      [
        row('10.0.0.9', 'CVE-2024-0001'),
        row('10.0.0.2', 'CVE-2024-0002'),
        row('10.9.9.9', 'CVE-2024-0003'),
        row('10.0.0.2', 'QID-12345'),
      ],
    );
    const { items, problems } = await collect(new SensorVulnerabilitySource([sensor], 100).deviceCves());
    expect(items.map((d) => [d.deviceKey, d.cves.map((c) => c.id), d.truncated ?? false])).toEqual([
      ['line-1/2', ['CVE-2024-0002'], true],
      ['line-1/1', [], true],
    ]);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/"QID-12345" reported for device line-1\/2 is not a CVE id/);
    expect(problems.join('\n')).toMatch(/10\.0\.0\.9, an address devices line-1\/1, line-1\/2 share/);
    expect(problems.join('\n')).toMatch(/10\.9\.9\.9, an address no device of sensor line-1 has/);
  });

  it('reports a sensor that does not answer as unread and reads the others', async () => {
    const down = fakeSensor('line-1', [], [], true);
    const up = fakeSensor('line-2', [sensorDevice(7, ['10.2.0.7'])], [row('10.2.0.7', 'CVE-2024-0007')]);
    const { items, problems, unread } = await collect(
      new SensorVulnerabilitySource([down, up], 100).deviceCves(),
    );
    expect(unread).toEqual(['line-1/']);
    expect(problems).toEqual([
      expect.stringMatching(
        /^sensor line-1 could not be read; the detections of its devices are left as they are/,
      ),
    ]);
    expect(items.map((d) => d.deviceKey)).toEqual(['line-2/7']);
  });
});

const consoleCves = (id: number, cves: string[]): ConsoleDeviceCves =>
  ({
    deviceId: id,
    name: `d${id}`,
    ipAddresses: [{ address: `10.1.0.${id}`, guessedMacAddresses: [] }],
    macAddresses: [],
    cves: cves.map((cveId) => ({ cveId, score: 7.5, ipAddress: `10.1.0.${id}`, attackVector: 'LOCAL' })),
  }) as unknown as ConsoleDeviceCves;

/** A console answering from memory: `listed` by `devicecves/{since}`, `updated` ids by `devices/{since}`, `now` by id. */
function fakeConsole(listed: ConsoleDeviceCves[], updated: number[], now: ConsoleDeviceCves[] = listed) {
  const calls: string[] = [];
  const client = {
    deviceCves: (since: number | Date, options: { deviceIds?: readonly number[] } = {}) => {
      if (!options.deviceIds) {
        calls.push(`devicecves/${Number(since)}`);
        return pagesOf(listed);
      }
      calls.push(`devicecves/${Number(since)}?deviceIds=${options.deviceIds.join(',')}`);
      return pagesOf(now.filter((d) => options.deviceIds!.includes(d.deviceId)));
    },
    devices: (since: number | Date) => {
      calls.push(`devices/${Number(since)}`);
      return pagesOf(updated.map((id) => ({ id }) as unknown as ConsoleDevice));
    },
  } as unknown as ConsoleClient;
  return { client, calls };
}

describe('ConsoleVulnerabilitySource', () => {
  it('reads everything on a first run, keyed String(u_id), without the devices read', async () => {
    const { client, calls } = fakeConsole([consoleCves(4, ['CVE-2024-0004'])], [4, 5]);
    const { items } = await collect(new ConsoleVulnerabilitySource(client).deviceCves({}));
    expect(calls).toEqual(['devicecves/0']);
    expect(items).toEqual([
      {
        deviceKey: '4',
        ipAddress: '10.1.0.4',
        cves: [{ id: 'CVE-2024-0004', score: 7.5, attackVector: 'LOCAL' }],
      },
    ]);
  });

  it('reads from the watermark less the overlap, and gives updated devices devicecves omits no CVEs', async () => {
    const { client, calls } = fakeConsole([consoleCves(4, ['CVE-2024-0004'])], [4, 5]);
    const since = new Date('2026-11-01T00:00:00Z');
    const { items } = await collect(new ConsoleVulnerabilitySource(client).deviceCves({ since }));
    const from = since.getTime() - CONSOLE_OVERLAP_MS;
    expect(calls).toEqual([`devicecves/${from}`, `devices/${from}`, 'devicecves/0?deviceIds=5']);
    expect(items.map((d) => [d.deviceKey, d.cves.length])).toEqual([
      ['4', 1],
      ['5', 0],
    ]);
  });

  it('yields the CVEs of a device that changed between the two reads instead of taking it as having none', async () => {
    // Device 6 was updated (a CVE added) after devicecves was read, before devices was.
    const { client } = fakeConsole([], [6], [consoleCves(6, ['CVE-2024-0006'])]);
    const { items } = await collect(
      new ConsoleVulnerabilitySource(client).deviceCves({ since: new Date('2026-11-01T00:00:00Z') }),
    );
    expect(items).toEqual([
      {
        deviceKey: '6',
        ipAddress: '10.1.0.6',
        cves: [{ id: 'CVE-2024-0006', score: 7.5, attackVector: 'LOCAL' }],
      },
    ]);
  });
});

describe('ConsoleVulnerabilitySource with a malformed record', () => {
  it('does not take a device whose devicecves record could not be read as having no CVEs', async () => {
    const client = {
      deviceCves: async function* () {
        yield {
          items: [],
          problems: [{ source: 'console', index: 0, key: '8', error: new InputError('u_cves: bad') }],
        };
      },
      devices: () => pagesOf([{ id: 8 } as unknown as ConsoleDevice]),
    } as unknown as ConsoleClient;
    const { items, problems } = await collect(
      new ConsoleVulnerabilitySource(client).deviceCves({ since: new Date('2026-11-01T00:00:00Z') }),
    );
    expect(problems).toEqual(['u_cves: bad']);
    expect(items).toEqual([]);
  });
});

describe('the position a CVE id that is none is reported at', () => {
  it('is its record’s in the page, counting the records that did not parse (console)', async () => {
    const unparsed = { source: 'console', index: 0, error: new InputError('record 0 was skipped') };
    const client = {
      deviceCves: async function* () {
        yield { items: [consoleCves(9, ['CVE-2024-0009', 'nope'])], problems: [unparsed] };
      },
    } as unknown as ConsoleClient;
    const problems: RecordProblem[] = [];
    for await (const page of new ConsoleVulnerabilitySource(client).deviceCves({}))
      problems.push(...page.problems);
    expect(problems.map((p) => [p.index, p.key])).toEqual([
      [0, undefined],
      [1, '9'],
    ]);
  });
});

describe('ResourceGraphVulnerabilitySource', () => {
  // Rows as ServiceNow's VR integration (Azure) reads them: support-for-msft-defender-iot-azure.md.
  const device = (name: string, sensor: string, mac: string, ip: string) => ({
    deviceId: name,
    name: `dev-${name}`,
    sensor: { name: sensor },
    nics: [{ macAddress: mac, ipv4Address: ip }],
  });
  const vulnerability = (deviceId: string, cveId: string, score: number, exploitType = 'Unknown') => ({
    name: `${deviceId}-${cveId}`,
    deviceId,
    cveId,
    score,
    description: `${cveId} text`,
    exploitType,
  });
  const reader = (devices: unknown[], rows: unknown[], problems: RecordProblem[] = []) => ({
    async *devices() {
      yield { items: devices, problems: [] };
    },
    async *vulnerabilities() {
      yield { items: rows, problems };
    },
  });

  it('groups the rows by device, gives each device its sensor and addresses, and reads the exploit flag', async () => {
    const source = new ResourceGraphVulnerabilitySource(
      reader(
        [
          device('a', 'line-1', '00-1A-2B-3C-4D-5E', '10.0.0.1'),
          device('b', 'line-2', '00-1A-2B-3C-4D-5F', '10.0.0.2'),
        ],
        [
          // In the reader's order: by device, then by id.
          vulnerability('a', 'CVE-2021-44228', 10, 'ExploitKit'),
          vulnerability('a', 'CVE-2019-0002', 7.5),
          vulnerability('b', 'CVE-2020-0001', 5),
          // A device that is not an OT sensor's (ot-inventory leaves it out): its rows too.
          vulnerability('enterprise', 'CVE-2018-0003', 4),
        ],
      ) as never,
    );
    const { items, problems } = await collect(source.deviceCves());
    expect(problems).toEqual([]);
    expect(items).toEqual([
      {
        deviceKey: 'a',
        cves: [
          {
            id: 'CVE-2021-44228',
            score: 10,
            description: 'CVE-2021-44228 text',
            exploit: true,
            detectionKey: 'a-CVE-2021-44228',
          },
          {
            id: 'CVE-2019-0002',
            score: 7.5,
            description: 'CVE-2019-0002 text',
            exploit: false,
            detectionKey: 'a-CVE-2019-0002',
          },
        ],
        clues: { sensor: 'line-1', name: 'dev-a', macs: ['00-1A-2B-3C-4D-5E'], ips: ['10.0.0.1'] },
      },
      {
        deviceKey: 'b',
        cves: [
          {
            id: 'CVE-2020-0001',
            score: 5,
            description: 'CVE-2020-0001 text',
            exploit: false,
            detectionKey: 'b-CVE-2020-0001',
          },
        ],
        clues: { sensor: 'line-2', name: 'dev-b', macs: ['00-1A-2B-3C-4D-5F'], ips: ['10.0.0.2'] },
      },
    ]);
  });

  it('reports a malformed row and marks its device truncated, so its missing CVE is not closed', async () => {
    const problem: RecordProblem = {
      source: 'resourcegraph IoT device vulnerabilities',
      index: 1,
      key: 'a',
      error: new InputError('vulnerability x names no vulnerabilityId'),
    };
    const source = new ResourceGraphVulnerabilitySource(
      reader(
        [device('a', 'line-1', '00-1A-2B-3C-4D-5E', '10.0.0.1')],
        [vulnerability('a', 'CVE-2021-44228', 10), vulnerability('a', 'not-a-cve', 3)],
        [problem],
      ) as never,
    );
    const pages: VulnerabilityPage[] = [];
    for await (const page of source.deviceCves()) pages.push(page);
    const items = pages.flatMap((p) => p.items);
    const problems = pages.flatMap((p) => p.problems);
    expect(problems).toHaveLength(2);
    expect(problems[1]!.error.message).toMatch(/"not-a-cve" reported for device a is not a CVE id/);
    // The row that did not parse is record 1: the one whose id is no CVE id is record 2.
    expect(problems.map((p) => p.index)).toEqual([1, 2]);
    expect(items).toMatchObject([{ deviceKey: 'a', cves: [{ id: 'CVE-2021-44228' }], truncated: true }]);
  });

  it('lists a device whose only row did not parse as truncated with no CVE, so none of its CVEs closes', async () => {
    const problem: RecordProblem = {
      source: 'resourcegraph IoT device vulnerabilities',
      index: 0,
      key: 'a',
      error: new InputError('vulnerability x names no vulnerabilityId'),
    };
    const source = new ResourceGraphVulnerabilitySource(
      reader([device('a', 'line-1', '00-1A-2B-3C-4D-5E', '10.0.0.1')], [], [problem]) as never,
    );
    const { items, problems } = await collect(source.deviceCves());
    expect(problems).toEqual(['vulnerability x names no vulnerabilityId']);
    expect(items).toEqual([expect.objectContaining({ deviceKey: 'a', cves: [], truncated: true })]);
  });

  it('hands devices on while Resource Graph is still paging, holding one page of devices, not the estate', async () => {
    const devices = Array.from({ length: 1200 }, (_, i) =>
      device(`d${String(i).padStart(4, '0')}`, 'line-1', '', ''),
    );
    let served = 0;
    const paged = {
      async *devices() {
        yield { items: devices, problems: [] };
      },
      async *vulnerabilities() {
        // Two rows per device, 100 rows a page, in device order: 24 pages.
        const rows = devices.flatMap((d) => [
          vulnerability(d.deviceId, 'CVE-2020-0001', 5),
          vulnerability(d.deviceId, 'CVE-2021-0002', 6),
        ]);
        for (let i = 0; i < rows.length; i += 100) {
          served++;
          yield { items: rows.slice(i, i + 100), problems: [] };
        }
      },
    };
    const firstPageAfter: number[] = [];
    const keys: string[] = [];
    for await (const page of new ResourceGraphVulnerabilitySource(paged as never).deviceCves()) {
      if (page.items.length && firstPageAfter.length === 0) firstPageAfter.push(served);
      expect(page.items.length).toBeLessThanOrEqual(550);
      keys.push(...page.items.map((d) => d.deviceKey));
      for (const d of page.items) expect(d.cves).toHaveLength(2);
    }
    // The first 500 devices go on once their rows (10 pages) are read, before the 24th page.
    expect(firstPageAfter[0]).toBeLessThan(24);
    expect(keys).toEqual(devices.map((d) => d.deviceId));
  });

  it('keeps the CVEs of a device whose rows come apart (order broken while paging): reported, truncated', async () => {
    const source = new ResourceGraphVulnerabilitySource(
      reader(
        [
          device('a', 'line-1', '00-1A-2B-3C-4D-5E', '10.0.0.1'),
          device('b', 'line-2', '00-1A-2B-3C-4D-5F', '10.0.0.2'),
        ],
        [
          vulnerability('a', 'CVE-2021-44228', 10),
          vulnerability('b', 'CVE-2020-0001', 5),
          vulnerability('a', 'CVE-2019-0002', 7.5),
        ],
      ) as never,
    );
    const { items, problems } = await collect(source.deviceCves());
    expect(problems).toEqual([expect.stringMatching(/device a's vulnerability rows were not together/)]);
    expect(items).toEqual([
      expect.objectContaining({ deviceKey: 'a', cves: [expect.objectContaining({ id: 'CVE-2021-44228' })] }),
      expect.objectContaining({ deviceKey: 'b' }),
      expect.objectContaining({
        deviceKey: 'a',
        cves: [expect.objectContaining({ id: 'CVE-2019-0002' })],
        truncated: true,
      }),
    ]);
  });

  it.each([
    ['ExploitKit', true],
    ['Unknown', false],
    ['none', false],
    ['', undefined],
    [undefined, undefined],
  ])('reads exploitType %s as exploit %s', (type, exists) => {
    expect(exploitExists(type)).toBe(exists);
  });
});

describe('otVulnerabilitiesSource', () => {
  const sources = {
    iotResourceGraph: {},
    sensors: [fakeSensor('line-1', [], [])],
    console: fakeConsole([], []).client,
  } as unknown as DefenderSources;
  const integration = (flows: Record<string, unknown>, console = true) => {
    const input = minimalConfigInput() as any;
    input.integrations[0].flows = flows;
    if (console)
      input.integrations[0].defender.console = { url: 'https://10.1.0.10', token: 'console-token-1' };
    return validateConfig(input, 'test').config.integrations[0]!;
  };

  it('builds the source ot-inventory also reads', () => {
    expect(
      otVulnerabilitiesSource(
        integration({ otInventory: { source: 'console' }, otVulnerabilities: { source: 'console' } }),
        sources,
      ),
    ).toBeInstanceOf(ConsoleVulnerabilitySource);
    expect(
      otVulnerabilitiesSource(
        integration({ otInventory: { source: 'sensor' }, otVulnerabilities: { source: 'sensor' } }),
        sources,
      ),
    ).toBeInstanceOf(SensorVulnerabilitySource);
    for (const inventory of ['resourceGraph', 'sensor'])
      expect(
        otVulnerabilitiesSource(
          integration({ otInventory: { source: inventory }, otVulnerabilities: { source: 'resourceGraph' } }),
          sources,
        ),
      ).toBeInstanceOf(ResourceGraphVulnerabilitySource);
  });

  it.each([
    [
      'Resource Graph CVEs over a console inventory',
      { otInventory: { source: 'console' }, otVulnerabilities: { source: 'resourceGraph' } },
      /is resourceGraph but flows\.otInventory\.source is console: devices read from resourceGraph can be recognised only in an inventory read from resourceGraph or sensor/,
    ],
    [
      'a source other than ot-inventory’s',
      { otInventory: { source: 'console' }, otVulnerabilities: { source: 'sensor' } },
      /is sensor but flows\.otInventory\.source is console/,
    ],
    [
      'no ot-inventory',
      { otVulnerabilities: { source: 'console' } },
      /flows\.otInventory: flow ot-vulnerabilities finds each device CI in what ot-inventory recorded/,
    ],
  ])('refuses %s with a ConfigError', (_what, flows, message) => {
    expect(() => otVulnerabilitiesSource(integration(flows), sources)).toThrow(ConfigError);
    expect(() => otVulnerabilitiesSource(integration(flows), sources)).toThrow(message);
  });

  it('refuses the console source without defender.console', () => {
    expect(() =>
      otVulnerabilitiesSource(
        integration({ otInventory: { source: 'console' }, otVulnerabilities: { source: 'console' } }, false),
        { ...sources, console: undefined },
      ),
    ).toThrow(
      /defender\.console: flows\.otVulnerabilities\.source is console but defender\.console is not configured/,
    );
  });
});
