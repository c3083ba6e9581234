/**
 * The error catalogue. Every error Snowline raises on purpose is a {@link SnowlineError} with a
 * stable string `code`, whether retrying may help, and the underlying `cause`. Messages say what
 * was wrong and what to do; they never contain secrets (the CLI and logger scrub them anyway).
 */
export class SnowlineError extends Error {
  /** Stable, machine-readable code, e.g. `CONFIG_INVALID`, `RATE_LIMITED`. */
  readonly code: string;
  /** True when the same operation may succeed later without any change by a person. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
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
    options: { retryable?: boolean; cause?: unknown; code?: string } = {},
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
