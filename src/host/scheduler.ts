import { Cron } from 'croner';
import { DEFAULT_VERIFY_SCHEDULE, EVERY_PATTERN } from '../config/common.js';
import type { IntegrationConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import { isFlow, type Flow } from '../domain/flows.js';
import { SnowlineError } from '../errors.js';
import type { Logger } from '../logging.js';
import { deferWork, dueWork } from '../store/models/deferred-work.js';
import type { RunTrigger } from '../store/models/runs.js';
import type { Store } from '../store/store.js';
import { resumeRef } from '../sync/kernel/runner.js';
import { TICKET_SYNC_DEFAULT_SCHEDULE } from '../sync/ticket-sync/config.js';
import type { RunDispatcher } from '../sync/kernel/dispatch.js';

/** A flow's schedule as the configuration holds it. */
export type FlowSchedule = string | { readonly every: string };

/** Where each flow's settings (and so its `schedule`) live under `flows` in the configuration. */
const FLOW_CONFIG_KEYS: Record<Flow, string> = {
  'ot-inventory': 'otInventory',
  'ot-vulnerabilities': 'otVulnerabilities',
  'cloud-tickets': 'cloudTickets',
  'ticket-sync': 'ticketSync',
  'ot-alerts': 'otAlerts',
};

/**
 * The schedule of a flow of an integration, when the flow is configured, enabled and scheduled.
 * ticket-sync is always scheduled: its poll is the backstop of the webhook (without it a ticket
 * closed in ServiceNow would never reach Defender when a delivery is lost), every 60 s unless its
 * section says otherwise (or still names the deprecated `intervalSeconds`).
 */
export function flowSchedule(integration: IntegrationConfig, flow: Flow): FlowSchedule | undefined {
  const section = (
    integration.flows as Record<
      string,
      { enabled?: boolean; schedule?: FlowSchedule; intervalSeconds?: number }
    >
  )[FLOW_CONFIG_KEYS[flow]];
  if (!section || section.enabled === false) return undefined;
  if (section.schedule !== undefined || flow !== 'ticket-sync') return section.schedule;
  return section.intervalSeconds !== undefined
    ? { every: `${section.intervalSeconds}s` }
    : TICKET_SYNC_DEFAULT_SCHEDULE;
}

/** The flows with a verification pass (`verify` in their section): those that own records a person can delete. */
const VERIFIED_FLOWS: readonly Flow[] = ['ot-inventory', 'ot-vulnerabilities', 'cloud-tickets'];

/**
 * The schedule of a flow's verification pass (src/sync/kernel/drift.ts), when the flow is
 * configured, enabled, has a verification pass and it is not switched off: its
 * `verify.schedule`, else daily ({@link DEFAULT_VERIFY_SCHEDULE}).
 */
export function verifySchedule(integration: IntegrationConfig, flow: Flow): FlowSchedule | undefined {
  const section = (
    integration.flows as Record<
      string,
      { enabled?: boolean; verify?: { enabled?: boolean; schedule?: FlowSchedule } } | undefined
    >
  )[FLOW_CONFIG_KEYS[flow]];
  if (!section || section.enabled === false || !VERIFIED_FLOWS.includes(flow)) return undefined;
  if (section.verify?.enabled === false) return undefined;
  return section.verify?.schedule ?? DEFAULT_VERIFY_SCHEDULE;
}

/** Seconds of an `every` value (`60s`, `15m`, `1h`). */
export function everySeconds(every: string): number {
  const match = EVERY_PATTERN.exec(every.trim());
  if (!match) throw new SnowlineError('SCHEDULE_INVALID', `"${every}" is not a duration like 60s, 15m or 1h`);
  const unit = { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** Options for {@link Scheduler}. */
export interface SchedulerOptions {
  readonly integrations: readonly IntegrationConfig[];
  readonly dispatcher: RunDispatcher;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Flows this build can run; others are never scheduled. */
  readonly flows: readonly Flow[];
  /** How often deferred runs are checked for being due (default 5 s). */
  readonly resumeCheckMs?: number;
  /** Longest wait before a resumed run that failed is tried again (default 1 h). */
  readonly maxResumeBackoffMs?: number;
}

/** One scheduled flow of one integration, as {@link Scheduler.jobs} lists it. */
export interface ScheduledJob {
  readonly integrationId: string;
  readonly flow: Flow;
  readonly schedule: FlowSchedule;
  /** True for the flow's verification pass. */
  readonly verify: boolean;
  /** When it fires next, or null once stopped. */
  readonly nextRun: Date | null;
}

/**
 * Starts flow runs on their schedules (croner, UTC) and resumes deferred runs at their
 * `retryAt`.
 *
 * A cron expression fires at its times; `every: 60s` fires once a second has turned and then
 * every 60 s. A tick that finds its flow still running is skipped (the dispatcher refuses it
 * with a ConflictError), so a slow run never piles up behind itself.
 *
 * Deferred runs are read from the store (`deferred_work`, kind `run-resume`, written by
 * runFlows), so a deferral survives a restart. The store is checked every `resumeCheckMs`; a
 * due one is run with trigger `resume`. A resumed run that ends `ok` clears it (runFlows does);
 * one that fails is deferred again with a doubling backoff, so a broken flow is not retried in
 * a tight loop.
 */
export class Scheduler {
  private readonly crons: {
    integrationId: string;
    flow: Flow;
    schedule: FlowSchedule;
    verify: boolean;
    cron: Cron;
  }[] = [];
  private resumeTimer: NodeJS.Timeout | undefined;
  private resumeCheck: Promise<void> | undefined;
  private stopped = false;
  private readonly ticks = new Set<Promise<void>>();

  constructor(private readonly options: SchedulerOptions) {}

  /** Starts every configured schedule and the deferred-run check. */
  start(): void {
    for (const integration of this.options.integrations) {
      for (const flow of this.options.flows) {
        for (const verify of [false, true]) {
          const schedule = verify ? verifySchedule(integration, flow) : flowSchedule(integration, flow);
          if (schedule === undefined) continue;
          const fire = async () => {
            await this.track(this.fire(integration.id, flow, 'schedule', verify));
          };
          const cron =
            typeof schedule === 'string'
              ? new Cron(schedule, { timezone: 'UTC', mode: '5-or-6-parts', protect: true }, fire)
              : new Cron('* * * * * *', { interval: everySeconds(schedule.every), protect: true }, fire);
          this.crons.push({ integrationId: integration.id, flow, schedule, verify, cron });
          this.options.logger.info(
            { integration: integration.id, flow, schedule, verify, nextRun: cron.nextRun()?.toISOString() },
            verify ? 'verification pass scheduled' : 'flow scheduled',
          );
        }
      }
    }
    const interval = this.options.resumeCheckMs ?? 5000;
    this.resumeTimer = setInterval(() => {
      // One check at a time: a check that dispatches runs lasts as long as they do.
      this.resumeCheck ??= this.track(this.resumeDue()).finally(() => (this.resumeCheck = undefined));
    }, interval);
  }

  /** The scheduled flows and when each fires next. */
  jobs(): ScheduledJob[] {
    return this.crons.map(({ integrationId, flow, schedule, verify, cron }) => ({
      integrationId,
      flow,
      schedule,
      verify,
      nextRun: this.stopped ? null : cron.nextRun(),
    }));
  }

  /** Stops firing, then waits for the ticks already started (their runs end at their next checkpoint). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { cron } of this.crons) cron.stop();
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    while (this.ticks.size > 0) await Promise.allSettled([...this.ticks]);
  }

  /** Runs every deferred flow run that is due now; resolves when they ended. */
  async resumeDue(): Promise<void> {
    const { store, clock } = this.options;
    for (const integration of this.options.integrations) {
      if (this.stopped) return;
      const due = (await dueWork(store.db, clock, integration.id)).filter(
        (w) => w.kind === 'run-resume' && isFlow(w.flow) && this.options.flows.includes(w.flow),
      );
      for (const work of due) {
        if (this.stopped) return;
        const flow = work.flow as Flow;
        const failed = await this.fire(integration.id, flow, 'resume');
        if (failed) {
          const backoff = Math.min(
            2 ** Math.min(work.attempts, 20) * 60_000,
            this.options.maxResumeBackoffMs ?? 3_600_000,
          );
          const retryAt = new Date(clock.now().getTime() + backoff);
          await deferWork(store.db, clock, resumeRef(integration.id, flow), retryAt, {
            resumeFailedAt: clock.now().toISOString(),
          });
          this.options.logger.warn(
            { integration: integration.id, flow, retryAt: retryAt.toISOString() },
            'resumed run failed; tried again later',
          );
        }
      }
    }
  }

  /** Dispatches one flow run; true when it ran and failed. Never throws: a tick has nobody to tell. */
  private async fire(
    integrationId: string,
    flow: Flow,
    trigger: RunTrigger,
    verify = false,
  ): Promise<boolean> {
    if (this.stopped) return false;
    const log = this.options.logger.child({ integration: integrationId, flow, trigger, verify });
    try {
      const ticket = await this.options.dispatcher.dispatch({
        integrationId,
        flows: [flow],
        dryRun: false,
        trigger,
        ...(verify ? { verify: true } : {}),
      });
      if (ticket.kind === 'queued') {
        log.info({ jobIds: ticket.jobIds }, 'flow run queued');
        return false;
      }
      const summary = ticket.result.summary.jobs[flow];
      log.info({ runId: ticket.result.summary.runId, outcome: summary?.outcome }, 'flow run ended');
      return summary?.outcome === 'failed';
    } catch (error) {
      if (error instanceof SnowlineError && (error.code === 'CONFLICT' || error.code === 'SHUTTING_DOWN')) {
        log.info({ reason: error.message }, 'tick skipped');
        return false;
      }
      log.error({ err: error }, 'flow run could not start');
      return true;
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    const tick = promise.then(
      () => undefined,
      () => undefined,
    );
    this.ticks.add(tick);
    void tick.finally(() => this.ticks.delete(tick));
    return promise;
  }
}
