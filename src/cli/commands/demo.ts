import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type cliProgressModule from 'cli-progress';
import { Agent, request } from 'undici';
import type { LoadedConfig } from '../../config/load.js';
import type { IntegrationConfig } from '../../config/schema.js';
import { systemClock } from '../../domain/clock.js';
import type { FlowSummary } from '../../domain/flows.js';
import { createLogger, type Logger } from '../../logging.js';
import { isSnowlineError } from '../../errors.js';
import type { SecretScrubber } from '../../secrets.js';
import { openStore, type Store } from '../../store/store.js';
import { FLOW_RUNNERS } from '../../sync/flows.js';
import { runFlows, type RunResult } from '../../sync/kernel/runner.js';
import { type FlowRunner } from '../../sync/kernel/flow.js';
import { printJson, type CliIo } from '../io.js';
import { integerOption, type GlobalOptions } from '../options.js';
import { sandboxConfig } from '../sandbox-config.js';
import { startSandboxProcess, type SandboxReady } from '../sandbox-process.js';
import { sandboxArgs } from './sandbox.js';
import { TICKET_TABLES } from '../../domain/tickets/tables.js';

/** How the demo shows flow progress: bars on a terminal, plain lines otherwise, nothing on stdout with --json. */
export interface ProgressView {
  start(flows: readonly string[]): void;
  flowStarted(flow: string): void;
  flowDone(flow: string, summary: FlowSummary): void;
  stop(): void;
}

function counts(summary: FlowSummary): string {
  return `${summary.outcome}, ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged, ${summary.errors} errors`;
}

/** Counters that say something changed (not gauges such as pending or covered). */
const CHANGE_COUNTERS = new Set([
  'created',
  'updated',
  'retired',
  'resolved',
  'deleted',
  'errors',
  'opened',
  'closed',
  'reopened',
  // ot-alerts: alerts closed in Defender because their ticket was closed.
  'closedInDefender',
]);

/** The non-zero change counters of a run's flow (flow-specific ones too, e.g. closed detections), or ''. */
function whatChanged(summary: FlowSummary): string {
  return Object.entries(summary)
    .filter(([key, value]) => typeof value === 'number' && value !== 0 && CHANGE_COUNTERS.has(key))
    .map(([key, value]) => `${String(value)} ${key}`)
    .join(', ');
}

/** Progress as one cli-progress bar per flow (a terminal). */
function barsView(stream: NodeJS.WritableStream, cliProgress: typeof cliProgressModule): ProgressView {
  const multi = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WriteStream,
      format: '{flow} [{bar}] {status}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgressModule.SingleBar>();
  return {
    start(flows) {
      const width = Math.max(...flows.map((f) => f.length));
      for (const flow of flows)
        bars.set(flow, multi.create(1, 0, { flow: flow.padEnd(width), status: 'waiting' }));
    },
    flowStarted(flow) {
      bars.get(flow)?.update(0, { status: 'running…' });
    },
    flowDone(flow, summary) {
      // Short enough for an 80-column terminal; the lines view gives every counter.
      bars.get(flow)?.update(1, {
        status: `${summary.outcome}, ${summary.created} created, ${summary.updated} updated, ${summary.errors} errors`,
      });
    },
    stop() {
      multi.stop();
    },
  };
}

/** Progress as plain lines (stdout is not a terminal, or stderr under --json). */
function linesView(stream: NodeJS.WritableStream): ProgressView {
  return {
    start() {},
    flowStarted(flow) {
      stream.write(`${flow}: running\n`);
    },
    flowDone(flow, summary) {
      stream.write(`${flow}: ${counts(summary)}\n`);
    },
    stop() {},
  };
}

/** Picks the progress view: --json keeps stdout for the summary only. */
export async function progressView(io: CliIo, json: boolean): Promise<ProgressView> {
  if (json) return linesView(io.stderr);
  if ((io.stdout as NodeJS.WriteStream).isTTY !== true) return linesView(io.stdout);
  // Loaded only when drawn: every other CLI command starts without it.
  return barsView(io.stdout, (await import('cli-progress')).default);
}

