import { Command, Option } from '@commander-js/extra-typings';
import { FLOWS, type Flow, type SyncSummary } from '../../domain/flows.js';
import { countPlan, type Plan } from '../../domain/plan.js';
import { SnowlineError } from '../../errors.js';
import type { SecretScrubber } from '../../secrets.js';
import { FLOW_RUNNERS } from '../../sync/flows.js';
import { runFlows } from '../../sync/kernel/runner.js';
import { loadContext, selectIntegration, withStore } from '../context.js';
import { printJson, type CliIo } from '../io.js';
import type { GlobalOptions } from '../options.js';

/** A run that failed: the summary was printed; the exit code is 1. */
export class RunFailedError extends SnowlineError {
  constructor(message: string) {
    super('RUN_FAILED', message);
  }
}

/** `snowline sync`: runs flows once, or plans them with `--dry-run`. */
export function syncCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('sync')
    .description('run the enabled flows once (or plan them with --dry-run) and print the summary')
    .addOption(
      new Option('--job <flow>', 'flow to run, or all (in dependency order)')
        .choices(['all', ...FLOWS] as const)
        .default('all' as const),
    )
    .option('--integration <id>', 'integration to run (default: every integration in the config)')
    .option(
      '--dry-run',
      'read and plan only: nothing is written anywhere; prints the plan with a reason per action',
    )
    .option(
      '--verify',
      'verification run: each flow first reads back every record it owns and sends again what was deleted on the other side (docs/drift.md)',
    )
    .option('--json', 'print the summary (and plan) as JSON')
    .action(async (options) => {
      const context = loadContext(io, scrubber, globals());
      const integrations = options.integration
        ? [selectIntegration(context, options.integration)]
        : context.loaded.config.integrations;
      const only: Flow[] | undefined = options.job === 'all' ? undefined : [options.job];
      const results: { integration: string; summary: SyncSummary; plan: Plan }[] = [];
      await withStore(context, async (store) => {
        for (const integration of integrations) {
          const { summary, plan } = await runFlows({
            integration,
            store,
            clock: context.clock,
            logger: context.logger,
            runners: FLOW_RUNNERS,
            trigger: 'cli',
            dryRun: options.dryRun ?? false,
            ...(options.verify ? { verify: true } : {}),
            ...(only ? { only } : {}),
          });
          results.push({ integration: integration.id, summary, plan });
        }
      });
      if (options.json) {
        const shaped = results.map((r) =>
          options.dryRun ? { ...r.summary, dryRun: true, plan: r.plan } : r.summary,
        );
        printJson(io, shaped.length === 1 ? shaped[0] : shaped);
      } else {
        for (const r of results)
          io.stdout.write(formatRun(r.integration, r.summary, options.dryRun ? r.plan : undefined));
      }
      const failed = results.flatMap((r) =>
        Object.entries(r.summary.jobs)
          .filter(([, s]) => s?.outcome === 'failed')
          .map(([flow]) => `${r.integration}/${flow}`),
      );
      if (failed.length)
        throw new RunFailedError(`failed: ${failed.join(', ')} (see the summary and the logs)`);
    });
}

function formatRun(integration: string, summary: SyncSummary, plan: Plan | undefined): string {
  const lines = [`${integration} run ${summary.runId}${plan ? ' (dry run: nothing was written)' : ''}`];
  for (const [flow, s] of Object.entries(summary.jobs)) {
    if (!s) continue;
    const retry = s.retryAt ? ` until ${s.retryAt}` : '';
    lines.push(
      `  ${flow}: ${s.outcome}${retry}; ${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged, ${s.retired} retired, ${s.errors} errors; ${s.requests.servicenow} ServiceNow and ${s.requests.defender} Defender requests in ${(s.durationMs / 1000).toFixed(1)} s`,
    );
  }
  if (plan) {
    const counts = countPlan(plan);
    lines.push(
      `  plan: ${
        Object.entries(counts)
          .filter(([, n]) => n > 0)
          .map(([a, n]) => `${n} ${a}`)
          .join(', ') || 'nothing to do'
      }`,
    );
    for (const action of plan.actions.slice(0, 50))
      lines.push(`    ${action.action} ${action.entity} ${action.key}: ${action.reason}`);
    if (plan.actions.length > 50) lines.push(`    … ${plan.actions.length - 50} more (use --json for all)`);
  }
  return `${lines.join('\n')}\n`;
}
