/**
 * What the bad-input properties share (`bad-input.test.ts` for ot-inventory's three sources,
 * `bad-input-flows.test.ts` for the other Defender-fed flows): hostile text, how many runs from
 * which seed, and how a run's error events are matched to the malformed records by position.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { openStore } from '../../src/store/store.js';
import { reliabilityDevices } from './support.js';

/** Strings that mean something in an encoded query, alone or around other text. */
export const queryFragments = [
  '^',
  '^NQ',
  '^NQsys_idISNOTEMPTY',
  '^ORsys_id!=0',
  'name!=x^NQname=y',
  'sys_class_name=cmdb_ci_ot_plc',
  'javascript:gs.getUserID()',
  '%',
  '=',
  ',',
];

/** Text a record may carry: unicode, query syntax alone or inside other text, or far beyond any field length. */
export const hostileText = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.constantFrom(...queryFragments),
  fc
    .tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...queryFragments), fc.string({ maxLength: 8 }))
    .map(([a, q, b]) => `${a}${q}${b}`),
  // Huge: far beyond any ServiceNow field length.
  fc.string({ minLength: 1, maxLength: 4 }).map((s) => s.repeat(20_000).slice(0, 60_000)),
);

/**
 * Text a well-formed record carries and that must reach ServiceNow as it is: unicode, query
 * syntax, newlines, long but within the field's `maxLength`; no surrounding white space (the
 * engine trims values) and never blank.
 */
export function writableText(maxLength: number): fc.Arbitrary<string> {
  return fc
    .oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.constantFrom(...queryFragments, 'a\nb^NQc', 'x\r\n=y'),
      fc
        .tuple(
          fc.string({ unit: 'grapheme', maxLength: 8 }),
          fc.constantFrom(...queryFragments, '\n'),
          fc.string({ unit: 'grapheme', maxLength: 8 }),
        )
        .map(([a, q, b]) => `${a}${q}${b}`),
      // Long, within the limit.
      fc
        .string({ minLength: 1, maxLength: 4 })
        .map((s) => s.repeat(Math.ceil(maxLength / s.length)).slice(0, maxLength)),
    )
    .map((s) => s.trim().slice(0, maxLength).trim())
    .filter((s) => s !== '');
}

/** A value of the wrong type for a text field. */
export const notText = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { minKeys: 1, maxKeys: 2 }),
);

/** Records that are not objects at all. */
export const notAnObject = fc.oneof(
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
);

/** A Resource Graph row whose `properties` are missing or not an object. */
export const rowWithBadProperties = fc.record({
  id: hostileText,
  name: hostileText,
  properties: fc.oneof(fc.constant(null), fc.string(), fc.integer()),
});

/**
 * Resource Graph rows malformed in the columns every row has: no `id`, an `id` or `name` that is
 * no text (or empty), `properties` that are not an object. For types whose schema needs some
 * property (an alert's `startTimeUtc`, an assessment's `status`), the empty properties make each
 * of them malformed too.
 */
export const malformedRowColumns = fc.oneof(
  fc.record({ name: hostileText, properties: fc.constant({}) }),
  fc.record({
    id: fc.oneof(notText, fc.constant(''), fc.constant(null)),
    name: hostileText,
    properties: fc.constant({}),
  }),
  fc.record({
    id: hostileText,
    name: fc.oneof(notText, fc.constant(''), fc.constant(null)),
    properties: fc.constant({}),
  }),
  rowWithBadProperties,
);

/**
 * How many generated inputs a property tries, and from which seed: 50 from a fixed seed in
 * `npm test` (the same inputs on every CI run), 500 from a fresh seed at soak size, printed so
 * that a failure can be replayed with `SNOWLINE_BAD_INPUT_SEED`. `what` names the property in
 * the printed line (`ot-inventory from a sensor`, `ot-alerts from Resource Graph`).
 */
export function propertyRuns(ciSeed: number, what: string): { numRuns: number; seed: number } {
  const soak = reliabilityDevices() > 500;
  const fixed = process.env.SNOWLINE_BAD_INPUT_SEED;
  const seed = fixed ? Number(fixed) : soak ? Math.floor(Math.random() * 2 ** 31) : ciSeed;
  if (soak || fixed)
    process.stdout.write(`bad-input: fast-check seed ${seed} for ${what} (SNOWLINE_BAD_INPUT_SEED)\n`);
  return { numRuns: soak ? 500 : 50, seed };
}

/** The error events of a run's store: entity, key and reason. */
export async function errorEvents(
  storeUrl: string,
): Promise<{ entity: string; entity_key: string; reason: string | null }[]> {
  const store = await openStore(storeUrl);
  try {
    return await store.db
      .selectFrom('ledger_event')
      .select(['entity', 'entity_key', 'reason'])
      .where('action', '=', 'error')
      .orderBy('id')
      .execute();
  } finally {
    await store.close();
  }
}

/**
 * The position of the record each error event is about, sorted: `record N` in a reason that starts
 * with `reason` (then `<source>, record N)`, as ot-inventory, ot-vulnerabilities and
 * cloud-tickets write it), or the first group of `reason` when it is a pattern. Fails on an error
 * event whose reason does not match.
 */
export function reportedPositions(
  events: readonly { reason: string | null }[],
  reason: string | RegExp,
): number[] {
  const position =
    typeof reason === 'string'
      ? new RegExp(`^${reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^,]*, record (\\d+)\\)`)
      : reason;
  return events
    .map((e) => {
      const m = position.exec(e.reason ?? '');
      expect(m, e.reason ?? '').not.toBeNull();
      return Number(m![1]);
    })
    .sort((x, y) => x - y);
}
