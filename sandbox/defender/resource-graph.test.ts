import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate, type Estate } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import {
  KqlError,
  applyRowOperators,
  compareSortValues,
  innerJoinKey,
  parseKql,
  pathTests,
  resolveJoins,
  sortKeysOf,
} from './kql.js';
import { TestClient, argQueryAll, fixture, fixturePaths, shapeDiff } from './test-support.js';

/** The two queries of contract §5.3, verbatim. */
const ASSESSMENTS_QUERY = `securityresources
| where type == "microsoft.security/assessments"
| extend source = tostring(properties.resourceDetails.Source)
| extend resourceId = tolower(tostring(properties.resourceDetails.Id))
| project id, assessmentKey = name, resourceId, displayName = tostring(properties.displayName),
          status = tostring(properties.status.code), severity = tostring(properties.metadata.severity),
          categories = properties.metadata.categories, remediation = tostring(properties.metadata.remediationDescription),
          userImpact = tostring(properties.metadata.userImpact), effort = tostring(properties.metadata.implementationEffort),
          threats = properties.metadata.threats, portalLink = tostring(properties.links.azurePortal)`;

const ASSIGNMENTS_QUERY = `securityresources
| where type == "microsoft.security/assessments/governanceassignments"
| project id, assessmentId = tolower(tostring(properties.assignedResourceId)), owner = tostring(properties.owner),
          dueDate = todatetime(properties.remediationDueDate), isGracePeriod = properties.isGracePeriod,
          ticketNumber = properties.additionalData.ticketNumber, ticketLink = tostring(properties.additionalData.ticketLink),
          ticketStatus = tostring(properties.additionalData.ticketStatus)`;

interface ArgResponse {
  totalRecords: number;
  count: number;
  resultTruncated: string;
  $skipToken?: string;
  facets: unknown[];
  data: Array<Record<string, unknown>>;
}

let estate: Estate;
let sandbox: DefenderSandbox;
let client: TestClient;
const ARG = '/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01';

