import * as C from '../elf/constants';
import { ElfFormatError, PlacementRefusedError } from '../elf/errors';
import { readElf } from '../elf/read';
import type { ElfFile } from '../elf/types';
import { SECTION_NAME } from '../note/format';
import { OurNote, findOurNote } from '../note/locate';
import { checkLayout, newViolations } from './check';
import { contractViolations } from './contract';
import { planMoving } from './move';
import type { PlanOptions } from './options';
import type { LayoutPlan } from './plan';
import { PlanSource } from './plan-source';
import { loadsOf, pageSizeFor } from './regions';
import { planBeside } from './beside';

export type { PlanOptions };

/** What to do where the contract leaves no room, for the refusal's advice. */
const ADVICE = 'Link with the reservation from `elfprefetch reserve` (docs/BUILD-SYSTEMS.md), or use a sidecar (`--fallback sidecar`).';

/**
 * Plans putting a note whose descriptor needs `needed` bytes into `elf`. By default only
 * placements that keep the contract of docs/DESIGN.md (nothing existing moves): our note in
 * place, then beside the loaded image. With `allowMove` (and only for files without section
 * headers, where nothing else applies) the moving strategies of earlier versions follow.
 * Throws PlacementRefusedError naming why nothing applies.
 */
export function planStamp(elf: ElfFile, needed: number, opts: PlanOptions = {}): LayoutPlan {
  return checkPlan(elf, placeNote(elf, needed, opts));
}

/**
 * The placement planStamp chooses, not yet read back: for a caller that tries several sizes
 * (ops/stamp.ts planFor) and checks only the plan it keeps, with checkPlan.
 */
export function placeNote(elf: ElfFile, needed: number, opts: PlanOptions = {}): LayoutPlan {
  const h = elf.header;
  if (h.type !== C.ET_EXEC && h.type !== C.ET_DYN) {
    throw new PlacementRefusedError([`a ${C.etName(h.type)} file is not loaded by itself`], 'Stamp executables and shared libraries.');
  }
  if (h.raw.phnum === C.PN_XNUM || h.phnum === 0) throw new PlacementRefusedError(['the program header table is empty or uses extended numbering'], 'This file cannot be run by Linux as it is.');
  if (loadsOf(elf.programHeaders).length === 0) throw new PlacementRefusedError(['no PT_LOAD'], 'This file has nothing to load.');
  refuseClaimsPastEnd(elf);
  needed = (needed + 3) & ~3;
  const ours = findOurNote(elf);
  if (ours) return planRefill(elf, ours, needed);
  const reasons: string[] = [];
  const kept = planBeside(elf, needed, reasons);
  if (kept) return kept;
  const moved = opts.allowMove ? planMoving(elf, needed, pageSizeFor(elf, opts.maxPageSize), opts, reasons) : undefined;
  if (moved) return moved;
  throw new PlacementRefusedError([...new Set(reasons)], opts.allowMove ? 'Link with the reservation from `elfprefetch reserve`, or use a sidecar (`--fallback sidecar`).' : ADVICE);
}

/**
 * Malformed layouts a stamp must not take as room: PT_LOADs overlapping in memory, and a section that
 * claims bytes past the end of the file (the tables a stamp writes at the end would land inside
 * its claimed range).
 */
function refuseClaimsPastEnd(elf: ElfFile): void {
  // Two PT_LOADs over the same memory: malformed, not a layout to place in. (The same file bytes
  // loaded twice at different addresses is legal, and a stamp changes no loaded byte anyway.)
  const loads = loadsOf(elf.programHeaders);
  for (let i = 1; i < loads.length; i++) {
    const a = loads[i - 1]!;
    const b = loads[i]!;
    if (b.vaddr < a.vaddr + a.memsz) {
      throw new ElfFormatError('overlap', `PT_LOAD ${b.index} starts at address 0x${b.vaddr.toString(16)}, inside PT_LOAD ${a.index}`, elf.header.phoff, ['programHeaders', b.index, 'p_vaddr'], b.vaddr);
    }
  }
  for (const s of elf.sections) {
    if (s.type === C.SHT_NULL || s.type === C.SHT_NOBITS) continue;
    if (s.offset + s.size > elf.source.size) {
      throw new ElfFormatError('out_of_bounds', `section ${s.index} (${s.name || 'unnamed'}) runs past the end of the file`, s.offset, ['sectionHeaders', s.index, 'sh_size'], s.offset + s.size);
    }
  }
}

