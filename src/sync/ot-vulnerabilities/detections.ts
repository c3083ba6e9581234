import {
  decideDetection,
  personOwnedReason,
  type DetectionStatus,
  type KnownDetection,
} from '../../domain/vulnerabilities/lifecycle.js';
import {
  changedFields,
  detectionHash,
  missingFields,
  newDetectionValues,
  newNvdEntryValues,
  NVD_FIELDS,
  nvdEntryHash,
  nvdEntryValues,
  sightingValues,
} from '../../domain/vulnerabilities/mapping.js';
import type { DeviceCve } from '../../domain/vulnerabilities/records.js';
import { referenceValue, stringValue } from '../../servicenow/values.js';
import type { EntityStateUpdate } from '../../store/models/entity-state.js';
import type { Remembered } from '../kernel/memory.js';
import { DETECTION_TABLE, NVD_TABLE, type DetectionWork, type VrRun, type Write } from './run.js';
import type { DetectionMemory } from './state.js';

/**
 * The NVD entries and detections of a chunk of work: what Snowline recorded decides first, then
 * what the instance holds (read by sys_id, or searched by CI, vulnerability and source before
 * anything is created), then the writes, through the run's Batch writer.
 */
export class DetectionSync {
  constructor(private readonly vr: VrRun) {}

  /**
   * Ensures an `sn_vul_nvd_entry` per CVE: searched by id when Snowline has none recorded,
   * created with Defender's values when missing. An entry Snowline created follows Defender's
   * details; one the instance already had (its NVD import, another scanner) gets only the fields
   * that are empty there (docs/ot-vulnerabilities.md, "NVD entries"). Returns the sys_id per CVE
   * id and whether the entry is created this run (so no detection can reference it yet).
   */
  async syncVulnerabilities(
    cves: readonly DeviceCve[],
    failed: Set<string>,
    work: readonly DetectionWork[],
  ): Promise<Map<string, { sysId?: string; isNew: boolean }>> {
    const result = new Map<string, { sysId?: string; isNew: boolean }>();
    const byId = new Map<string, DeviceCve>();
    for (const cve of cves) if (!byId.has(cve.id)) byId.set(cve.id, cve);
    if (byId.size === 0) return result;
    const states = await this.vr.memories.vulnerabilities.get([...byId.keys()]);
    const writes: Write[] = [];
    const unknown: string[] = [];
    const valuesOf = (id: string) => nvdEntryValues(byId.get(id)!, this.vr.choices.severity);
    for (const id of byId.keys()) {
      const state = states.get(id);
      const values = valuesOf(id);
      if (state?.remoteSysId) result.set(id, { sysId: state.remoteSysId, isNew: false });
      if (state?.remoteSysId && state.contentHash === nvdEntryHash(values)) continue;
      if (state?.remoteSysId && state.data?.created) {
        const { id: _id, ...changes } = values;
        writes.push(
          this.nvdWrite(
            id,
            values,
            'update',
            'the CVE details changed in Defender',
            changes,
            state.remoteSysId,
          ),
        );
      } else unknown.push(id);
    }
    // Parts of a split run take turns per CVE here: the second finds the entry the first created.
    return this.vr.lock(
      unknown.map((id) => `${NVD_TABLE}/${id}`),
      async () => {
        const found = await this.vr.reads.search(NVD_TABLE, 'id', unknown, ['sys_id', 'id', ...NVD_FIELDS]);
        const adopted: EntityStateUpdate[] = [];
        for (const id of unknown) {
          const values = valuesOf(id);
          const row = found.find((r) => stringValue(r.id) === id);
          if (!row) {
            writes.push(
              this.nvdWrite(
                id,
                values,
                'create',
                'a CVE Defender reports is not in the instance yet',
                newNvdEntryValues(values),
              ),
            );
            result.set(id, { isNew: true });
            continue;
          }
          result.set(id, { sysId: row.sys_id, isNew: false });
          const created = states.get(id)?.data?.created === true;
          const changes = created ? changedFields(values, row) : missingFields(values, row);
          if (Object.keys(changes).length)
            writes.push(
              this.nvdWrite(
                id,
                values,
                'update',
                created
                  ? 'the CVE details changed in Defender'
                  : `the NVD entry lacks ${Object.keys(changes).join(', ')}, which Defender gives (other fields are the NVD import's)`,
                changes,
                row.sys_id,
                created,
              ),
            );
          else
            adopted.push({
              sourceKey: id,
              remoteTable: NVD_TABLE,
              remoteSysId: row.sys_id,
              contentHash: nvdEntryHash(values),
              lastSeenAt: this.vr.nowText,
              data: { created },
            });
        }
        if (adopted.length) await this.vr.context.recorder.save({ states: { vulnerability: adopted } });
        const outcome = await this.vr.writer.write(writes);
        for (const [key, sysId] of outcome.written)
          result.set(key, { sysId, isNew: result.get(key)?.isNew ?? false });
        for (const key of outcome.failed) {
          result.delete(key);
          for (const w of work) if (w.cve.id === key) failed.add(w.deviceKey);
        }
        return result;
      },
    );
  }

