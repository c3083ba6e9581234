import { describe, expect, it } from 'vitest';
import { eachInLanes } from './lanes.js';

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
