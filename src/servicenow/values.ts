/**
 * The Table API returns every value as a string (`"true"`, `"4"`, `"2026-11-01 10:00:00"`) and
 * references as `{ link, value }` or `""`. These helpers parse at the edge, once.
 */

/** A record as the Table API returns it. */
export type SnRecord = Record<string, unknown> & { sys_id: string };

export { toSnDateTime } from '../domain/time.js';

/** Parses a ServiceNow UTC date-time (`YYYY-MM-DD HH:mm:ss`); undefined for `""` or garbage. */
export function fromSnDateTime(value: unknown): Date | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value)) return undefined;
  const date = new Date(`${value.replace(' ', 'T')}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The sys_id of a reference field, whatever its shape (`""`, a sys_id string, `{value, link}`). */
export function referenceValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (value && typeof value === 'object' && 'value' in value) {
    const inner = (value as { value: unknown }).value;
    return typeof inner === 'string' && inner !== '' ? inner : undefined;
  }
  return undefined;
}

/** A string field's value (`""` → undefined); display-value objects give their `value`. */
export function stringValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (value && typeof value === 'object' && 'value' in value)
    return stringValue((value as { value: unknown }).value);
  return undefined;
}

/** An integer field (`"4"` → 4); undefined when empty or not a number. */
export function intValue(value: unknown): number | undefined {
  const text = stringValue(value);
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

/** A boolean field (`"true"` / `"false"`). */
export function boolValue(value: unknown): boolean | undefined {
  const text = stringValue(value);
  return text === 'true' ? true : text === 'false' ? false : undefined;
}
