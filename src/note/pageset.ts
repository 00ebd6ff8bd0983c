/** Sets of pages of a file, held as sorted, disjoint, non-adjacent runs. */
import { InvalidInputError } from '../errors';
export interface Run {
  first: number;
  count: number;
}

/** Canonical runs from any list of pages or runs: sorted, merged, nothing empty. */
export function normalizeRuns(runs: Iterable<Run>): Run[] {
  const sorted = [...runs].filter((r) => r.count > 0).sort((a, b) => a.first - b.first);
  const out: Run[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.first <= last.first + last.count) {
      last.count = Math.max(last.count, r.first + r.count - last.first);
    } else {
      out.push({ first: r.first, count: r.count });
    }
  }
  return out;
}

export function runsFromPages(pages: Iterable<number>): Run[] {
  return normalizeRuns([...pages].map((p) => ({ first: p, count: 1 })));
}

export function pageTotal(runs: Run[]): number {
  return runs.reduce((n, r) => n + r.count, 0);
}

/**
 * Parses page ranges as users write them: `0-15,20,31-40` (inclusive, decimal or 0x hex).
 * Throws a plain Error naming the bad part.
 */
export function parseRanges(text: string): Run[] {
  const runs: Run[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const m = /^(0x[0-9a-f]+|\d+)(?:\s*-\s*(0x[0-9a-f]+|\d+))?$/i.exec(part);
    if (!m) throw new InvalidInputError(`page range '${part}' is not N or N-M`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    const big = [m[1]!, m[2]].find((n, i) => n !== undefined && !Number.isSafeInteger(i === 0 ? lo : hi));
    if (big !== undefined) throw new InvalidInputError(`page number ${big} in '${part}' is too large`);
    if (hi < lo) throw new InvalidInputError(`page range '${part}' is out of order (${lo} > ${hi})`);
    runs.push({ first: lo, count: hi - lo + 1 });
  }
  if (runs.length === 0) throw new InvalidInputError('no pages given');
  return normalizeRuns(runs);
}

export function formatRanges(runs: Run[]): string {
  return runs.map((r) => (r.count === 1 ? `${r.first}` : `${r.first}-${r.first + r.count - 1}`)).join(',');
}

/** Bitmap, bit i of byte j is page 8j+i (least significant bit first). */
export function runsToBitmap(runs: Run[], pageCount: number): Uint8Array {
  const bm = new Uint8Array(Math.ceil(pageCount / 8));
  for (const r of runs) for (let p = r.first; p < r.first + r.count; p++) bm[p >> 3]! |= 1 << (p & 7);
  return bm;
}

export function bitmapToRuns(bm: Uint8Array, pageCount: number): Run[] {
  const out: Run[] = [];
  let start = -1;
  for (let p = 0; p <= pageCount; p++) {
    const set = p < pageCount && (bm[p >> 3]! >> (p & 7)) & 1;
    if (set && start < 0) start = p;
    if (!set && start >= 0) {
      out.push({ first: start, count: p - start });
      start = -1;
    }
  }
  return out;
}
