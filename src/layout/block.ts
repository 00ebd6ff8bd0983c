import { ByteView } from '../elf/bytes';
import * as C from '../elf/constants';
import type { ElfFile, ProgramHeader, SectionHeader } from '../elf/types';
import type { WritePiece } from './plan';
import { InternalError } from '../errors';
import { Range, loadsOf, maxOf, minOf, occupied } from './regions';
import { toIndex } from '../elf/errors';

/**
 * A run of sections that only program headers point at (.interp and allocated notes): they
 * can move to another place in the first segment, or to a new one, by updating those
 * program headers, their section headers and any symbol defined in them.
 */
export interface MovableBlock extends Range {
  vaddr: bigint;
  /** Largest alignment of a moved section: the move keeps offsets congruent to it. */
  align: bigint;
  sections: SectionHeader[];
  segments: ProgramHeader[];
}

/** Dynamic tags whose value is an address. */
const DT_POINTERS = new Set([3, 4, 5, 6, 7, 12, 13, 17, 21, 23, 25, 26, 32, 36, 0x6ffffef5, 0x6ffffff0, 0x6ffffffc, 0x6ffffffe]);

/** The largest PT_DYNAMIC whose tags are read to check that none points into the block. */
const MAX_DYNAMIC = 1n << 20n;
/** The largest symbol table whose symbols are read and relocated. */
const MAX_SYMBOLS = 256n << 20n;

const isSymbolTable = (s: SectionHeader): boolean => s.type === C.SHT_SYMTAB || s.type === C.SHT_DYNSYM;

function isMovable(s: SectionHeader): boolean {
  if ((s.flags & C.SHF_ALLOC) === 0n || (s.flags & (C.SHF_WRITE | C.SHF_EXECINSTR)) !== 0n) return false;
  return s.type === C.SHT_NOTE || (s.type === C.SHT_PROGBITS && s.name === '.interp');
}

/** Checks that [start, end) can move: what overlaps it is movable and wholly inside. */
function validate(elf: ElfFile, start: bigint, end: bigint, reasons: string[]): MovableBlock | undefined {
  const first = loadsOf(elf.programHeaders)[0];
  if (!first || start < first.offset || end > first.offset + first.filesz) return reasons.push('the movable sections are not in the first PT_LOAD'), undefined;
  const sections = elf.sections.filter((s) => s.type !== C.SHT_NULL && s.type !== C.SHT_NOBITS && s.size > 0n && s.offset < end && s.offset + s.size > start);
  for (const s of sections) {
    if (!isMovable(s) || s.offset < start || s.offset + s.size > end) return reasons.push(`section ${s.name || s.index} cannot move`), undefined;
  }
  const segments = elf.programHeaders.filter((p) => p.type !== C.PT_LOAD && p.filesz > 0n && p.offset < end && p.offset + p.filesz > start);
  for (const p of segments) {
    if (p.type === C.PT_PHDR || p.type === C.PT_DYNAMIC || p.offset < start || p.offset + p.filesz > end) return reasons.push(`segment ${p.index} (${C.ptName(p.type)}) cannot move`), undefined;
  }
  const vaddr = first.vaddr + (start - first.offset);
  const dyn = elf.programHeaders.find((p) => p.type === C.PT_DYNAMIC);
  // Larger tables are refused, not left unchecked or unrelocated.
  if (dyn && dyn.filesz >= MAX_DYNAMIC) return reasons.push(`PT_DYNAMIC of ${dyn.filesz} bytes is larger than the ${MAX_DYNAMIC >> 20n} MiB whose tags are checked`), undefined;
  const big = elf.sections.find((s) => isSymbolTable(s) && s.size > MAX_SYMBOLS);
  if (big) return reasons.push(`symbol table ${big.name || big.index} of ${big.size} bytes is larger than the ${MAX_SYMBOLS >> 20n} MiB whose symbols are relocated`), undefined;
  if (dyn && dyn.filesz > 0n) {
    const w = elf.header.is64 ? 8 : 4;
    const v = new ByteView(elf.source.read(dyn.offset, toIndex(dyn.filesz, 'segment size')), elf.header.littleEndian, dyn.offset);
    for (let at = 0; at + 2 * w <= v.length; at += 2 * w) {
      const tag = Number(v.word(at, elf.header.is64));
      if (tag === 0) break;
      const val = v.word(at + w, elf.header.is64);
      if (DT_POINTERS.has(tag) && val >= vaddr && val < vaddr + (end - start)) return reasons.push(`dynamic tag 0x${tag.toString(16)} points into the sections to move`), undefined;
    }
  }
  const align = maxOf(4n, ...sections.map((s) => (s.addralign > 0n ? s.addralign : 1n)));
  if (align > 64n) return reasons.push(`a movable section wants ${align}-byte alignment`), undefined;
  return { start, end, vaddr, align, sections, segments };
}

