#!/usr/bin/env node
/**
 * Starts the ServiceNow and Defender sandboxes on loopback and prints one JSON ready line on
 * stdout. `snowline sandbox` and `snowline demo` run this file as a child process: the engine
 * never imports the sandboxes, so that tests of the engine against them mean something.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { generateEstate, type EstateSize } from './dataset/index.js';
import { startDefenderSandbox } from './defender/index.js';
import { startServiceNowSandbox } from './servicenow/index.js';
import { generateSandboxTls } from './common/tls.js';
import { sandboxReadyLine } from './ready.js';
import { preloadDiscovered } from './discovered.js';

function whole(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

const program = new Command('snowline-sandbox')
  .description('local ServiceNow and Microsoft Defender sandboxes')
  .addOption(
    new Option('--dataset <size>', 'estate to load')
      .choices(['empty', 'demo', 'large'] as const)
      .default('demo' as const),
  )
  .option('--devices <n>', 'number of OT devices (overrides the dataset size)', whole(0, 2_000_000))
  .option('--seed <n>', 'seed of the generated estate', whole(0, 2 ** 31 - 1), 1)
  .option('--servicenow-port <port>', 'ServiceNow sandbox port (0 = a free port)', whole(0, 65535), 0)
  .option('--defender-port <port>', 'Defender sandbox port (0 = a free port)', whole(0, 65535), 0)
  .option('--host <address>', 'loopback address to listen on', '127.0.0.1')
  .option('--no-tls', 'serve plain HTTP (debugging only)')
  .option('--persist <file>', 'keep the ServiceNow instance in this SQLite file between runs')
  .option('--latency <ms>', 'round trip added to every API request, in milliseconds', whole(0, 60_000), 0)
  .option(
    '--jitter <ms>',
    'uniform jitter around --latency (seeded by --seed), in milliseconds',
    whole(0, 60_000),
    0,
  )
  .option(
    '--discovered',
    'pre-load about 5% of the devices as ServiceNow Discovery found them (same serial or MAC, another name)',
  );

program.parse();
const options = program.opts();

if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(options.host)) {
  process.stderr.write(
    `snowline-sandbox: --host must be a loopback address (127.x.x.x, ::1), not ${options.host}\n`,
  );
  process.exit(2);
}

const estate = generateEstate({
  size: options.dataset as EstateSize,
  seed: options.seed,
  ...(options.devices !== undefined ? { devices: options.devices } : {}),
});
const tls = options.tls ? await generateSandboxTls() : null;
// Each sandbox draws its jitter from its own stream of the seed.
const latency = (stream: number) =>
  options.latency > 0 || options.jitter > 0
    ? { latency: { ms: options.latency, jitterMs: options.jitter, seed: options.seed * 2 + stream } }
    : {};
const servicenow = await startServiceNowSandbox({
  host: options.host,
  port: options.servicenowPort,
  tls,
  seed: estate.servicenow,
  ...latency(0),
  ...(options.persist ? { persistFile: options.persist } : {}),
});
const defender = await startDefenderSandbox({
  host: options.host,
  port: options.defenderPort,
  tls,
  estate,
  ...latency(1),
});

const discovered = options.discovered ? preloadDiscovered(servicenow, estate) : [];
const ready = sandboxReadyLine(servicenow, defender, estate, tls?.caFile ?? null, discovered);
process.stdout.write(`${JSON.stringify(ready)}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([servicenow.close(), defender.close()]);
  // The CA was generated for this start only: remove it (and its folder) with the sandboxes.
  if (tls) rmSync(dirname(tls.caFile), { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
// When the parent (snowline demo, a test) dies without signalling us, we are re-parented:
// stop rather than linger as an orphan holding ports.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop();
}, 1000).unref();
