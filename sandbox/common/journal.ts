/**
 * A journal of the API requests a sandbox received (method, path with query, body), switched on
 * through `/_sandbox/journal`. The benchmark replays it with a minimal client against a fresh
 * sandbox: the time that replay takes is the floor the engine's own cost is measured against.
 * Off by default; kept in memory, so it is meant for benchmark-sized runs, not the large estate.
 */
export interface JournalEntry {
  /** Order of receipt across every journal in this process (see {@link received}). */
  readonly seq: number;
  readonly method: string;
  /** Path and query string, without the origin (another sandbox has another port). */
  readonly path: string;
  /** The body as text, for requests that have one. */
  readonly body?: string;
}

/**
 * Requests received so far by every journal in this process. Both sandboxes run in one process,
 * so a replay of a flow that sends one request at a time can interleave the two sides in the
 * order they were sent.
 */
let received = 0;

/** See the module comment. */
export class RequestJournal {
  private entries: JournalEntry[] | undefined;

  /** Starts a new, empty journal (`true`), or stops and drops it (`false`). */
  enable(on: boolean): void {
    this.entries = on ? [] : undefined;
  }

  get enabled(): boolean {
    return this.entries !== undefined;
  }

  /** Records one request when the journal is on; reads a copy of the body, so handlers still can. */
  async record(request: Request): Promise<void> {
    if (!this.entries) return;
    const seq = ++received; // Taken before the body is read: receipt order, not read order.
    const url = new URL(request.url);
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.clone().text();
    this.entries.push({
      seq,
      method: request.method,
      path: url.pathname + url.search,
      ...(body ? { body } : {}),
    });
  }

  /** What `GET /_sandbox/journal` answers. */
  toJSON(): { enabled: boolean; requests: readonly JournalEntry[] } {
    return { enabled: this.enabled, requests: this.entries ?? [] };
  }
}
