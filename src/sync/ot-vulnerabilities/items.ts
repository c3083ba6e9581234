import { toSnDateTime } from '../../domain/time.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { referenceValue, stringValue, type SnRecord } from '../../servicenow/values.js';
import { slicesInLanes } from '../kernel/lanes.js';
import {
  DETECTION_TABLE,
  ITEM_TABLE,
  SEARCH_CHUNK,
  type DetectionWork,
  type RemoteDetection,
  type VrRun,
  type Write,
} from './run.js';

/**
 * Vulnerable items written by Snowline itself (`writeVulnerableItems`), for instances that do not
 * roll detections up into items: found by (CI, vulnerability) or created, reopened with their
 * detection, closed when no open detection is left on them.
 */
export class VulnerableItems {
  constructor(private readonly vr: VrRun) {}

  /**
   * For instances that do not roll detections up: gives each new detection its vulnerable item,
   * found by (CI, vulnerability) or created (searched first, so a crash cannot duplicate it).
   * Returns the detection writes that can go (those whose item could not be written are dropped).
   */
  async prepareItems(writes: readonly Write[], failed: Set<string>): Promise<Write[]> {
    const creates = writes.filter((w) => w.needsItem);
    if (creates.length === 0) return [...writes];
    const found = new Map<string, SnRecord>();
    // A vulnerability created in this run (or, in a dry run, to be created) has no item yet.
    const searchable = creates.filter((w) => w.needsItem!.vulnerability !== '');
    const pages = await slicesInLanes(searchable, SEARCH_CHUNK, this.vr.lanes, (slice) => {
      const chunk = slice.map((w) => w.needsItem!);
      return this.vr.servicenow.listAll(ITEM_TABLE, {
        query: encodeQuery({
          where: [
            where('cmdb_ci', 'IN', [...new Set(chunk.map((p) => p.ci))]),
            where('vulnerability', 'IN', [...new Set(chunk.map((p) => p.vulnerability))]),
          ],
          orderBy: ['sys_created_on'],
        }),
        fields: ['sys_id', 'cmdb_ci', 'vulnerability', 'state', 'substate'],
      });
    });
    for (const row of pages.flat()) {
      const key = `${referenceValue(row.cmdb_ci)}|${referenceValue(row.vulnerability)}`;
      if (!found.has(key)) found.set(key, row);
    }
    const itemWrites: Write[] = [];
    for (const w of creates) {
      const { ci, vulnerability, severity } = w.needsItem!;
      const item = found.get(`${ci}|${vulnerability}`);
      if (item) {
        (w.request.body as Record<string, string>).vulnerable_item = item.sys_id;
        w.follow = this.itemReopen(w, item.sys_id, stringValue(item.state));
        continue;
      }
      const at = toSnDateTime(this.vr.now);
      itemWrites.push({
        request: {
          method: 'POST',
          url: `/api/now/table/${ITEM_TABLE}?sysparm_fields=sys_id`,
          body: {
            cmdb_ci: ci,
            vulnerability,
            source: this.vr.detectionSource,
            state: this.vr.choices.itemState.open,
            // The band of Defender's score, as the NVD entry Snowline writes has it.
            ...(severity ? { severity } : {}),
            first_found: at,
            last_found: at,
            last_opened: at,
          },
          // What prepareItems finds an item by: one per (CI, vulnerability).
          identity: { cmdb_ci: ci, vulnerability },
        },
        entity: 'vulnerableItem',
        key: w.key,
        action: 'create',
        reason:
          'the CI has no vulnerable item for this CVE (writeVulnerableItems: Snowline writes items itself)',
        table: ITEM_TABLE,
        ...(w.deviceKey ? { deviceKey: w.deviceKey } : {}),
      });
    }
    const outcome = await this.vr.writer.write(itemWrites);
    for (const w of creates) {
      const sysId = outcome.written.get(w.key);
      if (sysId) (w.request.body as Record<string, string>).vulnerable_item = sysId;
    }
    for (const key of outcome.failed) {
      const w = creates.find((x) => x.key === key);
      if (w?.deviceKey) failed.add(w.deviceKey);
    }
    return writes.filter((w) => !(w.needsItem && outcome.failed.has(w.key)));
  }

