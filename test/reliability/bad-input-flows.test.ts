import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { highCritical } from '../support/cloud-tickets.js';
import { IOT_VULNERABILITIES_QUERY } from '../../src/sources/defender-iot/resource-graph-iot.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import {
  errorEvents,
  hostileText,
  malformedRowColumns,
  notAnObject,
  notText,
  propertyRuns,
  reportedPositions,
  writableText,
} from './bad-input-support.js';
import {
  canonicalState,
  FLOW_CASES,
  resetSandboxes,
  SCENARIO_TIMEOUT_MS,
  seeingSensor,
  syncInProcess,
} from './support.js';

/**
 * Bad input from Defender for the flows other than ot-inventory (whose three sources are in
 * `bad-input.test.ts`): CVE records of ot-vulnerabilities, assessments with their resource names
 * and owner tags of cloud-tickets, alerts of ot-alerts — each from the source the sandbox
 * configuration uses (Resource Graph), injected after the real records. Each malformed record is
 * its own error event, found by its position in the source's answer; each well-formed hostile
 * record is written with its exact values; a duplicate is written once; and nothing else differs
 * from a clean run's canonical dump.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-bad-flows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Row = Record<string, string>;
type Dump = Record<string, Row[]>;

/**
 * Compares a run's canonical dump with a clean run's: every clean row is there unchanged, and
 * returns the rows added, per table (the caller says which are expected: nothing else may be).
 */
function addedSince(baseline: Dump, after: Dump): Dump {
  const added: Dump = {};
  for (const [table, rows] of Object.entries(after)) {
    const byKey = new Map(rows.map((r) => [r._key, r]));
    for (const row of baseline[table] ?? []) expect(byKey.get(row._key), `${table} ${row._key}`).toEqual(row);
    const before = new Set((baseline[table] ?? []).map((r) => r._key));
    added[table] = rows.filter((r) => !before.has(r._key));
  }
  return added;
}

// ---- ot-vulnerabilities: device CVE rows of Resource Graph ------------------------------------

const VULNERABILITY_TYPE = 'microsoft.iotsecurity/locations/devicegroups/vulnerabilities';
const VR_CASE = FLOW_CASES.find((c) => c.flow === 'ot-vulnerabilities')!;
/** What the sandbox configuration runs: the inventory from the sensors, CVEs from Resource Graph. */
const VR_FLOWS = {
  otInventory: { source: 'sensor', sensorValidation: 'auto', batchSize: 50 },
  otVulnerabilities: { source: 'resourceGraph' },
};

/** Text that is no CVE id (`CVE-yyyy-nnnn…`, whatever its case and surrounding spaces). */
const notACveId = hostileText.filter((s) => !/^CVE-\d{4}-\d{4,}$/.test(s.trim().toUpperCase()));

/** A well-formed CVE record, hostile in every text it carries. */
const hostileCve = fc.record({
  name: writableText(200),
  description: writableText(3000),
  score: fc.integer({ min: 0, max: 100 }).map((n) => n / 10),
  exploitType: fc.constantFrom('Unknown', 'ExploitKit', '^NQ'),
});

