/**
 * Runs `work` on every item with at most `lanes` of them in flight, taking items in order; the
 * first error stops the lanes from taking more and is thrown once the ones in flight settled.
 * The flows use it to keep a remote API busy up to its configured in-flight bound instead of
 * awaiting one round trip after another; `lanes` 1 is a plain loop (a dry run keeps its plan in
 * the order of the items that way).
 *
 * @example
 * await eachInLanes(groupKeys, 4, (key) => syncGroup(key));
 */
export async function eachInLanes<T>(
  items: readonly T[],
  lanes: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, lane),
  );
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}
