import * as C from '../elf/constants';
import { encodeHeader, encodeNoteEntry, encodeProgramHeaders, encodeSectionHeaders } from '../elf/encode';
import { ElfFormatError, PlacementRefusedError } from '../elf/errors';
import { readElf } from '../elf/read';
import { newViolations } from './check';
import { PlanSource } from './plan-source';
import type { ElfFile, FileHeader, Note, ProgramHeader, SectionHeader } from '../elf/types';
import { NOTE_NAME, NT_ELFPREFETCH, SECTION_NAME } from '../note/format';
import { MovableBlock, blockAfterTable, blockOfNoteSegment, relocateBlock } from './block';
import type { CopyPiece, LayoutPlan, Strategy, WritePiece } from './plan';
import { alignDown, alignUp, loadsOf, maxOf, minOf, occupied, pageSizeFor, tailStart } from './regions';

export interface PlanOptions {
  /** Overrides the machine's maximum page size (bytes, a power of two). */
  maxPageSize?: bigint;
  /** Lowest address a segment may get (vm.mmap_min_addr); 64 KiB unless told. */
  mmapMinAddr?: bigint;
}

/** Our note as found in a file: the note, its section, the PT_NOTE it is in. */
export interface OurNote {
  note: Note;
  section?: SectionHeader;
  segment?: ProgramHeader;
  /** The PT_NOTE holds nothing but our note. */
  alone: boolean;
  /** The note is the last thing in its PT_NOTE. */
  last: boolean;
  /** Our own section, appended by a stamp (not a reservation placed by a linker). */
  appended: boolean;
}

/** Bytes a note entry takes: header, padded owner name, descriptor. */
export const noteEntrySize = (descCapacity: number): number => 12 + 12 + descCapacity;

export function findOurNote(elf: ElfFile): OurNote | undefined {
  const note = elf.notes.find((n) => n.name === NOTE_NAME && n.type === NT_ELFPREFETCH);
  if (!note) return undefined;
  const segment = note.container.kind === 'segment' ? elf.programHeaders[note.container.index] : undefined;
  const end = note.descOffset + BigInt(note.descSize);
  const section = elf.sections.find((s) => s.type === C.SHT_NOTE && s.size > 0n && s.offset <= note.offset && end <= s.offset + s.size);
  const alone = !!segment && segment.offset === note.offset && segment.filesz === end - note.offset;
  const last = !!segment && segment.offset + segment.filesz === end;
  const appended = !!section && section.index === elf.sections.length - 1 && section.name === SECTION_NAME && section.offset === note.offset;
  return { note, section, segment, alone, last, appended };
}

/** What a strategy decided; `assemble` turns it into a plan. */
interface Placement {
  strategy: Strategy;
  /** Bytes inserted before the input's first byte (exec shift). */
  shift: bigint;
  header: FileHeader;
  phdrs: ProgramHeader[];
  sections: SectionHeader[];
  noteAt: bigint;
  noteVaddr: bigint;
  capacity: number;
  /** Copies and writes beyond the main copy: moved sections, zeroed old bytes, symbols. */
  copies: CopyPiece[];
  writes: WritePiece[];
  /** Where the rewritten tail (name table, section headers) starts in the output. */
  tailAt: bigint;
  /** Add our own SHT_NOTE section (false when a PT_NOTE without sections is all there is). */
  addSection: boolean;
}

/** Capacity: what the note needs, grown to the end of its 4 KiB page when room allows. */
function capacityFor(noteAt: bigint, needed: number, limit: bigint): number {
  const pageEnd = alignUp(noteAt + BigInt(noteEntrySize(needed)), 0x1000n);
  const fill = Number(minOf(limit, pageEnd) - noteAt) - noteEntrySize(0);
  return Math.max(needed, Math.min(fill, 0x10000) & ~3);
}

const cloneHeader = (h: FileHeader): FileHeader => ({ ...h, raw: { ...h.raw } });
const clonePhdrs = (p: ProgramHeader[]): ProgramHeader[] => p.map((x) => ({ ...x }));
const cloneSections = (s: SectionHeader[]): SectionHeader[] => s.map((x) => ({ ...x }));

