/** Checks of option values that several commands share; each throws the message yargs shows. */

/** The value as the user gave it (yargs turns `abc` into NaN for a number option). */
const given = (v: unknown): string => (typeof v === 'number' && Number.isNaN(v) ? 'something that is not a number' : String(v));

/** A power of two in [min, max], e.g. --page-size. Undefined passes (the option is optional). */
export function powerOfTwo(name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max || (n & (n - 1)) !== 0) throw new Error(`--${name} must be a power of two from ${min} to ${max}, not ${given(v)}.`);
}

/** A whole number in [min, max], e.g. --runs. */
export function wholeNumber(name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, not ${given(v)}.`);
}

/** A share from 0 to 1, e.g. --min-share. */
export function share(name: string, v: unknown): void {
  const n = Number(v);
  if (typeof v === 'boolean' || !(n >= 0 && n <= 1)) throw new Error(`--${name} must be a number from 0 to 1, not ${given(v)}.`);
}

/** A size such as 4M (--budget): checked now, not after a recording. */
export function size(name: string, v: unknown, parse: (s: string) => number): void {
  if (v === undefined) return;
  try {
    parse(String(v));
  } catch (e) {
    throw new Error(`--${name}: ${(e as Error).message}`);
  }
}

/** The largest page size a target may have: 4 KiB to 1 GiB (linkers' -z max-page-size). */
export const MAX_PAGE_SIZE = { min: 4096, max: 1 << 30 };
