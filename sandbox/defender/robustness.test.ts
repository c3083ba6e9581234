import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateEstate } from '../dataset/index.js';
import { createDefenderApp, createDefenderRuntime } from './index.js';
import { shapeDiff } from './test-support.js';

/**
 * Whatever the path, method, query and body, the sandbox answers with a 4xx/2xx and the error
 * shape of the API that was called: never a 500, never a crash. Runs in-process (app.request).
 */
const estate = generateEstate({ devices: 60, seed: 8 });
const runtime = createDefenderRuntime({ estate });
const app = createDefenderApp(runtime);
const token = runtime.issuer.issue(runtime.clientId, 600).token;
const sub = estate.subscriptions[0]?.id as string;
const a = estate.assessments.find((x) => x.resourceId.includes('/resourceGroups/'));
const sensor = estate.sensors[0]?.name as string;

const pathPieces = [
  `/subscriptions/${sub}`,
  '/subscriptions/not-a-guid',
  `/subscriptions/${sub}/resourceGroups/rg`,
  a?.resourceId ?? '',
  '/providers/Microsoft.Management/managementGroups/mg',
  '',
  '//',
];
const tails = [
  '/providers/Microsoft.Security/assessments',
  `/providers/microsoft.security/assessments/${a?.key}`,
  `/providers/Microsoft.Security/assessments/${a?.key}/governanceAssignments`,
  `/providers/Microsoft.Security/assessments/${a?.key}/governanceAssignments/x`,
  '/providers/Microsoft.Security/assessments/bad name!/governanceAssignments',
  '/providers/Microsoft.Security/assessmentMetadata',
  '/providers/Microsoft.Security/governanceRules/r1',
  '/providers/Microsoft.Security/governanceRules/r1/execute',
  '/providers/Microsoft.Security/governanceRules/r1/operationResults/op',
  '/providers/Microsoft.Security/unknownThings',
  '/providers/Microsoft.ResourceGraph/resources',
  '/anything/else',
];
const versions = ['', '2021-06-01', '2025-05-04', '2022-01-01-preview', '2024-04-01', 'garbage'];
const bodies = [
  undefined,
  '',
  '{',
  '[]',
  'null',
  '{"properties":{}}',
  '{"properties":{"remediationDueDate":5}}',
  '{"query":"securityresources | where"}',
  '{"query":7}',
  '{"properties":{"displayName":"x","rulePriority":1,"ruleType":"Integrated","sourceResourceType":"Assessments","conditionSets":"no","ownerSource":{"type":"Manually","value":"a"}}}',
];

describe('robustness', () => {
  it('ARM and Resource Graph: any request gets 2xx/4xx with { error: { code, message } } on errors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...pathPieces),
        fc.constantFrom(...tails),
        fc.constantFrom(...versions),
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH'),
        fc.constantFrom(...bodies),
        fc.constantFrom(`Bearer ${token}`, '', 'Bearer x', token),
        async (scope, tail, version, method, body, auth) => {
          const query = version ? `?api-version=${version}` : '';
          const res = await app.request(`https://sandbox.test${scope}${tail}${query}`, {
            method,
            headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' },
            ...(body !== undefined && method !== 'GET' ? { body } : {}),
          });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) {
            const json = (await res.json()) as unknown;
            expect(shapeDiff({ error: { code: '', message: '' } }, json)).toEqual([]);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('sensor and console: any request gets 2xx/4xx/503 with { error } on errors', async () => {
    const sensorToken = runtime.otTokens.sensors.get(sensor) as string;
    const paths = [
      `/sensors/${sensor}/api/v1/devices`,
      `/sensors/${sensor}/api/v1/devices/connections`,
      `/sensors/${sensor}/api/v1/devices/cves`,
      `/sensors/${sensor}/api/v1/devices/10.1.0.10/cves`,
      `/sensors/${sensor}/api/v1/devices/abc/connections`,
      `/sensors/${sensor}/api/v1/alerts`,
      '/sensors/unknown/api/v1/devices',
      '/console/external/v3/integration/devices/0',
      '/console/external/v3/integration/devices/-5',
      '/console/external/v3/integration/device/abc',
      '/console/external/v3/integration/deleteddevices/x',
      '/console/external/v3/integration/connections/0',
      '/console/external/v3/integration/devicecves/0',
      '/console/external/v3/integration/sensors',
    ];
    const queries = [
      '',
      '?page=-1',
      '?size=abc',
      '?top=0',
      '?authorized=yes',
      '?state=x',
      '?sensorId=a,b',
      '?score=high',
      '?discoveredAfter=x',
      '?page=2&size=7',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom(...queries),
        fc.constantFrom(sensorToken, runtime.otTokens.console, `Bearer ${sensorToken}`, ''),
        async (path, query, auth) => {
          const res = await app.request(`https://sandbox.test${path}${query}`, {
            headers: auth ? { authorization: auth } : {},
          });
          expect(res.status === 503 || res.status < 500).toBe(true);
          const json = (await res.json()) as unknown;
          if (res.status >= 400) expect(shapeDiff({ error: '' }, json)).toEqual([]);
          else expect(typeof json).toBe('object');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('shapeDiff reports missing keys and type changes (so the replay tests can fail)', () => {
    expect(shapeDiff({ a: { b: 1 } }, { a: {} })).toEqual(['$.a.b: missing']);
    expect(shapeDiff({ a: [{ b: 'x' }] }, { a: [{ b: 2 }] })).toEqual([
      '$.a[0].b: expected string, got number',
    ]);
    expect(shapeDiff({ a: null }, { a: 3 })).toEqual([]);
  });
});