function notePhdr(noteAt: bigint, vaddr: bigint, paddr: bigint, size: number): ProgramHeader {
  return { index: -1, type: C.PT_NOTE, flags: C.PF_R, offset: noteAt, vaddr, paddr, filesz: BigInt(size), memsz: BigInt(size), align: 4n };
}

/** Inserts a PT_NOTE after the last PT_NOTE (or at the end), and a PT_LOAD after the last PT_LOAD. */
function insertPhdr(phdrs: ProgramHeader[], p: ProgramHeader): ProgramHeader[] {
  let at = -1;
  phdrs.forEach((q, i) => {
    if (q.type === p.type) at = i;
  });
  const out = [...phdrs];
  out.splice(at >= 0 ? at + 1 : out.length, 0, p);
  return out.map((q, i) => ({ ...q, index: i }));
}

/** Points PT_PHDR at the table's new place (its size is set by setPhdrSize). */
function resizePhdrSegment(phdrs: ProgramHeader[], tableAt: bigint, delta: bigint, pdelta: bigint): void {
  for (const p of phdrs) {
    if (p.type !== C.PT_PHDR) continue;
    p.offset = tableAt;
    p.vaddr = tableAt + delta;
    p.paddr = tableAt + pdelta;
  }
}

function setPhdrSize(phdrs: ProgramHeader[], entsize: number): void {
  for (const p of phdrs) if (p.type === C.PT_PHDR) p.filesz = p.memsz = BigInt(phdrs.length * entsize);
}

function tableFits(elf: ElfFile, count: number, reasons: string[]): boolean {
  const bytes = count * C.sizes(elf.header.is64).phdr;
  if (bytes > 4096) {
    reasons.push(`a program header table of ${count} entries (${bytes} bytes) is larger than the 4 KiB the kernel reads`);
    return false;
  }
  return true;
}

/** The free room after the first PT_LOAD: file and address limits for extending it. */
function slackOf(elf: ElfFile, page: bigint, reasons: string[]) {
  const loads = loadsOf(elf.programHeaders);
  const first = loads[0];
  if (!first) return reasons.push('no PT_LOAD'), undefined;
  if (first.filesz !== first.memsz) return reasons.push('the first PT_LOAD has bytes in memory only (bss)'), undefined;
  const next = loads[1];
  const fileEnd = first.offset + first.filesz;
  const tail = tailStart(elf);
  const INF = 1n << 64n;
  let fileLimit = tail < elf.source.size ? tail : INF;
  for (const r of occupied(elf, (r) => r.kind === 'phdrs' || (r.kind === 'segment' && (r.index === first.index || elf.programHeaders[r.index]!.type === C.PT_PHDR)))) {
    if (r.end <= fileEnd || r.start >= tail) continue;
    if (r.start < fileEnd) return reasons.push(`something at file offset 0x${r.start.toString(16)} overlaps the end of the first PT_LOAD`), undefined;
    fileLimit = minOf(fileLimit, r.start);
  }
  let addrLimit = INF;
  if (next) {
    // New bytes go before the next segment's content, and no memory page (at the largest
    // page size) may be shared with the next segment.
    fileLimit = minOf(fileLimit, next.offset);
    addrLimit = alignDown(next.vaddr, page);
  }
  const delta = first.vaddr - first.offset;
  const pdelta = first.paddr - first.offset;
  return { first, fileEnd, tail, fileLimit, addrLimit, delta, pdelta, limit: minOf(fileLimit, addrLimit - delta) };
}

/**
 * Bytes the writer takes over without a section or segment saying what they hold must be
 * zero in the input: files with partial or no section headers (packers, hand-made files)
 * keep live data where the tables say nothing.
 */
