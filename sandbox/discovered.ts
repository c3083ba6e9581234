/**
 * Devices ServiceNow Discovery "found" before Snowline first runs: a deterministic sample of the
 * estate written into the ServiceNow sandbox through its own IRE, as Discovery would write them,
 * so that Snowline's ot-inventory meets CIs it did not create and must adopt them (identify them
 * by serial number or MAC and update them) instead of adding duplicates. Off unless asked for
 * (`snowline-sandbox --discovered`, on in `snowline sandbox` and `snowline demo`).
 */
import type { Estate, OtDevice } from './dataset/index.js';
import { Random } from './dataset/random.js';
import type { ServiceNowSandbox } from './servicenow/index.js';
import { identifyReconcile } from './servicenow/ire.js';

/** A pre-loaded CI and the estate device it stands for. */
export interface DiscoveredDevice {
  /** The device's numeric id in the estate (sensor and console id). */
  readonly deviceId: number;
  readonly sysId: string;
  /** Discovery's name for it, which the reconciliation rule keeps. */
  readonly name: string;
  readonly className: string;
  /** What Discovery recorded that Snowline's payload can be identified by. */
  readonly identifiedBy: readonly ('serial_number' | 'mac_address')[];
}

/** Options of {@link preloadDiscovered}. */
export interface DiscoveredOptions {
  /** Share of the estate's devices to pre-load (default 0.05). */
  readonly share?: number;
}

/** The discovery source Discovery writes as (the out-of-box `cmdb_ci.discovery_source` choice). */
export const DISCOVERY_SOURCE = 'ServiceNow';

/** Controllers with no operating system: Discovery cannot tell what they are beyond "OT". */
const CONTROLLERS = new Set<OtDevice['type']>(['PLC', 'RTU', 'IED', 'DCS Controller']);
const COMPUTERS = new Set<OtDevice['type']>(['Workstation', 'Server']);

/**
 * The class Discovery gives a device, chosen so that Snowline's class for it is reachable:
 * "CI reclassification is possible only between two classes that have identical identification
 * rules" ([SND] = ServiceNow/ServiceNowDocs
 * markdown/servicenow-platform/configuration-management-database-cmdb/c_CIReclassification.md),
 * and each rule searches its own class (the OT Rule `cmdb_ci_ot`, the Hardware Rule
 * `cmdb_ci_hardware`).
 *
 * - Controllers: Operations Technology [cmdb_ci_ot], "Base class for Operational Technology"
 *   ([SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md);
 *   Snowline's PLC, RTU, IED or DCS class is an upgrade under the same OT Rule. An unclassed
 *   `cmdb_ci_hardware` CI would be found by neither rule for an OT class nor be reclassified to one.
 * - Computers: "Windows servers (cmdb_ci_win_server) or Windows desktops (cmdb_ci_computer)"
 *   ([SND] markdown/it-operations-management/discovery/microsoft-jea-discovery.md); Linux servers
 *   `cmdb_ci_linux_server`. Snowline's classes for them (by operating system) are the same.
 */
function discoveryClass(device: OtDevice): string {
  if (CONTROLLERS.has(device.type)) return 'cmdb_ci_ot';
  const os = (device.operatingSystem ?? '').toLowerCase();
  if (device.type === 'Server') return os.includes('linux') ? 'cmdb_ci_linux_server' : 'cmdb_ci_win_server';
  return 'cmdb_ci_computer';
}

/** A DNS-style host name, as Discovery reads it from DNS: not the name Defender shows. */
function hostName(device: OtDevice, site: string): string {
  const tail = (device.nics[0]?.mac ?? '').replace(/:/g, '').slice(-8);
  return `${device.type.toLowerCase().replace(/[^a-z]+/g, '-')}-${tail}.${site}.corp.example`;
}

/**
 * Picks about `share` of the estate's devices, deterministically from its seed: controllers and
 * computers (at least two of each kind the estate has) among the devices of connected sensors out
 * of learning mode, the ones a sensor-fed Snowline writes.
 */
export function sampleDiscovered(estate: Estate, share = 0.05): OtDevice[] {
  const feeding = new Set(estate.sensors.filter((s) => s.connected && !s.learningMode).map((s) => s.id));
  const eligible = estate.devices.filter((d) => feeding.has(d.sensorId) && d.nics.length > 0);
  const groups = [
    eligible.filter((d) => CONTROLLERS.has(d.type) && d.operatingSystem === null),
    eligible.filter((d) => COMPUTERS.has(d.type)),
  ];
  const total = groups.reduce((n, g) => n + g.length, 0);
  if (total === 0) return [];
  const target = Math.round(share * estate.devices.length);
  const random = Random.stream(estate.seed, 'discovered');
  const picked: OtDevice[] = [];
  for (const group of groups) {
    const shuffled = [...group];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [shuffled[i], shuffled[j]] = [shuffled[j] as OtDevice, shuffled[i] as OtDevice];
    }
    const count = Math.min(group.length, Math.max(2, Math.round((target * group.length) / total)));
    picked.push(...shuffled.slice(0, count));
  }
  return picked.sort((a, b) => a.id - b.id);
}

