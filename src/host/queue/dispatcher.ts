import type PgBoss from 'pg-boss';
import type { SnowlineConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import type { Flow } from '../../domain/flows.js';
import { UsageError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { Store } from '../../store/store.js';
import { runFlows } from '../../sync/kernel/runner.js';
import { type FlowRunner } from '../../sync/kernel/flow.js';
import type { RunDispatcher, RunRequest, RunTicket } from '../../sync/kernel/dispatch.js';
import { FLOW_RUN_QUEUE, flowRunJobOptions, type FlowRunJob } from './boss.js';
import { firstJobOf, flowChains, jobPartitionKey } from './partitions.js';

/** What {@link PgBossRunDispatcher} needs. */
export interface PgBossDispatcherOptions {
  readonly boss: PgBoss;
  readonly config: SnowlineConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly runners: readonly FlowRunner[];
}

/**
 * The scale-out {@link RunDispatcher}: a run request becomes flow-run jobs on the pg-boss queue
 * for `snowline worker` processes, one chain of flows per set of flows that depend on each other
 * (ot-inventory → ot-vulnerabilities; cloud-tickets → ticket-sync), so independent flows run on
 * different workers at once; a flow that splits starts with its plan part (partitions.ts). A
 * dry run writes nothing and its plan is what the caller wants to see, so it runs here and
 * returns `done`.
 */
export class PgBossRunDispatcher implements RunDispatcher {
  constructor(private readonly options: PgBossDispatcherOptions) {}

  async dispatch(request: RunRequest): Promise<RunTicket> {
    const { config, store, clock, logger, runners, boss } = this.options;
    const integration = config.integrations.find((i) => i.id === request.integrationId);
    if (!integration) throw new UsageError(`no integration "${request.integrationId}" in the config`);
    if (request.dryRun) {
      const result = await runFlows({
        integration,
        store,
        clock,
        logger,
        runners,
        trigger: request.trigger,
        dryRun: true,
        ...(request.verify ? { verify: true } : {}),
        ...(request.flows ? { only: request.flows } : {}),
      });
      return { kind: 'done', result };
    }
    const flows: readonly Flow[] =
      request.flows ?? runners.filter((r) => r.enabled(integration)).map((r) => r.flow);
    const jobIds: string[] = [];
    for (const [head, ...then] of flowChains(flows)) {
      if (!head) continue;
      const job: FlowRunJob = firstJobOf(runners, integration, {
        integrationId: integration.id,
        flow: head,
        then,
        trigger: request.trigger,
        ...(request.verify ? { verify: true } : {}),
      });
      const key = jobPartitionKey(job);
      const id = await boss.send(FLOW_RUN_QUEUE, job, flowRunJobOptions(config.queue, key));
      // null: the partition already has a job waiting (stately policy); this request joins it.
      if (id) jobIds.push(id);
      else
        logger.info({ partition: key }, 'a run of this partition is already waiting; the request joins it');
    }
    return { kind: 'queued', jobIds };
  }

  /** The dispatcher owns nothing that runs: the caller stops pg-boss. */
  async close(): Promise<void> {}
}