function unusedBytes(elf: ElfFile, start: bigint, end: bigint, skip: Array<{ start: bigint; end: bigint }>, what: string, reasons: string[]): boolean {
  const stop = minOf(end, elf.source.size);
  if (start >= stop) return true;
  const bytes = elf.source.read(start, Number(stop - start));
  for (let i = 0; i < bytes.length; i++) {
    const at = start + BigInt(i);
    if (bytes[i] !== 0 && !skip.some((r) => at >= r.start && at < r.end)) {
      reasons.push(`${what} at file offset 0x${at.toString(16)} holds data no section describes`);
      return false;
    }
  }
  return true;
}

/** The congruent position at or after `at` for a block that must keep `start mod align`. */
function congruentAfter(at: bigint, start: bigint, align: bigint): bigint {
  return at + ((((start - at) % align) + align) % align);
}

/**
 * Strategy "slack", first form: the notes of the 4-aligned PT_NOTE move to the end of the
 * first PT_LOAD and ours follows them in the same PT_NOTE. The program header table keeps
 * its place and size, so strip and objcopy, which put it right after the ELF header, agree.
 */
function tryMergeIntoSlack(elf: ElfFile, needed: number, page: bigint, reasons: string[]): Placement | undefined {
  const seg = elf.programHeaders.find((p) => p.type === C.PT_NOTE && p.align <= 4n && p.filesz > 0n);
  if (!seg) return reasons.push('no 4-aligned PT_NOTE to share'), undefined;
  const block = blockOfNoteSegment(elf, seg, reasons);
  if (!block) return undefined;
  const s = slackOf(elf, page, reasons);
  if (!s) return undefined;
  const dest = alignUp(s.fileEnd, 4n);
  const noteAt = dest + (block.end - block.start);
  const end = noteAt + BigInt(noteEntrySize(needed));
  if (end > s.limit) return reasons.push(`slack after the first PT_LOAD is ${s.limit - s.fileEnd} bytes; ${end - s.fileEnd} needed`), undefined;
  const capacity = capacityFor(noteAt, needed, s.limit);
  const noteEnd = noteAt + BigInt(noteEntrySize(capacity));
  if (!unusedBytes(elf, s.fileEnd, noteEnd, [], 'the slack after the first PT_LOAD', reasons)) return undefined;
  const phdrs = clonePhdrs(elf.programHeaders);
  const sections = cloneSections(elf.sections);
  const writes: WritePiece[] = [{ at: block.start, bytes: new Uint8Array(Number(block.end - block.start)), what: 'old place of the moved notes' }];
  writes.push(...relocateBlock(elf, block, dest, dest + s.delta, sections, phdrs));
  const note = phdrs[seg.index]!;
  note.filesz = note.memsz = noteEnd - dest;
  const first = phdrs[s.first.index]!;
  first.filesz = first.memsz = noteEnd - first.offset;
  return {
    strategy: 'slack', shift: 0n, header: cloneHeader(elf.header), phdrs, sections, noteAt, noteVaddr: noteAt + s.delta, capacity,
    copies: [{ from: block.start, to: dest, length: block.end - block.start }], writes, tailAt: maxOf(s.tail, noteEnd), addSection: true,
  };
}

/**
 * Strategy "slack", second form: the table grows in place by one PT_NOTE, after the sections
 * behind it (.interp, notes) move to the end of the first PT_LOAD; our note follows them.
 */
