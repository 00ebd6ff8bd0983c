import { SHF_ALLOC, SHT_NOBITS } from '../elf/constants';
import type { ElfFile } from '../elf/types';
import { Run, normalizeRuns } from '../note/pageset';

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
    .map((s) => ({ name: s.name, offset: Number(s.offset), size: Number(s.size) }))
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
}

/**
 * Carries pages recorded on one build of a program to another build of it, section by
 * section: a byte x% into the old `.text` lands x% into the new `.text`. The headers (before
 * the first section) stay where they are. For a rebuild after a code change this is close
 * (functions keep their order); a wrong page costs one needless read, never correctness.
 */
export function carryPages(runs: Run[], from: SectionSpan[], to: SectionSpan[], pageSize: number, toSize: number): CarryResult {
  const pairs = pairSections(from, to);
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
  let dropped = 0;
  for (const r of normalizeRuns(runs)) {
    for (let p = r.first; p < r.first + r.count; p++) {
      const a = p * pageSize;
      const b = a + pageSize;
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
      if (!placed) dropped++;
    }
  }
  return { runs: normalizeRuns(out), dropped };
}
