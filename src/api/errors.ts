import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isRateLimitedError, isSnowlineError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import type { SecretScrubber } from '../secrets.js';

/**
 * The code of an error answer: a business error's {@link ErrorCode}, `HTTP_<status>` for a
 * request the framework refused, or `INTERNAL` for anything unexpected.
 */
export type ApiErrorCode = ErrorCode | `HTTP_${number}` | 'INTERNAL';

/** The body of every error answer: a stable code and a sentence saying what was wrong and what to do. */
export interface ApiErrorBody {
  readonly error: { readonly code: ApiErrorCode; readonly message: string };
}

/*
 * Every code has its status, so a new code cannot reach a client before someone decided what it
 * means there. 500 says "the server could not do it and the caller cannot fix the request": the
 * codes of the CLI, the worker and the store, and ServiceNow refusing Snowline's own credentials
 * (AUTH, FORBIDDEN), which the API caller cannot fix either.
 */
const STATUS_BY_CODE: Readonly<Record<ErrorCode, ContentfulStatusCode>> = {
  INPUT_INVALID: 400,
  USAGE: 400,
  CONFIG_INVALID: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UPSTREAM: 502,
  SHUTTING_DOWN: 503,
  AUTH: 500,
  FORBIDDEN: 500,
  STORE: 500,
  PARTITION_BUSY: 500,
  LEASE_LOST: 500,
  FLOW_RUN_FAILED: 500,
  RUN_FAILED: 500,
  SCHEDULE_INVALID: 500,
  LISTEN_FAILED: 500,
  DOCTOR_FAILED: 500,
  SANDBOX_MISSING: 500,
  SANDBOX_START: 500,
  VR_CHOICES_MISSING: 500,
};

/**
 * The HTTP status the API answers a business error with: the one place that maps error codes to
 * statuses (the errors themselves know nothing of HTTP).
 *
 * @example
 * httpStatusOf('NOT_FOUND'); // 404
 * httpStatusOf(error.code); // in the error handler
 */
export function httpStatusOf(code: ErrorCode): ContentfulStatusCode {
  return STATUS_BY_CODE[code];
}

/** Answers with an error body. */
export function errorResponse(c: Context, status: ContentfulStatusCode, code: ApiErrorCode, message: string) {
  return c.json<ApiErrorBody>({ error: { code, message } }, status);
}

/**
 * The API's error handler: business errors (src/errors.ts) become their status with their
 * message; anything else is a 500 whose message stays in the log, because an unexpected
 * error's text may quote something no client should see. Messages are scrubbed of secrets.
 */
export function apiErrorHandler(logger: Logger, scrubber?: SecretScrubber): ErrorHandler {
  const scrub = (text: string) => (scrubber ? scrubber.scrub(text) : text);
  return (error, c) => {
    if (isSnowlineError(error)) {
      const status = httpStatusOf(error.code);
      if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="snowline"');
      if (isRateLimitedError(error))
        c.header(
          'Retry-After',
          String(Math.max(1, Math.ceil((error.retryAt.getTime() - Date.now()) / 1000))),
        );
      if (status >= 500) logger.error({ err: error, path: c.req.path }, 'API request failed');
      return errorResponse(c, status, error.code, scrub(error.message));
    }
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      return errorResponse(c, status, `HTTP_${status}`, scrub(error.message || 'request refused'));
    }
    logger.error({ err: error, path: c.req.path }, 'API request failed unexpectedly');
    return errorResponse(c, 500, 'INTERNAL', 'internal error; the server log has the details');
  };
}
