import * as C from '../elf/constants';
import { encodeHeader, encodeProgramHeaders, encodeSectionHeaders } from '../elf/encode';
import type { ElfFile, SectionHeader } from '../elf/types';
import { SECTION_NAME } from '../note/format';
import { OurNote, findOurNote, firstLoad, besideNoteOffset, lastLoad } from '../note/locate';
import { cloneHeader, clonePhdrs, setPhdrSize } from './phdrs';
import type { LayoutPlan, WritePiece } from './plan';
import { maxOf, tailStart } from './regions';
import { dropSection, writeSectionTail } from './sections';
import { toIndex } from '../elf/errors';

/**
 * Plans taking our note out. A note a stamp added loses its section (the table renumbered
 * back), its PT_NOTE entry or its share of one, and the growth of the segment that ends with
 * it; its bytes are zeroed and the section tables are written back where they were, so a
 * stamp of an unstamped file followed by `remove` gives back the original bytes (when the
 * original laid its tail out as linkers do). A reservation placed by the linker goes back to
 * an empty reservation, ready to be stamped again.
 */
export function planRemove(elf: ElfFile, emptyDescriptor: Uint8Array): LayoutPlan | undefined {
  const ours = findOurNote(elf);
  if (!ours) return undefined;
  const h = elf.header;
  const plan: LayoutPlan = {
    strategy: 'remove', outputSize: elf.source.size, copies: [{ from: 0n, to: 0n, length: elf.source.size }], writes: [],
    descOffset: ours.note.descOffset, descCapacity: 0, header: h, programHeaders: elf.programHeaders, sections: elf.sections, growth: 0n, shift: 0n, keepsLayout: true,
  };
  if (!ours.addedByStamp || (ours.segment && !(ours.alone || ours.last))) {
    const desc = new Uint8Array(ours.note.descSize);
    desc.set(emptyDescriptor.subarray(0, Math.min(desc.length, emptyDescriptor.length)));
    plan.writes.push({ at: ours.note.descOffset, bytes: desc, what: 'empty note' });
    return plan;
  }
  const sz = C.sizes(h.is64);
  const header = cloneHeader(h);
  const entry = ours.note.descOffset + BigInt(ours.note.descSize) - ours.note.offset;
  const noteEnd = ours.note.offset + entry;
  let phdrs = clonePhdrs(elf.programHeaders);
  if (ours.segment && ours.alone) {
    phdrs = phdrs.filter((p) => p.index !== ours.segment!.index).map((p, i) => ({ ...p, index: i }));
  } else if (ours.segment) {
    const seg = phdrs[ours.segment.index]!;
    seg.filesz -= entry;
    seg.memsz -= entry;
  }
  // Give back the growth of the segment the note ended: it ends again where its last
  // section or segment (other than the note) ends.
  for (const p of phdrs) {
    if (p.type !== C.PT_LOAD || p.filesz !== p.memsz || p.offset > ours.note.offset || p.offset + p.filesz !== noteEnd) continue;
    const inside = (start: bigint, size: bigint): boolean => size > 0n && start >= p.offset && start + size <= ours.note.offset;
    const ends = [
      ...phdrs.filter((q) => q !== p && q.type !== C.PT_LOAD && inside(q.offset, q.filesz)).map((q) => q.offset + q.filesz),
      ...elf.sections.filter((s) => s !== ours.section && s.type !== C.SHT_NOBITS && (s.flags & C.SHF_ALLOC) !== 0n && inside(s.offset, s.size)).map((s) => s.offset + s.size),
    ];
    p.filesz = p.memsz = ends.length ? maxOf(...ends) : ours.note.offset;
  }
  setPhdrSize(phdrs, sz.phdr);
  header.phnum = phdrs.length;
  const table = new Uint8Array(h.phnum * sz.phdr);
  table.set(encodeProgramHeaders(header, phdrs));
  const writes: WritePiece[] = [
    { at: h.phoff, bytes: table, what: 'program header table' },
    { at: ours.note.offset, bytes: new Uint8Array(toIndex(entry, 'the note entry')), what: 'note bytes' },
  ];
  let sections = elf.sections;
  let outputSize = elf.source.size;
  let copies = [{ from: 0n, to: 0n, length: elf.source.size }];
  if (ours.section) {
    const dropped = dropSection(elf, header, elf.sections, ours.section.index);
    sections = dropped.sections;
    const names = namesWithout(elf, ours);
    const tail = tailStart(elf);
    // A note after the last PT_LOAD pushed the non-allocated sections behind it up: they go back.
    const back = shiftBack(elf, ours, tail);
    writes.push(...dropped.writes.map((w) => (back && w.at >= back.from ? { ...w, at: w.at - back.shift } : w)));
    if (back) {
      for (const s of sections) if (s.offset >= back.from && s.offset < tail && s.type !== C.SHT_NOBITS && (s.flags & C.SHF_ALLOC) === 0n) s.offset -= back.shift;
      copies = [{ from: 0n, to: 0n, length: back.to }, { from: back.from, to: back.to, length: tail - back.from }];
      writes.splice(writes.findIndex((w) => w.what === 'note bytes'), 1);
    }
    const shift = back?.shift ?? 0n;
    if (tail < elf.source.size) {
      // The tables were written at the tail by the stamp: write them back the same way.
      const strtab = h.shstrndx ? elf.sections[h.shstrndx] : undefined;
      const rewrite = strtab && strtab.offset >= tail ? names ?? elf.source.read(strtab.offset, toIndex(strtab.size, 'size')) : undefined;
      outputSize = writeSectionTail(header, sections, tail - shift, rewrite, writes);
      copies = copies.map((c) => ({ ...c, length: c.from + c.length > tail ? tail - c.from : c.length }));
    } else {
      const shdrs = new Uint8Array(h.shnum * sz.shdr);
      shdrs.set(encodeSectionHeaders(header, sections));
      writes.push({ at: h.shoff, bytes: shdrs, what: 'section header table' });
    }
  }
  writes.push({ at: 0n, bytes: encodeHeader(header), what: 'ELF header' });
  return {
    ...plan, outputSize, copies, writes, header, programHeaders: phdrs, sections,
    growth: outputSize - elf.source.size,
  };
}

