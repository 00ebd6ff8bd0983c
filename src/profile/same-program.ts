/*
 * Is a profile of another build of *this* program? Carrying pages over is meant for a rebuild
 * (a patch release, a profile kept in a source tree); a profile of another program would put
 * its pages into this one without a word. The evidence, strongest first: the functions the
 * recorded pages lie in (a rebuild keeps most of them), the sections (same names, a .text of
 * a similar size), the name.
 */
import * as path from 'node:path';
import type { SectionSpan } from './carry';
import type { Anchor } from './symbols';

export interface SameProgramVerdict {
  same: boolean;
  /** What was compared, for the message. */
  evidence: string;
}

/** A rebuild keeps at least this share of the functions its recorded pages lie in. */
const MIN_FUNCTIONS_KEPT = 0.5;
/** ... and a .text within this factor of the old size. */
const MAX_TEXT_FACTOR = 2;
/** ... and most section names (Jaccard similarity) ... */
const MIN_SECTIONS_SHARED = 0.75;
/** ... and, under another name, most sections within this factor of their old size. */
const MAX_SIZE_DRIFT = 1.25;

export function sameProgram(
  recorded: { path: string; sections?: SectionSpan[]; functions?: Anchor[] },
  file: { path: string; sections: SectionSpan[]; functions: Anchor[] },
): SameProgramVerdict {
  const names = `recorded on ${recorded.path}, this file is ${file.path}`;
  if (recorded.functions?.length && file.functions.length) {
    const now = new Set(file.functions.map((f) => f.name));
    const kept = recorded.functions.filter((f) => now.has(f.name)).length;
    const share = kept / recorded.functions.length;
    const evidence = `${names}; ${kept} of the ${recorded.functions.length} functions its pages lie in are in this file (${Math.round(share * 100)}%)`;
    return { same: share >= MIN_FUNCTIONS_KEPT, evidence };
  }
  const sameName = path.basename(recorded.path) === path.basename(file.path);
  const old = recorded.sections ?? [];
  const a = new Set(old.map((s) => s.name));
  const b = new Set(file.sections.map((s) => s.name));
  const shared = [...a].filter((n) => b.has(n)).length / Math.max(1, new Set([...a, ...b]).size);
  const textOld = old.find((s) => s.name === '.text')?.size ?? 0;
  const textNew = file.sections.find((s) => s.name === '.text')?.size ?? 0;
  const factor = textOld && textNew ? Math.max(textOld / textNew, textNew / textOld) : Infinity;
  // A rebuild keeps most sections at about their size (.dynsym, .rodata, .eh_frame ...); another
  // program with the standard section names has other sizes: that stands in for a renamed build.
  const sizes = new Map(file.sections.map((s) => [s.name, s.size]));
  const pairs = old.filter((s) => sizes.has(s.name) && s.size > 0);
  const alike = pairs.filter((s) => Math.max(s.size, sizes.get(s.name)!) <= MAX_SIZE_DRIFT * Math.min(s.size, sizes.get(s.name)!)).length / Math.max(1, pairs.length);
  const same = shared >= MIN_SECTIONS_SHARED && factor <= MAX_TEXT_FACTOR && (sameName || alike >= MIN_SECTIONS_SHARED);
  const why = [
    sameName ? 'the same name' : 'another name',
    `${Math.round(alike * 100)}% of sections of about the same size`,
    `${Math.round(shared * 100)}% of section names shared`,
    textOld && textNew ? `.text ${textOld} bytes then, ${textNew} now` : 'no .text to compare',
  ];
  return { same, evidence: `${names}; ${why.join(', ')} (no function symbols to compare)` };
}
