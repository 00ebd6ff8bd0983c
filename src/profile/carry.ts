import { SHF_ALLOC, SHT_NOBITS } from '../elf/constants';
import type { ElfFile } from '../elf/types';
import { Run, normalizeRuns } from '../note/pageset';
import type { Anchor } from './symbols';
import { toIndex } from '../elf/errors';

/** A section with bytes in the file, as a profile keeps it for carrying pages to a later build. */
export interface SectionSpan {
  name: string;
  offset: number;
  size: number;
}

/**
 * The allocated sections that have bytes in the file, in file order: what a page of a build
 * can be described by ("40% into .text") when the next build moves everything around.
 */
export function sectionSpans(elf: ElfFile): SectionSpan[] {
  return elf.sections
    .filter((s) => (s.flags & SHF_ALLOC) !== 0n && s.type !== SHT_NOBITS && s.size > 0n)
    .map((s) => ({ name: s.name, offset: toIndex(s.offset, 'offset'), size: toIndex(s.size, 'size') }))
    .sort((a, b) => a.offset - b.offset);
}

/** Pairs each old section with the new one of the same name; names that repeat pair in order. */
function pairSections(from: SectionSpan[], to: SectionSpan[]): Array<[SectionSpan, SectionSpan]> {
  const byName = new Map<string, SectionSpan[]>();
  for (const s of to) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const pairs: Array<[SectionSpan, SectionSpan]> = [];
  for (const s of from) {
    const next = byName.get(s.name)?.shift();
    if (next) pairs.push([s, next]);
  }
  return pairs;
}

export interface CarryResult {
  runs: Run[];
  /** Pages of the old build that had nowhere to go (their section is gone). */
  dropped: number;
  /** Pages placed (at least in part) through a function of the same name in both builds. */
  anchored: number;
}

/** Gaps this short between functions are alignment padding. */
const PADDING = 64;

/** Function symbols of both builds, when the profile kept the old one's (src/profile/symbols.ts). */
export interface AnchorPair {
  from: Anchor[];
  to: Anchor[];
}

/** Old anchors paired with the new function of the same name (the n-th of a repeated name with the n-th). */
function pairAnchors(pair: AnchorPair): Array<[Anchor, Anchor]> {
  const byName = new Map<string, Anchor[]>();
  for (const a of pair.to) byName.set(a.name, [...(byName.get(a.name) ?? []), a]);
  const seen = new Map<string, number>();
  const out: Array<[Anchor, Anchor]> = [];
  for (const a of pair.from) {
    const k = seen.get(a.name) ?? 0;
    seen.set(a.name, k + 1);
    const b = byName.get(a.name)?.[k];
    if (b) out.push([a, b]);
  }
  return out.sort((x, y) => x[0].offset - y[0].offset);
}

/**
 * Carries pages recorded on one build of a program to another build of it. Bytes inside a
 * function that both builds have (the profile keeps the functions of its pages) go to the same
 * place in that function of the new build, wherever the linker put it; the rest go section by
 * section: a byte x% into the old `.text` lands x% into the new `.text`. The headers (before
 * the first section) stay where they are. A wrong page costs one needless read, never
 * correctness.
 */
export function carryPages(runs: Run[], from: SectionSpan[], to: SectionSpan[], pageSize: number, toSize: number, anchors?: AnchorPair): CarryResult {
  const pairs = pairSections(from, to);
  const fns = anchors ? pairAnchors(anchors) : [];
  const fromHead = from.length ? from[0]!.offset : Infinity;
  const toHead = to.length ? to[0]!.offset : toSize;
  const toPages = Math.ceil(toSize / pageSize);
  const out: Run[] = [];
  const add = (start: number, end: number) => {
    if (end <= start) return;
    const first = Math.floor(start / pageSize);
    const last = Math.min(Math.ceil(end / pageSize), toPages);
    if (last > first) out.push({ first, count: last - first });
  };
  /** Maps [a, b) section by section; false when no byte of it had a place. */
  const bySection = (a: number, b: number): boolean => {
    let placed = false;
    if (a < fromHead) {
      add(a, Math.min(b, fromHead, toHead));
      placed = true;
    }
    for (const [s, t] of pairs) {
      const lo = Math.max(a, s.offset);
      const hi = Math.min(b, s.offset + s.size);
      if (hi <= lo) continue;
      const scale = t.size / s.size;
      add(t.offset + Math.floor((lo - s.offset) * scale), t.offset + Math.ceil((hi - s.offset) * scale));
      placed = true;
    }
    return placed;
  };
  let dropped = 0;
  let anchored = 0;
  let f = 0; // first function pair that may overlap the current page (pages come in order)
  for (const r of normalizeRuns(runs)) {
    for (let p = r.first; p < r.first + r.count; p++) {
      const a = p * pageSize;
      const b = a + pageSize;
      while (f < fns.length && fns[f]![0].offset + fns[f]![0].size <= a) f++;
      // The parts of the page inside paired functions, mapped through them.
      let cursor = a;
      let placed = false;
      let viaFunction = false;
      const rest: Array<[number, number]> = [];
      for (let k = f; k < fns.length && fns[k]![0].offset < b; k++) {
        const [s, t] = fns[k]!;
        const lo = Math.max(a, s.offset);
        const hi = Math.min(b, s.offset + s.size);
        if (hi <= lo) continue;
        if (lo > cursor) rest.push([cursor, lo]);
        const scale = t.size / s.size;
        add(t.offset + Math.floor((lo - s.offset) * scale), t.offset + Math.ceil((hi - s.offset) * scale));
        cursor = Math.max(cursor, hi);
        placed = viaFunction = true;
      }
      if (cursor < b) rest.push([cursor, b]);
      // Beside a paired function, a few bytes are alignment padding, not worth a page elsewhere.
      for (const [lo, hi] of rest) if (!viaFunction || hi - lo >= PADDING) placed = bySection(lo, hi) || placed;
      if (viaFunction) anchored++;
      if (!placed) dropped++;
    }
  }
  return { runs: normalizeRuns(out), dropped, anchored };
}