beforeAll(async () => {
  estate = generateEstate({ devices: 900, seed: 21 });
  sandbox = await startDefenderSandbox({ estate });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const queryAll = (body: Record<string, unknown>, top = 1000) =>
  argQueryAll(client, body, {
    top,
    maxPages: 1000,
    check: (res, page) => {
      expect(res.status, res.text).toBe(200);
      expect(page.count).toBe(page.data.length);
      expect(page.count).toBeLessThanOrEqual(Math.min(top, 1000));
    },
  });

describe('Resource Graph: contract §5.3 queries verbatim', () => {
  it('assessments with metadata, paged with $top/$skipToken', async () => {
    const subs = sandbox.subscriptions;
    const { rows, pages, total } = await queryAll({ subscriptions: subs, query: ASSESSMENTS_QUERY }, 700);
    expect(total).toBe(estate.assessments.length);
    expect(rows).toHaveLength(estate.assessments.length);
    expect(pages).toBe(Math.ceil(estate.assessments.length / 700));
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'id',
      'assessmentKey',
      'resourceId',
      'displayName',
      'status',
      'severity',
      'categories',
      'remediation',
      'userImpact',
      'effort',
      'threats',
      'portalLink',
    ]);
    const byId = new Map(rows.map((r) => [r['id'], r]));
    expect(byId.size).toBe(rows.length);
    for (const a of estate.assessments.slice(0, 200)) {
      const row = byId.get(`${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`) as Record<
        string,
        unknown
      >;
      const m = estate.assessmentMetadata.find((x) => x.key === a.key);
      expect(row).toMatchObject({
        assessmentKey: a.key,
        resourceId: a.resourceId.toLowerCase(),
        status: a.code,
        severity: m?.severity,
        displayName: m?.displayName,
      });
      expect(row['categories']).toEqual(m?.categories);
      expect(String(row['portalLink'])).toContain(a.key);
    }
    expect(rows.some((r) => r['severity'] === 'Critical')).toBe(true);
    expect(new Set(rows.map((r) => r['status']))).toEqual(new Set(['Healthy', 'Unhealthy', 'NotApplicable']));
  });

  it('scopes rows to the requested subscriptions', async () => {
    const sub = sandbox.subscriptions[1] as string;
    const { total } = await queryAll({ subscriptions: [sub], query: ASSESSMENTS_QUERY });
    expect(total).toBe(estate.assessments.filter((a) => a.subscriptionId === sub).length);
  });

  it('governance assignments carry assignedResourceId (the assessment id)', async () => {
    const a = estate.assessments.find(
      (x) => x.code === 'Unhealthy' && x.resourceId.includes('/resourceGroups/'),
    ) as Estate['assessments'][number];
    const put = await client.call(
      'PUT',
      `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments/0f0f0f0f-1111-4222-8333-444444444444?api-version=2022-01-01-preview`,
      {
        body: {
          properties: {
            owner: 'Owner@Contoso.example',
            remediationDueDate: '2030-02-01T10:00:00.0000000Z',
            isGracePeriod: false,
            additionalData: {
              ticketNumber: 10042,
              ticketLink: 'https://snow.example/incident/10042',
              ticketStatus: 'New',
            },
          },
        },
      },
    );
    expect(put.status).toBe(201);
    const res = await client.call('POST', ARG, {
      body: { subscriptions: sandbox.subscriptions, query: ASSIGNMENTS_QUERY },
    });
    expect(res.status).toBe(200);
    const body = res.json as ArgResponse;
    expect(body.data).toEqual([
      {
        id: `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}/governanceAssignments/0f0f0f0f-1111-4222-8333-444444444444`,
        assessmentId: `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`.toLowerCase(),
        owner: 'Owner@Contoso.example',
        dueDate: '2030-02-01T10:00:00.000Z',
        isGracePeriod: false,
        ticketNumber: 10042,
        ticketLink: 'https://snow.example/incident/10042',
        ticketStatus: 'New',
      },
    ]);
  });

  // Microsoft Learn, "Azure Resource Graph table and resource type reference"
  // (MicrosoftDocs/azure-docs articles/governance/resource-graph/reference/supported-tables-resources.md):
  // table `securityresources` holds `microsoft.security/assessments/governanceassignments`.
  // ticket-sync reads the assignments of a page of changed tickets by id, case-insensitively.
  it('answers governance assignments by id in~ a list, absent ones left out (ticket-sync read-ahead)', async () => {
    const [a, b] = estate.assessments.filter((x) => x.code === 'Unhealthy').slice(5, 7) as [
      Estate['assessments'][number],
      Estate['assessments'][number],
    ];
    const key = '1a1a1a1a-2222-4333-8444-555555555555';
    const idOf = (x: typeof a) =>
      `${x.resourceId}/providers/Microsoft.Security/assessments/${x.key}/governanceAssignments/${key}`;
    const written = async () =>
      ((await client.call('GET', '/_sandbox/stats')).json as { assignmentsWritten: number })
        .assignmentsWritten;
    const before = await written();
    const put = await client.call('PUT', `${idOf(a)}?api-version=2022-01-01-preview`, {
      body: { properties: { owner: 'reader@contoso.example', remediationDueDate: '2030-03-01T00:00:00Z' } },
    });
    expect(put.status).toBe(201);
    // The sandbox counts the assignments it was sent (the benchmarks' floor), not the engine.
    expect(await written()).toBe(before + 1);
    const query = `securityresources | where type == 'microsoft.security/assessments/governanceassignments' | where id in~ ('${idOf(a).toLowerCase()}', '${idOf(b).toLowerCase()}') | project id, name, type, properties`;
    const res = await client.call('POST', ARG, { body: { subscriptions: sandbox.subscriptions, query } });
    expect(res.status).toBe(200);
    const rows = (res.json as ArgResponse).data;
    expect(rows.map((r) => r['id'])).toEqual([idOf(a)]);
    expect(rows[0]).toMatchObject({
      name: key,
      type: 'microsoft.security/assessments/governanceassignments',
      properties: { owner: 'reader@contoso.example', remediationDueDate: '2030-03-01T00:00:00Z' },
    });
  });
});

