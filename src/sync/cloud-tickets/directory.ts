import type { Clock } from '../../domain/clock.js';
import { InputError } from '../../errors.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';

/** What a look-up found: exactly one record, none, or several (never guessed between). */
export type DirectoryMatch =
  | { readonly kind: 'one'; readonly sysId: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'several'; readonly count: number };

interface Cached {
  readonly match: DirectoryMatch;
  readonly until: number;
}

/**
 * Resolves owner emails to active `sys_user` records and group names to active
 * `sys_user_group` records, with a time-to-live cache on the injected clock. One match is used;
 * none or several are reported to the caller, which must not guess.
 */
export class ServiceNowDirectory {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /** The active user whose email is `email` (case-insensitive on the instance). */
  user(servicenow: ServiceNowClient, email: string): Promise<DirectoryMatch> {
    return this.lookup(servicenow, 'sys_user', 'email', email);
  }

  /** The active group named `name`. */
  group(servicenow: ServiceNowClient, name: string): Promise<DirectoryMatch> {
    return this.lookup(servicenow, 'sys_user_group', 'name', name);
  }

  private async lookup(
    servicenow: ServiceNowClient,
    table: string,
    field: string,
    value: string,
  ): Promise<DirectoryMatch> {
    const key = `${servicenow.instanceUrl}|${table}|${value.toLowerCase()}`;
    const now = this.clock.now().getTime();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.match;
    // The value comes from Defender (an owner tag anyone with tag rights on a resource sets):
    // encodeQuery escapes it (`^^`, see servicenow/query.ts), and only rows whose field is the
    // value are taken, so that however the instance reads the query, a value can match no
    // record but its own. Case is ignored, as the instance compares strings (UNVERIFIED: no
    // ServiceNowDocs page states the collation of `=`; the sandbox compares exactly).
    // A value the instance would run as a script (`javascript:…`) can name no record: none.
    const query = queryOrNone(() =>
      encodeQuery({ where: [where(field, '=', value), where('active', '=', 'true')] }),
    );
    const wanted = value.toLowerCase();
    const rows =
      query === undefined
        ? []
        : (await servicenow.listAll(table, { query, fields: ['sys_id', field], pageSize: 10 })).filter(
            (row) => String(row[field] ?? '').toLowerCase() === wanted,
          );
    const match: DirectoryMatch =
      rows.length === 1
        ? { kind: 'one', sysId: rows[0]!.sys_id }
        : rows.length === 0
          ? { kind: 'none' }
          : { kind: 'several', count: rows.length };
    this.cache.set(key, { match, until: now + this.ttlMs });
    return match;
  }
}

/** The encoded query, or undefined when the value can not be put in one (refused by encodeQuery). */
function queryOrNone(build: () => string): string | undefined {
  try {
    return build();
  } catch (error) {
    if (error instanceof InputError) return undefined;
    throw error;
  }
}
