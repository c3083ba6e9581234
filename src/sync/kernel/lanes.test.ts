import { describe, expect, it } from 'vitest';
import { eachInLanes, slicesInLanes } from './lanes.js';

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
