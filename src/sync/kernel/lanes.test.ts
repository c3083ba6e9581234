import { describe, expect, it } from 'vitest';
import { eachInLanes, readAhead, slicesInLanes } from './lanes.js';

describe('eachInLanes', () => {
  it('runs every item, never more than `lanes` at once', async () => {
    let inFlight = 0;
    let most = 0;
    const done: number[] = [];
    await eachInLanes([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      done.push(n);
      inFlight -= 1;
    });
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
  });

  it('in one lane keeps the order of the items', async () => {
    const done: number[] = [];
    await eachInLanes([3, 1, 2], 1, async (n) => {
      await new Promise((resolve) => setImmediate(resolve));
      done.push(n);
    });
    expect(done).toEqual([3, 1, 2]);
  });

  it('takes no new item after an error, and throws it once the others settled', async () => {
    const started: number[] = [];
    await expect(
      eachInLanes([1, 2, 3, 4, 5], 2, async (n) => {
        started.push(n);
        await new Promise((resolve) => setImmediate(resolve));
        if (n === 1) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
  });
});

describe('slicesInLanes', () => {
  it("gives each slice to `work`, `lanes` at once, and answers in the slices' order however they finish", async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[][] = [];
    const result = await slicesInLanes([1, 2, 3, 4, 5, 6, 7], 3, 2, async (slice) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      seen.push(slice);
      // The first slice answers last.
      for (let i = 0; i < (slice[0] === 1 ? 5 : 1); i++)
        await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return slice.reduce((a, b) => a + b, 0);
    });
    expect(seen.map((s) => s.join(','))).toEqual(['1,2,3', '4,5,6', '7']);
    expect(result).toEqual([6, 15, 7]);
    expect(most).toBe(2);
  });

  it('sends nothing for no items', async () => {
    expect(await slicesInLanes([], 100, 4, () => Promise.reject(new Error('called')))).toEqual([]);
  });
});

describe('readAhead', () => {
  /** A source of `n` items that logs when each read starts and when the caller takes it. */
  function logged(n: number, log: string[], failAt?: number) {
    return {
      closed: false,
      async *[Symbol.asyncIterator]() {
        try {
          for (let i = 1; i <= n; i++) {
            log.push(`read ${i}`);
            await new Promise((resolve) => setImmediate(resolve));
            if (i === failAt) throw new Error(`read ${i} failed`);
            yield i;
          }
        } finally {
          this.closed = true;
        }
      },
    };
  }

  it('asks for the next item while the caller works on the current one, one ahead at most', async () => {
    const log: string[] = [];
    for await (const item of readAhead(logged(3, log))) {
      log.push(`work ${item} start`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push(`work ${item} end`);
    }
    expect(log).toEqual([
      'read 1',
      'read 2',
      'work 1 start',
      'work 1 end',
      'read 3',
      'work 2 start',
      'work 2 end',
      'work 3 start',
      'work 3 end',
    ]);
  });

  it('throws a failed read where the caller asks for that item', async () => {
    const log: string[] = [];
    const taken: number[] = [];
    await expect(
      (async () => {
        for await (const item of readAhead(logged(5, log, 3))) taken.push(item);
      })(),
    ).rejects.toThrow('read 3 failed');
    expect(taken).toEqual([1, 2]);
  });

  it('closes the source when the caller stops early', async () => {
    const source = logged(5, []);
    for await (const item of readAhead(source)) if (item === 2) break;
    expect(source.closed).toBe(true);
  });
});