/**
 * For a note right after the last PT_LOAD's content (and not in the first one's gap): the
 * non-allocated sections behind it were moved up by the note's size; they move back to where
 * the note starts (the segment's end).
 */
function shiftBack(elf: ElfFile, ours: OurNote, tail: bigint): { from: bigint; to: bigint; shift: bigint } | undefined {
  const first = firstLoad(elf.programHeaders);
  const last = lastLoad(elf.programHeaders);
  if (!ours.beside || !first || !last || ours.note.offset === besideNoteOffset(first) || ours.note.offset !== besideNoteOffset(last)) return undefined;
  const to = last.offset + last.filesz;
  const from = ours.note.descOffset + BigInt(ours.note.descSize);
  if (from > tail) return undefined;
  return { from, to, shift: from - to };
}

/** The section name table without our name, when a stamp appended it and nothing else uses it. */
function namesWithout(elf: ElfFile, ours: OurNote): Uint8Array | undefined {
  const strtab = elf.header.shstrndx ? elf.sections[elf.header.shstrndx] : undefined;
  if (!strtab || !ours.section) return undefined;
  const name = Buffer.from(SECTION_NAME + '\0', 'latin1');
  const at = ours.section.nameOffset;
  if (BigInt(at + name.length) !== strtab.size) return undefined;
  const bytes = elf.source.read(strtab.offset, toIndex(strtab.size, 'size'));
  if (!Buffer.from(bytes.subarray(at)).equals(name)) return undefined;
  const shared = (s: SectionHeader): boolean => s !== ours.section && s.nameOffset >= at && s.nameOffset < at + name.length;
  if (elf.sections.some(shared)) return undefined;
  return Uint8Array.from(bytes.subarray(0, at));
}
