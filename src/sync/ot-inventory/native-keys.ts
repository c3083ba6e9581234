import type { Flow } from '../../domain/flows.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { stringValue } from '../../servicenow/values.js';
import { BatchWriter, type BatchWrite } from '../kernel/writers/batch.js';
import type { Recorder } from '../kernel/recorder.js';
import type { Clock } from '../../domain/clock.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import type { Store } from '../../store/store.js';

/** One record whose `sys_object_source` key changes: from the key it was written under to its native key. */
export interface SourceKeyMove {
  readonly entity: 'device' | 'sensor';
  /** The record's key in Snowline's store. */
  readonly key: string;
  readonly from: string;
  readonly to: string;
  /**
   * The store says the record was written under `from`. When it does not (no state: Snowline 0.1
   * may have had IRE commit a device and then failed the payload on another item), the instance is
   * asked whether a row is under `from`.
   */
  readonly written: boolean;
}

/**
 * Moves the `sys_object_source` rows Snowline wrote under its own namespaced key
 * (`<integration>:device:<id>`, Snowline 0.1) onto the key ServiceNow's Defender for IoT connector
 * uses, the Azure resource id, before the record is next sent to IRE. IRE looks a CI up by
 * `source_name` + `source_native_key` first (ServiceNow/ServiceNowDocs
 * markdown/servicenow-platform/configuration-management-database-cmdb/ire.md, "sys_object_source
 * lookup"): with the row moved, the CI is found by its key as before, whatever its identifying
 * attributes say. Without the move, IRE would fall back to the identification rules and add a
 * second source row for the same CI, and a device without a serial or a MAC could be duplicated
 * (the risk ServiceNow itself warns of when a connector changes its keys:
 * api-sgc-apigee-x.md, "alters source native keys … duplicate record creation").
 *
 * Updating `sys_object_source` may take more than the CMDB roles: the sandbox, like an instance
 * that guards its `sys_` tables, lets only admin write it. UNVERIFIED: no ServiceNowDocs page lists
 * the table's ACLs (searched "sys_object_source" across markdown/). When the instance refuses the
 * first move with 403, no other is tried for a day, and each CI the instance holds under its old
 * key stays written under that key: a new key would leave IRE to find the CI by its identifiers,
 * and a device whose name Snowline now writes differently (an IP-named device is named by its MAC)
 * and whose serial the old CI has only on its own row would be duplicated. The run says once how
 * many records stay under the old key and what an admin can do.
 */
export class SourceKeyMigration {
  private readonly writer: BatchWriter;
  /** Records kept under their old key this run. */
  private kept = 0;
  private refusedThisRun = false;
  private legacy: boolean | undefined;

  constructor(
    private readonly options: {
      readonly flow: Flow;
      readonly servicenow: ServiceNowClient;
      readonly recorder: Recorder;
      readonly dataSource: string;
      readonly batchSize: number;
      readonly store: Store;
      readonly clock: Clock;
      readonly integrationId: string;
    },
  ) {
    this.writer = new BatchWriter(options);
  }

