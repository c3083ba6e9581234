import { InvalidArgumentError } from '@commander-js/extra-typings';

/** Options every command accepts (defined on the program, read by each command). */
export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

/** Parses a whole number option within bounds, with a message naming the option's rules. */
export function integerOption(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    }
    return parsed;
  };
}
