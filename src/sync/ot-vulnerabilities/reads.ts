import { detectionStatusOf } from '../../domain/vulnerabilities/lifecycle.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { slicesInLanes } from '../kernel/lanes.js';
import { intValue, referenceValue, stringValue, type SnRecord } from '../../servicenow/values.js';
import { DETECTION_TABLE, SEARCH_CHUNK, type RemoteDetection, type VrRun } from './run.js';

/** The flow's reads of Vulnerability Response: searches by field, detections by sys_id or by (CI, CVE, source). */
export class VrReads {
  constructor(
    private readonly vr: Pick<VrRun, 'context' | 'servicenow' | 'choices' | 'detectionSource' | 'lanes'>,
  ) {}

  /** Records whose `field` is one of `values`, read in chunks, `lanes` chunks at once. */
  async search(
    table: string,
    field: string,
    values: readonly string[],
    fields: readonly string[],
  ): Promise<SnRecord[]> {
    const pages = await slicesInLanes([...new Set(values)], SEARCH_CHUNK, this.vr.lanes, (slice) =>
      this.vr.servicenow.listWhereIn(table, field, slice, fields, [], SEARCH_CHUNK),
    );
    return pages.flat();
  }

  static readonly DETECTION_FIELDS = [
    'sys_id',
    'cmdb_ci',
    'vulnerability',
    'source',
    'status',
    'times_found',
    'vulnerable_item',
    'vulnerable_item.state',
    'vulnerable_item.substate',
  ];

  toRemote(row: SnRecord): RemoteDetection {
    const item = referenceValue(row.vulnerable_item);
    const itemState = stringValue(row['vulnerable_item.state']);
    const itemSubstate = stringValue(row['vulnerable_item.substate']);
    return {
      sysId: row.sys_id,
      ci: referenceValue(row.cmdb_ci) ?? '',
      vulnerability: referenceValue(row.vulnerability) ?? '',
      status: detectionStatusOf(stringValue(row.status), this.vr.choices),
      timesFound: intValue(row.times_found) ?? 0,
      ...(item ? { item } : {}),
      ...(itemState ? { itemState } : {}),
      ...(itemSubstate ? { itemSubstate } : {}),
    };
  }

  /** Detections by sys_id, with their item's state (one dot-walked read per chunk). */
  async readDetections(sysIds: readonly string[]): Promise<Map<string, RemoteDetection>> {
    const rows = await this.search(DETECTION_TABLE, 'sys_id', sysIds, VrReads.DETECTION_FIELDS);
    return new Map(rows.map((row) => [row.sys_id, this.toRemote(row)]));
  }

  /**
   * Existing detections of this source for (CI, vulnerability) pairs, keyed `ci|vulnerability`:
   * the search before create that keeps one detection per (CI, CVE, source).
   */
  async searchDetections(
    pairs: readonly { ci: string; vulnerability: string }[],
  ): Promise<Map<string, RemoteDetection>> {
    const pages = await slicesInLanes(pairs, SEARCH_CHUNK, this.vr.lanes, async (chunk) => {
      const query = encodeQuery({
        where: [
          where('cmdb_ci', 'IN', [...new Set(chunk.map((p) => p.ci))]),
          where('vulnerability', 'IN', [...new Set(chunk.map((p) => p.vulnerability))]),
          where('source', '=', this.vr.detectionSource),
        ],
        orderBy: ['sys_created_on'],
      });
      const wanted = new Set(chunk.map((p) => `${p.ci}|${p.vulnerability}`));
      const rows: RemoteDetection[] = [];
      for await (const page of this.vr.servicenow.list(DETECTION_TABLE, {
        query,
        fields: VrReads.DETECTION_FIELDS,
      }))
        for (const row of page) {
          const remote = this.toRemote(row);
          if (wanted.has(`${remote.ci}|${remote.vulnerability}`)) rows.push(remote);
        }
      return rows;
    });
    const found = new Map<string, RemoteDetection>();
    for (const remote of pages.flat()) {
      const key = `${remote.ci}|${remote.vulnerability}`;
      // The oldest wins should an instance hold duplicates made before Snowline (each chunk's
      // rows come oldest first; chunks are taken in order, as one after another would be).
      if (!found.has(key)) found.set(key, remote);
    }
    return found;
  }
}
