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

  it('does not report what is not there', () => {
    expect(leaks([secret], 'authorization: Basic c3ZjX3Nub3dsaW5lOioqKg==', '{"password":"***"}')).toEqual(
      [],
    );
  });
});
