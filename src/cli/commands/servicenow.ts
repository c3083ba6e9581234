import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import type { SecretScrubber } from '../../secrets.js';
import { formatSetup, serviceNowSetup } from '../../setup/servicenow.js';
import { loadContext, selectIntegration } from '../context.js';
import type { CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/** A scoped application's scope name as ServiceNow forms them (`x_<vendor>_<app>`, or `sn_…`). */
function scopeName(value: string): string {
  if (!/^[a-z][a-z0-9_]{1,17}$/.test(value))
    throw new InvalidArgumentError('expected a scope name such as x_acme_snowline.');
  return value;
}

/** `snowline servicenow setup`: what a ServiceNow admin applies, to review before applying. */
export function servicenowCommand(
  io: CliIo,
  scrubber: SecretScrubber,
  globals: () => GlobalOptions,
): Command {
  const servicenow = new Command('servicenow').description('what the ServiceNow instance needs for Snowline');
  servicenow
    .command('setup')
    .description(
      'print (or write with --out) the webhook system properties, the ticket-sync business rule (ES5), the integration user with its least roles and the OAuth application, for an admin to review and apply; changes nothing',
    )
    .option('--integration <id>', 'integration to set up (default: the only one)')
    .option('--out <dir>', 'write one file per item into this directory instead of printing')
    .option(
      '--webhook-url <url>',
      "Snowline's webhook as the instance reaches it (https://…/api/v1/webhooks/servicenow)",
    )
    .option('--mid-server <name>', 'send the webhook through this MID Server')
    .option(
      '--scope <app>',
      'generate the scoped-application variant (scope name, e.g. x_acme_snowline)',
      scopeName,
    )
    .option(
      '--show-secret',
      'print the configured webhook secret; without it the output names where the secret is, so it can be reviewed and shared safely',
    )
    .action((options) => {
      const context = loadContext(io, scrubber, globals());
      const integration = selectIntegration(context, options.integration);
      const files = serviceNowSetup(integration, {
        scope: options.scope ? { app: options.scope } : 'global',
        ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
        ...(options.midServer ? { midServer: options.midServer } : {}),
        showSecret: options.showSecret === true,
      });
      // Secrets leave only when asked for: everything else is scrubbed as the logs are.
      const shown = (text: string) => (options.showSecret ? text : scrubber.scrub(text));
      if (!options.out) {
        io.stdout.write(shown(formatSetup(files)));
        return;
      }
      const dir = resolve(io.cwd, options.out);
      mkdirSync(dir, { recursive: true });
      for (const file of files) writeFileSync(join(dir, file.name), shown(file.content));
      io.stdout.write(`wrote ${files.map((f) => f.name).join(', ')} to ${dir}\n`);
    });
  return servicenow;
}