function tryGrowIntoSlack(elf: ElfFile, needed: number, page: bigint, reasons: string[]): Placement | undefined {
  const h = elf.header;
  const entsize = C.sizes(h.is64).phdr;
  if (!tableFits(elf, h.phnum + 1, reasons)) return undefined;
  const s = slackOf(elf, page, reasons);
  if (!s) return undefined;
  if (h.phoff < s.first.offset || h.phoff + BigInt(h.phnum * entsize) > s.fileEnd) return reasons.push('the program header table is not in the first PT_LOAD'), undefined;
  if (h.shnum === 0) return reasons.push('without section headers nothing says what follows the program header table'), undefined;
  const { block, freeEnd } = blockAfterTable(elf, reasons);
  const tableEnd = h.phoff + BigInt(h.phnum * entsize);
  const newTableEnd = h.phoff + BigInt((h.phnum + 1) * entsize);
  if (newTableEnd > freeEnd) return reasons.push(`no room for one more program header after the table (${freeEnd - tableEnd} bytes free or movable)`), undefined;
  if (!unusedBytes(elf, tableEnd, newTableEnd, block ? [block] : [], 'the room after the program header table', reasons)) return undefined;
  const dest = block ? congruentAfter(s.fileEnd, block.start, block.align) : s.fileEnd;
  const noteAt = alignUp(block ? dest + (block.end - block.start) : s.fileEnd, 4n);
  const end = noteAt + BigInt(noteEntrySize(needed));
  if (end > s.limit) return reasons.push(`slack after the first PT_LOAD is ${s.limit - s.fileEnd} bytes; ${end - s.fileEnd} needed`), undefined;
  const capacity = capacityFor(noteAt, needed, s.limit);
  const noteEnd = noteAt + BigInt(noteEntrySize(capacity));
  if (!unusedBytes(elf, s.fileEnd, noteEnd, [], 'the slack after the first PT_LOAD', reasons)) return undefined;
  let phdrs = clonePhdrs(elf.programHeaders);
  const sections = cloneSections(elf.sections);
  const writes: WritePiece[] = [];
  const copies: CopyPiece[] = [];
  if (block) {
    writes.push({ at: block.start, bytes: new Uint8Array(Number(block.end - block.start)), what: 'old place of the moved sections' });
    writes.push(...relocateBlock(elf, block, dest, dest + s.delta, sections, phdrs));
    copies.push({ from: block.start, to: dest, length: block.end - block.start });
  }
  phdrs[s.first.index]!.filesz = phdrs[s.first.index]!.memsz = noteEnd - s.first.offset;
  phdrs = insertPhdr(phdrs, notePhdr(noteAt, noteAt + s.delta, noteAt + s.pdelta, noteEntrySize(capacity)));
  setPhdrSize(phdrs, entsize);
  const header = cloneHeader(h);
  header.phnum = phdrs.length;
  return { strategy: 'slack', shift: 0n, header, phdrs, sections, noteAt, noteVaddr: noteAt + s.delta, capacity, copies, writes, tailAt: maxOf(s.tail, noteEnd), addSection: true };
}

