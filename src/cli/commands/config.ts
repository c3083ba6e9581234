import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { EXAMPLE_CONFIG } from '../../config/example.js';
import { configJsonSchema } from '../../config/json-schema.js';
import { formatConfigYaml, redactedConfig } from '../../config/show.js';
import { UsageError } from '../../errors.js';
import type { SecretScrubber } from '../../secrets.js';
import { loadContext } from '../context.js';
import { printJson, type CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';
import { configWarnings } from '../../config/warnings.js';

/** `snowline config init|show|schema|check`. */
export function configCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  const config = new Command('config').description('write, check and show the configuration file');

  config
    .command('init')
    .description('write a commented example configuration (to --config, default ./snowline.yaml)')
    .option('--force', 'overwrite an existing file')
    .action((options) => {
      const path = resolve(io.cwd, globals().config ?? './snowline.yaml');
      if (existsSync(path) && !options.force) {
        throw new UsageError(`${path} already exists; pass --force to overwrite it`);
      }
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, EXAMPLE_CONFIG, { mode: 0o600 });
      io.stderr.write(
        `wrote ${path}; set the environment variables it names, then run \`snowline config check\`\n`,
      );
    });

  config
    .command('show')
    .description('print the effective configuration (defaults applied) with every secret redacted')
    .option('--json', 'print JSON instead of YAML')
    .action((options) => {
      const { loaded } = loadContext(io, scrubber, globals());
      if (options.json) printJson(io, redactedConfig(loaded.config));
      else io.stdout.write(formatConfigYaml(loaded.config));
    });

  config
    .command('schema')
    .description('print the JSON Schema of the configuration file')
    .action(() => printJson(io, configJsonSchema()));

  config
    .command('check')
    .description('validate the configuration and exit 0 when it is usable (2 when not)')
    .option('--json', 'print the result as JSON')
    .action((options) => {
      const { loaded } = loadContext(io, scrubber, globals());
      const integrations = loaded.config.integrations.map((i) => i.id);
      const warnings = configWarnings(loaded.config);
      if (options.json) printJson(io, { valid: true, source: loaded.source, integrations, warnings });
      else {
        io.stdout.write(
          `${loaded.source} is valid: ${integrations.length} integration(s): ${integrations.join(', ')}\n`,
        );
        // Warnings go to stderr: stdout carries only the result.
        for (const w of warnings) io.stderr.write(`warning: ${w.path} ${w.message}\n`);
      }
    });

  return config;
}
