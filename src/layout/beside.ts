import * as C from '../elf/constants';
import { encodeHeader, encodeNoteEntry } from '../elf/encode';
import type { ElfFile } from '../elf/types';
import { NOTE_NAME, NT_ELFPREFETCH, SECTION_NAME } from '../note/format';
import { firstLoad, besideNoteOffset, lastLoad, noteEntrySize } from '../note/locate';
import { cloneHeader } from './phdrs';
import type { LayoutPlan, WritePiece } from './plan';
import { alignDown, alignUp, maxOf, minOf, occupied, tailStart } from './regions';
import { insertSection, nameTable, writeSectionTail } from './sections';
import { toIndex } from '../elf/errors';

/**
 * The default placement, which keeps the contract of docs/DESIGN.md: the note is a
 * non-allocated SHT_NOTE section beside the loaded image, so no program header, no loaded
 * byte and no allocated section changes (the layout and content digests stay what they were).
 * Readers look for it at two places whose pages start-up reads anyway (docs/FORMAT.md 1.1):
 * - `gap`: in the file gap right after the first PT_LOAD's content (the kernel reads that
 *   page when it maps the segment); nothing moves at all;
 * - `after-load`: right after the last PT_LOAD's content (the page whose bss part the loader
 *   zeroes), where strip and objcopy put the first non-allocated section; the non-allocated
 *   sections behind it (.comment, .symtab, debug info) move up by whole alignment units.
 * Our section is the first non-allocated one, which is where strip and objcopy keep it.
 */
export function planBeside(elf: ElfFile, needed: number, reasons: string[]): LayoutPlan | undefined {
  const h = elf.header;
  if (h.shoff === 0n || h.shnum === 0) return reasons.push('the file has no section headers to name a note beside its segments'), undefined;
  const entry = BigInt(noteEntrySize(needed));
  const tail = tailStart(elf);
  let noteAt: bigint;
  let capacity: number;
  let shift = 0n;
  let moveFrom = tail;
  const gap = gapRoom(elf, tail, reasons);
  if (gap && gap.start + entry <= gap.end) {
    noteAt = gap.start;
    // Grown to the end of its 4 KiB page where there is room, so a later stamp fits in place.
    const fill = minOf(gap.end, alignUp(noteAt + entry, 0x1000n));
    capacity = Number(fill - noteAt - BigInt(noteEntrySize(0))) & ~3;
  } else {
    if (gap) reasons.push(`the gap after the first PT_LOAD holds ${gap.end - gap.start} bytes; ${entry} needed`);
    const after = afterLoadRoom(elf, tail, reasons);
    if (!after) return undefined;
    noteAt = after.start;
    moveFrom = after.from;
    // Whole units of the largest alignment behind, so every moved section stays aligned.
    shift = alignUp(noteAt + entry - moveFrom, after.align);
    capacity = Number(moveFrom + shift - noteAt - BigInt(noteEntrySize(0))) & ~3;
  }
  const end = noteAt + BigInt(noteEntrySize(capacity));

  const header = cloneHeader(h);
  const names = h.shstrndx ? nameTable(elf, SECTION_NAME) : undefined;
  const at = elf.sections.findIndex((s, i) => i > 0 && (s.flags & C.SHF_ALLOC) === 0n);
  const inserted = insertSection(elf, header, elf.sections, at > 0 ? at : elf.sections.length, {
    nameOffset: names?.offset ?? 0, name: SECTION_NAME, type: C.SHT_NOTE, flags: 0n,
    addr: 0n, offset: noteAt, size: BigInt(noteEntrySize(capacity)), link: 0, info: 0, addralign: 4n, entsize: 0n,
  });
  const sections = inserted.sections;
  const writes: WritePiece[] = inserted.writes.map((w) => (w.at >= moveFrom ? { ...w, at: w.at + shift } : w));
  // Only non-allocated sections move; an allocated one (even empty) keeps its offset.
  for (const s of sections) if (s.offset >= moveFrom && s.offset < tail && s.type !== C.SHT_NOBITS && (s.flags & C.SHF_ALLOC) === 0n && s.name !== SECTION_NAME) s.offset += shift;
  writes.push({ at: noteAt, bytes: encodeNoteEntry(h.littleEndian, NOTE_NAME, NT_ELFPREFETCH, new Uint8Array(capacity)), what: 'note' });
  // The name table and the section headers are written anew where the file's tail starts (as
  // linkers lay them out), or after the note when something else follows them.
  const strtab = h.shstrndx ? elf.sections[h.shstrndx] : undefined;
  const tablesAt = maxOf(tail + shift, end);
  const rewriteNames = names && strtab && (names.bytes.length !== toIndex(strtab.size, 'size') || strtab.offset >= tail);
  const outputSize = writeSectionTail(header, sections, tablesAt, rewriteNames ? names.bytes : undefined, writes);
  writes.push({ at: 0n, bytes: encodeHeader(header), what: 'ELF header' });
  const copies = [{ from: 0n, to: 0n, length: moveFrom }];
  if (tail > moveFrom) copies.push({ from: moveFrom, to: moveFrom + shift, length: tail - moveFrom });
  return {
    strategy: shift === 0n && noteAt === gap?.start ? 'gap' : 'after-load',
    outputSize,
    copies,
    writes,
    descOffset: noteAt + 24n,
    descCapacity: capacity,
    header,
    programHeaders: elf.programHeaders,
    sections,
    growth: outputSize - elf.source.size,
    shift: 0n,
    keepsLayout: true,
  };
}

