/**
 * Identification and Reconciliation Engine (§3.1–3.2): `/api/now/identifyreconcile` and its
 * `query` (simulation), `enhanced` and `queryEnhanced` variants.
 *
 * Model: per class an identification rule (ordered identifier entries, inherited by descendants);
 * `sys_object_source(name, id)` is tried first; the first MATCHED entry wins, MULTI_MATCH is an
 * error, no match inserts. Dependent classes (NIC, IP address) need an `Owns::Owned by` relation
 * to a parent item and are identified within that parent. Item failures are reported inside the
 * 200 response, never as an HTTP error.
 */
import { ireClassKnown, ruleFor, type IdentificationRule, type IdentifierEntry } from './schema.js';
import { newSysId, type Caller, type Instance } from './instance.js';
import {
  decideReclassification,
  type ReclassificationInfo,
  type ReclassificationKind,
  type ReclassificationPolicy,
} from './reclassify.js';
import type { Row } from './store.js';
import { governedOnInsert, loadReconciliation, reconcileUpdate, type LastUpdate } from './reconcile.js';

/** Options of one IRE call. */
export interface IreCallOptions {
  /** false for `/query` and `/queryEnhanced`: identify and report, commit nothing. */
  readonly commit: boolean;
  readonly enhanced: boolean;
  /** Parsed `options=` of the enhanced API (partial_payloads, generate_summary, ...). */
  readonly options: Readonly<Record<string, boolean>>;
  /** `sysparm_data_source`, when given. */
  readonly dataSource: string | undefined;
  readonly caller: Caller;
}

interface IreError {
  error: string;
  message: string;
}

type Json = Record<string, unknown>;

interface PayloadEntry {
  className: string;
  values: Record<string, string>;
}

interface WorkItem {
  index: number;
  className: string;
  internalId: string | undefined;
  values: Record<string, string>;
  lookup: PayloadEntry[];
  related: PayloadEntry[];
  source: { name: string; key: string; feed: string; recency: string } | undefined;
  /** The data source the item is reconciled as: `sysparm_data_source`, else `source_name`, else its `discovery_source`. */
  dataSource: string;
  raw: Json;
  errors: IreError[];
  warnings: IreError[];
  rule: IdentificationRule | undefined;
  /** Index of the parent item for dependent classes. */
  parent: number | undefined;
  sysId: string | undefined;
  done: boolean;
  result: Json;
  mergedPayloadIds: string[];
  /** Reclassifications skipped for this item (`info[]` of the response). */
  info: ReclassificationInfo[];
}

const toStr = (v: unknown): string =>
  v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);

function strValues(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v))
    for (const [k, x] of Object.entries(v)) out[k] = toStr(x);
  return out;
}

function entries(v: unknown): PayloadEntry[] {
  if (!Array.isArray(v)) return [];
  return v.map((e: unknown) => {
    const o = (e && typeof e === 'object' ? e : {}) as Json;
    return { className: toStr(o.className), values: strValues(o.values) };
  });
}

/** Counters of the enhanced API's `summary`. */
interface ClassSummary {
  inserted: number;
  updated: number;
  unchanged: number;
  skipped: number;
  partial: number;
  incomplete: number;
  errors: number;
  warnings: number;
  additionalInserted: number;
  mergedPartialPayloads: number;
}

