import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { armError } from './http.js';
import {
  KqlError,
  applyRowOperators,
  compareSortValues,
  parseKql,
  pathTests,
  pinnedTypes,
  resolveJoins,
  sortKeysOf,
  type Query,
} from './kql.js';
import { metadataProperties } from './arm.js';
import {
  DEVICE_VULNERABILITY_TYPE,
  deviceVulnerabilityProperties,
  vulnerabilityName,
} from './device-vulnerabilities.js';
import type { DefenderState, LiveAlert, LiveDevice, LiveSensor, StatePart } from './state.js';
import {
  deviceGroupPath,
  type AssessmentMetadata,
  type CveInfo,
  type DeviceCategory,
  type Site,
} from '../dataset/index.js';
import { IOT_ALERT_GRAPH_TYPE, alertSite, iotAlertProperties } from './iot-alerts.js';

/** Resource Graph api-versions the emulator accepts (contract §5.1). */
export const RESOURCE_GRAPH_API_VERSIONS = [
  '2019-04-01',
  '2020-04-01-preview',
  '2021-03-01',
  '2022-10-01',
  '2024-04-01',
];
const MAX_TOP = 1000;

type Row = Record<string, unknown>;

/** One kind of row in a table: how many there are and how to build row `i`. */
interface RowSource {
  table: 'securityresources' | 'iotsecurityresources' | 'resources';
  /** Lower-case type, or null when rows of the source carry several types. */
  type: string | null;
  /** State parts its rows depend on (cache invalidation). */
  parts: readonly StatePart[];
  count(): number;
  row(i: number): Row | undefined;
  /** Rows injected through the control API: served as they are, past the query's operators. */
  verbatim?: readonly unknown[];
  /**
   * Values of some property paths of row `i`, read without building the row: a query that tests
   * one of them skips the rows that fail the test ({@link pathTests}: a `where` on it, an inner
   * join keyed on it), so that a per-sensor query does not build every row of the table.
   */
  cheap?: Readonly<Record<string, (i: number) => unknown>>;
}

/**
 * The sources with, after each typed source, the rows injected for its type
 * (`POST /_sandbox/resource-graph/raw-rows`).
 */
function withRawRows(state: DefenderState, generated: RowSource[]): RowSource[] {
  if (state.rawResourceGraphRows.size === 0) return generated;
  return generated.flatMap((source) => {
    const raw = source.type === null ? undefined : state.rawResourceGraphRows.get(source.type);
    if (!raw) return [source];
    return [
      source,
      { ...source, verbatim: raw, count: () => raw.length, row: () => undefined } satisfies RowSource,
    ];
  });
}

/**
 * Serves `records` verbatim after the generated rows of `type` in every query that pins that type
 * (`where type == '…'`), replacing earlier ones: malformed input for tests. Answers an error
 * message when the sandbox serves no such type.
 */
export function setRawResourceGraphRows(
  state: DefenderState,
  type: string,
  records: readonly unknown[],
): string | undefined {
  const source = sources(state).find((s) => s.type !== null && s.type === type.toLowerCase());
  if (!source) {
    const types = sources(state)
      .map((s) => s.type)
      .filter((t): t is string => t !== null);
    return `No Resource Graph type '${type}' (known: ${[...new Set(types)].join(', ')}).`;
  }
  state.rawResourceGraphRows.set(source.type as string, [...records]);
  for (const part of source.parts) state.bump(part);
  return undefined;
}

function base(
  id: string,
  name: string,
  type: string,
  tenantId: string,
  subscriptionId: string,
  resourceGroup: string,
  location: string,
): Row {
  return {
    id,
    name,
    type,
    tenantId,
    kind: '',
    location,
    resourceGroup,
    subscriptionId,
    managedBy: '',
    sku: null,
    plan: null,
    properties: {},
    tags: null,
    identity: null,
    zones: null,
    extendedLocation: null,
  };
}

function rgOf(resourceId: string): string {
  const m = /\/resourcegroups\/([^/]+)/i.exec(resourceId);
  return m ? (m[1] as string).toLowerCase() : '';
}

const PURDUE_LAYER = (level: number): string =>
  level <= 1 ? 'ProcessControl' : level <= 3 ? 'Supervisory' : 'Enterprise';

