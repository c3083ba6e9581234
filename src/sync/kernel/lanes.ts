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

/**
 * Runs `work` on each slice of `size` items, `lanes` slices at once, and returns the results in
 * the slices' order (however the answers arrived): the reads and Batch calls of a chunk of work
 * overlap their round trips, and what the caller assembles from them reads the same as a loop's.
 *
 * @example
 * const pages = await slicesInLanes(sysIds, 100, 4, (ids) => client.listWhereIn(table, 'sys_id', ids, fields));
 */
export async function slicesInLanes<T, R>(
  items: readonly T[],
  size: number,
  lanes: number,
  work: (slice: T[]) => Promise<R>,
): Promise<R[]> {
  const starts = Array.from({ length: Math.ceil(items.length / size) }, (_, i) => i * size);
  const results = new Array<R>(starts.length);
  await eachInLanes(starts, lanes, async (start) => {
    results[start / size] = await work(items.slice(start, start + size));
  });
  return results;
}

/**
 * The items of `source`, with the next one asked for while the caller works on the current one:
 * a flow reads its next page from Defender while it writes the page it has, instead of waiting
 * out the read's round trip between writes. One item ahead, never more, so what is held stays a
 * page deep. An error of the read ahead is thrown where the caller asks for that item, as
 * without read-ahead; a caller that stops early closes the source once its read has settled.
 *
 * @example
 * for await (const page of readAhead(source.devices())) await write(page);
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const ask = () => {
    const next = iterator.next();
    // Settled while the caller works: its rejection is handled where it is awaited below.
    next.catch(() => undefined);
    return next;
  };
  let next = ask();
  let done = false;
  try {
    for (;;) {
      const result = await next;
      if (result.done) {
        done = true;
        return;
      }
      next = ask();
      yield result.value;
    }
  } catch (error) {
    done = true;
    throw error;
  } finally {
    if (!done) {
      await next.catch(() => undefined);
      await iterator.return?.();
    }
  }
}