/** Device CVE rows that must be reported and skipped, each on its own; `device` is a real device's resource name. */
function malformedCveRow(device: string): fc.Arbitrary<unknown> {
  const row = (name: string, properties: unknown) => ({
    id: `/bad-input/vulnerabilities/${name}`,
    name,
    type: VULNERABILITY_TYPE,
    properties,
  });
  return fc.oneof(
    notAnObject,
    // No CVE id, or no device.
    hostileText.map((name) => row(name, { deviceId: device })),
    hostileText.map((name) => row(name, { vulnerabilityId: 'CVE-2099-0001' })),
    // A CVE id that is not one, on a real device.
    fc
      .tuple(hostileText, notACveId)
      .map(([name, id]) => row(name, { deviceId: device, vulnerabilityId: id })),
    // A score that is not a number.
    fc
      .tuple(
        hostileText,
        fc.oneof(fc.constantFrom('high', 'NaN', '7,5', '^NQ'), fc.boolean(), fc.array(fc.integer())),
      )
      .map(([name, score]) => row(name, { deviceId: device, vulnerabilityId: 'CVE-2099-0002', score })),
    // Fields of the wrong type.
    fc
      .tuple(
        hostileText,
        fc.constantFrom('deviceId', 'vulnerabilityId', 'description', 'exploitType'),
        notText,
      )
      .map(([name, field, value]) =>
        row(name, { deviceId: device, vulnerabilityId: 'CVE-2099-0003', [field]: value }),
      ),
    fc
      .tuple(notText, fc.oneof(notText, fc.constant(null)))
      .map(([id, name]) => ({ id, name, properties: {} })),
    hostileText.map((name) => row(name, null)),
    fc.tuple(hostileText, fc.oneof(fc.string(), fc.integer())).map(([name, p]) => row(name, p)),
  );
}

describe('ot-vulnerabilities from Resource Graph given malformed and hostile CVE records', () => {
  let sandboxes: Sandboxes;
  let baseline: Dump;
  /** The devices the generated CVEs are on: OT devices of the seeing sensor (their resource names). */
  let devices: string[];
  /** Vulnerability rows Resource Graph serves before the injected ones. */
  let realRows: number;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 10, seed: 51 });
    const state = sandboxes.defender.state;
    const sensor = seeingSensor(sandboxes);
    devices = [...state.deviceIds()]
      .map((id) => state.device(id)!)
      .filter((d) => d.sensorId === sensor.id)
      .map((d) => d.uuid);
    realRows = [...state.deviceIds()].reduce((n, id) => n + state.cvesOf(state.device(id)!).length, 0);
    const jobs = await syncInProcess(sandboxes.config(join(dir, 'vr-baseline.sqlite'), VR_FLOWS), [
      'ot-inventory',
      'ot-vulnerabilities',
    ]);
    expect(jobs['ot-vulnerabilities']).toMatchObject({ outcome: 'ok', errors: 0 });
    baseline = (await canonicalState(sandboxes, VR_CASE)).servicenow;
    expect(baseline.sn_vul_detection!.length).toBeGreaterThan(0);
  });
  afterAll(async () => sandboxes?.close());

  it(
    'reports each malformed CVE record by its position, writes each well-formed one exactly, a duplicate once, and nothing else',
    async () => {
      let run = 0;
      const input = fc.constantFrom(...devices).chain((device) =>
        fc.record({
          device: fc.constant(device),
          malformed: fc.array(malformedCveRow(device), { minLength: 1, maxLength: 8 }),
          cves: fc.uniqueArray(hostileCve, { minLength: 1, maxLength: 5, selector: (c) => c.name }),
          // The first CVE again, under another record name, with its id in lower case and spaced.
          duplicate: fc.option(fc.record({ name: writableText(200), description: writableText(200) }), {
            nil: undefined,
          }),
        }),
      );
      await fc.assert(
        fc.asyncProperty(input, async ({ device, malformed, cves, duplicate }) => {
          run++;
          await resetSandboxes(sandboxes);
          // CVE ids no real device has, so that a generated CVE can not be taken for a real one.
          const wellFormed = cves.map((c, i) => ({ ...c, cveId: `CVE-2099-${100_000 + i}` }));
          const row = (c: (typeof wellFormed)[number], cveId = c.cveId) => ({
            id: `/bad-input/vulnerabilities/${c.name}`,
            name: c.name,
            type: VULNERABILITY_TYPE,
            properties: {
              deviceId: device,
              vulnerabilityId: cveId,
              description: c.description,
              score: c.score,
              exploitType: c.exploitType,
            },
          });
          const again =
            duplicate && wellFormed[0]
              ? [row({ ...wellFormed[0], ...duplicate }, ` ${wellFormed[0].cveId.toLowerCase()} `)]
              : [];
          await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
            type: VULNERABILITY_TYPE,
            records: [...malformed, ...wellFormed.map((c) => row(c)), ...again],
          });
          const storeUrl = join(dir, `vr-run-${run}.sqlite`);
          const summary = (
            await syncInProcess(sandboxes.config(storeUrl, VR_FLOWS), ['ot-inventory', 'ot-vulnerabilities'])
          )['ot-vulnerabilities']!;
          expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

          // Each malformed record is one error event, at its position in the rows as Resource
          // Graph orders them for the reader (by device, then id).
          const listed = (await resourceGraphRows(sandboxes, IOT_VULNERABILITIES_QUERY)).map((r) =>
            JSON.stringify(r),
          );
          expect(listed).toHaveLength(realRows + malformed.length + wellFormed.length + again.length);
          const injected = new Set(malformed.map((m) => JSON.stringify(m)));
          const events = await errorEvents(storeUrl);
          expect(reportedPositions(events, 'device CVEs not read (')).toEqual(
            listed.flatMap((r, at) => (injected.has(r) ? [at] : [])),
          );
          expect(summary.errors).toBe(malformed.length);

          // The real detections as a clean run left them; each generated CVE once, exactly; nothing else.
          const added = addedSince(baseline, (await canonicalState(sandboxes, VR_CASE)).servicenow);
          expect(added.sn_vul_nvd_entry!.map((e) => e.id).sort()).toEqual(
            wellFormed.map((c) => c.cveId).sort(),
          );
          expect(added.sn_vul_detection).toHaveLength(wellFormed.length);
          expect(added.sn_vul_vulnerable_item).toHaveLength(wellFormed.length);
          for (const [i, c] of wellFormed.entries()) {
            const entry = added.sn_vul_nvd_entry!.find((e) => e.id === c.cveId)!;
            const detection = added.sn_vul_detection!.find(
              (d) => d.vulnerability === `@sn_vul_nvd_entry:${c.cveId}`,
            );
            expect(detection, c.cveId).toBeDefined();
            // A duplicate adds nothing: the first record of a CVE is the one written.
            expect(
              i === 0 && again.length ? [c.description, duplicate!.description] : [c.description],
            ).toContain(entry.summary);
            expect(i === 0 && again.length ? [c.name, duplicate!.name] : [c.name]).toContain(
              detection!.detection_key,
            );
            expect(entry.score).toBe(c.score.toFixed(1));
          }
        }),
        propertyRuns(15, 'ot-vulnerabilities from Resource Graph'),
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});