function sources(state: DefenderState): RowSource[] {
  const tenantId = state.estate.tenantId;
  const iso = (ms: number) => new Date(ms).toISOString();
  const site = (id: number) => state.estate.sites[id - 1] as Site;
  const zoneName = (id: number) => state.estate.zones[id - 1]?.name ?? '';
  let assignments: ReturnType<typeof listAssignments> | null = null;
  let assignmentsVersion = -1;
  const listAssignments = () => [...state.governanceAssignments.values()];
  const currentAssignments = () => {
    if (!assignments || assignmentsVersion !== state.version) {
      assignments = listAssignments();
      assignmentsVersion = state.version;
    }
    return assignments;
  };
  // Rows share one metadata object per recommendation: operators never mutate rows (extend copies).
  const metadataCache = new Map<string, Record<string, unknown>>();
  const metadataOf = (m: AssessmentMetadata) => {
    let v = metadataCache.get(m.key);
    if (!v) metadataCache.set(m.key, (v = metadataProperties(state, m, '2025-05-04')));
    return v;
  };
  let deviceIds: number[] | null = null;
  let deviceIdsVersion = -1;
  const currentDeviceIds = () => {
    if (!deviceIds || deviceIdsVersion !== state.version) {
      deviceIds = [...state.deviceIds()];
      deviceIdsVersion = state.version;
    }
    return deviceIds;
  };
  const currentVulnerabilities = () => deviceVulnerabilities(state);
  const currentAlertIds = () => state.alertIds();

  return withRawRows(state, [
    {
      table: 'securityresources',
      type: 'microsoft.security/assessments',
      parts: ['assessments'],
      count: () => state.assessmentCount,
      row: (i) => {
        const a = state.assessment(i);
        const m = state.metadata(a.key);
        const row = base(
          a.id,
          a.key,
          'microsoft.security/assessments',
          tenantId,
          a.subscriptionId,
          rgOf(a.resourceId),
          '',
        );
        const status: Row = { code: a.code };
        if (a.cause !== undefined) status['cause'] = a.cause;
        if (a.description !== undefined) status['description'] = a.description;
        status['firstEvaluationDate'] = iso(a.firstEvaluationDate);
        status['statusChangeDate'] = iso(a.statusChangeDate);
        // Resource Graph capitalises resourceDetails keys and names the portal link `azurePortal` (contract §0.1).
        // UNVERIFIED: the link value's form; Resource Graph rows are believed to omit the https:// scheme.
        row['properties'] = {
          resourceDetails: { Source: 'Azure', Id: a.resourceId },
          displayName: m?.displayName ?? a.key,
          status,
          ...(m ? { metadata: metadataOf(m) } : {}),
          links: {
            azurePortal: `portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/${a.key}`,
          },
          additionalData: {},
          ...(a.code === 'Unhealthy' ? { risk: { level: a.riskLevel ?? 'Medium', riskFactors: [] } } : {}),
        };
        return row;
      },
    },
    {
      table: 'securityresources',
      type: 'microsoft.security/assessments/governanceassignments',
      parts: ['governance'],
      count: () => currentAssignments().length,
      row: (i) => {
        const g = currentAssignments()[i];
        if (!g) return undefined;
        const assessmentId = `${g.resourceId}/providers/Microsoft.Security/assessments/${g.assessmentKey}`;
        const row = base(
          `${assessmentId}/governanceAssignments/${g.assignmentKey}`,
          g.assignmentKey,
          'microsoft.security/assessments/governanceassignments',
          tenantId,
          g.subscriptionId,
          rgOf(g.resourceId),
          '',
        );
        const props = g.properties as Row;
        const notification = (props['governanceEmailNotification'] as Row | undefined) ?? {};
        row['properties'] = {
          ...props,
          assignedResourceId: assessmentId,
          assignmentKey: g.assignmentKey,
          governanceEmailNotification: { ...notification, emailNotificationDayOfWeek: 'Monday' },
        };
        return row;
      },
    },
    {
      table: 'securityresources',
      type: 'microsoft.security/governancerules',
      parts: ['governance'],
      count: () => state.governanceRules.size,
      row: (i) => {
        const r = [...state.governanceRules.values()][i];
        if (!r) return undefined;
        const sub = /^\/subscriptions\/([^/]+)/i.exec(r.scope)?.[1] ?? '';
        const row = base(
          `${r.scope}/providers/Microsoft.Security/governanceRules/${r.ruleId}`,
          r.ruleId,
          'microsoft.security/governancerules',
          tenantId,
          sub,
          '',
          '',
        );
        row['properties'] = r.properties;
        return row;
      },
    },
    {
      table: 'iotsecurityresources',
      type: 'microsoft.iotsecurity/locations/sites',
      parts: [],
      count: () => state.estate.sites.length,
      row: (i) => {
        const s = state.estate.sites[i];
        if (!s) return undefined;
        const row = base(
          `/subscriptions/${s.subscriptionId}/providers/Microsoft.IoTSecurity/locations/${s.location}/sites/${s.name}`,
          s.name,
          'microsoft.iotsecurity/locations/sites',
          tenantId,
          s.subscriptionId,
          '',
          s.location,
        );
        row['properties'] = {
          displayName: s.displayName,
          tags: { enterprise: s.enterprise, region: s.region },
        };
        return row;
      },
    },
    {
      table: 'iotsecurityresources',
      type: 'microsoft.iotsecurity/locations/sites/sensors',
      parts: ['sensors'],
      count: () => state.estate.sensors.length,
      row: (i) => {
        const s = state.sensor(i + 1) as LiveSensor;
        const st = site(s.siteId);
        const row = base(
          `/subscriptions/${st.subscriptionId}/providers/Microsoft.IoTSecurity/locations/${st.location}/sites/${st.name}/sensors/${s.name}`,
          s.name,
          'microsoft.iotsecurity/locations/sites/sensors',
          tenantId,
          st.subscriptionId,
          '',
          st.location,
        );
        // hostname, ip, mac and upSince_utc are mapped by ServiceNow's connector but absent from the stored spec (INFERRED newer schema).
        row['properties'] = {
          connectivityTime: iso(s.connected ? state.now() : s.changedAt),
          dynamicLearning: s.learningMode,
          learningMode: s.learningMode,
          sensorStatus: s.connected ? 'Ok' : 'Disconnected',
          sensorVersion: s.version,
          tiAutomaticUpdates: true,
          tiStatus: 'Ok',
          tiVersion: iso(s.activatedAt),
          zone: zoneName(s.zoneId),
          sensorType: 'Ot',
          hostname: s.hostname,
          ip: s.ip,
          mac: s.mac,
          upSince_utc: iso(s.activatedAt),
        };
        return row;
      },
    },
    {
      table: 'iotsecurityresources',
      type: 'microsoft.iotsecurity/locations/devicegroups/devices',
      parts: ['devices'],
      count: () => currentDeviceIds().length,
      row: (i) => {
        const id = currentDeviceIds()[i];
        const d = id === undefined ? undefined : state.device(id);
        return d ? deviceRow(state, d, tenantId) : undefined;
      },
      // deviceRow's sensor name.
      cheap: {
        'properties.sensor.name': (i) => {
          const id = currentDeviceIds()[i];
          const d = id === undefined ? undefined : state.device(id);
          return d ? (state.estate.sensors[d.sensorId - 1]?.name ?? '') : undefined;
        },
      },
    },
    {
      table: 'iotsecurityresources',
      type: DEVICE_VULNERABILITY_TYPE,
      parts: ['devices'],
      count: () => currentVulnerabilities().length,
      row: (i) => {
        const v = currentVulnerabilities()[i];
        const d = v && state.device(v.deviceId);
        return v && d ? vulnerabilityRow(state, d, v.cve, tenantId) : undefined;
      },
      // vulnerabilityRow's properties.deviceId: the device's uuid.
      cheap: {
        'properties.deviceId': (i) => {
          const v = currentVulnerabilities()[i];
          return v ? state.device(v.deviceId)?.uuid : undefined;
        },
      },
    },
    {
      table: 'iotsecurityresources',
      type: IOT_ALERT_GRAPH_TYPE,
      parts: ['alerts', 'devices'],
      count: () => currentAlertIds().length,
      row: (i) => {
        const id = currentAlertIds()[i];
        const a = id === undefined ? undefined : state.alert(id);
        return a ? alertRow(state, a, tenantId) : undefined;
      },
    },
    {
      table: 'resources',
      type: null,
      // Tags set through the control API count as a governance change (what ByTag rules read).
      parts: ['governance'],
      count: () => state.estate.resources.length,
      row: (i) => {
        const r = state.estate.resources[i];
        if (!r) return undefined;
        const row = base(
          r.id,
          r.name,
          r.type,
          tenantId,
          r.subscriptionId,
          r.resourceGroup.toLowerCase(),
          r.location,
        );
        row['tags'] = state.tagsOf(r);
        return row;
      },
    },
  ]);
}