/** The flow runners, each reporting its start and end to the progress view. */
function withProgress(runners: readonly FlowRunner[], view: ProgressView): FlowRunner[] {
  return runners.map((runner) => ({
    flow: runner.flow,
    enabled: (integration) => runner.enabled(integration),
    async run(context) {
      view.flowStarted(runner.flow);
      const result = await runner.run(context);
      view.flowDone(runner.flow, result.summary);
      return result;
    },
  }));
}

const NO_FLOWS =
  'flows: this build implements none of the four flows yet; the sandboxes and store are ready\n';

/**
 * `snowline demo` (what `npm start` runs): both sandboxes with the demo estate, a SQLite store
 * under `.snowline/`, every flow this build has run once with progress, then (unless `--once`)
 * the dashboard and a change every `--activity-interval` seconds on either side followed by a
 * run, so the two-way sync is visible, until interrupted.
 */
export function demoCommand(io: CliIo, scrubber: SecretScrubber, globals: () => GlobalOptions): Command {
  return new Command('demo')
    .description('run Snowline end to end against local sandboxes, with no account anywhere')
    .addOption(
      new Option('--dataset <size>', 'estate to load')
        .choices(['empty', 'demo', 'large'] as const)
        .default('demo' as const),
    )
    .option('--seed <n>', 'seed of the generated estate', integerOption(0, 2 ** 31 - 1))
    .option('--dir <folder>', 'where the demo keeps its configuration and store', '.snowline')
    .option('--once', 'run the flows once, print the summary and exit')
    .option('--json', 'print the sync summary as JSON on stdout')
    .option(
      '--activity-interval <seconds>',
      'seconds between two changes played on the sandboxes (each followed by a run)',
      integerOption(1, 3600),
      20,
    )
    .action(async (options) => {
      const dir = resolve(io.cwd, options.dir);
      mkdirSync(dir, { recursive: true });
      const logger = createLogger({
        level: globals().logLevel ?? (options.json ? 'warn' : 'info'),
        scrubber,
        destination: io.stderr,
        pretty: io.stderr === process.stderr ? undefined : false,
      });
      const sandbox = await startSandboxProcess(
        sandboxArgs({ dataset: options.dataset, seed: options.seed }),
      );
      try {
        const storeFile = join(dir, 'demo.sqlite');
        // The demo's store belongs to this start's sandboxes, which begin empty: a store left by
        // an earlier start describes records these sandboxes never held, so it starts empty too.
        // A production store is never discarded this way.
        for (const file of [storeFile, `${storeFile}-wal`, `${storeFile}-shm`, `${storeFile}-journal`])
          rmSync(file, { force: true });
        const { text, loaded } = sandboxConfig(sandbox.ready, {
          storeUrl: storeFile,
          integrationId: 'demo',
        });
        scrubber.add(loaded.secrets);
        writeFileSync(join(dir, 'demo.yaml'), text, { mode: 0o600 });
        const integration = loaded.config.integrations[0]!;
        const store = await openStore(loaded.config.store.url, {
          commitBatch: loaded.config.store.commitBatch,
        });
        try {
          await store.migrate();
          const view = await progressView(io, options.json === true);
          const runners = withProgress(FLOW_RUNNERS, view);
          view.start(runners.filter((r) => r.enabled(integration)).map((r) => r.flow));
          let result: RunResult;
          try {
            result = await runFlows({
              integration,
              store,
              clock: systemClock,
              logger,
              runners,
              trigger: 'demo',
            });
          } finally {
            view.stop();
          }
          if (options.json) printJson(io, result.summary);
          else {
            io.stdout.write(`servicenow sandbox: ${sandbox.ready.servicenow.url}\n`);
            io.stdout.write(`defender sandbox: ${sandbox.ready.defender.url}\n`);
            io.stdout.write(`config: ${join(dir, 'demo.yaml')}\n`);
            io.stdout.write(`store: ${store.location}\n`);
            // The progress view already printed each flow's counts.
            if (Object.keys(result.summary.jobs).length === 0) io.stdout.write(NO_FLOWS);
          }
          if (!options.once) {
            await keepRunning({
              io,
              sandbox,
              loaded,
              store,
              logger,
              scrubber,
              intervalSeconds: options.activityInterval,
            });
          }
        } finally {
          await store.close();
        }
      } finally {
        await sandbox.stop();
      }
    });
}

