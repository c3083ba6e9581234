import type { Flow } from '../../../domain/flows.js';
import { packPayloads, type IreGroup } from '../../../domain/ot/ire.js';
import type { PlanActionKind } from '../../../domain/plan.js';
import type { IreItemResult, IreResult, ServiceNowClient } from '../../../servicenow/client.js';
import type { EntityStateUpdate } from '../../../store/models/entity-state.js';
import type { Recorder } from '../recorder.js';

/** What the writer decides per group: the plan action and its reason. */
export type IreDecision = readonly [PlanActionKind, string];

/** How one call of {@link IreWriter.write} treats its groups. */
export interface IreWriteOptions {
  /** The decision for a group; `skip` means unchanged and nothing is sent. */
  readonly decide: (group: IreGroup) => IreDecision;
  /** What to record beyond sys_id, class, hash and times once a group is written. */
  readonly onWritten?: (group: IreGroup, sysId: string) => Partial<EntityStateUpdate>;
  /**
   * Takes back the groups of a trailing payload that is not full, to send them with the next
   * write: only a phase's last write sends a short payload, so requests stay at the floor.
   */
  readonly holdPartial?: (groups: IreGroup[]) => void;
}

/** Counts of what the writer sent, for the flow's summary. */
export interface IreWriteCounts {
  /** Groups left alone because their hash did not change. */
  unchanged: number;
  /** IRE items sent, and the IRE requests that carried them (floor: ceil(items / batchSize)). */
  ireItems: number;
  ireRequests: number;
}

/**
 * Writes IRE groups the way IRE wants them, and records each outcome through the flow's
 * recorder: payloads of up to `batchSize` items (a group never split), `concurrency` requests in
 * flight, a ledger event and entity state per group once IRE answered with its sys_id, an error
 * decision (and no hash, so the group is sent again next run) when IRE refused it. IRE identifies
 * before it writes, so a payload re-sent after a crash updates the same CIs and never duplicates
 * them. A dry run decides and sends nothing.
 *
 * @example
 * const written = await writer.write('device', groups, { decide: (g) => ['create', 'new device'] });
 */
export class IreWriter {
  constructor(
    private readonly options: {
      readonly flow: Flow;
      readonly servicenow: ServiceNowClient;
      readonly recorder: Recorder;
      readonly dataSource: string;
      readonly batchSize: number;
      readonly concurrency: number;
      readonly now: () => Date;
      readonly counts: IreWriteCounts;
    },
  ) {}

