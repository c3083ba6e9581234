import type { z } from 'zod';
import type { Flow } from '../../domain/flows.js';
import {
  allEntityStates,
  entityStatesAfter,
  getEntityStates,
  type EntityRef,
  type EntityStateUpdate,
} from '../../store/models/entity-state.js';
import type { EntityStateRow } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import type { Recorder } from './recorder.js';

/** What the store remembers of one entity, its flow-specific data parsed and typed. */
export interface Remembered<T> {
  readonly key: string;
  readonly remoteTable: string | null;
  readonly remoteSysId: string | null;
  readonly contentHash: string | null;
  readonly lastSeenAt: string | null;
  readonly lastWrittenAt: string | null;
  readonly retiredAt: string | null;
  /** The flow-specific data; undefined when none was recorded or it does not parse. */
  readonly data: T | undefined;
}

/** Where a memory lives: the store, and the flow run whose queued records it overlays (if any). */
export interface MemoryScope {
  readonly store: Store;
  readonly integrationId: string;
  readonly flow: Flow;
  /** The run's recorder: its queued, uncommitted records are read as if committed. */
  readonly recorder?: Recorder;
}

/**
 * Typed state of one kind of entity of one flow (`entity_state` rows of that flow and entity),
 * with a zod schema for its data: no flow casts another's JSON with `as T`. Reads overlay what the
 * run queued and did not commit yet, so a flow reads its own writes without forcing a commit.
 *
 * @example
 * const tickets = new FlowMemory(scope, 'ticket', TicketMemorySchema);
 * const found = await tickets.get([groupKey]);
 * found.get(groupKey)?.data?.correlationId;
 */
export class FlowMemory<T> {
  constructor(
    private readonly scope: MemoryScope,
    readonly entity: string,
    private readonly schema: z.ZodType<T>,
  ) {}

  /** The remembered state of these keys (keys never recorded are absent). */
  async get(keys: readonly string[]): Promise<Map<string, Remembered<T>>> {
    const rows = await getEntityStates(this.scope.store.db, this.ref(), keys);
    const found = new Map<string, Remembered<T>>();
    for (const key of new Set(keys)) {
      const remembered = this.remembered(key, rows.get(key));
      if (remembered) found.set(key, remembered);
    }
    return found;
  }

  /** The remembered state of one key. */
  async one(key: string): Promise<Remembered<T> | undefined> {
    return (await this.get([key])).get(key);
  }

  /**
   * Every remembered entity, a page at a time in key order (committed state only: call
   * `recorder.flush()` first when the run's own records must be in it).
   */
  async *all(options: { unseenBefore?: Date; pageSize?: number } = {}): AsyncGenerator<Remembered<T>[]> {
    for await (const page of allEntityStates(this.scope.store.db, this.ref(), options))
      yield page.map((row) => this.remembered(row.source_key, row)!);
  }

  /**
   * One page of remembered entities whose data `matches`, in key order after `cursor` (committed
   * state only). The data lives in JSON, so a filter reads store pages until one is full; `next`
   * is the cursor of the following page, null on the last.
   */
  async page(options: {
    readonly limit: number;
    readonly cursor?: string | undefined;
    readonly matches?: (data: T) => boolean;
  }): Promise<{ items: { key: string; data: T }[]; next: string | null }> {
    const items: { key: string; data: T }[] = [];
    let after = options.cursor ?? '';
    for (;;) {
      const rows = await entityStatesAfter(this.scope.store.db, this.ref(), after, options.limit);
      for (const row of rows) {
        const data = this.parse(row.data);
        if (data !== undefined && (!options.matches || options.matches(data)))
          items.push({ key: row.source_key, data });
        if (items.length === options.limit) return { items, next: row.source_key };
      }
      if (rows.length < options.limit) return { items, next: null };
      after = rows[rows.length - 1]!.source_key;
    }
  }

  /** The entity state update that records `data` (and the given columns) for `key`. */
  state(
    key: string,
    data: T,
    columns: Omit<EntityStateUpdate, 'sourceKey' | 'data'> = {},
  ): EntityStateUpdate {
    return { ...columns, sourceKey: key, data };
  }

  /** Parses recorded data; undefined when it does not match the schema (recorded by another version). */
  parse(text: string | null | undefined): T | undefined {
    if (!text) return undefined;
    try {
      return this.valid(JSON.parse(text));
    } catch {
      return undefined;
    }
  }

  /** The value as this memory's type, or undefined when it does not match the schema. */
  private valid(value: unknown): T | undefined {
    if (value === null) return undefined;
    const parsed = this.schema.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  }

  private remembered(key: string, row: EntityStateRow | undefined): Remembered<T> | undefined {
    const pending = this.scope.recorder?.pendingState(this.entity, key);
    if (!row && !pending) return undefined;
    const pick = <V>(field: keyof EntityStateUpdate, stored: V): V =>
      pending && pending[field] !== undefined ? (pending[field] as V) : stored;
    const pendingData = pending?.data;
    return {
      key,
      remoteTable: pick('remoteTable', row?.remote_table ?? null),
      remoteSysId: pick('remoteSysId', row?.remote_sys_id ?? null),
      contentHash: pick('contentHash', row?.content_hash ?? null),
      lastSeenAt: pick('lastSeenAt', row?.last_seen_at ?? null),
      lastWrittenAt: pick('lastWrittenAt', row?.last_written_at ?? null),
      retiredAt: pick('retiredAt', row?.retired_at ?? null),
      data: pendingData !== undefined ? this.valid(pendingData) : this.parse(row?.data),
    };
  }

  private ref(): EntityRef {
    return { integrationId: this.scope.integrationId, flow: this.scope.flow, entity: this.entity };
  }
}
