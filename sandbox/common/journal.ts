/**
 * A journal of the API requests a sandbox received (method, path with query, body), switched on
 * through `/_sandbox/journal`. The benchmark replays it with a minimal client against a fresh
 * sandbox: the time that replay takes is the floor the engine's own cost is measured against.
 * Off by default; kept in memory, so it is meant for benchmark-sized runs, not the large estate.
 */
export interface JournalEntry {
  readonly method: string;
  /** Path and query string, without the origin (another sandbox has another port). */
  readonly path: string;
  /** The body as text, for requests that have one. */
  readonly body?: string;
}

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
    const url = new URL(request.url);
    const body = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.clone().text();
    this.entries.push({
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
