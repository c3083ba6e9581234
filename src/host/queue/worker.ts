import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type PgBoss from 'pg-boss';
import type { IntegrationConfig, SnowlineConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import type { FlowSummary } from '../../domain/flows.js';
import { SnowlineError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import {
  acquirePartitionLease,
  releasePartitionLease,
  renewPartitionLease,
  PartitionBusyError,
} from '../../store/models/leases.js';
import type { Store } from '../../store/store.js';
import { runFlows } from '../../sync/kernel/runner.js';
import { type FlowRunner } from '../../sync/kernel/flow.js';
import type { Limiter } from '../../runtime/http/limiter.js';
import { runWithWorkContext, type PartitionLease } from '../../runtime/work-context.js';
import { SharedRequestLimiter } from './shared-limiter.js';
import { FLOW_RUN_QUEUE, flowRunJobOptions, type FlowRunJob } from './boss.js';
import { firstJobOf, jobPartitionKey, partsOf } from './partitions.js';
import { finishPart, openPartGroup, settlePartGroup } from '../../store/models/part-groups.js';
import { PLAN_PART, SWEEP_PART } from '../../sync/kernel/flow.js';

/** A flow-run job whose flow failed: pg-boss retries it with backoff, then dead-letters it. */
export class FlowRunJobFailedError extends SnowlineError {
  constructor(partition: string, detail: string) {
    super('FLOW_RUN_FAILED', `flow run of partition ${partition} failed: ${detail}; the job is retried`, {
      retryable: true,
    });
  }
}

/** What {@link FlowRunWorker} needs. */
export interface FlowRunWorkerOptions {
  readonly boss: PgBoss;
  readonly config: SnowlineConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runners: readonly FlowRunner[];
  /** This worker's name in leases and the ledger; host and pid by default. */
  readonly worker?: string;
}

/** How a job ended, for the logs and tests. */
export type JobOutcome = 'ok' | 'deferred' | 'busy' | 'lease-lost';

/** This process's worker name: host and pid, unique among live workers. */
export function defaultWorkerName(): string {
  return `${hostname()}#${process.pid}`;
}

/**
 * A `snowline worker`: takes flow-run jobs from pg-boss, runs each under the lease of its
 * partition (renewed while it runs), within a work context that makes the ledger record and
 * fence every write, and hands its chain on (the next flow) when done. A deferred flow is
 * enqueued again at its `retryAt`; a failed one is retried by pg-boss with backoff and ends in
 * the dead-letter queue after the last retry.
 */
export class FlowRunWorker {
  readonly worker: string;
  private workIds: string[] = [];
  /** One shared limiter per ServiceNow instance in this process, whatever job uses it. */
  private readonly limiters = new Map<string, Limiter>();

  constructor(private readonly options: FlowRunWorkerOptions) {
    this.worker = options.worker ?? defaultWorkerName();
  }

  /** Starts taking jobs: `queue.concurrency` pollers, one job each at a time. */
  async start(): Promise<void> {
    const { boss, config } = this.options;
    for (let i = 0; i < config.queue.concurrency; i++) {
      this.workIds.push(
        await boss.work<FlowRunJob>(
          FLOW_RUN_QUEUE,
          { batchSize: 1, pollingIntervalSeconds: config.queue.pollingIntervalSeconds },
          async ([job]) => (job ? this.runJob(job.data) : undefined),
        ),
      );
    }
  }

  /** Stops taking jobs; those in flight finish (pg-boss waits for them). */
  async stop(): Promise<void> {
    for (const id of this.workIds) await this.options.boss.offWork({ id });
    this.workIds = [];
  }

  /** The instance's limiter with the request budget in PostgreSQL, when a budget is configured. */
  private serviceNowLimiter(config: IntegrationConfig['servicenow']): Limiter | undefined {
    const perHour = config.limits.requestsPerHour;
    if (!perHour) return undefined;
    const name = `servicenow:${config.instanceUrl}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      limiter = new SharedRequestLimiter({
        name,
        service: 'servicenow',
        db: this.options.store.db,
        budget: { requests: perHour, windowMs: 3_600_000 },
        maxInFlight: config.limits.maxInFlight,
        maxWaitMs: config.limits.maxWaitSeconds * 1000,
        clock: this.options.clock,
        logger: this.options.logger,
      });
      this.limiters.set(name, limiter);
    }
    return limiter;
  }

  /** Runs one job: lease, run, release, hand on. Exported for tests through the class. */
  async runJob(job: FlowRunJob): Promise<JobOutcome> {
    const { config, store, clock, logger, boss } = this.options;
    const integration = config.integrations.find((i) => i.id === job.integrationId);
    const key = jobPartitionKey(job);
    if (!integration)
      throw new FlowRunJobFailedError(key, `no integration "${job.integrationId}" in this worker's config`);
    const ttlMs = config.queue.leaseSeconds * 1000;
    let lease: PartitionLease;
    try {
      lease = await acquirePartitionLease(store.db, clock, { partitionKey: key, worker: this.worker, ttlMs });
    } catch (error) {
      if (!(error instanceof PartitionBusyError)) throw error;
      // pg-boss gave this job out again while the previous holder is still alive (it expired a
      // long run): come back once that lease ends, without spending a retry.
      await boss.sendAfter(FLOW_RUN_QUEUE, job, flowRunJobOptions(config.queue, key), error.expiresAt);
      logger.info(
        { partition: key, holder: error.holder },
        'partition busy; job re-queued for when its lease ends',
      );
      return 'busy';
    }
    const log = logger.child({ worker: this.worker, partition: key, epoch: lease.epoch });
    log.info('partition leased; running');
    let lost = false;
    const heartbeat = setInterval(
      () => {
        renewPartitionLease(store.db, clock, lease, ttlMs).catch((error: unknown) => {
          lost = true;
          log.warn({ err: error }, 'lease renewal failed');
        });
      },
      Math.max(500, ttlMs / 3),
    );
    let summary: FlowSummary | undefined;
    try {
      const serviceNowLimiter = (sn: IntegrationConfig['servicenow']) => this.serviceNowLimiter(sn);
      const result = await runWithWorkContext({ worker: this.worker, lease, serviceNowLimiter }, () =>
        runFlows({
          integration,
          store,
          clock,
          logger: log,
          runners: this.options.runners,
          only: [job.flow],
          trigger: job.trigger,
          ...(job.verify ? { verify: true } : {}),
          ...(job.part ? { part: job.part } : {}),
        }),
      );
      summary = result.summary.jobs[job.flow];
    } finally {
      clearInterval(heartbeat);
    }
    if (lost) {
      log.warn('lease lost during the run: the new holder finishes the partition');
      return 'lease-lost';
    }
    await releasePartitionLease(store.db, clock, lease);
    if (!summary || summary.outcome === 'failed')
      throw new FlowRunJobFailedError(key, String(summary?.error ?? 'no summary'));
    if (summary.outcome === 'deferred' && summary.retryAt) {
      await boss.sendAfter(
        FLOW_RUN_QUEUE,
        job,
        flowRunJobOptions(config.queue, key),
        new Date(summary.retryAt),
      );
      log.info({ retryAt: summary.retryAt }, 'flow deferred; resumes at retryAt');
    }
    if (summary.outcome !== 'deferred' || job.part === undefined || job.part === SWEEP_PART)
      await this.handOn(job, integration, log, summary);
    log.info({ outcome: summary.outcome }, 'partition done');
    return summary.outcome === 'deferred' ? 'deferred' : 'ok';
  }

  /**
   * What follows a job that ran (a whole flow or a sweep also when deferred: like a single-process
   * run, the next flow of the chain runs after a deferred one too): after a plan part, the flow's
   * parts, side by side; after a part, the sweep, queued by whichever worker finished the last
   * part; after the whole flow or its sweep, the next flow of the chain.
   */
  private async handOn(
    job: FlowRunJob,
    integration: IntegrationConfig,
    log: Logger,
    summary: FlowSummary,
  ): Promise<void> {
    const { store, clock, runners } = this.options;
    // The sweep of a split flow run, which hands its chain on when done.
    const sweep = () => this.send({ ...withoutPart(job), part: SWEEP_PART });
    if (job.part === PLAN_PART) {
      // The parts the configuration names, or those the plan found (the sensors Resource Graph lists).
      const named = partsOf(runners, integration, job.flow);
      const parts = Array.isArray(named) ? named : (summary.parts ?? []);
      const group = randomUUID();
      await openPartGroup(store.db, clock, {
        id: group,
        integrationId: job.integrationId,
        flow: job.flow,
        parts: parts.length,
      });
      let queued = 0;
      for (const part of parts) if (await this.send({ ...job, part, group })) queued += 1;
      log.info({ parts: parts.length, queued, group }, 'flow split into parts');
      // A part whose partition still had a job waiting from an earlier run joined it instead.
      if ((await settlePartGroup(store.db, group, queued)) === 'last') await sweep();
      return;
    }
    if (job.part !== undefined && job.part !== SWEEP_PART) {
      const finished = job.group ? await finishPart(store.db, clock, job.group, job.part) : 'last';
      if (finished === 'last') await sweep();
      return;
    }
    const [next, ...rest] = job.then;
    if (next)
      await this.send(firstJobOf(runners, integration, { ...withoutPart(job), flow: next, then: rest }));
  }

  /** Queues a job under its partition's key; null when that partition already has one waiting. */
  private send(job: FlowRunJob): Promise<string | null> {
    const { boss, config } = this.options;
    return boss.send(FLOW_RUN_QUEUE, job, flowRunJobOptions(config.queue, jobPartitionKey(job)));
  }
}

/** A job's flow, chain and trigger without its part: the start of the next flow's job. */
function withoutPart(job: FlowRunJob): Omit<FlowRunJob, 'part' | 'group'> {
  const { part: _part, group: _group, ...rest } = job;
  return rest;
}
