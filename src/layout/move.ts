import * as C from '../elf/constants';
import { encodeHeader, encodeNoteEntry, encodeProgramHeaders, encodeSectionHeaders } from '../elf/encode';
import type { ElfFile, FileHeader, ProgramHeader, SectionHeader } from '../elf/types';
import { NOTE_NAME, NT_ELFPREFETCH, SECTION_NAME } from '../note/format';
import { noteEntrySize } from '../note/locate';
import { blockAfterTable, blockOfNoteSegment, relocateBlock } from './block';
import { cloneHeader, clonePhdrs, cloneSections, insertPhdr, notePhdr, resizePhdrSegment, setPhdrSize, tableFits } from './phdrs';
import type { CopyPiece, LayoutPlan, Placement, WritePiece } from './plan';
import { PlanOptions } from './options';
import { nameTable } from './sections';
import { alignDown, alignUp, congruentAfter, loadsOf, maxOf, minOf, slackOf, tailStart, unusedBytes } from './regions';
import { toIndex } from '../elf/errors';

/*
 * The strategies that move existing sections to make room (opt-in: `--fallback move`). They
 * keep every program running but break the contract of docs/DESIGN.md: debug files split off
 * before the stamp, core dumps and the kernel's build-id reader lose track of moved notes.
 */

/** What a moving strategy decided; `assemble` turns it into a plan. */
interface Move {
  strategy: Placement;
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

/** Our note at `noteAt` in the slack after the first PT_LOAD: its capacity and end, or why it does not fit. */
function noteInSlack(elf: ElfFile, s: NonNullable<ReturnType<typeof slackOf>>, noteAt: bigint, needed: number, page: bigint, reasons: string[]): { capacity: number; noteEnd: bigint } | undefined {
  const end = noteAt + BigInt(noteEntrySize(needed));
  if (end > s.limit) return reasons.push(s.limit <= s.fileEnd ? `no slack after the first PT_LOAD: the next segment begins in its last ${page}-byte page` : `slack after the first PT_LOAD is ${s.limit - s.fileEnd} bytes; ${end - s.fileEnd} needed`), undefined;
  const capacity = capacityFor(noteAt, needed, s.limit);
  const noteEnd = noteAt + BigInt(noteEntrySize(capacity));
  if (!unusedBytes(elf, s.fileEnd, noteEnd, [], 'the slack after the first PT_LOAD', reasons)) return undefined;
  return { capacity, noteEnd };
}

/**
 * Strategy "slack", first form: the notes of the 4-aligned PT_NOTE move to the end of the
 * first PT_LOAD and ours follows them in the same PT_NOTE. The program header table keeps
 * its place and size, so strip and objcopy, which put it right after the ELF header, agree.
 */
function tryMergeIntoSlack(elf: ElfFile, needed: number, page: bigint, reasons: string[]): Move | undefined {
  const seg = elf.programHeaders.find((p) => p.type === C.PT_NOTE && p.align <= 4n && p.filesz > 0n);
  if (!seg) return reasons.push('no 4-aligned PT_NOTE to share'), undefined;
  const block = blockOfNoteSegment(elf, seg, reasons);
  if (!block) return undefined;
  const s = slackOf(elf, page, reasons);
  if (!s) return undefined;
  const dest = alignUp(s.fileEnd, 4n);
  const noteAt = dest + (block.end - block.start);
  const room = noteInSlack(elf, s, noteAt, needed, page, reasons);
  if (!room) return undefined;
  const { capacity, noteEnd } = room;
  const phdrs = clonePhdrs(elf.programHeaders);
  const sections = cloneSections(elf.sections);
  const writes: WritePiece[] = [{ at: block.start, bytes: new Uint8Array(toIndex(block.end - block.start, 'the moved notes')), what: 'old place of the moved notes' }];
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
function tryGrowIntoSlack(elf: ElfFile, needed: number, page: bigint, reasons: string[]): Move | undefined {
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
  const room = noteInSlack(elf, s, noteAt, needed, page, reasons);
  if (!room) return undefined;
  const { capacity, noteEnd } = room;
  let phdrs = clonePhdrs(elf.programHeaders);
  const sections = cloneSections(elf.sections);
  const writes: WritePiece[] = [];
  const copies: CopyPiece[] = [];
  if (block) {
    writes.push({ at: block.start, bytes: new Uint8Array(toIndex(block.end - block.start, 'the moved sections')), what: 'old place of the moved sections' });
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
function tryExecShift(elf: ElfFile, needed: number, page: bigint, opts: PlanOptions, reasons: string[]): Move | undefined {
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
function tryTailSegment(elf: ElfFile, needed: number, page: bigint, reasons: string[]): Move | undefined {
  const h = elf.header;
  const entsize = C.sizes(h.is64).phdr;
  if (!tableFits(elf, h.phnum + 2, reasons)) return undefined;
  const loads = loadsOf(elf.programHeaders);
  if (loads.length === 0) return reasons.push('no PT_LOAD'), undefined;
  if (h.shnum === 0) return reasons.push('without section headers nothing says what follows the program header table'), undefined;
  const { block, freeEnd } = blockAfterTable(elf, reasons);
  const tableEnd = h.phoff + BigInt(h.phnum * entsize);
  if (tableEnd + BigInt(2 * entsize) > freeEnd) {
    // Said once: when one more did not fit, two do not either.
    if (!reasons.some((r) => r.startsWith('no room for one more program header'))) reasons.push('no room for two more program headers after the table');
    return undefined;
  }
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
    writes.push({ at: block.start, bytes: new Uint8Array(toIndex(block.end - block.start, 'the moved sections')), what: 'old place of the moved sections' });
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

/** Writes the name table and section headers anew at the tail, our section appended (never renumbering). */
function finishTail(elf: ElfFile, p: Move, noteSize: number, writes: WritePiece[]): bigint {
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

function assemble(elf: ElfFile, p: Move): LayoutPlan {
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
    keepsLayout: false,
  };
}


/** The moving strategies in order of preference; undefined (with reasons) when none applies. */
export function planMoving(elf: ElfFile, needed: number, page: bigint, opts: PlanOptions, reasons: string[]): LayoutPlan | undefined {
  const placement =
    tryMergeIntoSlack(elf, needed, page, reasons) ??
    tryGrowIntoSlack(elf, needed, page, reasons) ??
    tryExecShift(elf, needed, page, opts, reasons) ??
    tryTailSegment(elf, needed, page, reasons);
  return placement && assemble(elf, placement);
}