/** After the first run: the dashboard, then activity and a run on a timer until interrupted. */
async function keepRunning(options: {
  io: CliIo;
  sandbox: Awaited<ReturnType<typeof startSandboxProcess>>;
  loaded: LoadedConfig;
  store: Store;
  logger: Logger;
  scrubber?: SecretScrubber;
  intervalSeconds: number;
}): Promise<void> {
  const { io, loaded, store, logger } = options;
  const integration = loaded.config.integrations[0]!;
  // The same server as `snowline serve` (API, /metrics, webhook, dashboard, schedules), on a
  // free loopback port over this store. Loaded here: `--once` and other commands never need it.
  const { startServe } = await import('../../host/serve.js');
  const serving = await startServe({
    loaded,
    cwd: options.io.cwd,
    logger,
    store,
    port: 0,
    ...(options.scrubber ? { scrubber: options.scrubber } : {}),
  });
  const { dispatcher } = serving;
  await registerWebhook(options.sandbox.ready, serving.url, integration);
  io.stdout.write(`dashboard: ${serving.url}/\n`);
  io.stdout.write(`token: ${loaded.config.api.tokens[0]}\n`);
  io.stderr.write(
    `a change on either side every ${options.intervalSeconds} s, then a run; press Ctrl-C to stop\n`,
  );
  const { DemoActivity } = await import('./demo-activity.js');
  const activity = new DemoActivity(options.sandbox.ready, integration);
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      const note = await activity.next();
      io.stdout.write(`activity: ${note}\n`);
      const ticket = await dispatcher.dispatch({
        integrationId: integration.id,
        dryRun: false,
        trigger: 'demo',
      });
      if (ticket.kind === 'done') {
        for (const [flow, s] of Object.entries(ticket.result.summary.jobs)) {
          const changes = s ? whatChanged(s) : '';
          if (changes) io.stdout.write(`  ${flow}: ${changes}\n`);
        }
      }
    } catch (error) {
      if (isSnowlineError(error) && error.code === 'CONFLICT')
        io.stdout.write('  (a run started from the dashboard is going; this change syncs with the next)\n');
      else logger.warn({ err: error }, 'demo activity failed; trying again next time');
    }
    if (!stopping) timer = setTimeout(() => void tick(), options.intervalSeconds * 1000);
  };
  timer = setTimeout(() => void tick(), options.intervalSeconds * 1000);
  try {
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      void options.sandbox.exited.then(done);
    });
  } finally {
    stopping = true;
    if (timer) clearTimeout(timer);
    await activity.close();
    await serving.close();
  }
}

/**
 * Registers the ServiceNow sandbox's webhook (the business rule of docs/ticket-sync.md) to post
 * ticket changes to this server, so a ticket a person closes or reassigns reaches Defender in
 * seconds, before the next run.
 */
async function registerWebhook(ready: SandboxReady, serverUrl: string, integration: IntegrationConfig) {
  const secret = integration.flows.ticketSync?.webhook.secret;
  if (!secret) return;
  const agent = new Agent(ready.caFile ? { connect: { ca: readFileSync(ready.caFile) } } : {});
  try {
    const response = await request(`${ready.servicenow.url}/_sandbox/webhooks`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        url: `${serverUrl}/api/v1/webhooks/servicenow`,
        secret,
        tables: TICKET_TABLES,
      }),
    });
    const text = await response.body.text();
    if (response.statusCode !== 201)
      throw new Error(`the ServiceNow sandbox refused the webhook (${response.statusCode}): ${text}`);
  } finally {
    await agent.close();
  }
}
