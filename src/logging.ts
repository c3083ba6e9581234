import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { SecretScrubber } from './secrets.js';

export type { Logger } from 'pino';

/** Field paths redacted wherever they appear in a log record, whatever their value. */
export const REDACTED_LOG_PATHS = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'headers.authorization',
  'headers.Authorization',
  'password',
  '*.password',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  '*.client_secret',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'secret',
  '*.secret',
];

/**
 * How a log record carries an error: `{ err }`. pino's serializer for it (type, message and stack,
 * with those of each `cause`) also copies every other field of the error; this keeps only the
 * fields that are plain values (`code`, `status`, `service`, `retryable`, `retryAt`…) and nested
 * errors. Objects hanging off an error are left out: a pg error can carry its whole client,
 * connection parameters included, and an HTTP error its request with headers; path redaction
 * does not reach that deep and the scrubber knows only the configured secrets.
 *
 * @example
 * log.warn({ err: error, integration: 'plant-a' }, 'lease renewal failed');
 */
export function serializeError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  if (serialized === error || !isRecord(serialized)) return serialized;
  return plainFieldsOf(serialized);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A nested error as pino's serializer writes it. */
function isSerializedError(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && typeof value.type === 'string' && typeof value.message === 'string';
}

function plainFieldsOf(serialized: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(serialized)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value) || value instanceof Date)
      kept[key] = value;
    else if (isSerializedError(value)) kept[key] = plainFieldsOf(value);
    else if (key === 'aggregateErrors' && Array.isArray(value))
      kept[key] = value.filter(isSerializedError).map(plainFieldsOf);
  }
  return kept;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  readonly level?: string;
  /** Secret values to scrub from every line (the config's secrets). */
  readonly scrubber?: SecretScrubber;
  /** Pretty, human-readable lines; defaults to whether stderr is a terminal. */
  readonly pretty?: boolean;
  /** Where lines go; stderr by default (stdout carries only a command's data). */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * A pino logger writing to stderr, redacting secret fields by path and scrubbing secret values
 * from every line before it is written. Errors go under `err` ({@link serializeError}).
 *
 * @example
 * const log = createLogger({ level: 'info', scrubber: new SecretScrubber(loaded.secrets) });
 * log.info({ flow: 'ot-inventory' }, 'run started');
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const scrubber = options.scrubber ?? new SecretScrubber();
  const destination = options.destination ?? process.stderr;
  const usePretty = options.pretty ?? (destination === process.stderr && process.stderr.isTTY === true);
  const stream = usePretty ? pretty({ destination: 2, sync: true, colorize: true }) : destination;
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACTED_LOG_PATHS, censor: '[REDACTED]' },
      serializers: { err: serializeError },
      hooks: { streamWrite: (line) => scrubber.scrub(line) },
    },
    stream,
  );
}