// ---- ot-alerts: alert rows of Resource Graph ----------------------------------------------------

const ALERT_TYPE = 'microsoft.iotsecurity/locations/devicegroups/alerts';
const ALERTS_CASE = FLOW_CASES.find((c) => c.flow === 'ot-alerts')!;
/** The sandbox configuration's ot-alerts (Resource Graph, one incident per device and alert type), over the sensors' inventory. */
function alertFlows(sandboxes: Sandboxes) {
  const defaults = sandboxes.config(join(dir, 'defaults.sqlite')).config.integrations[0]!.flows;
  return { otInventory: VR_FLOWS.otInventory, otAlerts: defaults.otAlerts };
}

/** A well-formed alert, hostile in the texts a ticket shows. */
const hostileAlert = fc.record({
  title: writableText(200),
  description: writableText(2000),
  severity: fc.constantFrom('Informational', 'Low', 'Medium', 'High', '^NQ'),
  status: fc.constantFrom('New', 'InProgress'),
});

/** Alert rows that must be reported and skipped, each on its own. */
const malformedAlertRow = fc.oneof(
  notAnObject,
  malformedRowColumns,
  // One property missing or of a type the schema refuses.
  fc
    .tuple(
      hostileText,
      fc.constantFrom<[string, unknown]>(
        ['startTimeUtc', undefined],
        ['startTimeUtc', 'yesterday'],
        ['startTimeUtc', 42],
        ['severity', undefined],
        ['severity', ''],
        ['severity', 3],
        ['status', undefined],
        ['status', true],
        ['displayName', 42],
        ['description', ['a']],
        ['remediationSteps', 7],
        ['extendedProperties', 'not an object'],
      ),
    )
    .map(([name, [field, value]]) => {
      const properties: Record<string, unknown> = {
        displayName: name,
        severity: 'High',
        status: 'New',
        startTimeUtc: new Date(Date.now() - 3_600_000).toISOString(),
      };
      if (value === undefined) delete properties[field];
      else properties[field] = value;
      return { id: `/bad-input/alerts/${name}`, name, type: ALERT_TYPE, properties };
    }),
);