/** The sections right after the program header table, up to the first that cannot move. */
export function blockAfterTable(elf: ElfFile, reasons: string[]): { block?: MovableBlock; freeEnd: bigint } {
  const h = elf.header;
  const tableEnd = h.phoff + BigInt(h.phnum * C.sizes(h.is64).phdr);
  const sorted = elf.sections
    .filter((s) => s.type !== C.SHT_NULL && s.type !== C.SHT_NOBITS && s.size > 0n && s.offset >= tableEnd)
    .sort((a, b) => (a.offset < b.offset ? -1 : 1));
  const moving: SectionHeader[] = [];
  for (const s of sorted) {
    if (!isMovable(s)) break;
    moving.push(s);
  }
  // Free room ends at the first thing after the table that stays where it is; segments that
  // only describe the moving sections (PT_INTERP, PT_NOTE) move with them.
  const movedStart = moving.length ? moving[0]!.offset : tableEnd;
  const movedEnd = moving.length ? maxOf(...moving.map((s) => s.offset + s.size)) : tableEnd;
  const movesAlong = (p: ProgramHeader): boolean => p.offset >= movedStart && p.offset + p.filesz <= movedEnd;
  const staying = occupied(elf, (r) => r.kind === 'phdrs' || (r.kind === 'section' && moving.some((m) => m.index === r.index)) || (r.kind === 'segment' && ([C.PT_LOAD, C.PT_PHDR].includes(elf.programHeaders[r.index]!.type) || (moving.length > 0 && movesAlong(elf.programHeaders[r.index]!)))));
  let freeEnd = 1n << 64n;
  for (const r of staying) if (r.end > tableEnd) freeEnd = minOf(freeEnd, r.start < tableEnd ? tableEnd : r.start);
  // An allocated SHT_NOBITS section (as in separate debug-info files) names file bytes too.
  for (const s of elf.sections) if (s.type === C.SHT_NOBITS && (s.flags & C.SHF_ALLOC) !== 0n && s.offset >= tableEnd) freeEnd = minOf(freeEnd, s.offset);
  const first = loadsOf(elf.programHeaders)[0];
  if (first) freeEnd = minOf(freeEnd, first.offset + first.filesz);
  if (moving.length === 0) return { freeEnd };
  const start = moving[0]!.offset;
  const segs = elf.programHeaders.filter((p) => p.type !== C.PT_LOAD && p.type !== C.PT_PHDR && p.filesz > 0n && p.offset >= start && p.offset < movedEnd);
  const end = maxOf(movedEnd, ...segs.map((p) => p.offset + p.filesz));
  const block = validate(elf, start, end, reasons);
  return { block, freeEnd: block ? freeEnd : minOf(freeEnd, start) };
}

/** The notes of a 4-aligned PT_NOTE, if they can move. */
export function blockOfNoteSegment(elf: ElfFile, seg: ProgramHeader, reasons: string[]): MovableBlock | undefined {
  return validate(elf, seg.offset, seg.offset + seg.filesz, reasons);
}

/**
 * Moves `block` to file offset `to` (address `toVaddr`): updates the given copies of the
 * section and program headers and returns the writes that fix symbols defined in it.
 */
export function relocateBlock(elf: ElfFile, block: MovableBlock, to: bigint, toVaddr: bigint, sections: SectionHeader[], phdrs: ProgramHeader[], movedPhdrs: ProgramHeader[] = []): WritePiece[] {
  const dOff = to - block.start;
  const dAddr = toVaddr - block.vaddr;
  const moved = new Set(block.sections.map((s) => s.index));
  for (const s of sections) {
    if (!moved.has(s.index)) continue;
    s.offset += dOff;
    s.addr += dAddr;
  }
  for (const p of phdrs) {
    if (p.type === C.PT_LOAD || p.type === C.PT_PHDR || p.filesz === 0n) continue;
    if (p.offset >= block.start && p.offset + p.filesz <= block.end) {
      movedPhdrs.push(p);
      p.offset += dOff;
      p.vaddr += dAddr;
      p.paddr += dAddr;
    }
  }
  const writes: WritePiece[] = [];
  const is64 = elf.header.is64;
  const entsize = is64 ? 24 : 16;
  for (const t of elf.sections) {
    if (!isSymbolTable(t) || t.size === 0n) continue;
    if (t.size > MAX_SYMBOLS) throw new InternalError(`symbol table ${t.name} of ${t.size} bytes reached relocation; validate refuses it`);
    const bytes = Uint8Array.from(elf.source.read(t.offset, toIndex(t.size, 'size')));
    const v = new ByteView(bytes, elf.header.littleEndian, t.offset);
    const dv = new DataView(bytes.buffer);
    let changed = false;
    for (let at = 0; at + entsize <= bytes.length; at += entsize) {
      const shndx = v.u16(at + (is64 ? 6 : 14));
      if (!moved.has(shndx)) continue;
      const valueAt = at + (is64 ? 8 : 4);
      if (is64) dv.setBigUint64(valueAt, BigInt.asUintN(64, v.u64(valueAt) + dAddr), elf.header.littleEndian);
      else dv.setUint32(valueAt, Number(BigInt.asUintN(32, BigInt(v.u32(valueAt)) + dAddr)), elf.header.littleEndian);
      changed = true;
    }
    if (changed) writes.push({ at: t.offset, bytes, what: `symbols of ${t.name}` });
  }
  return writes;
}