interface VulnerabilityRef {
  readonly deviceId: number;
  readonly cve: CveInfo;
}

const vulnerabilityIndexes = new WeakMap<DefenderState, { version: number; refs: VulnerabilityRef[] }>();

/**
 * One entry per (device, CVE) of every device the devices type serves (all live devices), in
 * device order and each device's CVEs as the sensor and console list them. Kept per state until
 * the devices change (control-API CVE changes go through `updateDevice`, which bumps `devices`):
 * `sources()` is rebuilt per request, and a large estate has ~325,000 pairs.
 */
function deviceVulnerabilities(state: DefenderState): VulnerabilityRef[] {
  const hit = vulnerabilityIndexes.get(state);
  if (hit && hit.version === state.versions.devices) return hit.refs;
  const refs: VulnerabilityRef[] = [];
  for (const id of state.deviceIds()) {
    const d = state.device(id);
    if (d) for (const cve of state.cvesOf(d)) refs.push({ deviceId: id, cve });
  }
  vulnerabilityIndexes.set(state, { version: state.versions.devices, refs });
  return refs;
}

function vulnerabilityRow(state: DefenderState, d: LiveDevice, cve: CveInfo, tenantId: string): Row {
  const site = state.estate.sites[d.siteId - 1] as Site;
  const group = deviceGroupPath(site);
  const name = vulnerabilityName(`${group}/devices/${d.uuid}`, cve.cveId);
  const row = base(
    `${group}/vulnerabilities/${name}`,
    name,
    DEVICE_VULNERABILITY_TYPE,
    tenantId,
    site.subscriptionId,
    '',
    site.location,
  );
  row['properties'] = deviceVulnerabilityProperties({ deviceName: d.uuid, cve });
  return row;
}

