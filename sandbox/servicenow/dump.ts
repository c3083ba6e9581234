/**
 * Canonical dump (`GET /_sandbox/dump`): records of chosen tables with volatile fields removed
 * and sys_id references replaced by stable keys derived from the referenced record's natural key,
 * so two runs that reach the same state dump byte-for-byte equal.
 */
import { createHash } from 'node:crypto';
import type { Instance } from './instance.js';
import type { Row } from './store.js';

/** Fields whose values depend on time, creation order or randomness. */
export const volatileFields: ReadonlySet<string> = new Set([
  'sys_id',
  'sys_created_on',
  'sys_updated_on',
  'sys_mod_count',
  'number',
  'opened_at',
  'resolved_at',
  'closed_at',
  'last_scan',
  'last_discovered',
  'first_discovered',
  'last_opened',
  'sequence',
  'external_id',
]);

/** Fields holding a sys_id without being declared references. */
const idFields = new Set(['target_sys_id', 'element_id', 'sys_target_sys_id']);

/** Dumps `tables` canonically. */
export function canonicalDump(
  instance: Instance,
  tables: readonly string[],
  keep: ReadonlySet<string> = new Set(),
): Record<string, unknown> {
  const keys = new Map<string, string>();

  const keyOf = (row: Row, depth: number): string => {
    const cached = keys.get(row.values.sys_id ?? '');
    if (cached) return cached;
    const v = row.values;
    const ref = (sysId: string | undefined): string => {
      const r = sysId ? instance.store.get(sysId) : undefined;
      return r && depth < 6 ? keyOf(r, depth + 1) : (sysId ?? '');
    };
    let key: string;
    if (instance.schema.isA(row.table, 'cmdb_rel_ci'))
      key = `${ref(v.parent)}|${instance.displayOf(instance.store.get(v.type ?? ''))}|${ref(v.child)}`;
    else if (row.table === 'sys_object_source') key = `${v.name}|${v.id}`;
    else if (row.table === 'cmdb_ot_entity') key = `ot_entity(${ref(v.ot_device)})`;
    else if (row.table === 'sn_vul_detection')
      key = `${ref(v.cmdb_ci)}|${ref(v.vulnerability)}|${v.source ?? ''}`;
    else if (row.table === 'sn_vul_vulnerable_item') key = `${ref(v.cmdb_ci)}|${ref(v.vulnerability)}`;
    else if (instance.schema.isA(row.table, 'cmdb_ci_network_adapter'))
      key = `${ref(v.cmdb_ci)}|nic|${v.mac_address ?? ''}|${v.name ?? ''}`;
    else if (instance.schema.isA(row.table, 'cmdb_ci_ip_address'))
      key = `${ref(v.owned_by_cmdb_ci)}|ip|${v.ip_address ?? ''}`;
    else if (row.table === 'sys_journal_field') key = `${ref(v.element_id)}|${v.element}|${v.value}`;
    else if (row.table === 'sys_choice') key = `${v.name}.${v.element}=${v.value}`;
    else if (row.table === 'cmdb_serial_number') key = `${ref(v.cmdb_ci)}|sn|${v.serial_number}`;
    // Status names repeat across stages ("In Transit"): the stage is part of the key.
    else if (row.table === 'life_cycle_stage_status') key = `${ref(v.life_cycle_stage)}|${v.name}`;
    else if (row.table === 'cmdb_key_value' || row.table === 'cmdb_key_value_v2')
      key = `${ref(v.configuration_item)}|kv|${v.key}`;
    else if (row.table === 'sn_ot_device_network_connection')
      key = `${v.source_ip}>${v.destination_ip}:${v.destination_port}`;
    else {
      const natural = v.correlation_id || v.id || v.user_name || v.name || v.short_description;
      if (natural) key = natural;
      else {
        const scalar = Object.entries(v)
          .filter(([k]) => !volatileFields.has(k))
          .sort(([a], [b]) => a.localeCompare(b));
        key = createHash('sha1').update(JSON.stringify(scalar)).digest('hex').slice(0, 16);
      }
    }
    const full = `${row.table}:${key}`;
    keys.set(row.values.sys_id ?? '', full);
    return full;
  };

  const out: Record<string, unknown[]> = {};
  for (const table of tables) {
    const records = [...instance.store.scan(table)].map((row) => {
      const plain = instance.plain(row);
      const rec: Record<string, string> = { _key: keyOf(row, 0), _class: row.table };
      for (const k of Object.keys(plain).sort()) {
        if (volatileFields.has(k) && !keep.has(k)) continue;
        let value = plain[k] ?? '';
        const def = instance.schema.field(row.table, k);
        if ((def?.type === 'reference' || idFields.has(k)) && value !== '') {
          const target = instance.store.get(value);
          if (target) value = `@${keyOf(target, 0)}`;
        }
        rec[k] = value;
      }
      return rec;
    });
    records.sort((a, b) => ((a._key ?? '') < (b._key ?? '') ? -1 : (a._key ?? '') > (b._key ?? '') ? 1 : 0));
    out[table] = records;
  }
  return { tables: out };
}
