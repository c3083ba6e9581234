/** Per-ticket serialisation inside this process, by key: queued work per key, one at a time. */
const ticketLocks = new Map<string, Promise<unknown>>();

/**
 * Runs `work` once every earlier work under the same key settled: a webhook delivery and a poll
 * (ticket-sync's, ot-alerts') never handle one ticket at once in this process.
 *
 * @example
 * await withTicketLock(`${integrationId}|${table}|${sysId}`, () => engine.syncNow(ticket));
 */
export async function withTicketLock<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = ticketLocks.get(key) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.catch(() => undefined);
  ticketLocks.set(key, settled);
  try {
    return await next;
  } finally {
    if (ticketLocks.get(key) === settled) ticketLocks.delete(key);
  }
}