/** An alert row: the ARM resource's id and properties (one status, whichever API wrote it). */
function alertRow(state: DefenderState, a: LiveAlert, tenantId: string): Row {
  const site = alertSite(state, a);
  const row = base(
    a.resourceId,
    a.uuid,
    IOT_ALERT_GRAPH_TYPE,
    tenantId,
    site.subscriptionId,
    '',
    site.location,
  );
  row['properties'] = iotAlertProperties(state, a);
  return row;
}

/** `deviceCategoryDisplayName` of each estate category (the console's `u_category`). */
const CATEGORY_DISPLAY_NAMES: Readonly<Record<DeviceCategory, string>> = {
  ICS: 'OT',
  Network: 'Network',
  IT: 'IT',
  IoT: 'IoT',
};

function deviceRow(state: DefenderState, d: LiveDevice, tenantId: string): Row {
  const site = state.estate.sites[d.siteId - 1] as Site;
  const sensor = state.estate.sensors[d.sensorId - 1];
  const zone = state.estate.zones[d.zoneId - 1];
  const iso = (ms: number) => new Date(ms).toISOString();
  const row = base(
    `${deviceGroupPath(site)}/devices/${d.uuid}`,
    d.uuid,
    'microsoft.iotsecurity/locations/devicegroups/devices',
    tenantId,
    site.subscriptionId,
    '',
    site.location,
  );
  row['properties'] = {
    schemaVersion: '1',
    deviceDataSource: 'OtSensor',
    sensor: { name: sensor?.name ?? '', zone: zone?.name ?? '', site: site.displayName },
    deviceName: d.name,
    deviceCategoryDisplayName: CATEGORY_DISPLAY_NAMES[d.category],
    deviceTypeDisplayName: d.typeDisplayName,
    deviceSubTypeDisplayName: d.subTypeDisplayName,
    riskScore: d.riskScore,
    criticality: d.criticality,
    firstSeen: iso(d.firstSeen),
    lastSeen: iso(d.lastActivity),
    lastUpdated: iso(d.lastUpdate),
    operatingSystem: d.operatingSystem
      ? // The spec's OperatingSystem has platform, version, distribution and architecture
        // (2021-02-01-preview/devices.json); its example: { version: "10\\1604", platform: "Windows" }.
        {
          platform: d.operatingSystem.split(' ')[0],
          version: d.operatingSystem.split(' ').slice(1).join(' ') || d.operatingSystem,
          distribution: d.operatingSystem,
          ...(d.osArchitecture ? { architecture: d.osArchitecture } : {}),
        }
      : {},
    hardware: { vendor: d.vendor, model: d.model, serialNumber: d.serialNumber },
    firmwares: [{ version: d.firmwareVersion }],
    purdueLevel: PURDUE_LAYER(d.purdueLevel),
    authorizedState: d.authorized ? 'Authorized' : 'Unauthorized',
    programmingState: d.programming ? 'ProgrammingDevice' : 'NotProgrammingDevice',
    nics: d.nics.map((n) => ({
      lastSeen: iso(d.lastActivity),
      ipv4Address: n.ip,
      macAddress: n.mac.toUpperCase().replace(/:/g, '-'),
      macCertainty: 'Certain',
      vlans: [n.vlan],
    })),
    slots: d.modules.map((m) => ({
      slotNumber: m.slot,
      rackNumber: m.rack,
      slotType: m.slotType,
      hardwareVendor: d.vendor,
      firmwareVersion: m.firmwareVersion,
      model: m.model,
      serialNumber: m.serial,
    })),
    additionalFields:
      d.plcKeyState || d.plcRunState ? { plcKeyState: d.plcKeyState, plcRunState: d.plcRunState } : {},
    deviceStatus: 'Active',
  };
  return row;
}

