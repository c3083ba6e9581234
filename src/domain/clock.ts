/**
 * Time, injected. Every component that reads the time takes a Clock, so that 90-day
 * staleness, retirement grace periods, replay windows and hour-long rate limits are tested in
 * seconds by moving a {@link ManualClock}.
 */
export interface Clock {
  /** The current time. */
  now(): Date;
}

/** The real wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock that only moves when told to.
 *
 * @example
 * const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
 * clock.advance(91 * 24 * 3600 * 1000); // 91 days later
 */
export class ManualClock implements Clock {
  private current: number;

  constructor(start: Date = new Date(0)) {
    this.current = start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a clock only moves forward');
    this.current += ms;
  }

  /** Sets the clock to `date` (forward or back). */
  set(date: Date): void {
    this.current = date.getTime();
  }
}
