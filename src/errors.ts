/**
 * Every code a {@link SnowlineError} carries. The strings are a contract (API error bodies, logs,
 * the ledger and scripts match on them): add a code here when a new kind of failure needs one,
 * and never change an existing string.
 */
export type ErrorCode =
  /** The configuration cannot be used ({@link ConfigError}). */
  | 'CONFIG_INVALID'
  /** The command line was used wrongly ({@link UsageError}). */
  | 'USAGE'
  /** A remote service asked us to wait; the work is deferred ({@link RateLimitedError}). */
  | 'RATE_LIMITED'
  /** A remote API answered with an error status or could not be reached ({@link UpstreamError}). */
  | 'UPSTREAM'
  /** ServiceNow refused Snowline's credentials (401, or an OAuth token request that failed). */
  | 'AUTH'
  /** ServiceNow answered 403: the integration user lacks a role or an ACL. */
  | 'FORBIDDEN'
  /** A record or request could not be understood ({@link InputError}). */
  | 'INPUT_INVALID'
  /** Something asked for does not exist ({@link NotFoundError}). */
  | 'NOT_FOUND'
  /** The request conflicts with the current state ({@link ConflictError}). */
  | 'CONFLICT'
  /** An API request without a valid bearer token. */
  | 'UNAUTHORIZED'
  /** An API request body over `api.bodyLimitBytes`. */
  | 'PAYLOAD_TOO_LARGE'
  /** The process is shutting down and takes no new runs. */
  | 'SHUTTING_DOWN'
  /** The store could not be opened or migrated. */
  | 'STORE'
  /** Another live worker holds the work partition. */
  | 'PARTITION_BUSY'
  /** A worker's partition lease was taken over; its late writes are refused. */
  | 'LEASE_LOST'
  /** A queued flow run failed in `snowline worker`; the job is retried. */
  | 'FLOW_RUN_FAILED'
  /** `snowline sync` ran and at least one flow failed. */
  | 'RUN_FAILED'
  /** A schedule's `every` is not a duration. */
  | 'SCHEDULE_INVALID'
  /** `snowline serve` could not listen on its host and port. */
  | 'LISTEN_FAILED'
  /** `snowline doctor` found missing prerequisites. */
  | 'DOCTOR_FAILED'
  /** The sandbox build is not there to start. */
  | 'SANDBOX_MISSING'
  /** The sandbox process did not start or exited before it was ready. */
  | 'SANDBOX_START'
  /** The ServiceNow instance has no sys_choice for a Vulnerability Response field. */
  | 'VR_CHOICES_MISSING';

/**
 * The error catalogue. Every error Snowline raises on purpose is a {@link SnowlineError} with a
 * stable string `code`, whether retrying may help, and the underlying `cause`. Messages say what
 * was wrong and what to do; they never contain secrets (the CLI and logger scrub them anyway).
 */
export class SnowlineError extends Error {
  /** Stable, machine-readable code, e.g. `CONFIG_INVALID`, `RATE_LIMITED`. */
  readonly code: ErrorCode;
  /** True when the same operation may succeed later without any change by a person. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** One problem found in a configuration file, tied to the key it concerns. */
export interface ConfigProblem {
  /** Key path in the file, e.g. `integrations[0].servicenow.instanceUrl` (empty for the whole file). */
  readonly path: string;
  /** What is wrong and what to do. */
  readonly message: string;
  /** An example of a good value, when the schema has one. */
  readonly example?: string;
}

/** The configuration cannot be used: nothing runs, and the CLI exits 2. */
export class ConfigError extends SnowlineError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], source = 'configuration') {
    super('CONFIG_INVALID', formatProblems(problems, source));
    this.problems = problems;
  }
}

function formatProblems(problems: readonly ConfigProblem[], source: string): string {
  const lines = problems.map((p) => {
    const where = p.path === '' ? '(file)' : p.path;
    return `  - ${where}: ${p.message}${p.example ? ` (example: ${p.example})` : ''}`;
  });
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return `${source} has ${count}; nothing was run:\n${lines.join('\n')}`;
}

/** The command line was used wrongly (unknown option, missing argument). Exit code 2. */
export class UsageError extends SnowlineError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * A remote service asked us to wait (429 / `Retry-After`, or a client-side budget is spent)
 * longer than we are willing to sleep in-process. The run is deferred, not failed: it
 * checkpoints and resumes at `retryAt`.
 */
export class RateLimitedError extends SnowlineError {
  readonly retryAt: Date;
  readonly service: string;

  constructor(service: string, retryAt: Date, options: { cause?: unknown; detail?: string } = {}) {
    super(
      'RATE_LIMITED',
      `${service} rate limit reached${options.detail ? ` (${options.detail})` : ''}; the work is deferred until ${retryAt.toISOString()}`,
      { retryable: true, cause: options.cause },
    );
    this.retryAt = retryAt;
    this.service = service;
  }
}

/** A remote API answered with an error status, or could not be reached. */
export class UpstreamError extends SnowlineError {
  /** `servicenow`, `arm`, `resourcegraph`, `sensor`, `console`, `entra`. */
  readonly service: string;
  /** HTTP status, or undefined when no response arrived (reset, timeout, DNS, TLS). */
  readonly status: number | undefined;

  constructor(
    service: string,
    status: number | undefined,
    message: string,
    options: { retryable?: boolean; cause?: unknown; code?: ErrorCode } = {},
  ) {
    super(options.code ?? 'UPSTREAM', message, {
      retryable: options.retryable ?? (status === undefined || status >= 500 || status === 429),
      cause: options.cause,
    });
    this.service = service;
    this.status = status;
  }
}

/** A record from a source could not be understood; it is reported and skipped, never fatal. */
export class InputError extends SnowlineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('INPUT_INVALID', message, options);
  }
}

/** Something asked for does not exist (a run, an assessment, a ticket). */
export class NotFoundError extends SnowlineError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The write would conflict with the current state (e.g. a partition leased by another worker). */
export class ConflictError extends SnowlineError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFLICT', message, options);
  }
}

/** True for any Snowline error; `code` narrows further. */
export function isSnowlineError(error: unknown): error is SnowlineError {
  return error instanceof SnowlineError;
}

/** True when the error defers work rather than failing it. */
export function isRateLimitedError(error: unknown): error is RateLimitedError {
  return error instanceof RateLimitedError;
}

/** True when the configuration was rejected. */
export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}
