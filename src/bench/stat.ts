/** The median and range of a series of measurements. */
export interface Stat {
  median: number;
  min: number;
  max: number;
}

/**
 * Median, min and max of `xs`. A value that is not finite (NaN: not measured, such as the
 * requests of an approximate run) is left out; with none left all three are NaN.
 */
export function stat(xs: number[]): Stat {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return { median: NaN, min: NaN, max: NaN };
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: m, min: s[0]!, max: s[s.length - 1]! };
}