  /** Sends the changed groups of one entity kind; returns the sys_id written per group key. */
  async write(
    entity: IreGroup['entity'],
    groups: readonly IreGroup[],
    options: IreWriteOptions,
  ): Promise<Map<string, string>> {
    const written = new Map<string, string>();
    const recorder = this.options.recorder;
    const changed = groups.filter((g) => {
      if (options.decide(g)[0] !== 'skip') return true;
      this.options.counts.unchanged += 1;
      return false;
    });
    if (changed.length === 0) return written;
    const payloads = packPayloads(changed, this.options.batchSize);
    if (recorder.dryRun) {
      // IRE's /query identifies without committing ("Determines the CMDB operation (insert/update)
      // to perform with the specified payload … without committing the operations in the
      // database": ServiceNow/ServiceNowDocs markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md),
      // so the plan says, per CI, what IRE would do and why it would refuse.
      for (const packed of payloads) {
        const result = await this.options.servicenow.identifyReconcile(packed.payload, {
          dataSource: this.options.dataSource,
          simulate: true,
        });
        for (const { group, index, indices } of packed.groups) {
          const main = result.items[index];
          const errors = itemErrors(result, indices);
          const [action, reason] = errors.length
            ? (['error', `IRE would refuse the ${entity}: ${errors.join('; ')}`] as const)
            : asIreDecided(options.decide(group), main);
          await recorder.decide({
            flow: this.options.flow,
            side: 'servicenow',
            action,
            entity,
            key: group.key,
            reason: reason.slice(0, 2000),
            target: {
              table: main?.className ?? group.items[0]!.className,
              ...(main?.sysId && main.sysId !== 'Unknown' ? { id: main.sysId } : {}),
            },
          });
        }
      }
      return written;
    }
    const last = payloads.at(-1);
    if (options.holdPartial && last && last.payload.items.length < this.options.batchSize) {
      payloads.pop();
      options.holdPartial(last.groups.map((g) => g.group));
    }
    for (const p of payloads) this.options.counts.ireItems += p.payload.items.length;
    this.options.counts.ireRequests += payloads.length;
    let next = 0;
    const worker = async () => {
      while (next < payloads.length) {
        const packed = payloads[next++]!;
        const result = await this.options.servicenow.identifyReconcile(packed.payload, {
          dataSource: this.options.dataSource,
        });
        await this.record(entity, packed.groups, result, options, written);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, payloads.length) }, worker));
    return written;
  }

  private async record(
    entity: IreGroup['entity'],
    placed: readonly { group: IreGroup; index: number; indices: readonly number[] }[],
    result: IreResult,
    options: IreWriteOptions,
    written: Map<string, string>,
  ): Promise<void> {
    const nowText = this.options.now().toISOString();
    for (const { group, index, indices } of placed) {
      const main = result.items[index];
      const errors = itemErrors(result, indices);
      const [action, reason] = asIreDecided(options.decide(group), main);
      const sysId = main && main.sysId && main.sysId !== 'Unknown' ? main.sysId : undefined;
      if (isRefusedReclassification(result, index, indices)) {
        // IRE kept the CI in its class and opened a reclassification task for a person
        // (c_CIReclassification.md). Sending the same payload again would open another task
        // each run: the hash is recorded, so the device is sent again only when it changes.
        await this.options.recorder.decide(
          {
            flow: this.options.flow,
            side: 'servicenow',
            action: 'error',
            entity,
            key: group.key,
            reason: (
              `IRE refused to reclassify the ${entity} (${main!.errors[0]!.message}): a reclassification task is open on the instance; ` +
              'Snowline sends it again when Defender reports a change'
            ).slice(0, 2000),
          },
          {
            states: {
              [entity]: [
                {
                  sourceKey: group.key,
                  contentHash: group.hash,
                  lastSeenAt: nowText,
                  ...(sysId ? { remoteSysId: sysId } : {}),
                },
              ],
            },
          },
        );
        continue;
      }
      if (errors.length || !sysId) {
        // No hash is recorded, so the group is sent again next run.
        const why = errors.length ? errors.join('; ') : 'IRE returned no sys_id';
        await this.options.recorder.decide({
          flow: this.options.flow,
          side: 'servicenow',
          action: 'error',
          entity,
          key: group.key,
          reason: `IRE refused the ${entity}: ${why}`.slice(0, 2000),
        });
        if (sysId) written.set(group.key, sysId);
        continue;
      }
      written.set(group.key, sysId);
      await this.options.recorder.decide(
        {
          flow: this.options.flow,
          side: 'servicenow',
          action,
          entity,
          key: group.key,
          reason,
          target: { table: main!.className, id: sysId },
        },
        {
          states: {
            [entity]: [
              {
                sourceKey: group.key,
                remoteTable: main!.className,
                remoteSysId: sysId,
                contentHash: group.hash,
                lastSeenAt: nowText,
                lastWrittenAt: nowText,
                ...(options.onWritten ? options.onWritten(group, sysId) : {}),
              },
            ],
          },
        },
        { remoteId: sysId, detail: { ire: main!.operation } },
      );
    }
  }
}

/** The errors IRE gave for a group's items, as `class: CODE message`. */
function itemErrors(result: IreResult, indices: readonly number[]): string[] {
  return [...new Set(indices)].flatMap((i) =>
    (result.items[i]?.errors ?? []).map((e) => `${result.items[i]!.className}: ${e.error} ${e.message}`),
  );
}

/**
 * The flow's decision, corrected by what IRE did: a CI Snowline thought new that IRE matched is an
 * adoption (another source, Discovery or the vendor connector, wrote it first), and says which
 * identifier matched.
 */
function asIreDecided(decided: IreDecision, main: IreItemResult | undefined): IreDecision {
  const [action, reason] = decided;
  const operation = main?.operation ?? '';
  if (action === 'create' && operation.startsWith('UPDATE')) {
    const attempts = Array.isArray(main?.identificationAttempts)
      ? (main.identificationAttempts as { identifierName?: string; attemptResult?: string }[])
      : [];
    const matched = attempts.find((a) => a.attemptResult === 'MATCHED')?.identifierName;
    return [
      'update',
      `adopted: IRE matched an existing ${main!.className}${matched ? ` by its ${matched}` : ''} (${operation})`,
    ];
  }
  // IRE still stamps last_discovered on a NO_CHANGE item (ire.md): the write is the flow's decision.
  if (operation === 'NO_CHANGE') return [action, `${reason} (IRE: no change)`];
  if (operation && operation !== 'INSERT' && operation !== 'UPDATE')
    return [action, `${reason} (IRE: ${operation})`];
  return decided;
}

/**
 * Whether IRE refused a group only because its entity would change class in a way the instance
 * does not allow (RECLASSIFICATION_NOT_ALLOWED on item 0; its dependents ABANDONED with it).
 */
function isRefusedReclassification(result: IreResult, index: number, indices: readonly number[]): boolean {
  const main = result.items[index];
  if (!main?.errors.some((e) => e.error === 'RECLASSIFICATION_NOT_ALLOWED')) return false;
  return indices.every((i) =>
    (result.items[i]?.errors ?? []).every(
      (e) => e.error === 'RECLASSIFICATION_NOT_ALLOWED' || e.error === 'ABANDONED',
    ),
  );
}
