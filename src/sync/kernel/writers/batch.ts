import type { Flow } from '../../../domain/flows.js';
import type { PlanActionKind } from '../../../domain/plan.js';
import { isRateLimitedError, isSnowlineError } from '../../../errors.js';
import { batchFailure, batchRecord } from '../../../servicenow/batch.js';
import type { BatchItem, BatchItemResult, ServiceNowClient } from '../../../servicenow/client.js';
import type { SnRecord } from '../../../servicenow/values.js';
import type { EntityStateUpdate } from '../../../store/models/entity-state.js';
import { slicesInLanes } from '../lanes.js';
import type { Recorder } from '../recorder.js';

/** One write to send in a Batch API call, with what to record when it succeeds. */
export interface BatchWrite {
  /** The inner request; an insert carries its `identity` so a failed call can be re-sent safely. */
  readonly request: Omit<BatchItem, 'id'>;
  readonly entity: string;
  readonly key: string;
  readonly action: PlanActionKind;
  readonly reason: string;
  readonly table: string;
  /** The record written, when it exists already (an update). */
  readonly sysId?: string;
  /** The local state to record once written (none for records that are searched each time). */
  readonly onWritten?: (sysId: string, record: SnRecord | undefined) => EntityStateUpdate;
}

/** What a {@link BatchWriter.write} call achieved: the sys_id per written key, and the keys that failed. */
export interface BatchOutcome {
  readonly written: Map<string, string>;
  readonly failed: Set<string>;
}

/**
 * Writes Table API records through the Batch API (`POST /api/now/v1/batch`), `batchSize` inner
 * requests a call, and records each outcome through the flow's recorder: the decision with the
 * written sys_id and the state `onWritten` gives, or an error decision when the instance refused
 * the inner request (the write is tried again next run). Every insert carries its identity, so a
 * call that fails as a whole (a 500, a reset) is re-sent by the client after a search, without
 * duplicating what it applied before it failed ({@link ServiceNowClient.batch}). With `concurrency`
 * above 1, that many calls are in flight at once: the writes of one `write` are to different
 * records, so their order does not matter to the instance, and each call's outcomes are recorded
 * as it answers. A dry run decides and sends nothing.
 *
 * @example
 * const { written, failed } = await writer.write(writes);
 */
export class BatchWriter {
  constructor(
    private readonly options: {
      readonly flow: Flow;
      readonly servicenow: ServiceNowClient;
      readonly recorder: Recorder;
      readonly batchSize: number;
      /** Batch calls in flight at once (1 when not given: one after another). */
      readonly concurrency?: number;
    },
  ) {}

  /** Sends `writes`, a Batch call per `batchSize`, `concurrency` calls at once. */
  async write(writes: readonly BatchWrite[]): Promise<BatchOutcome> {
    const written = new Map<string, string>();
    const failed = new Set<string>();
    if (writes.length === 0) return { written, failed };
    const recorder = this.options.recorder;
    if (recorder.dryRun) {
      for (const w of writes)
        await this.decide(w, w.action, w.reason, { table: w.table, ...(w.sysId ? { id: w.sysId } : {}) });
      return { written, failed };
    }
    await slicesInLanes(writes, this.options.batchSize, this.options.concurrency ?? 1, async (chunk) => {
      const results = await this.options.servicenow.batch(
        chunk.map((w, n) => ({ ...w.request, id: String(n + 1) })),
      );
      for (const [n, w] of chunk.entries()) await this.record(w, results[n]!, written, failed);
    });
    return { written, failed };
  }

  /**
   * Sends inserts in one Batch call and returns each inner result by position, without recording
   * them: for callers that record themselves because an insert's outcome feeds more decisions
   * (cloud-tickets' new tickets). A call that fails as a whole after the client's safe re-send is
   * answered as failed for every insert (status -1, the error's words in the body).
   */
  async send(requests: readonly Omit<BatchItem, 'id'>[]): Promise<BatchItemResult[]> {
    if (requests.length === 0) return [];
    try {
      return await this.options.servicenow.batch(requests.map((r, n) => ({ ...r, id: String(n + 1) })));
    } catch (error) {
      if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
      // Whatever the instance committed carries its identity: the next run adopts it.
      return requests.map((_, n) => ({
        id: String(n + 1),
        status: -1,
        body: { error: { message: `${error.code}: ${error.message}` } },
      }));
    }
  }

  private async record(
    w: BatchWrite,
    result: BatchItemResult,
    written: Map<string, string>,
    failed: Set<string>,
  ): Promise<void> {
    const record = batchRecord(result);
    const sysId = record?.sys_id ?? w.sysId;
    const why = batchFailure(result) ?? (sysId ? undefined : 'ServiceNow answered without a sys_id');
    if (why || !sysId) {
      failed.add(w.key);
      await this.decide(w, 'error', `the ${w.entity} could not be written: ${why}`.slice(0, 2000));
      return;
    }
    written.set(w.key, sysId);
    await this.decide(
      w,
      w.action,
      w.reason,
      { table: w.table, id: sysId },
      w.onWritten ? { [w.entity]: [w.onWritten(sysId, record)] } : undefined,
    );
  }

  private async decide(
    w: BatchWrite,
    action: PlanActionKind,
    reason: string,
    target?: { table: string; id?: string },
    states?: Record<string, EntityStateUpdate[]>,
  ): Promise<void> {
    await this.options.recorder.decide(
      {
        flow: this.options.flow,
        side: 'servicenow',
        action,
        entity: w.entity,
        key: w.key,
        reason,
        ...(target ? { target } : {}),
      },
      states ? { states } : {},
    );
  }
}
