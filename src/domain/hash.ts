import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so that two equal values always serialise the
 * same way whatever order their keys were built in. Undefined properties are left out.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item && typeof item === 'object' && !Array.isArray(item)) {
      return Object.fromEntries(
        Object.entries(item as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return item;
  });
}

/**
 * The content hash of what Snowline would write for an entity. The ledger keeps it per entity;
 * an equal hash next run means nothing changed and no request is sent.
 *
 * @example
 * contentHash({ name: 'PLC-1', firmware: '2.1' }) === contentHash({ firmware: '2.1', name: 'PLC-1' }) // true
 */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url').slice(0, 32);
}
