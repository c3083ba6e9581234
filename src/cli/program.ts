import { readFileSync } from 'node:fs';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { isConfigError, isSnowlineError, UsageError } from '../errors.js';
import { SecretScrubber } from '../secrets.js';
import { configCommand } from './commands/config.js';
import { demoCommand } from './commands/demo.js';
import { doctorCommand } from './commands/doctor.js';
import { migrateCommand } from './commands/migrate.js';
import { storeCommand } from './commands/store.js';
import { sandboxCommand } from './commands/sandbox.js';
import { serveCommand } from './commands/serve.js';
import { servicenowCommand } from './commands/servicenow.js';
import { syncCommand } from './commands/sync.js';
import { ticketCommand } from './commands/ticket.js';
import { workerCommand } from './commands/worker.js';
import { processIo, type CliIo } from './io.js';
import type { GlobalOptions } from './options.js';

/** Exit codes: 0 success (a deferred run included), 1 a failed run, 2 bad usage or bad config. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Builds the `snowline` command tree. */
export function buildProgram(io: CliIo, scrubber: SecretScrubber): Command {
  const program = new Command('snowline')
    .description(
      'Sync Microsoft Defender for IoT and Defender for Cloud with ServiceNow: OT CMDB, Vulnerability Response, and two-way ITSM tickets.',
    )
    .version(packageVersion())
    .option('-c, --config <file>', 'configuration file', './snowline.yaml')
    .option('--log-level <level>', 'override log.level (fatal, error, warn, info, debug, trace, silent)')
    .showHelpAfterError('(run with --help for usage)');
  const globals = (): GlobalOptions => program.opts();

  program.addCommand(configCommand(io, scrubber, globals));
  program.addCommand(migrateCommand(io, scrubber, globals));
  program.addCommand(storeCommand(io, scrubber, globals));
  program.addCommand(syncCommand(io, scrubber, globals));
  program.addCommand(ticketCommand(io, scrubber, globals));
  program.addCommand(serveCommand(io, scrubber, globals));
  program.addCommand(sandboxCommand(io, scrubber, globals));
  program.addCommand(demoCommand(io, scrubber, globals));
  program.addCommand(workerCommand(io, scrubber, globals));
  program.addCommand(doctorCommand(io, scrubber, globals));
  program.addCommand(servicenowCommand(io, scrubber, globals));

  applyToTree(program, (command) => {
    command.exitOverride();
    command.configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(scrubber.scrub(text)),
    });
  });
  return program;
}

/** The parts of a command the tree walk needs (commander's typed generics differ per command). */
interface CommandNode {
  exitOverride(): unknown;
  configureOutput(output: { writeOut(text: string): void; writeErr(text: string): void }): unknown;
  readonly commands: readonly unknown[];
}

function applyToTree(command: CommandNode, apply: (c: CommandNode) => void): void {
  apply(command);
  for (const sub of command.commands) applyToTree(sub as CommandNode, apply);
}

/**
 * Runs the CLI and returns its exit code. Errors are printed once, scrubbed of every secret the
 * configuration holds, with a code a script can act on.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const scrubber = new SecretScrubber();
  const program = buildProgram(io, scrubber);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; anything else commander rejects is bad usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`snowline: ${scrubber.scrub(message)}\n`);
    if (isConfigError(error) || error instanceof UsageError) return EXIT.usage;
    if (!isSnowlineError(error) && error instanceof Error && error.stack && io.env.SNOWLINE_DEBUG) {
      io.stderr.write(`${scrubber.scrub(error.stack)}\n`);
    }
    return EXIT.failed;
  }
}
