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
 * from every line before it is written.
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
      hooks: { streamWrite: (line) => scrubber.scrub(line) },
    },
    stream,
  );
}
