import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { runDoctor } from '../../src/doctor/index.js';
import { createLogger } from '../../src/logging.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { syncOnce } from '../support/sync.js';

/**
 * Per-appliance trust: two sensors whose certificates come from two different CAs in one
 * configuration (each sandbox set generates its own CA), and a certificate pin that refuses a
 * trusted certificate that is not the pinned one, naming the sensor.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-trust-'));
let plantA: Sandboxes;
let plantB: Sandboxes;

beforeAll(async () => {
  [plantA, plantB] = await Promise.all([
    startSandboxes({ devices: 20, seed: 3 }),
    startSandboxes({ devices: 20, seed: 4 }),
  ]);
});
afterAll(async () => {
  await Promise.all([plantA?.close(), plantB?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The SHA-256 fingerprint of the certificate a TLS server presents. */
function fingerprintOf(url: string, caFile: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: hostname, port: Number(port), ca: readFileSync(caFile), servername: 'localhost' },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

/** A configuration with plant A's first sensor and plant B's first sensor, with `tls` per sensor. */
function bothSensors(name: string, tls: { a?: object; b?: object }) {
  const raw = structuredClone(plantA.config(join(dir, `${name}.sqlite`)).config) as any;
  const fromB = plantB.config(join(dir, 'unused.sqlite')).config.integrations[0]!.defender.sensors[0]!;
  const integration = raw.integrations[0];
  integration.defender.sensors = [
    { ...integration.defender.sensors[0], ...(tls.a ? { tls: tls.a } : {}) },
    { ...fromB, name: `b-${fromB.name}`, tls: { caFile: plantB.ready.caFile!, ...tls.b } },
  ];
  integration.flows = { otInventory: { source: 'sensor', sensorValidation: 'auto', connections: false } };
  return validateConfig(raw, `trust test ${name}`);
}

/** ot-inventory from both sensors, with `tls` per sensor. */
async function syncBoth(name: string, tls: { a?: object; b?: object }) {
  const loaded = bothSensors(name, tls);
  const integration = loaded.config.integrations[0]!;
  const { summary } = await syncOnce(loaded);
  const store = await openStore(loaded.config.store.url);
  try {
    const events = await queryLedger(store.db, { integrationId: loaded.config.integrations[0]!.id });
    const errors = events.filter((e) => e.action === 'error').map((e) => e.reason);
    return {
      summary: summary.jobs['ot-inventory']!,
      errors,
      writes: events.filter((e) => e.action === 'create' || e.action === 'update').length,
      sensorA: integration.defender.sensors[0]!.name,
    };
  } finally {
    await store.close();
  }
}

describe('trust per on-premises appliance', () => {
  it('reads two sensors whose certificates come from different CAs, each with its own CA file', async () => {
    const { summary, errors } = await syncBoth('two-cas', {});
    expect(errors).toEqual([]);
    expect(summary).toMatchObject({ outcome: 'ok', problems: 0, errors: 0 });
    expect(summary.created).toBeGreaterThan(0);
  });

  it('accepts the pinned certificate and refuses another one with a message naming the sensor', async () => {
    const pinB = await fingerprintOf(plantB.defender.url, plantB.ready.caFile!);
    const wrong = Array.from({ length: 32 }, () => 'AB').join(':');
    const { summary, errors, sensorA, writes } = await syncBoth('pins', {
      a: { pinSha256: wrong },
      b: { pinSha256: pinB },
    });
    // A sensor refusing Snowline fails the run (issue #25), after the other sensor's work.
    expect(summary.outcome).toBe('failed');
    expect(summary.error).toContain(`sensor ${sensorA} (defender.sensors[0].tls.pinSha256)`);
    expect(errors.length).toBeGreaterThan(0);
    for (const reason of errors) {
      expect(reason).toContain(`sensor ${sensorA} (defender.sensors[0].tls.pinSha256)`);
      expect(reason).toContain('is not the one tls.pinSha256 pins');
    }
    // Plant B's sensor, pinned right, was read: its devices are in the CMDB (written by the first
    // test into the same instance, so IRE matches them: adopted, reported as updates).
    expect(writes).toBeGreaterThan(0);
  });

  it('doctor fails the sensor whose certificate is not trusted, names it and its own tls setting, and passes the other', async () => {
    const pinB = await fingerprintOf(plantB.defender.url, plantB.ready.caFile!);
    const wrong = Array.from({ length: 32 }, () => 'CD').join(':');
    const loaded = bothSensors('doctor', { a: { pinSha256: wrong }, b: { pinSha256: pinB } });
    const integration = loaded.config.integrations[0]!;
    const report = await runDoctor(integration, {
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
    });
    const [a, b] = integration.defender.sensors.map((s) =>
      report.checks.find((c) => c.id === `defender.sensor.${s.name}`),
    );
    expect(a).toMatchObject({ status: 'fail' });
    expect(a!.detail).toContain(
      `sensor ${integration.defender.sensors[0]!.name} (defender.sensors[0].tls.pinSha256)`,
    );
    expect(a!.fix).toContain('defender.sensors[0].tls.caFile');
    expect(b).toMatchObject({ status: 'pass' });
  });
});