describe('Resource Graph: examples and iotsecurityresources', () => {
  it('replays the basic and paged examples’ shapes on the resources table', async () => {
    const basic = fixture<{
      parameters: { query: { query: string } };
      responses: { '200': { body: ArgResponse } };
    }>(fixturePaths.argBasic);
    const res = await client.call('POST', ARG, {
      body: { subscriptions: sandbox.subscriptions, query: basic.parameters.query.query },
    });
    expect(res.status).toBe(200);
    // Tags are a free-form map: its keys differ, its type must not.
    expect(shapeDiff(basic.responses['200'].body, res.json, '$', ['$.data[0].tags'])).toEqual([]);
    expect(typeof (res.json as ArgResponse).data[0]?.['tags']).toBe('object');
    expect((res.json as ArgResponse).count).toBe(3);

    const first = fixture<{
      parameters: { query: { query: string; options: object } };
      responses: { '200': { body: ArgResponse } };
    }>(fixturePaths.argFirstPage);
    const page1 = await client.call(
      'POST',
      '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01',
      {
        body: {
          subscriptions: sandbox.subscriptions,
          query: first.parameters.query.query.replace("'test'", "'web'"),
          options: first.parameters.query.options,
        },
      },
    );
    expect(page1.status).toBe(200);
    expect(shapeDiff(first.responses['200'].body, page1.json)).toEqual([]);
    const next = fixture<{ responses: { '200': { body: ArgResponse } } }>(fixturePaths.argNextPage);
    const page2 = await client.call(
      'POST',
      '/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01',
      {
        body: {
          subscriptions: sandbox.subscriptions,
          query: first.parameters.query.query.replace("'test'", "'web'"),
          options: { $skipToken: (page1.json as ArgResponse).$skipToken },
        },
      },
    );
    expect((page1.json as ArgResponse).totalRecords, page2.text).toBeGreaterThan(6);
    expect(shapeDiff(next.responses['200'].body, page2.json)).toEqual([]);
    expect((page2.json as ArgResponse).data[0]).not.toEqual((page1.json as ArgResponse).data[0]);
  });

  it('lists devices per sensor with the fields ServiceNow’s connector maps, in the cloud device shape', async () => {
    const sensor = estate.sensors[0] as Estate['sensors'][number];
    const query = `iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices' and properties.sensor.name =~ '${sensor.name.toUpperCase()}'`;
    const { rows } = await queryAll({ query });
    expect(rows).toHaveLength(estate.devices.filter((d) => d.sensorId === sensor.id).length);
    const example = fixture<{ responses: { '200': { body: Record<string, unknown> } } }>(
      fixturePaths.iotDevice,
    ).responses['200'].body;
    // The ARG row has no systemData; onboardingStatus/device*Id are not modelled.
    const ignore = [
      '$.systemData',
      '$.properties.onboardingStatus',
      '$.properties.deviceCategoryId',
      '$.properties.deviceTypeId',
      '$.properties.deviceSubTypeId',
    ];
    expect(shapeDiff(example, rows[0], '$', ignore)).toEqual([]);
    const d = estate.devices.find((x) => x.sensorId === sensor.id) as Estate['devices'][number];
    const row = rows.find(
      (r) =>
        (r['properties'] as { deviceName: string }).deviceName === d.name && String(r['id']).endsWith(d.uuid),
    );
    expect(row?.['properties']).toMatchObject({
      purdueLevel: d.purdueLevel <= 1 ? 'ProcessControl' : d.purdueLevel <= 3 ? 'Supervisory' : 'Enterprise',
      hardware: { vendor: d.vendor, model: d.model, serialNumber: d.serialNumber },
      nics: d.nics.map((n) => expect.objectContaining({ ipv4Address: n.ip })),
    });
  });

  it('lists sites and sensors, learning mode included', async () => {
    const res = await client.call('POST', ARG, {
      body: {
        query:
          "iotsecurityresources | where type in ('microsoft.iotsecurity/locations/sites/sensors') | project name, learningMode = properties.learningMode, status = tostring(properties.sensorStatus), zone = tostring(properties.zone)",
      },
    });
    const data = (res.json as ArgResponse).data;
    expect(data).toHaveLength(estate.sensors.length);
    for (const s of estate.sensors) {
      expect(data).toContainEqual({
        name: s.name,
        learningMode: s.learningMode,
        status: s.connected ? 'Ok' : 'Disconnected',
        zone: estate.zones[s.zoneId - 1]?.name,
      });
    }
    const sensorRows = await client.call('POST', ARG, {
      body: { query: "iotsecurityresources | where type == 'microsoft.iotsecurity/locations/sites/sensors'" },
    });
    const sensorExample = fixture<{ responses: { '200': { body: Record<string, unknown> } } }>(
      fixturePaths.iotSensor,
    ).responses['200'].body;
    expect(shapeDiff(sensorExample, (sensorRows.json as ArgResponse).data[0], '$', ['$.systemData'])).toEqual(
      [],
    );
    const sites = await client.call('POST', ARG, {
      body: { query: "iotsecurityresources | where type == 'microsoft.iotsecurity/locations/sites'" },
    });
    const siteRow = (sites.json as ArgResponse).data[0];
    const siteExample = fixture<{ responses: { '200': { body: Record<string, unknown> } } }>(
      fixturePaths.iotSite,
    ).responses['200'].body;
    expect(shapeDiff(siteExample, siteRow, '$', ['$.systemData', '$.properties.tags'])).toEqual([]);
    expect(typeof (siteRow?.['properties'] as { tags: unknown }).tags).toBe('object');
  });

  it('pages an order by with id last in that order, without overlap (Microsoft Learn, Guidance for pagination)', async () => {
    // MicrosoftDocs/azure-docs articles/governance/resource-graph/concepts/paging-results.md:
    // sort by the wanted column, then by id, so that pages neither repeat nor skip a row.
    const query =
      "iotsecurityresources | where type == 'microsoft.iotsecurity/locations/devicegroups/devices'" +
      ' | extend sensor = tostring(properties.sensor.name) | order by sensor asc, id asc | project id, sensor';
    const { rows } = await queryAll({ subscriptions: sandbox.subscriptions, query }, 97);
    expect(rows.length).toBe(estate.devices.length);
    expect(new Set(rows.map((r) => r['id'])).size).toBe(rows.length);
    const keys = rows.map((r) => `${String(r['sensor'])}\u0000${String(r['id'])}`);
    expect(keys).toEqual([...keys].sort());
    const descending = await client.call('POST', ARG, {
      body: {
        subscriptions: sandbox.subscriptions,
        query: query.replace('sensor asc, id asc', 'sensor') + ' | take 5',
      },
    });
    const top = (descending.json as ArgResponse).data.map((r) => String(r['sensor']));
    // Without asc, KQL sorts descending: the five rows are of the last sensor name.
    const last = [...new Set(rows.map((r) => String(r['sensor'])))].sort().at(-1);
    expect(top).toEqual(Array(5).fill(last));
  });

  it('answers anything outside the subset with an ARM 400, never a wrong answer', async () => {
    const bad = [
      'securityresources | summarize count() by tostring(properties.status.code)',
      'securityresources | join (resources) on id',
      'securityresources | join kind=inner (resources | join kind=inner (resources) on id) on id',
      'securityresources | where properties.x matches regex "a"',
      'securityresources | where type == "microsoft.security/assessments" | mv-expand properties.metadata.categories',
      'securityresources | where unknownColumn == 1',
      'alertsmanagementresources | project id',
      'securityresources | where type == "x',
      'securityresources | take 3 | where type == "x"',
      '',
    ];
    for (const query of bad) {
      const res = await client.call('POST', ARG, { body: { query } });
      expect(res.status, query).toBe(400);
      expect(res.json, query).toMatchObject({
        error: { code: expect.any(String), message: expect.any(String) },
      });
    }
    const noVersion = await client.call('POST', '/providers/Microsoft.ResourceGraph/resources', {
      body: { query: 'resources' },
    });
    expect(noVersion.status).toBe(400);
    expect(noVersion.json).toMatchObject({ error: { code: 'MissingApiVersionParameter' } });
    const badVersion = await client.call(
      'POST',
      '/providers/Microsoft.ResourceGraph/resources?api-version=2020-01-01',
      { body: { query: 'resources' } },
    );
    expect(badVersion.json).toMatchObject({ error: { code: 'InvalidApiVersionParameter' } });
    const notJson = await client.call('POST', ARG, { body: '{query:' });
    expect(notJson.status).toBe(400);
    const badToken = await client.call('POST', ARG, { body: { query: 'resources' }, auth: 'none' });
    expect(badToken.status).toBe(401);
    const wrongSkip = await client.call('POST', ARG, {
      body: { query: 'resources', options: { $skipToken: 'eyJ4IjoxfQ==' } },
    });
    expect(wrongSkip.status).toBe(400);
  });
});

