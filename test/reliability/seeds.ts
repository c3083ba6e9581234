/**
 * Seeds of the suite's random choices: where `crash.test.ts` kills a run, which requests
 * `faults.test.ts` fails. `npm test` (CI) runs a fixed set, so every kill and fault lands where it
 * landed before; `npm run soak` draws fresh ones and prints them; `SNOWLINE_RELIABILITY_SEED=<n>`
 * replays one seed (with the size it failed at: `SNOWLINE_RELIABILITY_SIZE`).
 */
import { randomInt } from 'node:crypto';
import { prng } from '../../sandbox/servicenow/control.js';
import { reliabilityDevices } from './support.js';

/** True at the soak size (`npm run soak`), where seeds are drawn fresh. */
export const SOAK = reliabilityDevices() > 500;

/**
 * The seeds a suite runs: the one `SNOWLINE_RELIABILITY_SEED` names, else `fresh` new ones at the
 * soak size, else `fixed` (CI). Prints them with the command that replays one.
 */
export function reliabilitySeeds(suite: string, fixed: readonly number[], fresh: number): number[] {
  const replay = process.env.SNOWLINE_RELIABILITY_SEED;
  let seeds: number[];
  if (replay !== undefined && replay !== '') {
    const seed = Number(replay);
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new Error(`SNOWLINE_RELIABILITY_SEED=${replay} is not a seed: use a whole number.`);
    }
    seeds = [seed];
  } else {
    seeds = SOAK ? Array.from({ length: fresh }, () => randomInt(1, 2 ** 31)) : [...fixed];
  }
  const size = process.env.SNOWLINE_RELIABILITY_SIZE ?? 'small';
  console.info(
    `[reliability] ${suite} seeds ${seeds.join(', ')} at size ${size}; replay one with ` +
      `SNOWLINE_RELIABILITY_SIZE=${size} SNOWLINE_RELIABILITY_SEED=<seed> npx vitest run test/reliability/${suite}`,
  );
  return seeds;
}

/**
 * `count` distinct numbers of 1..`n` drawn from `seed` (all of them when `n` ≤ `count`), in
 * ascending order. `stream` names what they are for (a side, a kind of kill), so that each draw
 * of one seed is independent of the others.
 */
export function sample(seed: number, stream: string, n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: Math.max(0, n) }, (_, i) => i + 1);
  let salt = 0;
  for (const ch of stream) salt = (Math.imul(salt, 31) + ch.charCodeAt(0)) >>> 0;
  const random = prng((seed ^ salt) >>> 0);
  // Floyd's algorithm: exactly `count` draws, whatever `n`.
  const chosen = new Set<number>();
  for (let j = n - count + 1; j <= n; j++) {
    const t = 1 + Math.floor(random() * j);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}