interface Evaluated {
  refs: number[];
  limit: number | null;
}

const SHIFT = 2 ** 26;
const caches = new WeakMap<DefenderState, Map<string, Evaluated>>();

function evaluateQuery(
  state: DefenderState,
  query: Query,
  subscriptions: Set<string> | null,
  queryHash: string,
): Evaluated {
  const all = sources(state);
  const scanned = scannedSources(all, query);
  // A join's right side is evaluated first, as a query of its own (cached the same way).
  resolveJoins(query, (right) => joinedRows(state, right, subscriptions));
  // Cached per query and per version of the parts the scanned rows (the joins' too) depend on.
  const partsOf = (read: boolean[]) => all.filter((_, i) => read[i]).flatMap((source) => source.parts);
  const parts = new Set([
    ...partsOf(scanned),
    ...query.operators.flatMap((o) => (o.kind === 'join' ? partsOf(scannedSources(all, o.right)) : [])),
  ]);
  const cacheKey = `${queryHash}|${[...parts].map((p) => `${p}:${state.versions[p]}`).join(',')}`;
  let cache = caches.get(state);
  if (!cache) caches.set(state, (cache = new Map()));
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const table = query.table.toLowerCase();
  const pinned = pinnedTypes(query);
  if (table !== 'securityresources' && table !== 'iotsecurityresources' && table !== 'resources') {
    throw new KqlError(
      `The table '${query.table}' is not available in the sandbox (securityresources, iotsecurityresources, resources).`,
    );
  }
  const limitOp = query.operators.findIndex((o) => o.kind === 'limit');
  if (limitOp >= 0 && limitOp !== query.operators.length - 1)
    throw new KqlError("'limit' / 'take' must be the last operator in the sandbox.");
  const limit = limitOp >= 0 ? (query.operators[limitOp] as { count: number }).count : null;
  const rowOps = query.operators.filter((o) => o.kind !== 'limit');
  // A sorted query takes its first N after the sort, so it collects every matching row.
  const collect = query.operators.some((o) => o.kind === 'sort') ? null : limit;
  const tests = pathTests(query);
  const refs: number[] = [];
  all.forEach((source, s) => {
    if (!scanned[s]) return;
    const n = source.count();
    if (source.verbatim) {
      // Injected rows are served only to queries that ask for their type.
      if (!pinned) return;
      for (let i = 0; i < n && (collect === null || refs.length < collect); i++) refs.push(s * SHIFT + i);
      return;
    }
    const cheap = source.cheap;
    const skips = cheap
      ? tests.flatMap((t) => (cheap[t.path] ? [{ read: cheap[t.path]!, test: t.test }] : []))
      : [];
    for (let i = 0; i < n; i++) {
      if (collect !== null && refs.length >= collect) return;
      if (skips.some((s) => !s.test(s.read(i)))) continue;
      const row = source.row(i);
      if (!row) continue;
      if (subscriptions && !subscriptions.has(String(row['subscriptionId']).toLowerCase())) continue;
      if (applyRowOperators(rowOps, row) !== null) refs.push(s * SHIFT + i);
    }
  });
  const sorted = sortRefs(query, refs, (ref) => {
    const source = all[Math.floor(ref / SHIFT)];
    const row = source?.verbatim ? source.verbatim[ref % SHIFT] : source?.row(ref % SHIFT);
    return typeof row === 'object' && row !== null ? (row as Row) : null;
  });
  const result = { refs: limit === null ? sorted : sorted.slice(0, limit), limit };
  if (cache.size > 32) cache.clear();
  cache.set(cacheKey, result);
  return result;
}

