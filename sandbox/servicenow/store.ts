import Database from 'better-sqlite3';
import type { Schema } from './schema.js';

/** A stored record: its concrete class (table) and its string values. */
export interface Row {
  table: string;
  values: Record<string, string>;
}

/**
 * Fields indexed for equality lookups: what the IRE identifies by, what integrations search by
 * (`correlation_id`, `number`) and the back-references the business rules follow.
 */
export const indexedFields: readonly string[] = [
  'name',
  'serial_number',
  'mac_address',
  'ip_address',
  'correlation_id',
  'number',
  'cmdb_ci',
  'ot_device',
  'configuration_item',
  'vulnerable_item',
  'vulnerability',
  'id',
  'parent',
  'child',
  'user_name',
  'element_id',
  'target_sys_id',
  'source_ip',
  'user',
  'element',
  'external_id',
  'source_native_key',
  // Data Source History rows of a CI, read on every IRE update while reconciliation rules exist.
  'record',
];

/** Multi-field keys looked up on every IRE payload (relation exists? source key known?). */
export const compositeIndexes: Readonly<Record<string, readonly string[]>> = {
  cmdb_rel_ci: ['parent', 'child', 'type'],
  sys_object_source: ['name', 'id'],
};

/** Every record and counter of a store: an instance's data, as a clone or a backup carries it. */
export interface StoreSnapshot {
  readonly records: readonly Row[];
  readonly meta: Readonly<Record<string, string>>;
}

interface Persistence {
  readonly db: Database.Database;
  readonly put: Database.Statement<[string, string, string]>;
  readonly del: Database.Statement<[string]>;
  readonly setMeta: Database.Statement<[string, string]>;
}

/**
 * In-memory record store with equality indexes per root table, and optional write-through to a
 * SQLite file so an instance survives restarts. Records of a class hierarchy share their root's
 * map, so a query on `cmdb_ci` or `task` is one scan filtered by class.
 */
export class Store {
  private readonly rows = new Map<string, Row>();
  private readonly byRoot = new Map<string, Map<string, Row>>();
  private readonly indexes = new Map<string, Map<string, Map<string, Set<Row>>>>();
  private readonly indexed = new Set(indexedFields);
  private readonly meta = new Map<string, string>();
  private readonly composite = new Map<string, Map<string, Set<Row>>>();
  private persistence: Persistence | undefined;

  constructor(private readonly schema: Schema) {}

  /** Opens (or creates) a SQLite file and loads every record it holds. */
  openFile(file: string): void {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(
      'CREATE TABLE IF NOT EXISTS records (sys_id TEXT PRIMARY KEY, tbl TEXT NOT NULL, data TEXT NOT NULL);' +
        'CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);',
    );
    for (const r of db.prepare('SELECT tbl, data FROM records').all() as Array<{
      tbl: string;
      data: string;
    }>) {
      this.add({ table: r.tbl, values: JSON.parse(r.data) as Record<string, string> });
    }
    for (const m of db.prepare('SELECT k, v FROM meta').all() as Array<{ k: string; v: string }>)
      this.meta.set(m.k, m.v);
    this.persistence = {
      db,
      put: db.prepare('INSERT OR REPLACE INTO records (sys_id, tbl, data) VALUES (?, ?, ?)'),
      del: db.prepare('DELETE FROM records WHERE sys_id = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)'),
    };
  }

  close(): void {
    this.persistence?.db.close();
    this.persistence = undefined;
  }

  /** Runs `fn` in one SQLite transaction when persistent (many rows per IRE payload). */
  transaction<T>(fn: () => T): T {
    const p = this.persistence;
    return p ? p.db.transaction(fn)() : fn();
  }

  getMeta(key: string): string | undefined {
    return this.meta.get(key);
  }

  setMeta(key: string, value: string): void {
    this.meta.set(key, value);
    this.persistence?.setMeta.run(key, value);
  }

  get size(): number {
    return this.rows.size;
  }

  get(sysId: string): Row | undefined {
    return this.rows.get(sysId);
  }

  /** A record by sys_id, only if its class is `table` or a descendant of it. */
  getIn(table: string, sysId: string): Row | undefined {
    const r = this.rows.get(sysId);
    return r && this.schema.family(table).has(r.table) ? r : undefined;
  }

  /** Every record of a table and its descendants, in insertion order. */
  *scan(table: string): Generator<Row> {
    const family = this.schema.family(table);
    const all = this.byRoot.get(this.schema.root(table));
    if (!all) return;
    for (const r of all.values()) if (family.has(r.table)) yield r;
  }

  count(table: string): number {
    let n = 0;
    for (const _ of this.scan(table)) n++;
    return n;
  }

  /** Records of `table` (and descendants) whose `field` equals `value`; uses an index when there is one. */
  findBy(table: string, field: string, value: string): Row[] {
    const family = this.schema.family(table);
    // Empty values are not indexed (most rows have many empty indexed fields): scan for those.
    if (this.indexed.has(field) && value !== '') {
      const set = this.indexes.get(this.schema.root(table))?.get(field)?.get(value);
      if (!set) return [];
      const out: Row[] = [];
      for (const r of set) if (family.has(r.table)) out.push(r);
      return out;
    }
    const out: Row[] = [];
    for (const r of this.scan(table)) if ((r.values[field] ?? '') === value) out.push(r);
    return out;
  }