/** Largest growth a stamp may cause: a few pages, or one large p_align (2 MiB) of exec shift. */
const MAX_GROWTH = 64n << 20n;

/**
 * A plan that would write outside its own output or grow the file without bound is refused,
 * and the output is read back once, as any reader will, against the layout rules (`before`:
 * the input's checkLayout lines when the caller has them) and the contract. A note filled in
 * place moves nothing: there is nothing to read back.
 */
export function checkPlan(elf: ElfFile, plan: LayoutPlan, before: string[] = checkLayout(elf)): LayoutPlan {
  if (plan.strategy === 'in-place') return plan;
  const bad: string[] = [];
  if (plan.outputSize - elf.source.size > MAX_GROWTH) bad.push(`the file would grow by ${plan.outputSize - elf.source.size} bytes`);
  for (const w of plan.writes) if (w.at < 0n || w.at + BigInt(w.bytes.length) > plan.outputSize) bad.push(`the ${w.what} would be written outside the file`);
  for (const c of plan.copies) if (c.to + c.length > plan.outputSize || c.from + c.length > elf.source.size) bad.push('a copy would reach outside the file');
  // The descriptor is filled in after the layout is checked: it must not share bytes with the
  // tables every reader parses (a raised e_phnum can make the table reach into it).
  const h = plan.header;
  const desc = { start: plan.descOffset, end: plan.descOffset + BigInt(plan.descCapacity) };
  const tables = [
    { what: 'program header table', start: h.phoff, end: h.phoff + BigInt(h.phnum * h.phentsize) },
    { what: 'section header table', start: h.shoff, end: h.shoff + BigInt(h.shnum * h.shentsize) },
  ];
  for (const tb of tables) if (plan.descCapacity > 0 && tb.end > tb.start && tb.start < desc.end && desc.start < tb.end) bad.push(`the note would share bytes with the ${tb.what}`);
  if (bad.length) throw new PlacementRefusedError(bad, 'The file\'s headers are inconsistent; check it with readelf or eu-elflint.');
  // Read what would be written, as any reader will: an input whose tables only just parse
  // can make a move produce a file that does not parse, or that breaks a rule the input kept.
  let out: ElfFile;
  try {
    out = readElf(new PlanSource(elf.source, plan));
  } catch (e) {
    if (!(e instanceof ElfFormatError)) throw e;
    throw new PlacementRefusedError([`the rewritten file would not parse (${e.message})`], 'The file\'s headers are inconsistent; check it with readelf or eu-elflint.');
  }
  const broken = newViolations(before, out);
  if (broken.length) throw new PlacementRefusedError([`the rewritten file would break layout rules: ${broken.join('; ')}`], 'The file is left as it is; check it with readelf or eu-elflint.');
  const breach = plan.keepsLayout ? contractViolations(elf, out, plan) : [];
  if (breach.length) throw new PlacementRefusedError([`the rewritten file would break the contract of docs/DESIGN.md: ${breach.join('; ')}`], ADVICE);
  return plan;
}

/** Our note is there: fill it in place when it is big enough, else refuse with what to do. */
function planRefill(elf: ElfFile, ours: OurNote, needed: number): LayoutPlan {
  if (ours.note.align !== 4) {
    throw new PlacementRefusedError([`the ${SECTION_NAME} note is in an 8-aligned note segment, where 4-aligned readers misread it`], 'Link the reservation into its own 4-aligned PT_NOTE (keep it out of .note.gnu.property\'s segment).');
  }
  if (ours.note.descSize < needed) {
    throw new PlacementRefusedError([`the note in the file holds ${ours.note.descSize} bytes and ${needed} are needed`], ours.addedByStamp ? 'Run `elfprefetch remove` and stamp again, or select fewer pages (or a larger --page-size).' : 'Relink with a larger `elfprefetch reserve --capacity`.');
  }
  return {
    strategy: 'in-place', outputSize: elf.source.size, copies: [{ from: 0n, to: 0n, length: elf.source.size }], writes: [],
    descOffset: ours.note.descOffset, descCapacity: ours.note.descSize, header: elf.header, programHeaders: elf.programHeaders, sections: elf.sections, growth: 0n, shift: 0n, keepsLayout: true,
  };
}

