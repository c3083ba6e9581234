/**
 * Secret canaries for the security checks: every secret of a configuration, and which of them
 * appear in a set of texts (logs, API bodies, `/metrics`, store files).
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

/**
 * The secrets that appear in any of the texts; a passing check expects `[]`. A secret counts as
 * there in the forms a leak takes besides the plain one: URL-encoded, JSON-escaped, and inside any
 * Base64 (or base64url) run of the text once decoded — which is how a Basic `user:password`
 * header or a token wrapped in another encoding would slip past a plain search.
 */
export function leaks(secrets: readonly string[], ...texts: string[]): string[] {
  const decoded = texts.map((t) => [t, ...base64Runs(t)].join('\n'));
  return secrets.filter((s) => {
    const forms = [s, encodeURIComponent(s), JSON.stringify(s).slice(1, -1)];
    return decoded.some((t) => forms.some((form) => t.includes(form)));
  });
}

/** Every run of 12 or more Base64 / base64url characters in `text`, decoded as UTF-8. */
function base64Runs(text: string): string[] {
  return [...text.matchAll(/[A-Za-z0-9+/_-]{12,}={0,2}/g)].map((m) =>
    Buffer.from(m[0].replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'),
  );
}