describe('ot-alerts from Resource Graph given malformed and hostile alert records', () => {
  let sandboxes: Sandboxes;
  let baseline: Dump;
  let realRows: number;
  /** A real device's resource id, seen by the seeing sensor. */
  let deviceResourceId: string;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 10, seed: 51 });
    const state = sandboxes.defender.state;
    realRows = state
      .alertIds()
      .map((id) => state.alert(id)!)
      .filter((a) => a.status !== 'Closed').length;
    const sensor = seeingSensor(sandboxes);
    const device = [...state.deviceIds()]
      .map((id) => state.device(id)!)
      .find((d) => d.sensorId === sensor.id)!;
    const site = sandboxes.estate.sites[device.siteId - 1]!;
    deviceResourceId = `/subscriptions/${site.subscriptionId}/providers/Microsoft.IoTSecurity/locations/${site.location}/deviceGroups/${site.name}/devices/${device.uuid}`;
    const jobs = await syncInProcess(
      sandboxes.config(join(dir, 'alerts-baseline.sqlite'), alertFlows(sandboxes)),
      ['ot-inventory', 'ot-alerts'],
    );
    expect(jobs['ot-alerts']).toMatchObject({ outcome: 'ok', errors: 0 });
    baseline = (await canonicalState(sandboxes, ALERTS_CASE)).servicenow;
  });
  afterAll(async () => sandboxes?.close());

  it(
    'reports each malformed alert by its position, shows each well-formed one exactly on one ticket, a duplicate once, and nothing else',
    async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(malformedAlertRow, { minLength: 1, maxLength: 8 }),
          fc.array(hostileAlert, { minLength: 1, maxLength: 5 }),
          fc.boolean(),
          async (malformed, alerts, duplicate) => {
            run++;
            await resetSandboxes(sandboxes);
            const raisedAt = new Date(Date.now() - 3_600_000).toISOString();
            const sensor = seeingSensor(sandboxes).name;
            // Each of its own type: one ticket each under device+alertType.
            const rows = alerts.map((a, i) => ({
              id: `${deviceResourceId.replace(/\/devices\/.*$/, '')}/alerts/bad-input-${i}`,
              name: `bad-input-${i}`,
              type: ALERT_TYPE,
              properties: {
                alertType: `bad-input type ${i}`,
                displayName: a.title,
                description: a.description,
                startTimeUtc: raisedAt,
                severity: a.severity,
                status: a.status,
                extendedProperties: { SensorId: sensor, DeviceResourceIds: deviceResourceId },
              },
            }));
            // The first alert again, its id in upper case (Azure ids are case-insensitive).
            const again = duplicate ? [{ ...rows[0]!, id: rows[0]!.id.toUpperCase() }] : [];
            await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
              type: ALERT_TYPE,
              records: [...malformed, ...rows, ...again],
            });
            const storeUrl = join(dir, `alerts-run-${run}.sqlite`);
            const summary = (
              await syncInProcess(sandboxes.config(storeUrl, alertFlows(sandboxes)), [
                'ot-inventory',
                'ot-alerts',
              ])
            )['ot-alerts']!;
            expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

            const events = await errorEvents(storeUrl);
            expect(
              reportedPositions(
                events,
                /^malformed alert record, skipped: resourcegraph IoT alerts: record (\d+)[ :]/,
              ),
            ).toEqual(malformed.map((_, i) => realRows + i));
            expect(summary.errors).toBe(malformed.length);

            const added = addedSince(baseline, (await canonicalState(sandboxes, ALERTS_CASE)).servicenow);
            expect(added.incident).toHaveLength(alerts.length);
            for (const [i, a] of alerts.entries()) {
              const line = `Defender alert: ${rows[i]!.id.toLowerCase()}`;
              const tickets = added.incident!.filter((t) => t.description!.includes(line));
              expect(tickets, line).toHaveLength(1);
              const description = tickets[0]!.description!;
              // On its ticket once, with its exact title and message.
              expect(description.split(line).length - 1).toBe(1);
              expect(description).toContain(`Alert: ${a.title} (${a.severity}`);
              expect(description).toContain(`Message: ${a.description}\n`);
            }
          },
        ),
        propertyRuns(17, 'ot-alerts from Resource Graph'),
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});

