import { Command } from '@commander-js/extra-typings';
import { formatReport, reportPasses, runDoctor, type DoctorReport } from '../../doctor/index.js';
import { SnowlineError } from '../../errors.js';
import type { SecretScrubber } from '../../secrets.js';
import { loadContext, selectIntegration } from '../context.js';
import { printJson, type CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/** A prerequisite is missing: the report was printed; the exit code is 1. */
export class DoctorFailedError extends SnowlineError {
  constructor(failed: readonly string[]) {
    super('DOCTOR_FAILED', `prerequisites missing: ${failed.join(', ')} (see the fixes above)`);
  }
}

/** `snowline doctor`: checks each integration's instance and tenant, read-only; exit 1 when anything fails. */
export function doctorCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('doctor')
    .description(
      'check the ServiceNow instance and Defender tenant for what the enabled flows need (tables, plugins, roles, discovery source, Azure roles, sensor and console tokens) and say what to fix',
    )
    .option('--integration <id>', 'integration to check (default: every integration in the config)')
    .option('--json', 'print the reports as JSON')
    .action(async (options) => {
      const context = loadContext(io, scrubber, globals());
      const integrations = options.integration
        ? [selectIntegration(context, options.integration)]
        : context.loaded.config.integrations;
      const reports: DoctorReport[] = [];
      for (const integration of integrations)
        reports.push(await runDoctor(integration, { clock: context.clock, logger: context.logger }));
      if (options.json) printJson(io, reports.length === 1 ? reports[0] : reports);
      else for (const report of reports) io.stdout.write(scrubber.scrub(formatReport(report)));
      const failed = reports.flatMap((r) =>
        r.checks.filter((c) => c.status === 'fail').map((c) => `${r.integrationId}/${c.id}`),
      );
      if (!reports.every(reportPasses)) throw new DoctorFailedError(failed);
    });
}