/** Runs one IRE payload. Throws only for a body that is not an IRE payload at all. */
export function identifyReconcile(instance: Instance, body: unknown, opts: IreCallOptions): Json {
  const store = instance.store;
  const schema = instance.schema;
  const now = instance.now();
  const payload = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Json;
  const rawItems = Array.isArray(payload.items) ? (payload.items as unknown[]) : [];
  const rawRelations = Array.isArray(payload.relations) ? (payload.relations as unknown[]) : [];
  const rawRefs = Array.isArray(payload.referenceItems) ? (payload.referenceItems as unknown[]) : [];
  const sources = instance.discoverySources();
  const reconciliation = loadReconciliation(instance);
  /**
   * The reclassification policy of one item: the glide.class.* and update_without properties
   * ([SND] markdown/servicenow-platform/configuration-management-database-cmdb/properties-id-reconciliation.md),
   * overridden per item by classUpgrade/classDowngrade/classSwitch (c_CIReclassification.md, "in
   * input payloads") and items.settings.updateWithout* (c_IdentifyReconcileAPI.md).
   */
  const policyFor = (it: WorkItem): ReclassificationPolicy => {
    const settings = (it.raw.settings && typeof it.raw.settings === 'object' ? it.raw.settings : {}) as Json;
    const flag = (v: unknown): boolean | undefined =>
      v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined;
    const upper = (k: ReclassificationKind): string => k.charAt(0).toUpperCase() + k.slice(1);
    const kinds: readonly ReclassificationKind[] = ['upgrade', 'downgrade', 'switch'];
    const enabled = {} as Record<ReclassificationKind, boolean>;
    const updateWithout = {} as Record<ReclassificationKind, boolean>;
    for (const k of kinds) {
      enabled[k] =
        flag(it.raw[`class${upper(k)}`]) ?? instance.property(`glide.class.${k}.enabled`) !== 'false';
      updateWithout[k] =
        flag(settings[`updateWithout${upper(k)}`]) === true ||
        instance.property(`glide.identification_engine.update_without_${k}_enabled`) === 'true';
    }
    return { enabled, updateWithout };
  };
  const summary = new Map<string, ClassSummary>();
  const bump = (cls: string, key: keyof ClassSummary): void => {
    let s = summary.get(cls);
    if (!s) {
      s = {
        mergedPartialPayloads: 0,
        inserted: 0,
        partial: 0,
        warnings: 0,
        incomplete: 0,
        additionalInserted: 0,
        unchanged: 0,
        skipped: 0,
        updated: 0,
        errors: 0,
      };
      summary.set(cls, s);
    }
    s[key]++;
  };
  const partialEnabled = opts.enhanced && opts.options.partial_payloads !== false;

  // Reference fields IRE fills itself (from referenceItems) are not the payload's to get right.
  const filledByReferenceItems = new Map<string, Set<string>>();
  for (const r of rawRefs) {
    const o = (r && typeof r === 'object' ? r : {}) as Json;
    const holder = toStr(o.referencedBy);
    const fields = filledByReferenceItems.get(holder) ?? new Set<string>();
    fields.add(toStr(o.referenceField));
    filledByReferenceItems.set(holder, fields);
  }

  /**
   * "For a reference field, the value must be the referenced sys_id" ([SND]
   * markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md, items.values,
   * items.related.values, items.lookup.values). Anything else fails the item with the catalogue's
   * INVALID_INPUT_DATA text ([SND]
   * markdown/servicenow-platform/configuration-management-database-cmdb/id-engine-error-messages.md),
   * before identification, so nothing of the item is written. An empty string clears the field.
   * Left out: `sys_*` fields (IRE ignores them), the back-reference of a lookup or related entry,
   * and the parent reference of a dependent CI and fields named by referenceItems (IRE sets those).
   */
  function invalidReferences(item: WorkItem): IreError[] {
    const out: IreError[] = [];
    const check = (className: string, values: Record<string, string>, skip: ReadonlySet<string>): void => {
      if (!schema.has(className)) return;
      for (const [field, value] of Object.entries(values)) {
        if (value === '' || field.startsWith('sys_') || skip.has(field)) continue;
        const def = schema.field(className, field);
        if (def?.type !== 'reference' || !def.ref) continue;
        const target = store.getIn(def.ref, value);
        const duplicate =
          target !== undefined &&
          schema.isA(target.table, 'cmdb_ci') &&
          (target.values.duplicate_of ?? '') !== '';
        if (!target || duplicate)
          out.push({
            error: 'INVALID_INPUT_DATA',
            message: `Found invalid sys_id in payload. No record with sys_id [${value}] exist in table [${def.ref}] or is a duplicate record with [duplicate_of] field set to a main CI`,
          });
      }
    };
    const own = new Set(
      item.internalId === undefined ? [] : (filledByReferenceItems.get(item.internalId) ?? []),
    );
    // Dependent CIs get their parent reference from the Owns relation (see parentField).
    if (item.rule?.dependent) for (const f of ['cmdb_ci', 'owned_by_cmdb_ci', 'nic']) own.add(f);
    check(item.className, item.values, own);
    for (const l of item.lookup) check(l.className, l.values, new Set(['cmdb_ci']));
    for (const r of item.related) {
      const refField = item.rule?.related?.[r.className]?.refField;
      check(r.className, r.values, new Set(refField ? [refField] : []));
    }
    return out;
  }

  // ---- parse and validate items
  const items: WorkItem[] = rawItems.map((r, index) => {
    const o = (r && typeof r === 'object' ? r : {}) as Json;
    const soi = (
      o.sys_object_source_info && typeof o.sys_object_source_info === 'object'
        ? o.sys_object_source_info
        : undefined
    ) as Json | undefined;
    const item: WorkItem = {
      index,
      className: toStr(o.className),
      internalId: o.internal_id === undefined ? undefined : toStr(o.internal_id),
      values: strValues(o.values),
      lookup: entries(o.lookup),
      related: entries(o.related),
      source: soi
        ? {
            name: toStr(soi.source_name),
            key: toStr(soi.source_native_key),
            feed: toStr(soi.source_feed),
            recency: toStr(soi.source_recency_timestamp),
          }
        : undefined,
      dataSource: '',
      raw: o,
      errors: [],
      warnings: [],
      rule: undefined,
      parent: undefined,
      sysId: undefined,
      done: false,
      result: {},
      mergedPayloadIds: [],
      info: [],
    };
    const dataSource = opts.dataSource ?? item.source?.name ?? item.values.discovery_source;
    if (opts.dataSource !== undefined && !sources.has(opts.dataSource)) {
      item.errors.push(invalidSource(opts.dataSource));
    } else if (item.source && item.source.name !== '' && !sources.has(item.source.name)) {
      item.errors.push(invalidSource(item.source.name));
    } else if (!item.className) {
      item.errors.push({
        error: 'NO_CLASS_NAME_FOR_INDEPENDENT_CI',
        message: `In payload no className specified for payload item '${JSON.stringify(o)}'`,
      });
    } else if (!ireClassKnown(schema, item.className)) {
      // UNVERIFIED message text; the code is the one the platform uses for bad input.
      item.errors.push({
        error: 'INVALID_INPUT_DATA',
        message: `In payload invalid className [${item.className}]: no such CMDB class exist`,
      });
    } else {
      item.rule = ruleFor(item.className, schema);
      if (!item.rule) {
        item.errors.push({
          error: 'IDENTIFICATION_RULE_MISSING',
          message: `Identification rule missing for table [${item.className}]`,
        });
      }
      for (const rel of item.related) {
        if (!item.rule?.related?.[rel.className]) {
          item.errors.push({
            error: 'IDENTIFICATION_RULE_FOR_RELATED_ITEM_MISSING',
            message: `Identification rule for related item [${rel.className}] missing for table [${item.className}]`,
          });
        }
      }
    }
    if (item.errors.length === 0) item.errors.push(...invalidReferences(item));
    item.values.discovery_source = item.values.discovery_source || (dataSource ?? 'ServiceNow');
    item.dataSource = opts.dataSource || item.source?.name || item.values.discovery_source;
    return item;
  });
  const byInternalId = new Map<string, number>();
  for (const it of items) if (it.internalId !== undefined) byInternalId.set(it.internalId, it.index);

  // ---- relations
  interface WorkRelation {
    index: number;
    parent: number | undefined;
    child: number | undefined;
    type: string;
    typeSysId: string | undefined;
    errors: IreError[];
  }
  const relations: WorkRelation[] = rawRelations.map((r, index) => {
    const o = (r && typeof r === 'object' ? r : {}) as Json;
    const resolve = (idx: unknown, id: unknown): number | undefined => {
      if (typeof idx === 'number' && Number.isInteger(idx) && idx >= 0 && idx < items.length) return idx;
      if (typeof idx === 'string' && /^\d+$/.test(idx) && Number(idx) < items.length) return Number(idx);
      if (id !== undefined) return byInternalId.get(toStr(id));
      return undefined;
    };
    const type = toStr(o.type);
    const rel: WorkRelation = {
      index,
      parent: resolve(o.parent, o.parent_id),
      child: resolve(o.child, o.child_id),
      type,
      typeSysId: store.findBy('cmdb_rel_type', 'name', type)[0]?.values.sys_id,
      errors: [],
    };
    if (!rel.typeSysId) {
      rel.errors.push({
        error: 'INVALID_INPUT_DATA',
        message: `No such relationship with name [${type}] exist in table [cmdb_rel_type]`,
      });
    }
    if (rel.parent === undefined || rel.child === undefined) {
      rel.errors.push({
        error: 'INVALID_INPUT_DATA',
        message: `In payload relation ${index} refers to an item that does not exist in the payload`,
      });
    }
    // UNVERIFIED: an invalid relation fails the items it joins, so nothing half-linked is committed.
    if (rel.errors.length) {
      for (const i of [rel.parent, rel.child]) {
        const it = i === undefined ? undefined : items[i];
        if (it && it.errors.length === 0) it.errors.push(...rel.errors);
      }
    }
    return rel;
  });

  // ---- dependencies (NIC / IP address need Owns::Owned by to a parent item)
  for (const it of items) {
    const dep = it.rule?.dependent;
    if (!dep || it.errors.length) continue;
    const rel = relations.find(
      (r) =>
        r.child === it.index &&
        r.type === dep.relType &&
        r.parent !== undefined &&
        schema.isA(items[r.parent]?.className ?? '', dep.dependsOn),
    );
    if (!rel) {
      it.errors.push({
        error: 'MISSING_DEPENDENCY',
        message: `In payload no relations defined for dependent class [${it.className}] that matches any of the dependent rules for payload item '${JSON.stringify(it.raw)}'`,
      });
    } else {
      it.parent = rel.parent;
    }
  }

  // ---- partial payloads (enhanced): merge stored partials with the same source key
  if (partialEnabled) {
    for (const it of items) {
      if (!it.source?.key || it.errors.length) continue;
      const partial = store
        .findBy('cmdb_ire_partial_payloads', 'source_native_key', it.source.key)
        .find((p) => p.values.source_name === it.source?.name);
      if (!partial) continue;
      const stored = JSON.parse(partial.values.payload ?? '{}') as {
        values?: Record<string, string>;
        lookup?: PayloadEntry[];
      };
      it.values = { ...(stored.values ?? {}), ...it.values };
      it.lookup = [...(stored.lookup ?? []), ...it.lookup];
      it.mergedPayloadIds.push(partial.values.sys_id ?? '');
      bump(it.className, 'mergedPartialPayloads');
      if (opts.commit) instance.delete(partial);
    }
  }

  // ---- process items, parents before dependents
  const simulated = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const it of items) {
      if (it.done) continue;
      if (it.errors.length) {
        it.done = true;
        progress = true;
        continue;
      }
      if (it.parent !== undefined) {
        const p = items[it.parent];
        if (!p) continue;
        if (!p.done) continue;
        if (p.errors.length || !p.sysId) {
          const name = (x: WorkItem): string => x.internalId ?? JSON.stringify(x.raw);
          it.errors.push({
            error: 'ABANDONED',
            message: `Abandoning processing payload item '${name(it)}', since its depends on payload item '${name(p)}' has errors`,
          });
          it.done = true;
          progress = true;
          continue;
        }
      }
      processItem(it);
      it.done = true;
      progress = true;
    }
  }

  function parentField(it: WorkItem): string | undefined {
    if (it.parent === undefined) return undefined;
    return schema.isA(it.className, 'cmdb_ci_ip_address') ? 'owned_by_cmdb_ci' : 'cmdb_ci';
  }

  function identify(it: WorkItem): {
    attempts: Json[];
    match: Row | undefined;
    entry: IdentifierEntry | undefined;
    multi: boolean;
    anyTried: boolean;
  } {
    const attempts: Json[] = [];
    const rule = it.rule as IdentificationRule;
    let anyTried = false;
    if (it.source && it.source.name && it.source.key) {
      const src = store.findByKey('sys_object_source', [it.source.name, it.source.key])[0];
      const target = src ? store.get(src.values.target_sys_id ?? '') : undefined;
      attempts.push({
        info: `sys_object_source ${target ? 'MATCHED' : 'NO_MATCH'}`,
        identifierName: '',
        attemptResult: target ? 'MATCHED' : 'NO_MATCH',
        attributes: [],
        hybridEntryCiAttributes: [],
      });
      if (target) return { attempts, match: target, entry: undefined, multi: false, anyTried: true };
    }
    const pf = parentField(it);
    const parentSysId = it.parent !== undefined ? items[it.parent]?.sysId : undefined;
    for (const entry of rule.entries) {
      const attempt: Json = {
        identifierName: rule.name,
        attemptResult: 'SKIPPED',
        attributes: [...entry.attributes],
        searchOnTable: entry.searchOnTable,
        hybridEntryCiAttributes: [],
      };
      attempts.push(attempt);
      let candidates: Row[] | undefined;
      if (entry.lookup) {
        const sources = it.lookup.filter(
          (l) =>
            schema.has(l.className) &&
            schema.isA(l.className, entry.searchOnTable) &&
            entry.attributes.every((a) => (l.values[a] ?? '') !== ''),
        );
        if (sources.length === 0) continue;
        const found = new Map<string, Row>();
        for (const l of sources) {
          const [first, ...rest] = entry.attributes;
          for (const row of store.findBy(entry.searchOnTable, first ?? '', l.values[first ?? ''] ?? '')) {
            if (!rest.every((a) => (row.values[a] ?? '') === l.values[a])) continue;
            const ci = store.getIn(rule.appliesTo, row.values.cmdb_ci ?? '');
            if (ci) found.set(ci.values.sys_id ?? '', ci);
          }
        }
        candidates = [...found.values()];
      } else {
        const optional = entry.attributes.filter((a) => a.endsWith('_managed_network'));
        const required = entry.attributes.filter((a) => !optional.includes(a));
        if (!required.every((a) => (it.values[a] ?? '') !== '')) continue;
        if (pf && (!parentSysId || simulated.has(parentSysId))) {
          candidates = [];
        } else {
          const [first, ...rest] = required;
          candidates = store
            .findBy(entry.searchOnTable, first ?? '', it.values[first ?? ''] ?? '')
            .filter((row) => rest.every((a) => (row.values[a] ?? '') === it.values[a]))
            .filter((row) => optional.every((a) => (row.values[a] ?? '') === (it.values[a] ?? '')))
            .filter((row) => !pf || row.values[pf] === parentSysId);
        }
      }
      anyTried = true;
      if (candidates.length === 0) {
        attempt.attemptResult = 'NO_MATCH';
        continue;
      }
      if (candidates.length > 1) {
        attempt.attemptResult = 'MULTI_MATCH';
        return { attempts, match: undefined, entry, multi: true, anyTried };
      }
      attempt.attemptResult = 'MATCHED';
      return { attempts, match: candidates[0], entry, multi: false, anyTried };
    }
    return { attempts, match: undefined, entry: undefined, multi: false, anyTried };
  }

  /** The CI's Data Source History by attribute. */
  function historyOf(ciSysId: string): Map<string, LastUpdate> {
    const history = new Map<string, LastUpdate>();
    for (const h of store.findBy('cmdb_datasource_last_update', 'record', ciSysId))
      history.set(h.values.attribute ?? '', {
        source: h.values.discovery_source ?? '',
        updatedOn: h.values.updated_on ?? '',
      });
    return history;
  }

  /**
   * Records `source` as the last source of each attribute: "Information about the last discovery
   * source that updates each attribute is stored in the Data Source History
   * [cmdb_datasource_last_update] table, but only after enabling the reconciliation rule" ([SND]
   * markdown/servicenow-platform/configuration-management-database-cmdb/create-reconciliation-rule.md).
   */
  function recordHistory(
    ciSysId: string,
    className: string,
    attributes: readonly string[],
    source: string,
  ): void {
    if (attributes.length === 0) return;
    const existing = new Map(
      store
        .findBy('cmdb_datasource_last_update', 'record', ciSysId)
        .map((h) => [h.values.attribute ?? '', h]),
    );
    for (const attribute of attributes) {
      const values = {
        record: ciSysId,
        class: className,
        attribute,
        discovery_source: source,
        updated_on: now,
      };
      const row = existing.get(attribute);
      if (row) instance.update(row, values, opts.caller);
      else instance.insert('cmdb_datasource_last_update', values, opts.caller);
    }
  }

  function echo(it: WorkItem): string {
    const e: Json = { className: it.className, values: it.values };
    if (it.source) e.sys_object_source_info = it.raw.sys_object_source_info;
    e.settings = it.raw.settings ?? {};
    e.sys_ire_info = { ire_received_time: now };
    return JSON.stringify(e);
  }

  function processItem(it: WorkItem): void {
    const rule = it.rule as IdentificationRule;
    const id = identify(it);
    if (id.multi) {
      it.errors.push({
        error: 'MULTI_MATCH',
        message: `Identification rule [${rule.name}] matched multiple records in table [${id.entry?.searchOnTable}] for payload item '${echo(it)}'`,
      });
      it.result.identificationAttempts = id.attempts;
      return;
    }
    const payloadId = newSysId();
    if (!id.match && !id.anyTried) {
      const warning = {
        error: 'MISSING_MATCHING_ATTRIBUTES',
        message: `In payload missing minimum set of input values for criterion (matching) attributes from identify rule for table [${rule.appliesTo}]. Add these input values in payload item '${echo(it)}'`,
      };
      if (partialEnabled) {
        let partialId = newSysId();
        if (opts.commit) {
          partialId =
            instance.insert(
              'cmdb_ire_partial_payloads',
              {
                payload: JSON.stringify({ values: it.values, lookup: it.lookup }),
                source_name: it.source?.name ?? '',
                source_native_key: it.source?.key ?? '',
                class_name: it.className,
              },
              opts.caller,
            ).values.sys_id ?? partialId;
        }
        it.warnings.push(warning);
        bump(it.className, 'partial');
        it.result = {
          className: it.className,
          operation: 'INSERT_AS_PARTIAL',
          sysId: 'Unknown',
          partialSysIds: [partialId],
          identifierEntrySysId: 'Unknown',
          identificationAttempts: id.attempts,
        };
        it.mergedPayloadIds.push(payloadId);
        return;
      }
      it.errors.push(warning);
      it.result.identificationAttempts = id.attempts;
      return;
    }
    const pf = parentField(it);
    const parent = it.parent !== undefined ? items[it.parent] : undefined;
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(it.values))
      if (!k.startsWith('sys_') && instance.schema.acceptsField(it.className, k)) values[k] = v;
    if (pf && parent?.sysId) values[pf] = parent.sysId;
    if (schema.isA(it.className, 'cmdb_ci_ip_address')) {
      values.name = values.name || values.ip_address || '';
      if (parent && schema.isA(parent.className, 'cmdb_ci_network_adapter') && parent.sysId)
        values.nic = parent.sysId;
    }
    let operation: string;
    let row: Row | undefined = id.match;
    if (row) {
      const match: Row = row;
      let moveTo: string | undefined;
      let op = 'UPDATE';
      const decision = decideReclassification(schema, match.table, it.className, policyFor(it));
      if (decision.kind === 'refuse') {
        it.errors.push({ ...decision.error });
        it.result.identificationAttempts = id.attempts;
        // The task lets someone reclassify by hand ([SND] t_ViewReclassificationTask.md).
        if (opts.commit)
          instance.insert(
            'reclassification_task',
            {
              cmdb_ci: match.values.sys_id ?? '',
              // UNVERIFIED texts: the doc describes them ("noting that CI reclassification was
              // not allowed", "the current class of the CI and the class that the CI must be
              // changed to").
              short_description: 'CI reclassification not allowed',
              description: `Current class: ${match.table}. Class to change to: ${it.className}.`,
              internal_payload: echo(it),
            },
            opts.caller,
          );
        return;
      }
      if (decision.kind === 'reclassify') {
        moveTo = it.className;
        op = decision.operation;
      } else if (decision.kind === 'skip') {
        it.info.push(decision.info);
      }
      // Static reconciliation rules decide which of the payload's values may update the CI (in
      // its class after any reclassification); identification above used them all.
      const ciClass = moveTo ?? match.table;
      const reconciled = reconciliation
        ? reconcileUpdate(schema, reconciliation, {
            className: ciClass,
            source: it.dataSource,
            values,
            current: match.values,
            history: historyOf(match.values.sys_id ?? ''),
            now,
          })
        : undefined;
      const writable = reconciled?.accepted ?? values;
      const changed = Object.entries(writable).some(
        ([k, v]) =>
          (match.values[k] ?? '') !== v &&
          k !== 'last_discovered' &&
          !(k === 'discovery_source' && (match.values[k] ?? '') !== ''),
      );
      const discovered = lastDiscovered(values.last_discovered, match.values.last_discovered, now);
      if (!changed && !moveTo) {
        operation = 'NO_CHANGE';
        bump(it.className, 'unchanged');
        // "IRE always updates CIs' last_discovered and discovery_source attributes during payload
        // processing, even when no other CI attributes are updated" ([SND] ire.md).
        if (opts.commit && discovered !== match.values.last_discovered)
          instance.update(match, { last_discovered: discovered }, opts.caller);
      } else {
        operation = op;
        bump(it.className, 'updated');
        if (opts.commit) {
          if (moveTo) store.update(match, {}, moveTo);
          instance.update(match, { ...writable, last_discovered: discovered }, opts.caller);
        }
      }
      if (opts.commit && reconciled)
        recordHistory(match.values.sys_id ?? '', ciClass, reconciled.recorded, it.dataSource);
      it.sysId = match.values.sys_id;
    } else {
      operation = 'INSERT';
      bump(it.className, 'inserted');
      if (opts.commit) {
        row = instance.insert(
          it.className,
          {
            ...values,
            first_discovered: values.first_discovered || now,
            last_discovered: values.last_discovered || now,
          },
          opts.caller,
        );
        it.sysId = row.values.sys_id;
        if (reconciliation)
          recordHistory(
            it.sysId ?? '',
            it.className,
            governedOnInsert(schema, reconciliation, it.className, values),
            it.dataSource,
          );
      } else {
        it.sysId = newSysId();
        simulated.add(it.sysId);
      }
    }
    const ciSysId = it.sysId ?? '';
    // sys_object_source keeps the vendor key → CI link that the next payload matches first.
    if (opts.commit && it.source?.name && it.source.key) {
      const src = store.findByKey('sys_object_source', [it.source.name, it.source.key])[0];
      const srcValues = {
        name: it.source.name,
        id: it.source.key,
        target_table: row?.table ?? it.className,
        target_sys_id: ciSysId,
        last_scan: now,
        source_feed: it.source.feed,
      };
      if (src) instance.update(src, srcValues, opts.caller);
      else instance.insert('sys_object_source', srcValues, opts.caller);
    }
    // lookup and related entries are written against the identified CI
    const relatedItems: Json[] = [];
    const relatedSysIds: Array<string | null> = [];
    const writeSub = (
      sub: PayloadEntry,
      subIndex: number,
      refField: string,
      key: readonly string[],
    ): void => {
      let op = 'NO_CHANGE';
      let subId: string | null = null;
      if (schema.has(sub.className)) {
        const existing = simulated.has(ciSysId)
          ? undefined
          : store
              .findBy(sub.className, refField, ciSysId)
              .find((r) => key.every((k) => (r.values[k] ?? '') === (sub.values[k] ?? '')));
        const subValues = { ...sub.values, [refField]: ciSysId };
        if (existing) {
          op = Object.entries(subValues).some(([k, v]) => (existing.values[k] ?? '') !== v)
            ? 'UPDATE'
            : 'NO_CHANGE';
          if (opts.commit) instance.update(existing, subValues, opts.caller);
          subId = existing.values.sys_id ?? null;
        } else {
          op = 'INSERT';
          subId = opts.commit
            ? (instance.insert(sub.className, subValues, opts.caller).values.sys_id ?? null)
            : newSysId();
        }
        if (opts.commit && sub.className === 'cmdb_ot_entity' && subId && row)
          instance.update(row, { cmdb_ot_entity: subId }, opts.caller);
      }
      if (opts.enhanced)
        bump(sub.className, op === 'INSERT' ? 'inserted' : op === 'UPDATE' ? 'updated' : 'unchanged');
      relatedSysIds.push(subId);
      const entry: Json = {
        className: sub.className,
        markers: [],
        inputIndices: [{ mainIndex: it.index, subIndex }],
        mergedPayloadIds: [],
      };
      if (opts.enhanced)
        Object.assign(entry, {
          operation: op,
          sysId: subId ?? 'Unknown',
          errors: [],
          errorCount: 0,
          warningCount: 0,
        });
      relatedItems.push(entry);
    };
    it.lookup.forEach((l, i) => {
      const key =
        l.className === 'cmdb_serial_number'
          ? ['serial_number', 'serial_number_type']
          : ['mac_address', 'name'].filter((k) => l.values[k] !== undefined);
      writeSub(l, i, 'cmdb_ci', key);
    });
    it.related.forEach((r, i) => {
      const spec = rule.related?.[r.className];
      if (spec) writeSub(r, it.lookup.length + i, spec.refField, spec.key);
    });
    it.result = {
      className: it.className,
      operation,
      sysId: ciSysId,
      identifierEntrySysId: id.entry && id.match ? id.entry.sysId : 'Unknown',
      identificationAttempts: id.attempts,
    };
    if (relatedItems.length)
      Object.assign(it.result, { relatedSysIds, relatedItems, additionalRelatedItems: [] });
  }

  // ---- relations → cmdb_rel_ci
  const relationResults: Json[] = relations.map((rel) => {
    const base: Json = {
      className: 'cmdb_rel_ci',
      markers: [],
      inputIndices: [rel.index],
      mergedPayloadIds: [],
    };
    const p = rel.parent !== undefined ? items[rel.parent] : undefined;
    const c = rel.child !== undefined ? items[rel.child] : undefined;
    if (rel.errors.length) return { ...base, errorCount: rel.errors.length, errors: rel.errors };
    if (
      !p?.sysId ||
      !c?.sysId ||
      p.errors.length ||
      c.errors.length ||
      !rel.typeSysId ||
      p.result.operation === 'INSERT_AS_PARTIAL' ||
      c.result.operation === 'INSERT_AS_PARTIAL'
    ) {
      const errors = [
        {
          error: 'ABANDONED',
          message: `Abandoning relation ${rel.index}, since one of its payload items has errors`,
        },
      ];
      return { ...base, errorCount: 1, errors };
    }
    const existing =
      simulated.has(p.sysId) || simulated.has(c.sysId)
        ? undefined
        : store.findByKey('cmdb_rel_ci', [p.sysId, c.sysId, rel.typeSysId])[0];
    if (existing) return { ...base, operation: 'NO_CHANGE', errorCount: 0 };
    if (opts.commit)
      instance.insert('cmdb_rel_ci', { parent: p.sysId, child: c.sysId, type: rel.typeSysId }, opts.caller);
    return { ...base, operation: 'INSERT', errorCount: 0 };
  });

  // ---- referenceItems: set a reference field of one item to another item's sys_id
  if (opts.commit) {
    for (const r of rawRefs) {
      const o = (r && typeof r === 'object' ? r : {}) as Json;
      const referenced = byInternalId.get(toStr(o.referenced));
      const referencedBy = byInternalId.get(toStr(o.referencedBy));
      const field = toStr(o.referenceField);
      const target = referenced !== undefined ? items[referenced]?.sysId : undefined;
      const holder = referencedBy !== undefined ? items[referencedBy]?.sysId : undefined;
      const holderRow = holder ? store.get(holder) : undefined;
      if (target && holderRow && schema.acceptsField(holderRow.table, field))
        instance.update(holderRow, { [field]: target }, opts.caller);
    }
  }

  // ---- assemble
  const itemResults = items.map((it) => {
    if (it.errors.length) {
      bump(it.className || 'unknown', 'errors');
      return {
        className: it.className,
        sysId: 'Unknown',
        identifierEntrySysId: 'Unknown',
        identificationAttempts: (it.result.identificationAttempts as unknown[]) ?? [],
        errors: it.errors,
        errorCount: it.errors.length,
        warningCount: it.warnings.length,
        info: [],
        markers: [],
        inputIndices: [it.index],
        mergedPayloadIds: it.mergedPayloadIds,
      };
    }
    const out: Json = {
      ...it.result,
      markers: [],
      inputIndices: [it.index],
      mergedPayloadIds: it.mergedPayloadIds,
      errorCount: 0,
    };
    if (it.info.length) out.info = it.info;
    if (opts.enhanced) {
      Object.assign(out, { errors: [], warnings: it.warnings, warningCount: it.warnings.length });
      if (it.warnings.length) bump(it.className, 'warnings');
    }
    return out;
  });
  const result: Json = {
    items: itemResults,
    additionalCommittedItems: [],
    relations: relationResults,
    additionalCommittedRelations: [],
  };
  if (opts.enhanced) {
    result.hasError =
      itemResults.some((i) => Number(i.errorCount) > 0) ||
      relationResults.some((r) => Number(r.errorCount) > 0);
    result.hasWarning = items.some((i) => i.warnings.length > 0);
    if (opts.options.generate_summary) result.summary = Object.fromEntries(summary);
  }
  return { result };
}

