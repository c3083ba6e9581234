/**
 * How a request ends within `ms` (for tests of held requests): `answered`, `failed`, or
 * `pending` when it is still waiting then.
 */
export function settledWithin(
  request: Promise<unknown>,
  ms: number,
): Promise<'answered' | 'failed' | 'pending'> {
  return Promise.race([
    request.then(
      () => 'answered' as const,
      () => 'failed' as const,
    ),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms)),
  ]);
}
