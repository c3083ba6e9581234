import { describe, expect, it } from 'vitest';
import { leaks } from './secrets.js';

// Issue #25: the leak detector was a plain substring match.
describe('leaks', () => {
  const secret = 'p@ss "word"/with+chars';
  it('finds a secret plain, URL-encoded, JSON-escaped, and inside Base64 (a Basic header) or base64url', () => {
    expect(leaks([secret], `password=${secret}`)).toEqual([secret]);
    expect(leaks([secret], `q=${encodeURIComponent(secret)}`)).toEqual([secret]);
    expect(leaks([secret], JSON.stringify({ password: secret }))).toEqual([secret]);
    const basic = Buffer.from(`svc_snowline:${secret}`).toString('base64');
    expect(leaks([secret], `authorization: Basic ${basic}`)).toEqual([secret]);
    expect(leaks([secret], Buffer.from(`x${secret}x`).toString('base64url'))).toEqual([secret]);
  });

  it('finds the Base64 of user:secret glued to other Base64 characters, at any alignment', () => {
    const basic = Buffer.from(`svc_snowline:${secret}`).toString('base64');
    for (const glue of ['', 'a', 'ab', 'abc', 'Basic'])
      expect(leaks([secret], `header=${glue}${basic}`), `glued to "${glue}"`).toEqual([secret]);
  });

  it('finds any 12-character slice of a secret of 16 characters or more, in every form', () => {
    const long = 'Zq8-long/secret+value"0123';
    for (let i = 0; i + 12 <= long.length; i++) {
      const slice = long.slice(i, i + 12);
      expect(leaks([long], `…${slice}…`), `slice at ${i}`).toEqual([long]);
      expect(leaks([long], encodeURIComponent(slice))).toEqual([long]);
      expect(leaks([long], Buffer.from(`user:${slice}`).toString('base64'))).toEqual([long]);
    }
    // 11 characters of it are not enough to say; a short secret must appear whole.
    expect(leaks([long], long.slice(3, 14))).toEqual([]);
    expect(leaks(['short-secret1'], 'short-secre')).toEqual([]);
  });

  it('does not report what is not there', () => {
    expect(leaks([secret], 'authorization: Basic c3ZjX3Nub3dsaW5lOioqKg==', '{"password":"***"}')).toEqual(
      [],
    );
  });
});