/** An assessment the test adds on a resource of its own. */
interface Added {
  readonly resourceId: string;
  readonly key: string;
}

// ---- cloud-tickets: assessments of a management group through Resource Graph, owner tags ----------

const ASSESSMENT_TYPE = 'microsoft.security/assessments';
const TICKETS_CASE = FLOW_CASES.find((c) => c.flow === 'cloud-tickets')!;
const ASSESSMENTS_QUERY =
  "securityresources | where type == 'microsoft.security/assessments' | project id, name, properties";

/**
 * The sandbox configuration's cloud-tickets (High and Critical recommendations, one incident per
 * recommendation and subscription, owner from the `owner` tag) reading a management group, the
 * read that goes through Resource Graph, where records can be injected.
 */
function ticketFlows(sandboxes: Sandboxes) {
  const defaults = sandboxes.config(join(dir, 'defaults.sqlite')).config.integrations[0]!.flows;
  return { cloudTickets: { ...defaults.cloudTickets, managementGroups: ['contoso-prod'] } };
}

/** The assessment rows Resource Graph answers for the management group, as Snowline reads them. */
async function assessmentRows(sandboxes: Sandboxes): Promise<Record<string, unknown>[]> {
  return resourceGraphRows(sandboxes, ASSESSMENTS_QUERY);
}

/** The rows of a query as Snowline's reader gets them, in one page (so a row's position is its index). */
async function resourceGraphRows(sandboxes: Sandboxes, query: string): Promise<Record<string, unknown>[]> {
  const agent = new Agent({ connect: { ca: readFileSync(sandboxes.defender.caFile!) } });
  try {
    const response = await request(
      `${sandboxes.defender.url}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`,
      {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${sandboxes.defender.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          managementGroups: ['contoso-prod'],
          query,
          options: { $top: 1000, resultFormat: 'objectArray' },
        }),
      },
    );
    const body = (await response.body.json()) as { data: Record<string, unknown>[]; $skipToken?: string };
    // One page: the positions of injected rows are their indexes in it.
    expect(body.$skipToken).toBeUndefined();
    return body.data;
  } finally {
    await agent.close();
  }
}

/**
 * A resource name Azure accepts that is hostile to ServiceNow: query syntax, quotes, unicode.
 * ARM refuses `<>*%&:\?+/#`, control characters, and a trailing period or space in names.
 */