/** Strategy "exec-shift", ET_EXEC only: whole pages in front, the first segment gets a lower address. */
function tryExecShift(elf: ElfFile, needed: number, page: bigint, opts: PlanOptions, reasons: string[]): Placement | undefined {
  const h = elf.header;
  if (h.type !== C.ET_EXEC) return reasons.push('not ET_EXEC, so no segment may move to a lower address'), undefined;
  const loads = loadsOf(elf.programHeaders);
  const first = loads[0];
  if (!first) return reasons.push('no PT_LOAD'), undefined;
  if (first.offset !== 0n) return reasons.push('the first PT_LOAD does not start at file offset 0'), undefined;
  const entsize = C.sizes(h.is64).phdr;
  if (h.ehsize !== C.sizes(h.is64).ehdr) return reasons.push(`e_ehsize ${h.ehsize} is not the size of an ELF header`), undefined;
  if (!tableFits(elf, h.phnum + 1, reasons)) return undefined;
  const align = maxOf(page, ...loads.map((p) => p.align));
  const tableAt = alignUp(BigInt(h.ehsize), 8n);
  const noteAt = alignUp(tableAt + BigInt((h.phnum + 1) * entsize), 4n);
  const shift = alignUp(noteAt + BigInt(noteEntrySize(needed)), align);
  const minAddr = opts.mmapMinAddr ?? 0x10000n;
  if (first.vaddr < shift || first.vaddr - shift < minAddr || first.paddr < shift) {
    reasons.push(`moving the first segment down by 0x${shift.toString(16)} from 0x${first.vaddr.toString(16)} would go below vm.mmap_min_addr 0x${minAddr.toString(16)}`);
    return undefined;
  }
  const limit = h.is64 ? 1n << 64n : 1n << 32n;
  const wraps = elf.sections.find((s) => s.index > 0 && s.offset + shift >= limit) ?? elf.programHeaders.find((p) => p.offset + shift >= limit);
  if (wraps || h.shoff + shift >= limit) return reasons.push('a file offset would overflow its field after the shift'), undefined;
  const capacity = capacityFor(noteAt, needed, shift);
  const newVaddr = first.vaddr - shift;
  const newPaddr = first.paddr - shift;
  let phdrs = elf.programHeaders.map((p) => {
    const q = { ...p };
    if (p === first) {
      q.vaddr = newVaddr;
      q.paddr = newPaddr;
      q.filesz += shift;
      q.memsz += shift;
    } else if (!(p.offset === 0n && p.filesz === 0n)) {
      q.offset += shift;
    }
    return q;
  });
  phdrs = insertPhdr(phdrs, notePhdr(noteAt, newVaddr + noteAt, newPaddr + noteAt, noteEntrySize(capacity)));
  resizePhdrSegment(phdrs, tableAt, newVaddr, newPaddr);
  setPhdrSize(phdrs, entsize);
  const header = cloneHeader(h);
  header.phoff = tableAt;
  header.phnum = phdrs.length;
  if (h.shoff !== 0n) header.shoff = h.shoff + shift;
  const sections = elf.sections.map((s) => ({ ...s, offset: s.index === 0 ? s.offset : s.offset + shift }));
  // The old ELF header and table, now inside the first segment's content, are cleared.
  const writes: WritePiece[] = [
    { at: shift, bytes: new Uint8Array(h.ehsize), what: 'old ELF header' },
    { at: shift + h.phoff, bytes: new Uint8Array(h.phnum * entsize), what: 'old program header table' },
  ];
  return { strategy: 'exec-shift', shift, header, phdrs, sections, noteAt, noteVaddr: newVaddr + noteAt, capacity, copies: [], writes, tailAt: tailStart(elf) + shift, addSection: true };
}

/**
 * Strategy "tail-segment": a new read-only PT_LOAD at the end of the file holds the sections
 * that sat behind the program header table and our note; the table grows in place by the
 * PT_LOAD and the PT_NOTE, so it never leaves the first segment (old kernels, strip).
 */
