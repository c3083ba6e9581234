import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { SecretScrubber } from '../../secrets.js';
import type { CliIo } from '../io.js';
import { integerOption, type GlobalOptions } from '../options.js';
import { sandboxConfig } from '../sandbox-config.js';
import { startSandboxProcess } from '../sandbox-process.js';

/** Sandbox options shared by `snowline sandbox` and `snowline demo`, turned back into the sandbox process's arguments. */
export function sandboxArgs(options: {
  dataset?: string;
  devices?: number;
  seed?: number;
  servicenowPort?: number;
  defenderPort?: number;
  tls?: boolean;
  /** Pre-load devices as ServiceNow Discovery's (default on). */
  discovered?: boolean;
  /** Round trip added to every API request, and its jitter, in ms. */
  latency?: number;
  jitter?: number;
}): string[] {
  const args: string[] = [];
  if (options.dataset) args.push('--dataset', options.dataset);
  if (options.devices !== undefined) args.push('--devices', String(options.devices));
  if (options.seed !== undefined) args.push('--seed', String(options.seed));
  if (options.servicenowPort !== undefined) args.push('--servicenow-port', String(options.servicenowPort));
  if (options.defenderPort !== undefined) args.push('--defender-port', String(options.defenderPort));
  if (options.tls === false) args.push('--no-tls');
  if (options.discovered !== false) args.push('--discovered');
  if (options.latency) args.push('--latency', String(options.latency));
  if (options.jitter) args.push('--jitter', String(options.jitter));
  return args;
}

/** `snowline sandbox`: both sandboxes on loopback until interrupted. */
export function sandboxCommand(io: CliIo, _scrubber: SecretScrubber, _globals: () => GlobalOptions): Command {
  return new Command('sandbox')
    .description(
      'start local ServiceNow and Microsoft Defender sandboxes on loopback; prints one JSON ready line on stdout',
    )
    .addOption(
      new Option('--dataset <size>', 'estate to load')
        .choices(['empty', 'demo', 'large'] as const)
        .default('demo' as const),
    )
    .option('--devices <n>', 'number of OT devices (overrides the dataset size)', integerOption(0, 2_000_000))
    .option(
      '--seed <n>',
      'seed of the generated estate (same seed, same estate)',
      integerOption(0, 2 ** 31 - 1),
    )
    .option('--servicenow-port <port>', 'ServiceNow sandbox port (0 = a free port)', integerOption(0, 65535))
    .option('--defender-port <port>', 'Defender sandbox port (0 = a free port)', integerOption(0, 65535))
    .option('--no-tls', 'serve plain HTTP (debugging only: bearer tokens then fail in Azure clients)')
    .option(
      '--no-discovered',
      'do not pre-load devices as ServiceNow Discovery found them (by default about 5%, for Snowline to adopt)',
    )
    .option(
      '--latency <ms>',
      'round trip added to every API request of both sandboxes, as a distant instance has (default 0)',
      integerOption(0, 60_000),
    )
    .option(
      '--jitter <ms>',
      'uniform jitter around --latency, seeded by --seed so runs repeat (default 0)',
      integerOption(0, 60_000),
    )
    .option('--write-config <file>', 'write a Snowline configuration pointing at the sandboxes')
    .action(async (options) => {
      const sandbox = await startSandboxProcess(sandboxArgs(options));
      const ready = { ...sandbox.ready, config: null as string | null };
      if (options.writeConfig) {
        const path = resolve(io.cwd, options.writeConfig);
        const { text } = sandboxConfig(sandbox.ready, {
          storeUrl: join(dirname(path), '.snowline', 'snowline.sqlite'),
        });
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, text, { mode: 0o600 });
        ready.config = path;
      }
      io.stdout.write(`${JSON.stringify(ready)}\n`);
      const stop = () => void sandbox.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await sandbox.exited;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
}