function invalidSource(name: string): IreError {
  return {
    error: 'INVALID_INPUT_DATA',
    message: `In payload invalid data source [${name}] exist. You need to provide a valid choice value from field [discovery_source] in table [cmdb_ci]`,
  };
}

/** Parses the enhanced API's `options=partial_payloads:false,generate_summary:true`. */
export function parseIreOptions(raw: string | undefined): Record<string, boolean> {
  const out: Record<string, boolean> = {
    partial_payloads: true,
    partial_commits: true,
    deduplicate_payloads: true,
    generate_summary: false,
  };
  for (const part of (raw ?? '').split(',')) {
    const [k, v] = part.split(':');
    if (k && v !== undefined) out[k.trim()] = v.trim() === 'true';
  }
  return out;
}

/**
 * The `last_discovered` IRE leaves on a CI: "When last_discovered is provided in the payload, IRE
 * updates the CI with the provided value only if the last_discovered time in the payload is newer
 * than the one in the CMDB. If last_discovered is not provided in the payload, IRE updates the
 * last_discovered attribute with the current timestamp" ([SND]
 * markdown/servicenow-platform/configuration-management-database-cmdb/ire.md). Times are
 * `YYYY-MM-DD HH:mm:ss` UTC, which compare as strings.
 */
function lastDiscovered(sent: string | undefined, stored: string | undefined, now: string): string {
  if (!sent) return now;
  return !stored || sent > stored ? sent : stored;
}