const hostileResourceName = fc
  .oneof(
    fc.constantFrom(
      '^NQ',
      '^ORsys_id!=0',
      'name!=x^NQname=y',
      '^NQsys_idISNOTEMPTY',
      '=',
      ',',
      "o'brien",
      'ünïcødé',
      '日本語',
    ),
    fc
      .tuple(
        fc.string({ unit: 'grapheme', maxLength: 6 }),
        fc.constantFrom('^', '^NQ', '=', "'"),
        fc.string({ maxLength: 6 }),
      )
      .map(([a, q, b]) => `${a}${q}${b}`),
  )
  .map((name) =>
    name
      .replace(/[<>*%&:\\?+/#\p{Cc}]/gu, '')
      .trim()
      .replace(/[.\s]+$/u, ''),
  )
  .filter((name) => name !== '');

/** Assessment rows that must be reported and skipped, each on its own. */
const malformedAssessmentRow = fc.oneof(
  notAnObject,
  malformedRowColumns,
  // No status, a status that is not an object or whose code is not a string, no resource details.
  fc
    .tuple(
      hostileText,
      fc.constantFrom<unknown>(undefined, null, 'Unhealthy', { cause: 'x' }, { code: 7 }, { code: null }),
    )
    .map(([name, status]) => ({
      id: `/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Security/assessments/${name}`,
      name,
      properties: {
        resourceDetails: { Source: 'Azure', Id: '/subscriptions/00000000-0000-0000-0000-000000000000' },
        ...(status === undefined ? {} : { status }),
      },
    })),
  hostileText.map((name) => ({
    id: `/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Security/assessments/${name}`,
    name,
    properties: { status: { code: 'Unhealthy' } },
  })),
);

describe('cloud-tickets from a management group given malformed assessments, hostile resource names and owner tags, and duplicates', () => {
  let sandboxes: Sandboxes;
  /** The real assessment rows, in the order Resource Graph answers them. */
  let realRows: Record<string, unknown>[];
  /** Resources of the covered (Unhealthy High and Critical) assessments: where owner tags matter. */
  let coveredResources: string[];
  let subscriptions: string[];
  /** Keys of the High and Critical recommendations: what the rule covers. */
  let highKeys: string[];

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 10, seed: 51 });
    realRows = await assessmentRows(sandboxes);
    const { covered } = await highCritical(sandboxes);
    // A subscription has no tags: its owner is not taken from one.
    coveredResources = [...new Set(covered.map((a) => a.resourceId))]
      .filter((id) => /^\/subscriptions\/[^/]+\/./i.test(id))
      .sort();
    expect(coveredResources.length).toBeGreaterThan(0);
    subscriptions = sandboxes.estate.subscriptions.map((x) => x.id);
    highKeys = sandboxes.estate.assessmentMetadata
      .filter((m) => m.severity === 'High' || m.severity === 'Critical')
      .map((m) => m.key);
  });
  afterAll(async () => sandboxes?.close());

  it(
    'reports each malformed assessment by its position, writes hostile owner tags and resource names exactly, a duplicate once, and otherwise what a clean run writes',
    async () => {
      let run = 0;
      const covered = realRows.filter((r) =>
        coveredResources.some((id) => String(r.id).toLowerCase().startsWith(`${id.toLowerCase()}/`)),
      );
      const input = fc.record({
        malformed: fc.array(malformedAssessmentRow, { minLength: 1, maxLength: 8 }),
        // Owner tags on some covered resources: well formed, made of query syntax, newlines, unicode.
        tags: fc.uniqueArray(fc.tuple(fc.constantFrom(...coveredResources), writableText(200)), {
          minLength: 1,
          maxLength: 3,
          selector: ([id]) => id,
        }),
        // Assessments of High and Critical recommendations on resources with hostile names.
        resources: fc.uniqueArray(
          fc.tuple(
            fc.constantFrom(...subscriptions),
            hostileResourceName,
            hostileResourceName,
            fc.constantFrom(...highKeys),
          ),
          {
            minLength: 1,
            maxLength: 3,
            selector: ([sub, group, name]) => `${sub}/${group}/${name}`.toLowerCase(),
          },
        ),
        // Real rows listed again, the same or with the id in upper case.
        duplicates: fc.uniqueArray(fc.tuple(fc.constantFrom(...covered), fc.boolean()), {
          maxLength: 2,
          selector: ([row]) => row.id,
        }),
      });
      /** Resets both sandboxes, sets the owner tags and adds the assessments (a reset removes both). */
      const prepare = async (tags: readonly (readonly [string, string])[], added: readonly Added[]) => {
        await resetSandboxes(sandboxes);
        for (const [id, owner] of tags)
          await sandboxes.control('defender', 'POST', '/_sandbox/resources/tags', { id, tags: { owner } });
        for (const a of added)
          await sandboxes.control('defender', 'POST', '/_sandbox/assessments', {
            resourceId: a.resourceId,
            assessmentKey: a.key,
          });
      };
      await fc.assert(
        fc.asyncProperty(input, async ({ malformed, tags, resources, duplicates }) => {
          run++;
          const added: Added[] = resources.map(([sub, group, name, key]) => ({
            resourceId: `/subscriptions/${sub}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`,
            key,
          }));
          // The clean run: the same tags and assessments, nothing injected.
          await prepare(tags, added);
          const clean = (
            await syncInProcess(
              sandboxes.config(join(dir, `tickets-clean-${run}.sqlite`), ticketFlows(sandboxes)),
              ['cloud-tickets'],
            )
          )['cloud-tickets']!;
          expect(clean).toMatchObject({ outcome: 'ok', errors: 0 });
          const expected = await canonicalState(sandboxes, TICKETS_CASE);

          await prepare(tags, added);
          const again = duplicates.map(([row, upper]) =>
            upper ? { ...row, id: String(row.id).toUpperCase() } : row,
          );
          await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
            type: ASSESSMENT_TYPE,
            records: [...malformed, ...again],
          });
          const storeUrl = join(dir, `tickets-run-${run}.sqlite`);
          const summary = (
            await syncInProcess(sandboxes.config(storeUrl, ticketFlows(sandboxes)), ['cloud-tickets'])
          )['cloud-tickets']!;
          expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

          const events = await errorEvents(storeUrl);
          expect(reportedPositions(events, 'malformed assessment record skipped (')).toEqual(
            malformed.map((_, i) => realRows.length + added.length + i),
          );
          expect(summary.errors).toBe(malformed.length);

          // Duplicates add nothing, malformed records nothing: what the clean run wrote, on both sides.
          const after = await canonicalState(sandboxes, TICKETS_CASE);
          expect(after).toEqual(expected);
          // Each owner tag is the owner of its resource's assignments, exactly, and named on the ticket.
          for (const [id, owner] of tags) {
            const mine = after.assignments.filter((a) => a.toLowerCase().startsWith(`${id.toLowerCase()}/`));
            expect(mine.length, id).toBeGreaterThan(0);
            // `<assessment>|<owner>|<ticket>`: neither an assessment id nor a correlation id has a `|`.
            for (const a of mine) expect(a.slice(a.indexOf('|') + 1, a.lastIndexOf('|'))).toBe(owner);
            const named = after.servicenow.incident!.filter((t) =>
              t.description!.includes(`- ${id} (owner ${owner})`),
            );
            expect(named.length, `${id} (owner ${owner})`).toBeGreaterThan(0);
          }
          // Each resource with a hostile name is on a ticket under its exact id, and has its assignment.
          for (const a of added) {
            const listedOn = after.servicenow.incident!.filter((t) =>
              t
                .description!.split('\n')
                .some((line) => line === `- ${a.resourceId}` || line.startsWith(`- ${a.resourceId} (owner `)),
            );
            expect(listedOn.length, a.resourceId).toBe(1);
            const assessment =
              `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`.toLowerCase();
            expect(
              after.assignments.filter((g) => g.toLowerCase().startsWith(`${assessment}|`)),
              assessment,
            ).toHaveLength(1);
          }
        }),
        propertyRuns(16, 'cloud-tickets from a management group'),
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});