function tryTailSegment(elf: ElfFile, needed: number, page: bigint, reasons: string[]): Placement | undefined {
  const h = elf.header;
  const entsize = C.sizes(h.is64).phdr;
  if (!tableFits(elf, h.phnum + 2, reasons)) return undefined;
  const loads = loadsOf(elf.programHeaders);
  if (loads.length === 0) return reasons.push('no PT_LOAD'), undefined;
  if (h.shnum === 0) return reasons.push('without section headers nothing says what follows the program header table'), undefined;
  const { block, freeEnd } = blockAfterTable(elf, reasons);
  const tableEnd = h.phoff + BigInt(h.phnum * entsize);
  if (tableEnd + BigInt(2 * entsize) > freeEnd) return reasons.push('no room for two more program headers after the table'), undefined;
  if (!unusedBytes(elf, tableEnd, tableEnd + BigInt(2 * entsize), block ? [block] : [], 'the room after the program header table', reasons)) return undefined;
  const align = maxOf(page, ...loads.map((p) => p.align));
  const tail = tailStart(elf);
  const at = alignUp(tail, block ? block.align : 8n);
  const vEnd = alignUp(maxOf(...loads.map((p) => p.vaddr + p.memsz)), align);
  const pEnd = alignUp(maxOf(...loads.map((p) => p.paddr + p.memsz)), align);
  const vaddr = vEnd + (at % align);
  const paddr = pEnd + (at % align);
  const dest = block ? congruentAfter(at, block.start, block.align) : at;
  const noteAt = alignUp(block ? dest + (block.end - block.start) : at, 4n);
  const capacity = capacityFor(noteAt, needed, alignUp(noteAt + BigInt(noteEntrySize(needed)), 0x1000n));
  const segEnd = noteAt + BigInt(noteEntrySize(capacity));
  let phdrs = clonePhdrs(elf.programHeaders);
  const sections = cloneSections(elf.sections);
  const writes: WritePiece[] = [];
  const copies: CopyPiece[] = [];
  const toV = (off: bigint): bigint => vaddr + (off - at);
  if (block) {
    writes.push({ at: block.start, bytes: new Uint8Array(Number(block.end - block.start)), what: 'old place of the moved sections' });
    const moved: ProgramHeader[] = [];
    writes.push(...relocateBlock(elf, block, dest, toV(dest), sections, phdrs, moved));
    copies.push({ from: block.start, to: dest, length: block.end - block.start });
    // Moved segments' physical addresses follow the new segment's.
    for (const p of moved) p.paddr = paddr + (p.offset - at);
  }
  const load: ProgramHeader = { index: -1, type: C.PT_LOAD, flags: C.PF_R, offset: at, vaddr, paddr, filesz: segEnd - at, memsz: segEnd - at, align };
  phdrs = insertPhdr(phdrs, load);
  phdrs = insertPhdr(phdrs, notePhdr(noteAt, toV(noteAt), paddr + (noteAt - at), noteEntrySize(capacity)));
  setPhdrSize(phdrs, entsize);
  const header = cloneHeader(h);
  header.phnum = phdrs.length;
  return { strategy: 'tail-segment', shift: 0n, header, phdrs, sections, noteAt, noteVaddr: toV(noteAt), capacity, copies, writes, tailAt: segEnd, addSection: true };
}

/** Appends `name` to a copy of the section name table unless it is already there. */
function nameTable(elf: ElfFile, name: string): { bytes: Uint8Array; offset: number } {
  const s = elf.sections[elf.header.shstrndx]!;
  const old = elf.source.read(s.offset, Number(s.size));
  const needle = Buffer.from(name + '\0', 'latin1');
  const found = Buffer.from(old).indexOf(needle);
  if (found >= 0) return { bytes: Uint8Array.from(old), offset: found };
  const bytes = new Uint8Array(old.length + needle.length);
  bytes.set(old);
  bytes.set(needle, old.length);
  return { bytes, offset: old.length };
}

/** Writes the name table and section headers anew at the tail, our section appended (never renumbering). */
function finishTail(elf: ElfFile, p: Placement, noteSize: number, writes: WritePiece[]): bigint {
  const h = p.header;
  if (elf.header.shoff === 0n || elf.header.shnum === 0) return p.tailAt; // no sections to keep in step
  const sz = C.sizes(h.is64);
  let at = p.tailAt;
  let nameOffset = 0;
  if (elf.header.shstrndx) {
    const names = nameTable(elf, SECTION_NAME);
    const strtab = p.sections[elf.header.shstrndx]!;
    strtab.offset = at;
    strtab.size = BigInt(names.bytes.length);
    writes.push({ at, bytes: names.bytes, what: 'section name table' });
    at += strtab.size;
    nameOffset = names.offset;
  }
  p.sections.push({
    index: p.sections.length, nameOffset, name: SECTION_NAME, type: C.SHT_NOTE, flags: C.SHF_ALLOC,
    addr: p.noteVaddr, offset: p.noteAt, size: BigInt(noteSize), link: 0, info: 0, addralign: 4n, entsize: 0n,
  });
  if (p.sections.length >= C.SHN_LORESERVE) p.sections[0]!.size = BigInt(p.sections.length);
  h.shnum = p.sections.length;
  at = alignUp(at, BigInt(sz.word));
  h.shoff = at;
  writes.push({ at, bytes: encodeSectionHeaders(h, p.sections), what: 'section header table' });
  return at + BigInt(p.sections.length * sz.shdr);
}