  /**
   * The key to write each record of `moves` under (by its store key): `to` once its row moved, or
   * when no row is under `from` (moved before, or never written); `from` when the row is there and
   * could not be moved.
   */
  async settle(moves: readonly SourceKeyMove[]): Promise<Map<string, string>> {
    const keys = new Map(moves.map((m) => [m.key, m.to]));
    if (moves.length === 0) return keys;
    const fromOf = new Map(moves.map((m) => [m.key, m.from]));
    const keep = (stay: Iterable<string>) => {
      for (const key of stay) {
        keys.set(key, fromOf.get(key)!);
        this.kept += 1;
      }
    };
    // Refused lately: no move is tried until a day has passed, and what the store says was
    // written under the old key is not asked again (a no-op run stays cheap).
    const refused = await this.refusedLately();
    if (refused) keep(moves.filter((m) => m.written).map((m) => m.key));
    const asked = refused ? moves.filter((m) => !m.written) : moves;
    if (asked.length === 0) return keys;
    const byFrom = new Map(asked.map((m) => [m.from, m]));
    const rows = await this.options.servicenow.listWhereIn(
      'sys_object_source',
      'id',
      [...byFrom.keys()],
      ['sys_id', 'id'],
      [where('name', '=', this.options.dataSource)],
    );
    const writes = rows.flatMap((row): BatchWrite[] => {
      const move = byFrom.get(stringValue(row.id) ?? '');
      if (!move) return [];
      return [
        {
          request: {
            method: 'PATCH',
            url: `/api/now/table/sys_object_source/${encodeURIComponent(row.sys_id)}`,
            body: { id: move.to },
          },
          entity: move.entity,
          key: move.key,
          action: 'update',
          reason: `source key moved from ${move.from} to ${move.to}, the Azure resource id ServiceNow's Defender for IoT connector keys it by`,
          table: 'sys_object_source',
          sysId: row.sys_id,
        },
      ];
    });
    if (writes.length === 0) return keys;
    if (refused) {
      keep(writes.map((w) => w.key));
      return keys;
    }
    // The first move alone (sent again with the rest: a PATCH repeats safely): an instance that
    // refuses one refuses them all, and 403s by the thousand would bury the ledger.
    if (!this.options.recorder.dryRun) {
      const [probe] = await this.writer.send([writes[0]!.request]);
      if (probe?.status === 403) {
        this.refusedThisRun = true;
        await advanceWatermark(
          this.options.store.db,
          this.options.clock,
          this.ref('refused'),
          this.options.clock.now().toISOString(),
        );
        keep(writes.map((w) => w.key));
        return keys;
      }
    }
    const { failed } = await this.writer.write(writes);
    keep(failed);
    return keys;
  }

  /**
   * Whether the instance holds any row under Snowline 0.1's keys for this integration: one read,
   * once per run, until a run finds none — that is remembered (only 0.1 wrote such keys), so a
   * settled integration asks nothing. When none is there, no record is asked about or moved.
   */
  async hasLegacyKeys(): Promise<boolean> {
    if (this.legacy !== undefined) return this.legacy;
    const store = this.options.store.db;
    const none = this.ref('none-left');
    if (await getWatermark(store, none)) return (this.legacy = false);
    const prefix = (kind: string) => [
      where('name', '=', this.options.dataSource),
      where('id', 'STARTSWITH', `${this.options.integrationId}:${kind}:`),
    ];
    const query = encodeQuery({ where: prefix('device'), orGroups: [prefix('sensor')] });
    this.legacy = false;
    for await (const page of this.options.servicenow.list('sys_object_source', {
      query,
      fields: ['sys_id'],
      pageSize: 1,
    })) {
      this.legacy = page.length > 0;
      break;
    }
    if (!this.legacy && !this.options.recorder.dryRun)
      await advanceWatermark(store, this.options.clock, none, this.options.clock.now().toISOString());
    return this.legacy;
  }

  /** Says once, at the end of a run, how many records stay under Snowline 0.1's keys. */
  async finish(): Promise<void> {
    if (this.kept === 0) return;
    await this.options.recorder.decide({
      flow: this.options.flow,
      side: 'servicenow',
      action: 'skip',
      entity: 'source-key',
      key: 'sys_object_source',
      reason:
        `${this.kept} record(s) stay under the source key Snowline 0.1 wrote them with (<integration>:device:<id>), ` +
        `not the Azure resource id ServiceNow's Defender for IoT connector and its VR integration use: ` +
        (this.refusedThisRun
          ? 'the instance refused to update sys_object_source (403). '
          : 'the instance refused an update of sys_object_source in the last 24 hours. ') +
        'Give the integration user write access to sys_object_source (admin, on an instance that guards sys_ tables); ' +
        'the next run after a day moves them.',
    });
  }

  /** Whether the instance refused a move in the last day (then none is tried). */
  private async refusedLately(): Promise<boolean> {
    if (this.refusedThisRun) return true;
    const at = await getWatermark(this.options.store.db, this.ref('refused'));
    return at !== undefined && this.options.clock.now().getTime() - Date.parse(at) < RETRY_AFTER_MS;
  }

  private ref(what: 'refused' | 'none-left') {
    return {
      integrationId: this.options.integrationId,
      flow: this.options.flow,
      scope: `source-key-moves:${what}`,
    };
  }
}

/** How long after a refused move no other is tried. */
const RETRY_AFTER_MS = 24 * 3_600_000;
