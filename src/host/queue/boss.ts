import pg from 'pg';
import PgBoss from 'pg-boss';
import type { SnowlineConfig } from '../../config/schema.js';
import type { Flow } from '../../domain/flows.js';
import type { RunTrigger } from '../../store/models/runs.js';

/** The queue every flow-run job goes to. */
export const FLOW_RUN_QUEUE = 'snowline-flow-run';
/** Where a flow-run job goes after its last retry failed: kept for a person to look at. */
export const FLOW_RUN_DEAD_LETTER_QUEUE = 'snowline-flow-run-dead';

/**
 * The queue policy: pg-boss 10 `stately` with the partition key as `singletonKey`. It allows at
 * most one job per partition key in each state up to active: one active (a partition is never
 * run by two workers at once, the lease and fence are the second line), one waiting (requests
 * for a partition that already has one waiting join it instead of piling up), one in retry.
 */
export const FLOW_RUN_QUEUE_POLICY = 'stately' as const;

/** One flow-run job: run `flow` of an integration, then hand `then` on (its chain). */
export interface FlowRunJob {
  readonly integrationId: string;
  readonly flow: Flow;
  /** Flows to enqueue, in order, once this one is done (those that depend on it). */
  readonly then: readonly Flow[];
  readonly trigger: RunTrigger;
  /** A verification run; the flows after it in the chain verify too. */
  readonly verify?: boolean;
  /**
   * The part of a flow split across workers this job runs: `plan`, one of the flow's parts, or
   * `sweep` (src/host/queue/partitions.ts); the whole flow when omitted.
   */
  readonly part?: string;
  /** The split run (`part_group`) a part belongs to; the last part to finish queues the sweep. */
  readonly group?: string;
}

/** The queue settings of the configuration. */
export type QueueConfig = SnowlineConfig['queue'];

/** Job options every flow-run job is sent with: retries with backoff, expiry, dead letter. */
export function flowRunJobOptions(config: QueueConfig, singletonKey: string): PgBoss.SendOptions {
  return {
    singletonKey,
    retryLimit: config.retryLimit,
    retryDelay: config.retryDelaySeconds,
    retryBackoff: true,
    expireInSeconds: config.expireSeconds,
    deadLetter: FLOW_RUN_DEAD_LETTER_QUEUE,
  };
}

/**
 * Starts pg-boss on the store's PostgreSQL database (its own `pgboss` schema, installed or
 * migrated on first start) and creates Snowline's queues when missing.
 *
 * The queues are created under a session advisory lock, one process at a time: pg-boss 10's
 * `create_queue` (which also creates the queue's partition table) deadlocks when two processes
 * create queues at once, as workers started together on a new database do (seen here: two
 * `snowline worker`s, one failing with `deadlock detected`; reported for pg-boss by others, e.g.
 * supabase/storage pull request 703, "creating queues concurrently the pgboss library encounter a
 * deadlock"). If the start fails, pg-boss is stopped again, so the process can end.
 */
export async function startBoss(
  storeUrl: string,
  config: QueueConfig,
  options: { readonly supervise?: boolean; readonly onError?: (error: Error) => void } = {},
): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: storeUrl,
    application_name: 'snowline',
    max: Math.max(4, config.concurrency + 2),
    supervise: options.supervise ?? true,
    schedule: false,
    maintenanceIntervalSeconds: config.maintenanceIntervalSeconds,
  });
  // pg-boss emits errors of its background loops (maintenance, polling); without a listener an
  // EventEmitter 'error' would end the process.
  boss.on('error', options.onError ?? (() => {}));
  await boss.start();
  try {
    await oneProcessAtATime(storeUrl, QUEUE_CREATION_LOCK, async () => {
      if (!(await boss.getQueue(FLOW_RUN_DEAD_LETTER_QUEUE)))
        await boss.createQueue(FLOW_RUN_DEAD_LETTER_QUEUE, {
          name: FLOW_RUN_DEAD_LETTER_QUEUE,
          policy: 'standard',
        });
      if (!(await boss.getQueue(FLOW_RUN_QUEUE)))
        await boss.createQueue(FLOW_RUN_QUEUE, {
          name: FLOW_RUN_QUEUE,
          policy: FLOW_RUN_QUEUE_POLICY,
          deadLetter: FLOW_RUN_DEAD_LETTER_QUEUE,
        });
    });
  } catch (error) {
    await boss.stop({ graceful: false, wait: true });
    throw error;
  }
  return boss;
}

/** The advisory lock Snowline's processes take to create the pg-boss queues one at a time. */
const QUEUE_CREATION_LOCK = 'snowline:pg-boss:create-queues';

/**
 * Runs `work` while holding a session advisory lock on a connection of its own (pg-boss sends
 * `work`'s statements on its pool, so a transaction lock would not cover them).
 */
async function oneProcessAtATime<T>(storeUrl: string, lock: string, work: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: storeUrl, application_name: 'snowline' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock(hashtextextended($1, 0))', [lock]);
    try {
      return await work();
    } finally {
      await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [lock]);
    }
  } finally {
    await client.end();
  }
}