  nvdWrite(
    id: string,
    values: Record<string, string>,
    action: 'create' | 'update',
    reason: string,
    body: Record<string, string>,
    sysId?: string,
    created = action === 'create',
  ): Write {
    return {
      request: sysId
        ? { method: 'PATCH', url: `/api/now/table/${NVD_TABLE}/${sysId}?sysparm_fields=sys_id`, body }
        : {
            method: 'POST',
            url: `/api/now/table/${NVD_TABLE}?sysparm_fields=sys_id`,
            body,
            identity: { id },
          },
      entity: 'vulnerability',
      key: id,
      action,
      reason,
      table: NVD_TABLE,
      ...(sysId ? { sysId } : {}),
      onWritten: (written) => ({
        sourceKey: id,
        remoteTable: NVD_TABLE,
        remoteSysId: written,
        contentHash: nvdEntryHash(values),
        lastSeenAt: this.vr.nowText,
        lastWrittenAt: this.vr.nowText,
        data: { created },
      }),
    };
  }

  /** Decides and writes the detections of a chunk of work. */
  async syncDetections(
    work: readonly DetectionWork[],
    vulnerabilities: Map<string, { sysId?: string; isNew: boolean }>,
    failed: Set<string>,
  ): Promise<void> {
    const states = await this.vr.memories.detections.get(work.map((w) => w.key));
    // First with what Snowline recorded: most work ends here without a request.
    const candidates: {
      work: DetectionWork;
      state?: Remembered<DetectionMemory>;
      memory?: DetectionMemory;
    }[] = [];
    for (const w of work) {
      if (w.wanted === 'open' && !vulnerabilities.has(w.cve.id)) continue; // its NVD entry failed
      const state = states.get(w.key);
      const memory = state?.data;
      const local =
        memory?.ci === w.content.ciSysId && state?.remoteSysId ? knownFrom(state, memory) : undefined;
      const decision = decideDetection({
        wanted: w.wanted,
        known: local,
        hash: detectionHash(w.content),
        now: this.vr.now,
        refreshAfterMs: this.vr.refreshAfterMs,
      });
      if (decision.action === 'unchanged') {
        if (w.wanted === 'open') this.vr.summary.unchanged += 1;
        continue;
      }
      candidates.push({
        work: w,
        ...(state && local ? { state } : {}),
        ...(memory && local ? { memory } : {}),
      });
    }
    if (candidates.length === 0) return;
    // Parts of a split run take turns per CI (two sensors' devices can be one CI): the second
    // finds the detections and items the first created.
    await this.vr.lock([...new Set(candidates.map((c) => `cmdb_ci/${c.work.content.ciSysId}`))], () =>
      this.writeDetections(candidates, vulnerabilities, failed),
    );
  }