/** Which sources a query reads: those of its table, of the types its first `where` pins. */
function scannedSources(all: readonly RowSource[], query: Query): boolean[] {
  const table = query.table.toLowerCase();
  const pinned = pinnedTypes(query);
  return all.map(
    (source) => source.table === table && !(pinned && source.type && !pinned.includes(source.type)),
  );
}

/** The rows of a join's right side, as that query alone would answer them (injected rows as they are). */
function joinedRows(state: DefenderState, right: Query, subscriptions: Set<string> | null): Row[] {
  const hash = createHash('sha256')
    .update(JSON.stringify(['join', right, subscriptions ? [...subscriptions].sort() : null]))
    .digest('hex')
    .slice(0, 16);
  const evaluated = evaluateQuery(state, right, subscriptions, hash);
  return answerRows(sources(state), right, evaluated.refs).filter(
    (row): row is Row => typeof row === 'object' && row !== null,
  );
}

/**
 * The rows a query answers for `refs`: each built and put through the query's operators, an
 * injected row as it is (null where there is none).
 */
function answerRows(all: readonly RowSource[], query: Query, refs: readonly number[]): unknown[] {
  const rowOps = query.operators.filter((o) => o.kind !== 'limit');
  const data: unknown[] = [];
  for (const ref of refs) {
    const source = all[Math.floor(ref / SHIFT)];
    if (source?.verbatim) {
      data.push(source.verbatim[ref % SHIFT] ?? null);
      continue;
    }
    const row = source?.row(ref % SHIFT);
    const projected = row ? applyRowOperators(rowOps, row) : null;
    if (projected) data.push(projected);
  }
  return data;
}

/**
 * The matched rows in the order of the query's `order by` / `sort by` (a stable sort, so rows
 * with equal keys keep their table order); as they are when it does not sort. Microsoft Learn
 * "Guidance for pagination" (MicrosoftDocs/azure-docs
 * articles/governance/resource-graph/concepts/paging-results.md) has paged queries order by
 * their columns with `id` last, so that pages do not overlap.
 */
function sortRefs(query: Query, refs: number[], rowOf: (ref: number) => Row | null): number[] {
  const sorts = query.operators.filter((o) => o.kind === 'sort');
  if (sorts.length === 0) return refs;
  if (sorts.length > 1) throw new KqlError("Only one 'order by' / 'sort by' is supported by the sandbox.");
  const sort = sorts[0] as Extract<Query['operators'][number], { kind: 'sort' }>;
  const keyed = refs.map((ref) => {
    const row = rowOf(ref);
    try {
      return { ref, keys: (row && sortKeysOf(query.operators, row)) ?? [] };
    } catch (e) {
      // An injected raw row may lack a column the keys read: its keys are null, as a missing
      // property is in Resource Graph (it sorts first when ascending).
      if (e instanceof KqlError) return { ref, keys: [] };
      throw e;
    }
  });
  keyed.sort((a, b) => {
    for (const [k, key] of sort.keys.entries()) {
      const order = compareSortValues(a.keys[k], b.keys[k]);
      if (order !== 0) return key.descending ? -order : order;
    }
    return 0;
  });
  return keyed.map((k) => k.ref);
}

function columnType(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'real';
  if (typeof v === 'boolean') return 'boolean';
  return 'object';
}

