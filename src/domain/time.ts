/** Formats a time as ServiceNow stores it: `YYYY-MM-DD HH:mm:ss` in UTC. */
export function toSnDateTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/** Days in milliseconds, for grace periods and staleness windows. */
export function days(n: number): number {
  return n * 24 * 3600 * 1000;
}

/** Hours in milliseconds, for freshness periods. */
export function hours(n: number): number {
  return n * 3600 * 1000;
}