  /** The candidates' detections as the instance holds them, then their writes and their items'. */
  private async writeDetections(
    candidates: readonly {
      work: DetectionWork;
      state?: Remembered<DetectionMemory>;
      memory?: DetectionMemory;
    }[],
    vulnerabilities: Map<string, { sysId?: string; isNew: boolean }>,
    failed: Set<string>,
  ): Promise<void> {
    // Then with what the instance says: by sys_id when known, else searched by CI, vulnerability and source.
    const remote = await this.vr.reads.readDetections(
      candidates.filter((c) => c.state?.remoteSysId).map((c) => c.state!.remoteSysId!),
    );
    const searchable = candidates.filter(
      (c) =>
        (!c.state?.remoteSysId || !remote.has(c.state.remoteSysId)) &&
        vulnerabilities.get(c.work.cve.id)?.sysId &&
        // An entry this run created has no detection yet, unless another part of a split run wrote one.
        (this.vr.split || !vulnerabilities.get(c.work.cve.id)?.isNew),
    );
    const searched = await this.vr.reads.searchDetections(
      searchable.map((c) => ({
        ci: c.work.content.ciSysId,
        vulnerability: vulnerabilities.get(c.work.cve.id)!.sysId!,
      })),
    );

    const writes: Write[] = [];
    const adopted: EntityStateUpdate[] = [];
    for (const { work: w, state } of candidates) {
      const vulnerability = vulnerabilities.get(w.cve.id)?.sysId;
      const byId = state?.remoteSysId ? remote.get(state.remoteSysId) : undefined;
      const existing =
        byId ?? (vulnerability ? searched.get(`${w.content.ciSysId}|${vulnerability}`) : undefined);
      const hash = detectionHash(w.content);
      const known: KnownDetection | undefined = existing
        ? {
            status: existing.status,
            ...(byId && state?.contentHash ? { hash: state.contentHash } : {}),
            ...(byId && state?.lastWrittenAt ? { lastWrittenAt: new Date(state.lastWrittenAt) } : {}),
          }
        : undefined;
      const decision = decideDetection({
        wanted: w.wanted,
        known,
        hash,
        now: this.vr.now,
        refreshAfterMs: this.vr.refreshAfterMs,
      });
      if (decision.action === 'unchanged') {
        if (w.wanted === 'open') this.vr.summary.unchanged += 1;
        if (existing)
          adopted.push(
            this.detectionState(
              w,
              existing.sysId,
              existing.status,
              existing.item,
              w.wanted === 'open' ? hash : undefined,
              false,
            ),
          );
        continue;
      }
      const owned = existing
        ? personOwnedReason({ state: existing.itemState, substate: existing.itemSubstate }, this.vr.choices)
        : undefined;
      if (owned) {
        this.vr.summary.skipped += 1;
        await this.vr.decide({
          action: 'skip',
          entity: 'detection',
          key: w.key,
          reason: owned,
          target: { table: DETECTION_TABLE, id: existing!.sysId },
        });
        continue;
      }
      const open = this.vr.choices.detectionStatus.open;
      if (decision.action === 'create') {
        if (!vulnerability && !this.vr.context.dryRun) continue;
        const values = newDetectionValues(
          {
            integrationId: this.vr.context.integrationId,
            ciSysId: w.content.ciSysId,
            cveId: w.cve.id,
            source: this.vr.detectionSource,
          },
          w.content,
          vulnerability ?? '',
          open,
          this.vr.now,
        );
        writes.push({
          request: {
            method: 'POST',
            url: `/api/now/table/${DETECTION_TABLE}?sysparm_fields=sys_id,vulnerable_item`,
            body: values,
            // What searchDetections finds a detection by: one per (CI, CVE, source).
            identity: {
              cmdb_ci: w.content.ciSysId,
              vulnerability: vulnerability ?? '',
              source: this.vr.detectionSource,
            },
          },
          entity: 'detection',
          key: w.key,
          action: 'create',
          reason: decision.reason,
          table: DETECTION_TABLE,
          deviceKey: w.deviceKey,
          ...(this.vr.context.config.writeVulnerableItems
            ? {
                needsItem: {
                  ci: w.content.ciSysId,
                  vulnerability: vulnerability ?? '',
                  severity: nvdEntryValues(w.cve, this.vr.choices.severity).severity,
                },
              }
            : {}),
          onWritten: (sysId, record) =>
            this.detectionState(w, sysId, 'open', referenceValue(record?.vulnerable_item), hash, true),
        });
      } else if (decision.action === 'resolve') {
        writes.push({
          request: {
            method: 'PATCH',
            url: `/api/now/table/${DETECTION_TABLE}/${existing!.sysId}?sysparm_fields=sys_id`,
            body: { status: this.vr.choices.detectionStatus.fixed },
          },
          entity: 'detection',
          key: w.key,
          action: 'resolve',
          reason: decision.reason,
          table: DETECTION_TABLE,
          sysId: existing!.sysId,
          deviceKey: w.deviceKey,
          onWritten: (sysId) => this.detectionState(w, sysId, 'fixed', existing!.item, undefined, true),
          ...(this.vr.context.config.writeVulnerableItems && existing!.item
            ? { follow: this.vr.items.itemClose(w, existing!, w.wanted === 'deviceRetired') }
            : {}),
        });
      } else {
        writes.push({
          request: {
            method: 'PATCH',
            url: `/api/now/table/${DETECTION_TABLE}/${existing!.sysId}?sysparm_fields=sys_id`,
            // An open detection found by search (written by a run that did not record it, e.g.
            // one killed after the write) is the same sighting: it is not counted found again.
            body: sightingValues(
              w.content,
              open,
              !byId && existing!.status === 'open' ? undefined : existing!.timesFound,
              this.vr.now,
            ),
          },
          entity: 'detection',
          key: w.key,
          action: decision.action,
          reason: decision.reason,
          table: DETECTION_TABLE,
          sysId: existing!.sysId,
          deviceKey: w.deviceKey,
          onWritten: (sysId) => this.detectionState(w, sysId, 'open', existing!.item, hash, true),
          ...(this.vr.context.config.writeVulnerableItems && existing!.item
            ? { follow: this.vr.items.itemReopen(w, existing!.item, existing!.itemState) }
            : {}),
        });
      }
    }
    if (adopted.length) await this.vr.context.recorder.save({ states: { detection: adopted } });
    const ready = this.vr.context.config.writeVulnerableItems
      ? await this.vr.items.prepareItems(writes, failed)
      : writes;
    const outcome = await this.vr.writer.write(ready);
    for (const key of outcome.failed) {
      const w = ready.find((x) => x.key === key);
      if (w?.deviceKey) failed.add(w.deviceKey);
    }
    if (this.vr.context.config.writeVulnerableItems) {
      const follows = await this.vr.items.keepItemFollows(ready.filter((w) => !outcome.failed.has(w.key)));
      const items = await this.vr.writer.write(follows);
      for (const key of items.failed) {
        const w = follows.find((x) => x.key === key);
        if (w?.deviceKey) failed.add(w.deviceKey);
      }
    }
  }

  detectionState(
    w: DetectionWork,
    sysId: string,
    status: DetectionStatus,
    item: string | undefined,
    hash: string | undefined,
    written: boolean,
  ): EntityStateUpdate {
    const memory: DetectionMemory = { ci: w.content.ciSysId, status, ...(item ? { item } : {}) };
    return {
      sourceKey: w.key,
      remoteTable: DETECTION_TABLE,
      remoteSysId: sysId,
      contentHash: hash ?? null,
      lastSeenAt: this.vr.nowText,
      ...(written ? { lastWrittenAt: this.vr.nowText } : {}),
      data: memory,
    };
  }
}

function knownFrom(state: Remembered<DetectionMemory>, memory: DetectionMemory): KnownDetection {
  return {
    status: memory.status,
    ...(state.contentHash ? { hash: state.contentHash } : {}),
    ...(state.lastWrittenAt ? { lastWrittenAt: new Date(state.lastWrittenAt) } : {}),
  };
}