  /** Whether `field` has an index (callers use it to avoid a scan). */
  isIndexed(field: string): boolean {
    return this.indexed.has(field);
  }

  /** Records of a table with a composite index whose fields equal `values` (in index order). */
  findByKey(table: string, values: readonly string[]): Row[] {
    const set = this.composite.get(this.schema.root(table))?.get(values.join('\u0001'));
    return set ? [...set] : [];
  }

  private compositeKey(root: string, row: Row): string | undefined {
    const fields = compositeIndexes[root];
    return fields ? fields.map((f) => row.values[f] ?? '').join('\u0001') : undefined;
  }

  private addComposite(root: string, row: Row): void {
    const key = this.compositeKey(root, row);
    if (key === undefined) return;
    let m = this.composite.get(root);
    if (!m) {
      m = new Map();
      this.composite.set(root, m);
    }
    let set = m.get(key);
    if (!set) {
      set = new Set();
      m.set(key, set);
    }
    set.add(row);
  }

  private removeComposite(root: string, row: Row): void {
    const key = this.compositeKey(root, row);
    if (key === undefined) return;
    const m = this.composite.get(root);
    const set = m?.get(key);
    set?.delete(row);
    if (set && set.size === 0) m?.delete(key);
  }

  insert(table: string, values: Record<string, string>): Row {
    const row: Row = { table, values };
    this.add(row);
    this.persist(row);
    return row;
  }

  /** Applies changes to a row (and moves it to another class when `table` is given). */
  update(row: Row, changes: Record<string, string>, table?: string): void {
    const root = this.schema.root(row.table);
    this.removeComposite(root, row);
    for (const [k, v] of Object.entries(changes)) {
      if (this.indexed.has(k)) {
        const old = row.values[k] ?? '';
        if (old !== v) {
          this.unindex(root, k, old, row);
          this.index(root, k, v, row);
        }
      }
      row.values[k] = v;
    }
    if (table) {
      row.table = table;
      if (row.values.sys_class_name !== undefined) row.values.sys_class_name = table;
    }
    this.addComposite(root, row);
    this.persist(row);
  }

  delete(row: Row): void {
    const sysId = row.values.sys_id ?? '';
    const root = this.schema.root(row.table);
    this.rows.delete(sysId);
    this.byRoot.get(root)?.delete(sysId);
    this.removeComposite(root, row);
    for (const f of this.indexed) {
      const v = row.values[f];
      if (v !== undefined) this.unindex(root, f, v, row);
    }
    this.persistence?.del.run(sysId);
  }

  /** Every record and counter, copied: what {@link replaceWith} takes (a clone's or a backup's data). */
  snapshot(): StoreSnapshot {
    return {
      records: [...this.rows.values()].map((r) => ({ table: r.table, values: { ...r.values } })),
      meta: Object.fromEntries(this.meta),
    };
  }

  /** Replaces every record and counter with a snapshot's (also in the SQLite file). */
  replaceWith(snapshot: StoreSnapshot): void {
    this.transaction(() => {
      this.clear();
      for (const r of snapshot.records) this.insert(r.table, { ...r.values });
      for (const [k, v] of Object.entries(snapshot.meta)) this.setMeta(k, v);
    });
  }

  /** Removes every record and counter (also from the SQLite file). */
  clear(): void {
    this.rows.clear();
    this.byRoot.clear();
    this.indexes.clear();
    this.composite.clear();
    this.meta.clear();
    this.persistence?.db.exec('DELETE FROM records; DELETE FROM meta;');
  }

  private add(row: Row): void {
    const sysId = row.values.sys_id ?? '';
    const root = this.schema.root(row.table);
    this.rows.set(sysId, row);
    let m = this.byRoot.get(root);
    if (!m) {
      m = new Map();
      this.byRoot.set(root, m);
    }
    m.set(sysId, row);
    this.addComposite(root, row);
    for (const f of this.indexed) {
      const v = row.values[f];
      if (v !== undefined) this.index(root, f, v, row);
    }
  }

  private persist(row: Row): void {
    this.persistence?.put.run(row.values.sys_id ?? '', row.table, JSON.stringify(row.values));
  }

  private index(root: string, field: string, value: string, row: Row): void {
    if (value === '') return;
    let byField = this.indexes.get(root);
    if (!byField) {
      byField = new Map();
      this.indexes.set(root, byField);
    }
    let byValue = byField.get(field);
    if (!byValue) {
      byValue = new Map();
      byField.set(field, byValue);
    }
    let set = byValue.get(value);
    if (!set) {
      set = new Set();
      byValue.set(value, set);
    }
    set.add(row);
  }

  private unindex(root: string, field: string, value: string, row: Row): void {
    const byValue = this.indexes.get(root)?.get(field);
    const set = byValue?.get(value);
    if (!set) return;
    set.delete(row);
    if (set.size === 0) byValue?.delete(value);
  }
}
