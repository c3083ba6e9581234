import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { validateConfig } from '../../src/config/load.js';
import type { Flow } from '../../src/domain/flows.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { cliSync, SCENARIO_TIMEOUT_MS, writeConfigFile } from './support.js';

/**
 * TLS trust, one side at a time (issue #25): each side Snowline talks to — ServiceNow, ARM, the
 * management console, each sensor — is given a CA file that does not sign its certificate while
 * every other side keeps the right one. The run must fail (exit 1, flow `failed`) and name that
 * side and the setting to fix; a check that passed when either side refused would prove nothing.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const onConsole = { otInventory: { source: 'console', sensorValidation: 'auto' } };
const onSensors = {
  otInventory: { source: 'sensor', sensorValidation: 'auto' },
  otVulnerabilities: { source: 'sensor' },
};

describe.skipIf(!existsSync('dist/cli.js'))('TLS refused by one side', () => {
  let sandboxes: Sandboxes;
  /** A CA that signs none of the sandboxes' certificates. */
  let otherCa: string;
  let sensors: string[];

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 71 });
    otherCa = (await generateSandboxTls(dir)).caFile;
    sensors = sandboxes.config(':memory:').config.integrations[0]!.defender.sensors.map((s) => s.name);
  });
  afterAll(async () => sandboxes?.close());

  /** Runs `flow` through the CLI with `distrust` applied to an otherwise trusting configuration. */
  async function run(
    name: string,
    flow: Flow,
    flows: object | undefined,
    distrust: (defender: any, raw: any) => void,
  ) {
    const right = sandboxes.ready.caFile;
    const raw = structuredClone(sandboxes.config(join(dir, `${name}.sqlite`), flows as never).config) as any;
    const defender = raw.integrations[0].defender;
    // Every side trusts the sandbox CA through its own setting, so that removing one removes only that side.
    raw.integrations[0].servicenow.tls = { caFile: right };
    defender.tls = { caFile: right };
    defender.console.tls = { caFile: right };
    defender.sensors = defender.sensors.map((s: object) => ({ ...s, tls: { caFile: right } }));
    distrust(defender, raw);
    const path = writeConfigFile(validateConfig(raw, name), dir, name);
    const cli = await cliSync(sandboxes, path, flow, { logLevel: 'error' });
    const summary = JSON.parse(cli.stdout).jobs[flow];
    return { ...cli, summary };
  }

  /** The failure a user sees: exit 1, the flow failed, its error names the side and the setting. */
  function expectRefused(
    result: Awaited<ReturnType<typeof run>>,
    flow: Flow,
    side: RegExp,
    setting: string,
  ): void {
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    expect(result.summary.outcome).toBe('failed');
    expect(result.summary.error).toMatch(side);
    expect(result.summary.error).toContain(`its TLS certificate is not trusted`);
    expect(result.summary.error).toContain(`set ${setting} to that CA's PEM file`);
    expect(result.stderr).toContain(`snowline: failed: sandbox/${flow}`);
  }

  it(
    'trusts every side with its CA configured: the same runs succeed',
    async () => {
      const result = await run('trusted', 'ot-inventory', onSensors, () => {});
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.summary).toMatchObject({ outcome: 'ok', errors: 0 });
    },
    SCENARIO_TIMEOUT_MS,
  );

  /** The sides every flow shares, each removed alone: the flow that meets it first, and what must be named. */
  const sides: {
    side: string;
    flow: Flow;
    flows?: object;
    distrust: (defender: any, raw: any, otherCa: string) => void;
    named: RegExp;
    setting: string;
  }[] = [
    {
      side: 'ServiceNow',
      flow: 'ot-inventory',
      flows: onConsole,
      distrust: (_, raw, ca) => (raw.integrations[0].servicenow.tls = { caFile: ca }),
      named: /^servicenow could not be reached/,
      setting: 'servicenow.tls.caFile',
    },
    {
      side: 'ARM',
      flow: 'cloud-tickets',
      distrust: (defender, _, ca) => (defender.tls = { caFile: ca }),
      named: /^arm could not be reached/,
      setting: 'defender.tls.caFile',
    },
    {
      side: 'the console',
      flow: 'ot-inventory',
      flows: onConsole,
      distrust: (defender, _, ca) => (defender.console.tls = { caFile: ca }),
      named: /^console could not be reached/,
      setting: 'defender.console.tls.caFile',
    },
  ];

  it.each(sides)(
    '$side refused: $flow fails naming it and $setting',
    async ({ side, flow, flows, distrust, named, setting }) => {
      const result = await run(side.replace(/\W+/g, '-'), flow, flows, (defender, raw) =>
        distrust(defender, raw, otherCa),
      );
      expectRefused(result, flow, named, setting);
    },
    SCENARIO_TIMEOUT_MS,
  );

  // Found in issue #25: a sensor refusing TLS ended ot-inventory `ok` with exit 0, its message a
  // warning mislabelled "malformed device record". It now fails the run after the other sensors'
  // work, naming the sensor and its setting.
  it(
    'each sensor refused on its own: ot-inventory fails naming that sensor and its setting, and no other',
    async () => {
      expect(sensors.length).toBeGreaterThanOrEqual(2);
      for (const [index, name] of sensors.entries()) {
        const result = await run(`sensor-${index}`, 'ot-inventory', onSensors, (defender) => {
          defender.sensors[index].tls = { caFile: otherCa };
        });
        expectRefused(
          result,
          'ot-inventory',
          new RegExp(`sensor ${name} could not be read`),
          `defender.sensors[${index}].tls.caFile`,
        );
        for (const other of sensors.filter((s) => s !== name))
          expect(result.summary.error).not.toContain(`sensor ${other} `);
      }
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'a sensor refused: ot-vulnerabilities fails too, naming it',
    async () => {
      const result = await run('sensor-cves', 'ot-vulnerabilities', onSensors, (defender) => {
        defender.sensors[0].tls = { caFile: otherCa };
      });
      expectRefused(
        result,
        'ot-vulnerabilities',
        new RegExp(`sensor ${sensors[0]} could not be read`),
        'defender.sensors[0].tls.caFile',
      );
    },
    SCENARIO_TIMEOUT_MS,
  );
});
