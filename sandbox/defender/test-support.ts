import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { DefenderSandbox } from './index.js';

/** Root of the contract fixtures copied into the repository. */
export const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'contracts');

/** Reads a fixture JSON file by its path under `test/fixtures/contracts/`. */
export function fixture<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as T;
}

const SECURITY = 'azure/security/resource-manager/Microsoft.Security';
export const fixturePaths = {
  listAssessments: `${SECURITY}/stable/2021-06-01/examples/Assessments/ListAssessments_example.json`,
  getAssessment: `${SECURITY}/stable/2021-06-01/examples/Assessments/GetAssessment_example.json`,
  getAssessmentWithLinks: `${SECURITY}/stable/2021-06-01/examples/Assessments/GetAssessmentWithExpand_example.json`,
  getAssessmentWithLinks2025: `${SECURITY}/Security/Assessment.Management/stable/2025-05-04/examples/Assessments/GetAssessmentWithExpand_example.json`,
  getMetadata: `${SECURITY}/stable/2021-06-01/examples/AssessmentsMetadata/GetAssessmentsMetadata_example.json`,
  listMetadata: `${SECURITY}/stable/2021-06-01/examples/AssessmentsMetadata/ListAssessmentsMetadata_example.json`,
  listMetadataSubscription: `${SECURITY}/stable/2021-06-01/examples/AssessmentsMetadata/ListAssessmentsMetadata_subscription_example.json`,
  getAssignment: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceAssignments/GetGovernanceAssignment_example.json`,
  listAssignments: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceAssignments/ListGovernanceAssignments_example.json`,
  putAssignment: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceAssignments/PutGovernanceAssignment_example.json`,
  deleteAssignment: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceAssignments/DeleteGovernanceAssignment_example.json`,
  putRule: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceRules/PutGovernanceRule_example.json`,
  getRule: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceRules/GetGovernanceRule_example.json`,
  listRules: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceRules/ListBySubscriptionGovernanceRules_example.json`,
  deleteRule: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceRules/DeleteGovernanceRule_example.json`,
  executeRule: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceRules/PostGovernanceRule_example.json`,
  executeStatus: `${SECURITY}/preview/2022-01-01-preview/examples/GovernanceRules/GetGovernanceRuleExecuteStatus_example.json`,
  argBasic:
    'azure/resourcegraph/resource-manager/Microsoft.ResourceGraph/stable/2021-03-01/examples/ResourcesBasicQuery.json',
  argFirstPage:
    'azure/resourcegraph/resource-manager/Microsoft.ResourceGraph/stable/2024-04-01/examples/ResourcesFirstPageQuery.json',
  argNextPage:
    'azure/resourcegraph/resource-manager/Microsoft.ResourceGraph/stable/2024-04-01/examples/ResourcesNextPageQuery.json',
  iotDevice:
    'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-02-01-preview/examples/Devices/Get.json',
  iotAlertList:
    'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/examples/Alerts/GetAlertList.json',
  iotAlertPatch:
    'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/examples/Alerts/PatchAlert.json',
  iotSensor:
    'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/examples/Sensors/Get.json',
  iotSite:
    'azure/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/examples/Sites/Get.json',
  sensorDevices: 'defender-iot/management-inventory-apis/api-v1-devices.json',
  sensorConnections: 'defender-iot/sensor-inventory-apis/api-v1-devices-connections.json',
  sensorCves: 'defender-iot/sensor-inventory-apis/api-v1-devices-cves.json',
  sensorDeviceConnections: 'defender-iot/sensor-inventory-apis/api-v1-devices-deviceId-connections.json',
  sensorIpCves: 'defender-iot/sensor-inventory-apis/api-v1-devices-ipAddress-cves.json',
  sensorAlerts: 'defender-iot/sensor-alert-apis/api-v1-alerts.json',
  consoleDevices: 'defender-iot/management-integration-apis/external-v3-integration-devices-timestamp.json',
  consoleDevice: 'defender-iot/management-integration-apis/external-v3-integration-device-deviceId.json',
  consoleConnections:
    'defender-iot/management-integration-apis/external-v3-integration-connections-timestamp.json',
  consoleDeleted:
    'defender-iot/management-integration-apis/external-v3-integration-deleteddevices-timestamp.json',
  consoleSensors: 'defender-iot/management-integration-apis/external-v3-integration-sensors.json',
  consoleDeviceCves:
    'defender-iot/management-integration-apis/external-v3-integration-devicecves-timestamp.json',
} as const;

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Differences in shape between an example payload and an actual one: every key of the example
 * must exist in the actual value with the same JSON type (recursively; arrays compare their
 * first elements; `null` in the example accepts any type, as examples use null for "absent").
 * Returns the paths that differ (empty = same shape).
 */
export function shapeDiff(
  example: unknown,
  actual: unknown,
  path = '$',
  ignore: readonly string[] = [],
): string[] {
  if (ignore.includes(path)) return [];
  if (example === null) return [];
  if (kind(example) !== kind(actual)) return [`${path}: expected ${kind(example)}, got ${kind(actual)}`];
  if (Array.isArray(example)) {
    const a = actual as unknown[];
    if (example.length === 0 || a.length === 0) return [];
    return shapeDiff(example[0], a[0], `${path}[0]`, ignore);
  }
  if (typeof example === 'object') {
    const out: string[] = [];
    for (const [k, v] of Object.entries(example as Record<string, unknown>)) {
      const sub = `${path}.${k}`;
      if (ignore.includes(sub)) continue;
      if (!(k in (actual as Record<string, unknown>))) out.push(`${sub}: missing`);
      else out.push(...shapeDiff(v, (actual as Record<string, unknown>)[k], sub, ignore));
    }
    return out;
  }
  return [];
}

/** A small HTTPS client for tests: trusts the sandbox CA (verification stays on). */
export class TestClient {
  readonly agent: Agent;

  constructor(readonly sandbox: DefenderSandbox) {
    if (!sandbox.caCert) throw new Error('the test client needs the sandbox CA');
    this.agent = new Agent({ connect: { ca: sandbox.caCert } });
  }

  async call(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; auth?: 'arm' | 'none' | string } = {},
  ): Promise<{ status: number; headers: Record<string, string>; json: unknown; text: string }> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const auth = options.auth ?? 'arm';
    if (auth === 'arm') headers['authorization'] = `Bearer ${this.sandbox.token}`;
    else if (auth !== 'none') headers['authorization'] = auth;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const url = path.startsWith('https://') ? path : `${this.sandbox.url}${path}`;
    const res = await request(url, { method: method as 'GET', headers, body, dispatcher: this.agent });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') flat[k] = v;
    return { status: res.statusCode, headers: flat, json, text };
  }

  /** Destroys the agent: a request the sandbox holds forever (holdWrite) must not keep it open. */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}

/** One Resource Graph answer page, as the tests read it. */
export interface ArgPage {
  readonly count: number;
  readonly totalRecords: number;
  readonly $skipToken?: string;
  readonly data: Array<Record<string, unknown>>;
}

/**
 * Every page of a Resource Graph query (`$top` when given, `$skipToken` until none, at most
 * `maxPages`): the rows, the page count and the last `totalRecords`. `check` sees each answer
 * first, for the caller's assertions.
 */
export async function argQueryAll(
  client: TestClient,
  body: Record<string, unknown>,
  options: {
    readonly top?: number;
    readonly maxPages: number;
    readonly check: (res: Awaited<ReturnType<TestClient['call']>>, page: ArgPage) => void;
  },
): Promise<{ rows: Array<Record<string, unknown>>; pages: number; total: number }> {
  const rows: Array<Record<string, unknown>> = [];
  let skipToken: string | undefined;
  let pages = 0;
  let total: number;
  do {
    const paging = {
      ...(options.top ? { $top: options.top } : {}),
      ...(skipToken ? { $skipToken: skipToken } : {}),
    };
    const res = await client.call(
      'POST',
      '/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01',
      {
        body: { ...body, options: paging },
      },
    );
    const page = res.json as ArgPage;
    options.check(res, page);
    rows.push(...page.data);
    total = page.totalRecords;
    skipToken = page.$skipToken;
    pages++;
  } while (skipToken && pages < options.maxPages);
  return { rows, pages, total };
}
