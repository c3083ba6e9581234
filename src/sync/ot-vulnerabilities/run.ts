import type { VrChoices, CloseReason, DetectionStatus } from '../../domain/vulnerabilities/lifecycle.js';
import type { DetectionContent } from '../../domain/vulnerabilities/mapping.js';
import type { DeviceCve, DeviceCves } from '../../domain/vulnerabilities/records.js';
import type { PlanAction } from '../../domain/plan.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import type { FlowContext } from '../kernel/flow.js';
import type { BatchWrite, BatchWriter } from '../kernel/writers/batch.js';
import type { OtVulnerabilitiesConfig } from './config.js';
import type { VrReads } from './reads.js';
import type { VulnerableItems } from './items.js';
import type { DeviceVulnerabilities, vulnerabilityMemories } from './state.js';

/**
 * What the parts of one ot-vulnerabilities run share: the run's context and clients, the VR
 * choice values read at its start, its clock reading, its writer and memories, and its counters.
 */

/** ot-vulnerabilities' own counters (created, updated and errors come from its decisions). */
export interface OtVulnerabilitiesCounters {
  unchanged: number;
  /** Detections created (a CVE newly reported on a device). */
  opened: number;
  /** Detections closed (CVE no longer reported, or device retired). */
  closed: number;
  /** Closed (Fixed or Stale) detections opened again because the CVE came back. */
  reopened: number;
  /** Device-CVE pairs kept for a later run (device without a CI yet, or a failed write). */
  pending: number;
  /** Detections left alone because a person owns their vulnerable item. */
  skipped: number;
  /** Malformed source records reported and skipped. */
  problems: number;
  /** Devices whose CVE list may have been cut by the source (e.g. the sensor API's `top`). */
  truncated: number;
}

/** One (device, CVE) pair to bring to its wanted state. */
export interface DetectionWork {
  readonly key: string;
  readonly deviceKey: string;
  readonly wanted: 'open' | CloseReason;
  readonly cve: DeviceCve;
  readonly content: DetectionContent;
}

/** A device whose state is recorded once all its detection work succeeded. */
export interface DeviceOutcome {
  readonly deviceKey: string;
  readonly hash: string;
  readonly memory: DeviceVulnerabilities;
  /** What to keep pending if a write fails (undefined: nothing to retry from, e.g. closing). */
  readonly payload?: DeviceCves;
}

/** A detection as read from ServiceNow. */
export interface RemoteDetection {
  readonly sysId: string;
  readonly ci: string;
  readonly vulnerability: string;
  readonly status: DetectionStatus;
  readonly timesFound: number;
  readonly item?: string;
  readonly itemState?: string;
  readonly itemSubstate?: string;
}

/** One write to send in a Batch API call, with the device it serves and the writes that follow it. */
export interface Write extends BatchWrite {
  readonly entity: 'vulnerability' | 'detection' | 'vulnerableItem';
  /** Device whose outcome depends on this write. */
  readonly deviceKey?: string;
  /** A write to send once this one succeeded (the vulnerable item, with writeVulnerableItems). */
  follow?: Write | undefined;
  /** For a detection create with writeVulnerableItems: the (CI, vulnerability) whose item it needs. */
  readonly needsItem?: {
    readonly ci: string;
    readonly vulnerability: string;
    /** The stored severity of the CVE's band, for an item Snowline creates. */
    readonly severity?: string | undefined;
  };
}

/** What the parts of one run share. */
export interface VrRun {
  readonly context: FlowContext<OtVulnerabilitiesConfig>;
  readonly servicenow: ServiceNowClient;
  readonly summary: OtVulnerabilitiesCounters;
  readonly choices: VrChoices;
  readonly now: Date;
  readonly nowText: string;
  /** The `source` written on detections (config.ts detectionSourceOf). */
  readonly detectionSource: string;
  readonly refreshAfterMs: number;
  /**
   * True in a part of a run split across workers: other parts write NVD entries, detections and
   * items at the same time, so a record this part created is searched for like any other.
   */
  readonly split: boolean;
  /**
   * Runs `work` (a search and the creates it decides) holding the lock of every record id: parts of
   * a split run take turns on the records they share; a whole run just runs it.
   */
  lock<T>(ids: readonly string[], work: () => Promise<T>): Promise<T>;
  /** Reads (and Batch calls, through `writer`) in flight at once: the flow's `concurrency`. */
  readonly lanes: number;
  readonly writer: BatchWriter;
  readonly memories: ReturnType<typeof vulnerabilityMemories>;
  readonly reads: VrReads;
  readonly items: VulnerableItems;
  /** Records a decision that writes nothing remote (a skip, a problem). */
  decide(action: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] }): Promise<void>;
}

export const NVD_TABLE = 'sn_vul_nvd_entry';
export const DETECTION_TABLE = 'sn_vul_detection';
export const ITEM_TABLE = 'sn_vul_vulnerable_item';
/** In-list size for searches: keeps URLs short (100 sys_ids ≈ 3.3 kB). */
export const SEARCH_CHUNK = 100;