function assemble(elf: ElfFile, p: Placement): LayoutPlan {
  const noteSize = noteEntrySize(p.capacity);
  const writes: WritePiece[] = [...p.writes];
  const tail = tailStart(elf);
  const end = finishTail(elf, p, noteSize, writes);
  writes.push({ at: p.header.phoff, bytes: encodeProgramHeaders(p.header, p.phdrs), what: 'program header table' });
  writes.push({ at: p.noteAt, bytes: encodeNoteEntry(p.header.littleEndian, NOTE_NAME, NT_ELFPREFETCH, new Uint8Array(p.capacity)), what: 'note' });
  writes.push({ at: 0n, bytes: encodeHeader(p.header), what: 'ELF header' });
  const outputSize = maxOf(end, p.tailAt, tail + p.shift);
  return {
    strategy: p.strategy,
    outputSize,
    copies: [{ from: 0n, to: p.shift, length: tail }, ...p.copies],
    writes,
    descOffset: p.noteAt + 24n,
    descCapacity: p.capacity,
    header: p.header,
    programHeaders: p.phdrs,
    sections: p.sections,
    growth: outputSize - elf.source.size,
    shift: p.shift,
  };
}

/**
 * Plans putting a note whose descriptor needs `needed` bytes into `elf`, trying the
 * strategies in order of preference; throws PlacementRefusedError naming why none applies.
 */
export function planStamp(elf: ElfFile, needed: number, opts: PlanOptions = {}): LayoutPlan {
  const h = elf.header;
  if (h.type !== C.ET_EXEC && h.type !== C.ET_DYN) {
    throw new PlacementRefusedError([`a ${C.etName(h.type)} file is not loaded by itself`], 'Stamp executables and shared libraries.');
  }
  if (h.raw.phnum === C.PN_XNUM || h.phnum === 0) throw new PlacementRefusedError(['the program header table is empty or uses extended numbering'], 'This file cannot be run by Linux as it is.');
  if (loadsOf(elf.programHeaders).length === 0) throw new PlacementRefusedError(['no PT_LOAD'], 'This file has nothing to load.');
  needed = (needed + 3) & ~3;
  const ours = findOurNote(elf);
  if (ours) return planRefill(elf, ours, needed);
  const page = pageSizeFor(elf, opts.maxPageSize);
  const reasons: string[] = [];
  const placement =
    tryMergeIntoSlack(elf, needed, page, reasons) ??
    tryGrowIntoSlack(elf, needed, page, reasons) ??
    tryExecShift(elf, needed, page, opts, reasons) ??
    tryTailSegment(elf, needed, page, reasons);
  if (!placement) {
    throw new PlacementRefusedError([...new Set(reasons)], 'Link with the reservation from `elfprefetch reserve`, or with -z separate-code.');
  }
  return checkedPlan(elf, assemble(elf, placement));
}

/** Largest growth a stamp may cause: a few pages, or one large p_align (2 MiB) of exec shift. */
const MAX_GROWTH = 64n << 20n;

/** A plan that would write outside its own output or grow the file without bound is refused. */
function checkedPlan(elf: ElfFile, plan: LayoutPlan): LayoutPlan {
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
  const broken = newViolations(elf, out);
  if (broken.length) throw new PlacementRefusedError([`the rewritten file would break layout rules: ${broken.join('; ')}`], 'The file is left as it is; check it with readelf or eu-elflint.');
  return plan;
}

/** Our note is there: fill it in place when it is big enough, else refuse with what to do. */
function planRefill(elf: ElfFile, ours: OurNote, needed: number): LayoutPlan {
  if (ours.note.align !== 4) {
    throw new PlacementRefusedError([`the ${SECTION_NAME} note is in an 8-aligned note segment, where 4-aligned readers misread it`], 'Link the reservation into its own 4-aligned PT_NOTE (keep it out of .note.gnu.property\'s segment).');
  }
  if (ours.note.descSize < needed) {
    throw new PlacementRefusedError([`the note in the file holds ${ours.note.descSize} bytes and ${needed} are needed`], ours.appended ? 'Run `elfprefetch remove` and stamp again, or select fewer pages (or a larger --page-size).' : 'Relink with a larger `elfprefetch reserve --capacity`.');
  }
  return {
    strategy: 'in-place', outputSize: elf.source.size, copies: [{ from: 0n, to: 0n, length: elf.source.size }], writes: [],
    descOffset: ours.note.descOffset, descCapacity: ours.note.descSize, header: elf.header, programHeaders: elf.programHeaders, sections: elf.sections, growth: 0n, shift: 0n,
  };
}

