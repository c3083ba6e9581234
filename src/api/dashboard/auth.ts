import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

/** The cookie that keeps the API token a person signed in with. */
export const SESSION_COOKIE = 'snowline_session';
/** The form field and header that carry the CSRF token of a state-changing request. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/**
 * True when `candidate` is one of the configured tokens. Both sides are hashed first so the
 * comparison is constant-time whatever their lengths, and every token is compared (no early exit).
 */
export function isValidToken(tokens: readonly string[], candidate: string | undefined): boolean {
  if (!candidate) return false;
  const wanted = createHash('sha256').update(candidate).digest();
  let found = false;
  for (const token of tokens) {
    if (timingSafeEqual(createHash('sha256').update(token).digest(), wanted)) found = true;
  }
  return found;
}

/**
 * The CSRF token of a session: an HMAC of a fixed label keyed by the session's API token. It is
 * bound to the session without any server-side state, and reveals nothing about the token.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('snowline-dashboard-csrf').digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The origin the browser used to reach us (scheme, host and port), from the request URL. */
function requestOrigin(c: Context): string {
  return new URL(c.req.url).origin;
}

/**
 * Refuses a cross-site request: an `Origin` (or, without one, a `Referer`) naming another site.
 * Browsers send `Origin` on every POST, so a forged form post from elsewhere is stopped here even
 * before its (missing) CSRF token is checked.
 */
export function isSameOrigin(c: Context): boolean {
  const origin = c.req.header('origin');
  if (origin && origin !== 'null') return origin === requestOrigin(c);
  if (origin === 'null') return false;
  const referer = c.req.header('referer');
  if (!referer) return true;
  try {
    return new URL(referer).origin === requestOrigin(c);
  } catch {
    return false;
  }
}

/** Stores the token in an HTTP-only, SameSite=Strict cookie (Secure when served over https). */
export function startSession(c: Context, token: string): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: new URL(c.req.url).protocol === 'https:',
    path: '/',
    maxAge: 12 * 3600,
  });
}

/** Forgets the session. */
export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/' });
}

/** What the auth middleware leaves for the handlers. */
export interface SessionVariables {
  /** The CSRF token to embed in forms and htmx requests of this session. */
  csrf: string;
}

/**
 * Lets a request through only with a valid session cookie. A page request without one is sent to
 * the sign-in page; any other request gets 401. A state-changing request (anything but GET/HEAD)
 * must also come from our own origin and carry the session's CSRF token (form field or header):
 * otherwise 403 and nothing changes.
 */
export function requireSession(
  tokens: readonly string[],
): MiddlewareHandler<{ Variables: SessionVariables }> {
  return async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE);
    if (!isValidToken(tokens, token)) {
      if (c.req.method === 'GET' && !c.req.header('hx-request')) return c.redirect('/login', 303);
      return c.text('sign in first: POST /login with an API token from api.tokens', 401);
    }
    const csrf = csrfTokenFor(token!);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (!isSameOrigin(c)) return c.text('refused: this request came from another site', 403);
      let sent = c.req.header(CSRF_HEADER);
      if (!sent && (c.req.header('content-type') ?? '').includes('form')) {
        const field = (await c.req.parseBody())[CSRF_FIELD];
        sent = typeof field === 'string' ? field : undefined;
      }
      if (!sent || !sameText(sent, csrf)) {
        return c.text('refused: missing or wrong CSRF token; reload the page and try again', 403);
      }
    }
    c.set('csrf', csrf);
    await next();
  };
}