  /** Reopens a vulnerable item that is closed (a person's items never get here). */
  itemReopen(
    w: { key: string; deviceKey?: string },
    item: string,
    state: string | undefined,
  ): Write | undefined {
    if (state !== this.vr.choices.itemState.closed) return undefined;
    return {
      request: {
        method: 'PATCH',
        url: `/api/now/table/${ITEM_TABLE}/${item}?sysparm_fields=sys_id`,
        body: { state: this.vr.choices.itemState.open, substate: '', last_opened: toSnDateTime(this.vr.now) },
      },
      entity: 'vulnerableItem',
      key: w.key,
      action: 'reopen',
      reason: 'its detection is open again, so the vulnerable item is reopened (writeVulnerableItems)',
      table: ITEM_TABLE,
      sysId: item,
      ...(w.deviceKey ? { deviceKey: w.deviceKey } : {}),
    };
  }

  /** Closes a vulnerable item as Fixed or CI Decommissioned; whether other detections keep it open is checked before sending. */
  itemClose(w: DetectionWork, existing: RemoteDetection, decommissioned: boolean): Write | undefined {
    if (!existing.item || existing.itemState === this.vr.choices.itemState.closed) return undefined;
    return {
      request: {
        method: 'PATCH',
        url: `/api/now/table/${ITEM_TABLE}/${existing.item}?sysparm_fields=sys_id`,
        body: {
          state: this.vr.choices.itemState.closed,
          substate: decommissioned
            ? this.vr.choices.itemSubstate.decommissioned
            : this.vr.choices.itemSubstate.fixed,
        },
      },
      entity: 'vulnerableItem',
      key: w.key,
      action: 'resolve',
      reason: decommissioned
        ? 'all its detections are closed and the device was retired: the vulnerable item closes as CI Decommissioned (writeVulnerableItems)'
        : 'all its detections are closed: the vulnerable item closes as Fixed (writeVulnerableItems)',
      table: ITEM_TABLE,
      sysId: existing.item,
      deviceKey: w.deviceKey,
    };
  }

  /**
   * The item writes to send after their detections were written, as far as the instance has not
   * made them already: an instance that rolls detections up has closed or reopened the item on
   * the detection's write, and the item's state and substate, read now, say so — then nothing is sent, so
   * both kinds of instance end with the same items and an instance that rolls up gets no second
   * write. A reopen counts in `reopen_count`, as the platform's own reopen does. An item is closed
   * only when no other open detection (of any source) is on it. Everything is read before
   * sending, so a dry run plans the same as a real run does.
   */
  async keepItemFollows(written: readonly Write[]): Promise<Write[]> {
    const follows = written.map((w) => w.follow).filter((f): f is Write => f !== undefined);
    if (follows.length === 0) return follows;
    const items = new Map(
      (
        await this.vr.reads.search(
          ITEM_TABLE,
          'sys_id',
          [...new Set(follows.map((f) => f.sysId!))],
          ['sys_id', 'state', 'substate', 'reopen_count'],
        )
      ).map((row) => [row.sys_id, row]),
    );
    const { open, closed } = this.vr.choices.itemState;
    const pending = follows.filter((f) => {
      const item = items.get(f.sysId!);
      const state = stringValue(item?.state);
      if (f.action !== 'resolve') return state !== open;
      // Closed by a rollup, but perhaps as Fixed where the device was retired (CI Decommissioned).
      const substate = (f.request.body as Record<string, string>).substate;
      return state !== closed || stringValue(item?.substate) !== substate;
    });
    for (const f of pending)
      if (f.action === 'reopen')
        (f.request.body as Record<string, string>).reopen_count = String(
          (Number(stringValue(items.get(f.sysId!)?.reopen_count)) || 0) + 1,
        );
    const closing = pending.filter((f) => f.action === 'resolve');
    if (closing.length === 0) return pending;
    const ours = new Set(written.filter((w) => w.follow?.action === 'resolve').map((w) => w.sysId));
    const stillOpen = new Set<string>();
    const rows = await this.vr.reads.search(
      DETECTION_TABLE,
      'vulnerable_item',
      [...new Set(closing.map((f) => f.sysId!))],
      ['sys_id', 'vulnerable_item', 'status'],
    );
    for (const row of rows)
      if (stringValue(row.status) === this.vr.choices.detectionStatus.open && !ours.has(row.sys_id))
        stillOpen.add(referenceValue(row.vulnerable_item) ?? '');
    return pending.filter((f) => f.action !== 'resolve' || !stillOpen.has(f.sysId!));
  }
}