/**
 * The static reconciliation rule of the demo: Discovery (`ServiceNow`, priority 10) over
 * Snowline (priority 20) for `name` on every hardware CI. "Ensure that there is a reconciliation
 * rule for each discovery source that is authorized to update an attribute" ([SND]
 * markdown/servicenow-platform/configuration-management-database-cmdb/r_ReconciliationRulesPrinciples.md):
 * one record per source, so Snowline still names the CIs it created itself.
 */
function seedNameRule(sn: ServiceNowSandbox): void {
  const instance = sn.control.instance;
  const sources = instance.discoverySources();
  const wanted = [
    { discovery_source: DISCOVERY_SOURCE, priority: '10' },
    { discovery_source: 'Snowline', priority: '20' },
  ].filter((r) => sources.has(r.discovery_source));
  const existing = [...instance.store.scan('cmdb_reconciliation_definition')];
  for (const rule of wanted) {
    const record = { applies_to: 'cmdb_ci_hardware', attributes: 'name', active: 'true', ...rule };
    const present = existing.some((r) => Object.entries(record).every(([k, v]) => (r.values[k] ?? '') === v));
    if (!present) instance.insert('cmdb_reconciliation_definition', record, instance.system());
  }
}

/**
 * Seeds the name rule, then writes a sample of the estate's devices ({@link sampleDiscovered})
 * through the sandbox's IRE as Discovery: data source `ServiceNow`, its own `sys_object_source`
 * key, a DNS-style name, the device's serial number (`cmdb_serial_number` lookup, type `system`,
 * and `serial_number`) on every other device, and its NICs' MACs (`cmdb_ci_network_adapter`
 * lookups) on all, so both the serial and the MAC identifier entries get exercised. A NIC's name
 * is its MAC, as the OT class model has it (cmdb-ci-class-models-operation-technology.md);
 * UNVERIFIED for Discovery's computers, whose NICs it names after the adapter. Idempotent: a second
 * call finds the same CIs through their source keys.
 *
 * @example
 * const discovered = preloadDiscovered(servicenow, estate);
 * // [{ deviceId: 7, sysId: '…', name: 'plc-1a2b3c4d.rtm.corp.example', className: 'cmdb_ci_ot', … }]
 */
export function preloadDiscovered(
  sn: ServiceNowSandbox,
  estate: Estate,
  options: DiscoveredOptions = {},
): DiscoveredDevice[] {
  seedNameRule(sn);
  const instance = sn.control.instance;
  const siteName = new Map(estate.sites.map((s) => [s.id, s.name]));
  const devices = sampleDiscovered(estate, options.share);
  const planned = devices.map((device, i) => {
    const withSerial = i % 2 === 0;
    const name = hostName(device, siteName.get(device.siteId) ?? 'site');
    const macs = [...new Set(device.nics.map((n) => n.mac))];
    return {
      device,
      name,
      className: discoveryClass(device),
      identifiedBy: withSerial ? (['serial_number', 'mac_address'] as const) : (['mac_address'] as const),
      item: {
        className: discoveryClass(device),
        values: {
          name,
          ip_address: device.nics[0]?.ip ?? '',
          mac_address: macs[0] ?? '',
          ...(withSerial ? { serial_number: device.serialNumber } : {}),
        },
        lookup: [
          ...(withSerial
            ? [
                {
                  className: 'cmdb_serial_number',
                  values: { serial_number: device.serialNumber, serial_number_type: 'system', valid: 'true' },
                },
              ]
            : []),
          ...macs.map((mac) => ({
            className: 'cmdb_ci_network_adapter',
            values: { name: mac, mac_address: mac },
          })),
        ],
        sys_object_source_info: {
          source_name: DISCOVERY_SOURCE,
          source_native_key: `discovery:${macs[0] ?? device.uuid}`,
        },
      },
    };
  });
  if (planned.length === 0) return [];
  const response = identifyReconcile(
    instance,
    { items: planned.map((p) => p.item) },
    { commit: true, enhanced: false, options: {}, dataSource: DISCOVERY_SOURCE, caller: instance.system() },
  ) as { result: { items: Array<{ sysId: string; errorCount: number; errors?: unknown[] }> } };
  return planned.map((p, i) => {
    const result = response.result.items[i];
    if (!result || result.errorCount > 0)
      throw new Error(
        `pre-loading discovered device ${p.device.id} failed: ${JSON.stringify(result?.errors ?? 'no result')}`,
      );
    return {
      deviceId: p.device.id,
      sysId: result.sysId,
      name: p.name,
      className: p.className,
      identifiedBy: [...p.identifiedBy],
    };
  });
}