/** `POST /providers/Microsoft.ResourceGraph/resources`. */
export async function handleResourceGraph(c: Context, state: DefenderState): Promise<Response> {
  const apiVersion = c.req.query('api-version');
  if (!apiVersion)
    return armError(
      c,
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  if (!RESOURCE_GRAPH_API_VERSIONS.includes(apiVersion)) {
    return armError(
      c,
      400,
      'InvalidApiVersionParameter',
      `The api-version '${apiVersion}' is invalid. The supported versions are '${RESOURCE_GRAPH_API_VERSIONS.join(',')}'.`,
    );
  }
  if (c.req.method !== 'POST')
    return armError(
      c,
      405,
      'MethodNotAllowed',
      `The requested resource does not support http method '${c.req.method}'.`,
    );
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return armError(
      c,
      400,
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    );
  }
  if (typeof body !== 'object' || body === null)
    return armError(c, 400, 'InvalidRequestContent', 'The request body must be a JSON object.');
  const b = body as {
    query?: unknown;
    subscriptions?: unknown;
    managementGroups?: unknown;
    options?: Record<string, unknown>;
  };
  if (typeof b.query !== 'string')
    return armError(c, 400, 'InvalidRequestContent', "The 'query' property is required.");
  if (
    b.subscriptions !== undefined &&
    (!Array.isArray(b.subscriptions) || b.subscriptions.some((s) => typeof s !== 'string'))
  ) {
    return armError(c, 400, 'InvalidRequestContent', "'subscriptions' must be an array of subscription ids.");
  }
  const options = b.options ?? {};
  let top = options['$top'] === undefined ? state.behaviour.resourceGraphDefaultTop : Number(options['$top']);
  const skip = options['$skip'] === undefined ? 0 : Number(options['$skip']);
  if (!Number.isInteger(top) || top < 1 || !Number.isInteger(skip) || skip < 0) {
    return armError(
      c,
      400,
      'InvalidRequestContent',
      "'$top' must be a positive integer and '$skip' a non-negative one.",
    );
  }
  const resultFormat = options['resultFormat'] ?? 'objectArray';
  if (resultFormat !== 'objectArray' && resultFormat !== 'table') {
    return armError(c, 400, 'InvalidRequestContent', "'resultFormat' must be 'objectArray' or 'table'.");
  }
  const subscriptions =
    Array.isArray(b.subscriptions) && !Array.isArray(b.managementGroups)
      ? new Set((b.subscriptions as string[]).map((s) => s.toLowerCase()))
      : null;
  const queryHash = createHash('sha256')
    .update(JSON.stringify([b.query, subscriptions ? [...subscriptions].sort() : null]))
    .digest('hex')
    .slice(0, 16);
  let offset = skip;
  if (typeof options['$skipToken'] === 'string') {
    try {
      const t = JSON.parse(Buffer.from(options['$skipToken'], 'base64').toString('utf8')) as {
        q?: string;
        o?: number;
        t?: number;
      };
      if (t.q !== queryHash || !Number.isInteger(t.o)) throw new Error('mismatch');
      offset = t.o as number;
      // As in the next-page example, a follow-up request without $top keeps the first page's size.
      if (options['$top'] === undefined && Number.isInteger(t.t)) top = t.t as number;
    } catch {
      return armError(
        c,
        400,
        'InvalidRequestContent',
        'The $skipToken is invalid or belongs to another query.',
      );
    }
  }
  let query: Query;
  let evaluated: Evaluated;
  try {
    query = parseKql(b.query);
    evaluated = evaluateQuery(state, query, subscriptions, queryHash);
  } catch (e) {
    if (!(e instanceof KqlError)) throw e;
    return armError(
      c,
      400,
      'BadRequest',
      'Please provide below info when asking for support: the query was rejected by the sandbox.',
      [
        {
          code: 'InvalidQuery',
          message:
            'Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.',
        },
        { code: 'UnsupportedQuery', message: e.message },
      ],
    );
  }
  const pageSize = Math.min(top, MAX_TOP);
  const total = evaluated.refs.length;
  const slice = evaluated.refs.slice(offset, offset + pageSize);
  const data = answerRows(sources(state), query, slice);
  const response: Record<string, unknown> = {
    totalRecords: total,
    count: data.length,
    resultTruncated: 'false',
  };
  if (offset + pageSize < total) {
    response['$skipToken'] = Buffer.from(
      JSON.stringify({ q: queryHash, o: offset + pageSize, t: pageSize }),
    ).toString('base64');
  }
  response['facets'] = [];
  if (resultFormat === 'table') {
    const first = data[0] as Row | undefined;
    const names = first ? Object.keys(first) : [];
    response['data'] = {
      columns: names.map((n) => ({ name: n, type: columnType(first?.[n]) })),
      rows: data.map((r) => names.map((n) => (r as Row | null)?.[n])),
    };
  } else response['data'] = data;
  return c.json(response);
}
