/**
 * Secret canaries for the security checks: every secret of a configuration, and which of them
 * appear in a set of texts (logs, API bodies, `/metrics`, dashboard pages, store files).
 */

/**
 * Every value of a secret-looking key in a configuration (the schema's `secret()` fields:
 * passwords, client secrets, tokens, webhook secrets), at least 8 characters so that a short
 * common word can not match by accident.
 */
export function secretsOf(value: unknown, key = ''): string[] {
  if (typeof value === 'string')
    return /secret|token|password/i.test(key) && value.length >= 8 ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((v) => secretsOf(v, key));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => secretsOf(v, k));
  return [];
}

/** A secret this long or longer also leaks when any {@link SLICE}-character part of it shows. */
const SLICED_FROM = 16;
const SLICE = 12;

/**
 * The secrets that appear in any of the texts; a passing check expects `[]`. A secret counts as
 * there in the forms a leak takes besides the plain one: URL-encoded, JSON-escaped, and inside any
 * Base64 (or base64url) run of the text once decoded, whatever the run's alignment — which is how
 * a Basic `user:password` header, or a token wrapped in another encoding, would slip past a plain
 * search. A secret of {@link SLICED_FROM} characters or more also counts as there when any
 * {@link SLICE}-character slice of it is (a truncated or partly masked secret is still a leak).
 */
export function leaks(secrets: readonly string[], ...texts: string[]): string[] {
  const decoded = texts.map((t) => [t, ...base64Runs(t)].join('\n'));
  return secrets.filter((s) => {
    const pattern = leakPattern(s);
    return decoded.some((t) => pattern.test(t));
  });
}

/** One regular expression for every form and slice of a secret: one scan of each text. */
function leakPattern(secret: string): RegExp {
  const parts = secret.length >= SLICED_FROM ? slices(secret) : [secret];
  const forms = new Set(parts.flatMap((p) => [p, encodeURIComponent(p), JSON.stringify(p).slice(1, -1)]));
  return new RegExp([...forms].map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
}

function slices(secret: string): string[] {
  return Array.from({ length: secret.length - SLICE + 1 }, (_, i) => secret.slice(i, i + SLICE));
}

/**
 * Every run of 12 or more Base64 / base64url characters in `text`, decoded as UTF-8 from each of
 * its first four characters: a run that starts with other text (`x-token:dXNlcjpw…` glued
 * together, a Base64 blob inside a longer one) decodes right from one of them.
 */
function base64Runs(text: string): string[] {
  return [...text.matchAll(/[A-Za-z0-9+/_-]{12,}={0,2}/g)].flatMap((m) => {
    const run = m[0].replace(/-/g, '+').replace(/_/g, '/');
    return [0, 1, 2, 3].map((offset) => Buffer.from(run.slice(offset), 'base64').toString('utf8'));
  });
}
