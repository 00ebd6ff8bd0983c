/** Parses a byte size as users write it: 4096, 512K, 4M, 1.5G (powers of 1024). */
import { InvalidInputError } from '../errors';
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new InvalidInputError(`'${text}' is not a size like 4096, 512K or 4M`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * scale);
}