/**
 * Plans taking our note out. A note a stamp added loses its PT_NOTE entry (or its share of
 * one) and its section, and its bytes are zeroed. A reservation placed by the linker goes
 * back to an empty reservation, ready to be stamped again.
 */
export function planRemove(elf: ElfFile, emptyDescriptor: Uint8Array): LayoutPlan | undefined {
  const ours = findOurNote(elf);
  if (!ours) return undefined;
  const h = elf.header;
  const plan: LayoutPlan = {
    strategy: 'remove', outputSize: elf.source.size, copies: [{ from: 0n, to: 0n, length: elf.source.size }], writes: [],
    descOffset: ours.note.descOffset, descCapacity: 0, header: h, programHeaders: elf.programHeaders, sections: elf.sections, growth: 0n, shift: 0n,
  };
  if (!ours.appended || !ours.segment || !(ours.alone || ours.last)) {
    const desc = new Uint8Array(ours.note.descSize);
    desc.set(emptyDescriptor.subarray(0, Math.min(desc.length, emptyDescriptor.length)));
    plan.writes.push({ at: ours.note.descOffset, bytes: desc, what: 'empty note' });
    return plan;
  }
  const sz = C.sizes(h.is64);
  const entry = ours.note.descOffset + BigInt(ours.note.descSize) - ours.note.offset;
  let phdrs = clonePhdrs(elf.programHeaders);
  if (ours.alone) {
    phdrs = phdrs.filter((p) => p.index !== ours.segment!.index).map((p, i) => ({ ...p, index: i }));
  } else {
    const seg = phdrs[ours.segment.index]!;
    seg.filesz -= entry;
    seg.memsz -= entry;
  }
  // Give back the end of the segment that held the note, if the note ended it.
  for (const p of phdrs) {
    if (p.type === C.PT_LOAD && p.filesz === p.memsz && p.offset + p.filesz === ours.note.offset + entry && p.offset <= ours.note.offset) {
      const keep = phdrs.filter((q) => q !== p && q.type !== C.PT_LOAD && q.filesz > 0n && q.offset >= p.offset && q.offset < p.offset + p.filesz);
      const newEnd = maxOf(ours.note.offset, ...keep.map((q) => q.offset + q.filesz));
      p.filesz = p.memsz = newEnd - p.offset;
    }
  }
  setPhdrSize(phdrs, sz.phdr);
  const header = cloneHeader(h);
  header.phnum = phdrs.length;
  const table = new Uint8Array(h.phnum * sz.phdr);
  table.set(encodeProgramHeaders(header, phdrs));
  plan.writes.push({ at: h.phoff, bytes: table, what: 'program header table' });
  plan.writes.push({ at: ours.note.offset, bytes: new Uint8Array(Number(entry)), what: 'note bytes' });
  const sections = elf.sections.slice(0, -1);
  header.shnum = sections.length;
  if (h.raw.shnum === 0 && sections.length < C.SHN_LORESERVE) sections[0] = { ...sections[0]!, size: 0n };
  const shdrs = new Uint8Array((sections.length + 1) * sz.shdr);
  shdrs.set(encodeSectionHeaders(header, sections));
  plan.writes.push({ at: h.shoff, bytes: shdrs, what: 'section header table' });
  plan.writes.push({ at: 0n, bytes: encodeHeader(header), what: 'ELF header' });
  plan.header = header;
  plan.programHeaders = phdrs;
  plan.sections = sections;
  return plan;
}

export type { MovableBlock };