/**
 * Room right after the last PT_LOAD's file content: the bytes from there to the tail must
 * belong to non-allocated sections only (which may move), or be zero padding.
 */
function afterLoadRoom(elf: ElfFile, tail: bigint, reasons: string[]): { from: bigint; start: bigint; align: bigint } | undefined {
  const load = lastLoad(elf.programHeaders);
  if (!load) return reasons.push('no PT_LOAD'), undefined;
  const from = load.offset + load.filesz;
  if (from > tail) return reasons.push('the last PT_LOAD reaches into the section tables'), undefined;
  let align = 8n;
  for (const s of elf.sections) {
    if (s.type === C.SHT_NULL || s.type === C.SHT_NOBITS || s.size === 0n || s.offset + s.size <= from || s.offset >= tail) continue;
    if ((s.flags & C.SHF_ALLOC) !== 0n || s.offset < from) return reasons.push(`section ${s.index} (${s.name}) follows the last PT_LOAD's content and cannot move`), undefined;
    align = maxOf(align, s.addralign);
  }
  for (const p of elf.programHeaders) {
    if (p.filesz > 0n && p.offset + p.filesz > from && p.offset < tail) return reasons.push(`segment ${p.index} (${C.ptName(p.type)}) lies after the last PT_LOAD's content`), undefined;
  }
  if (align > 0x10000n) return reasons.push(`a section behind the last PT_LOAD wants ${align}-byte alignment`), undefined;
  // Whatever starts within the alignment padding before the note moves with the rest.
  return { from, start: besideNoteOffset(load), align };
}

/**
 * The zero bytes right after the first PT_LOAD's file content that nothing claims, up to the
 * next thing in the file. Only a segment without bss qualifies: a loader reading the note
 * from memory sees file bytes in the segment's last page only when the kernel did not zero it.
 */
function gapRoom(elf: ElfFile, tail: bigint, reasons: string[]): { start: bigint; end: bigint } | undefined {
  const load = firstLoad(elf.programHeaders);
  if (!load) return undefined;
  if (load.filesz !== load.memsz) return reasons.push('the first PT_LOAD has bytes in memory only (bss)'), undefined;
  const start = besideNoteOffset(load);
  let end = tail;
  for (const r of occupied(elf)) {
    if (r.end <= start) continue;
    if (r.start < start) return reasons.push(`something at file offset 0x${r.start.toString(16)} follows the first PT_LOAD without a gap`), undefined;
    end = minOf(end, r.start);
  }
  end = minOf(end, start + MAX_GAP_NOTE, elf.source.size);
  if (end <= start) return reasons.push('nothing separates the first PT_LOAD from what follows it in the file'), undefined;
  // Bytes no section or segment describes may still be live (packers, hand-made files): the
  // note takes only the zero bytes up to the first that is not.
  const from = load.offset + load.filesz;
  const bytes = elf.source.read(from, toIndex(end - from, 'the gap after the first PT_LOAD'));
  const used = bytes.findIndex((b) => b !== 0);
  if (used >= 0) end = alignDown(from + BigInt(used), 4n);
  if (end <= start) return reasons.push(`the gap after the first PT_LOAD holds data at file offset 0x${(from + BigInt(used)).toString(16)} that no section describes`), undefined;
  return { start, end };
}

/** The largest note the gap takes (a note this big is a few hundred thousand pages anyway). */
const MAX_GAP_NOTE = 0x10000n;
