import { Command, Option } from '@commander-js/extra-typings';
import { UsageError } from '../../errors.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import type { SecretScrubber } from '../../secrets.js';
import { createTicketForIntegration, MANUAL_DUE_DAYS } from '../../sync/cloud-tickets/manual.js';
import { loadContext, selectIntegration, withStore } from '../context.js';
import { printJson, type CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';

/** `snowline ticket create`: a ticket for one Defender for Cloud assessment, by hand. */
export function ticketCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  const ticket = new Command('ticket').description(
    'ServiceNow tickets for Defender for Cloud recommendations',
  );
  ticket.addCommand(
    new Command('create')
      .description(
        'create a ticket for one Unhealthy assessment and link it with a governance assignment (as the Defender portal allows); asking twice returns the same ticket',
      )
      .requiredOption(
        '--assessment <id>',
        'assessment resource id: <resource id>/providers/Microsoft.Security/assessments/<key>',
      )
      .addOption(new Option('--type <table>', 'ticket table').choices(TICKET_TABLES).makeOptionMandatory())
      .option('--group <name>', 'assignment group (sys_user_group name)')
      .option(
        '--owner <email>',
        'owner: the assignment owner, and assigned_to when exactly one active user has this email',
      )
      .option('--due <days>', `days until the remediation due date (default ${MANUAL_DUE_DAYS})`)
      .option('--integration <id>', 'integration (default: the only one in the config)')
      .option('--json', 'print the result as JSON')
      .action(async (options) => {
        const context = loadContext(io, scrubber, globals());
        const integration = selectIntegration(context, options.integration);
        const config = integration.flows.cloudTickets;
        if (!config)
          throw new UsageError(
            `integration ${integration.id} has no flows.cloudTickets section; add one (an empty "cloudTickets: {}" takes the defaults)`,
          );
        let dueDays: number | undefined;
        if (options.due !== undefined) {
          dueDays = Number(options.due);
          if (!Number.isInteger(dueDays) || dueDays < 0 || dueDays > 3650)
            throw new UsageError(
              `--due must be a whole number of days from 0 to 3650 (got "${options.due}")`,
            );
        }
        {
          const result = await withStore(context, (store) =>
            createTicketForIntegration(
              {
                integration,
                store,
                clock: context.clock,
                logger: context.logger,
                counters: new RequestCounters(),
              },
              {
                assessmentId: options.assessment,
                table: options.type,
                ...(options.group ? { group: options.group } : {}),
                ...(options.owner ? { owner: options.owner } : {}),
                ...(dueDays !== undefined ? { dueDays } : {}),
              },
            ),
          );
          if (options.json) printJson(io, result);
          else {
            io.stdout.write(
              `${result.created ? 'created' : 'already open'}: ${result.number} (${result.table}) ${result.url}\n`,
            );
            for (const p of result.directoryProblems)
              io.stdout.write(
                `  ${p.kind} "${p.value}": ${p.matches === 0 ? 'no active record matches' : `${p.matches} records match`}; left empty\n`,
              );
          }
        }
      }),
  );
  return ticket;
}
