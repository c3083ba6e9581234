/**
 * Benchmark of the verification pass (docs/drift.md): what `snowline sync --verify` costs over a
 * settled estate, and what the store check adds to every run. On one sandbox process: the
 * initial ot-inventory and ot-vulnerabilities runs, a no-op run (must write nothing, store check
 * included), then a `--verify` run of each flow; requests and seconds per 100,000 devices are
 * extrapolated linearly from the measured size (the pass reads 100 sys_ids per request).
 *
 *   npx tsx bench/verify.ts [--size demo|large|N] [--json]
 *
 * Not a test: nothing here asserts a time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs,
  requireBuild,
  round,
  serviceNowCounters,
  startSandboxProcess,
  timedSync,
  writeBenchConfig,
} from './harness.js';

const args = benchArgs({});
requireBuild();

const flows = {
  otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 100 },
  otVulnerabilities: { source: 'console', batchSize: 100 },
};

const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-verify-'));
const sandbox = await startSandboxProcess(args.size);
try {
  const config = writeBenchConfig(sandbox.ready, dir, flows);
  const devices = (sandbox.ready.estate as { devices: number }).devices;
  for (const flow of ['ot-inventory', 'ot-vulnerabilities']) await timedSync(config, flow);
  const result: Record<string, unknown> = { size: args.size, devices, flows: [] };
  for (const flow of ['ot-inventory', 'ot-vulnerabilities']) {
    const before = await serviceNowCounters(sandbox);
    const noop = await timedSync(config, flow);
    const afterNoop = await serviceNowCounters(sandbox);
    const verify = await timedSync(config, flow, ['--verify']);
    const afterVerify = await serviceNowCounters(sandbox);
    const checked = (verify.summary.verification?.checked as number | undefined) ?? 0;
    const verifyRequests = afterVerify.requests - afterNoop.requests;
    const per100k = (n: number) => round((n * 100_000) / devices);
    (result.flows as unknown[]).push({
      flow,
      noop: {
        wallMs: round(noop.wallMs),
        servicenowRequests: afterNoop.requests - before.requests,
        writes: afterNoop.writes - before.writes,
        storeCheck: noop.summary.storeCheck,
      },
      verify: {
        wallMs: round(verify.wallMs),
        checked,
        missing: verify.summary.verification?.missing,
        servicenowRequests: verifyRequests,
        writes: afterVerify.writes - afterNoop.writes,
        requestsPer100kDevices: per100k(verifyRequests),
        secondsPer100kDevices: round((verify.wallMs / 1000) * (100_000 / devices), 1),
        peakRssMb: verify.peakRssMb,
      },
    });
  }
  const text = JSON.stringify(result, null, 2);
  console.log(args.json ? JSON.stringify(result) : text);
  writeFileSync(
    join('bench', 'results', `${new Date().toISOString().slice(0, 10)}-verify-${args.size}.json`),
    `${text}\n`,
  );
} finally {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
}