describe('KQL subset', () => {
  const row = {
    id: '/A',
    name: 'n',
    type: 'microsoft.security/assessments',
    properties: { status: { code: 'Healthy' }, list: [{ ip: '10.0.0.1' }], n: 3 },
    tags: { owner: 'X@Y' },
  };

  it('evaluates ==, =~, !=, in, in~, !in, contains, and, or, paths and functions', () => {
    const cases: Array<[string, boolean]> = [
      ["resources | where name == 'n'", true],
      ["resources | where name == 'N'", false],
      ["resources | where name =~ 'N'", true],
      ["resources | where name != 'N'", true],
      ["resources | where type in ('a', 'microsoft.security/assessments')", true],
      ["resources | where type in~ ('MICROSOFT.SECURITY/ASSESSMENTS')", true],
      ["resources | where type !in ('microsoft.security/assessments')", false],
      ["resources | where type in ('MICROSOFT.SECURITY/ASSESSMENTS')", false],
      ['resources | where properties.n in (2, 3)', true],
      ["resources | where properties.n in ('3')", true],
      ["resources | where properties.missing in ('', 'null')", false],
      ["resources | where name in (type, 'n')", true],
      ["resources | where name in (type, 'N')", false],
      ["resources | where properties.status.code == 'Healthy' and name == 'x'", false],
      ["resources | where properties.status.code == 'Healthy' or name == 'x'", true],
      ["resources | where properties.list[0].ip == '10.0.0.1'", true],
      ["resources | where tags['owner'] =~ 'x@y'", true],
      ["resources | where tolower(tostring(tags.owner)) == 'x@y'", true],
      ['resources | where properties.n == 3', true],
      ["resources | where id contains 'a'", true],
      ['resources | where isnotempty(properties.missing)', false],
      ["resources | where (name == 'x' or name == 'n') and not(isempty(name))", true],
    ];
    for (const [text, expected] of cases)
      expect(applyRowOperators(parseKql(text).operators, row) !== null, text).toBe(expected);
  });

  it('sorts by keys evaluated after the operators before the sort, descending unless asc (Kusto sort operator)', () => {
    const ops = parseKql(
      'resources | extend d = tostring(properties.n) | order by d asc, id desc | project id',
    ).operators;
    expect(sortKeysOf(ops, row)).toEqual(['3', '/A']);
    expect(parseKql('resources | sort by id').operators).toEqual([
      { kind: 'sort', keys: [{ expr: { kind: 'path', root: 'id', steps: [] }, descending: true }] },
    ]);
    // Microsoft Learn "sort operator": nulls first when ascending (and so last when descending).
    expect(compareSortValues(null, 'a')).toBeLessThan(0);
    expect(compareSortValues('b', 'a')).toBeGreaterThan(0);
    expect(compareSortValues(9, 10)).toBeLessThan(0);
    expect(compareSortValues('', undefined)).toBe(0);
  });

  it('tells the path an inner join keys on, so rows it would drop need not be built; nothing for other joins', () => {
    const right = '(iotsecurityresources | project deviceId = tostring(name)) on deviceId';
    const query = parseKql(
      `iotsecurityresources | where type == 'v' | extend deviceId = tostring(properties.deviceId) | join kind=inner ${right}`,
    );
    resolveJoins(query, () => [{ deviceId: 'a' }, { deviceId: 'b' }]);
    const key = innerJoinKey(query)!;
    expect(key.path).toBe('properties.deviceId');
    expect([key.canMatch('a'), key.canMatch('c'), key.canMatch(null)]).toEqual([true, false, false]);
    // The join would keep or drop the same rows.
    const row = (id: string | null) => ({ type: 'v', properties: { deviceId: id } });
    for (const id of ['a', 'c', null])
      expect(applyRowOperators(query.operators, row(id)) !== null).toBe(key.canMatch(id));
    for (const other of [
      `iotsecurityresources | extend deviceId = tostring(properties.deviceId) | join kind=leftouter ${right}`,
      `iotsecurityresources | project deviceId = tostring(properties.deviceId) | join kind=inner ${right}`,
      `iotsecurityresources | extend deviceId = strcat(properties.deviceId, 'x') | join kind=inner ${right}`,
    ])
      expect(innerJoinKey(parseKql(other)), other).toBeNull();
  });

  it('tells the one-path tests of the leading wheres, which drop no row the query keeps', () => {
    const query = parseKql(
      "iotsecurityresources | where type == 'd' and tostring(properties.sensor.name) == 'A' | where properties.n == 3 or properties.n == 4 | where properties.k == 1 | extend x = 1 | where x == 1",
    );
    const tests = pathTests(query);
    // The `or` is not one path's test, and nothing after the extend counts.
    expect(tests.map((t) => t.path)).toEqual(['type', 'properties.sensor.name', 'properties.k']);
    const rows = [
      { type: 'd', properties: { sensor: { name: 'A' }, n: 3, k: 1 } },
      { type: 'd', properties: { sensor: { name: 'B' }, n: 3, k: 1 } },
      { type: 'd', properties: { sensor: null, n: 4, k: 1 } },
      { type: 'e', properties: { sensor: { name: 'A' }, n: 3, k: 2 } },
    ];
    const read = (row: Record<string, unknown>, path: string) =>
      path
        .split('.')
        .reduce<unknown>((v, step) => (v as Record<string, unknown> | null)?.[step] ?? null, row);
    for (const row of rows) {
      const passes = tests.every((t) => t.test(read(row, t.path)));
      // A row the tests drop is one the query drops.
      if (!passes) expect(applyRowOperators(query.operators, row)).toBeNull();
    }
    expect(applyRowOperators(query.operators, rows[0]!)).not.toBeNull();
  });

  it('projects with default column names and aliases, and rejects what it does not know', () => {
    const out = applyRowOperators(
      parseKql(
        'resources | extend s = properties.status.code | project id, properties.status.code, s, up = toupper(name)',
      ).operators,
      row,
    );
    expect(out).toEqual({ id: '/A', properties_status_code: 'Healthy', s: 'Healthy', up: 'N' });
    for (const text of [
      'resources | order by id nulls last',
      'resources | order id',
      'resources | where name matches regex "x"',
      'resources | project x = bogus(name)',
      'resources | where name ==',
      'resources |',
    ]) {
      expect(() => applyRowOperators(parseKql(text).operators, row), text).toThrow(KqlError);
    }
  });
});
