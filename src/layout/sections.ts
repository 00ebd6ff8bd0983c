import { ByteView, ByteWriter } from '../elf/bytes';
import * as C from '../elf/constants';
import { encodeSectionHeaders } from '../elf/encode';
import { PlacementRefusedError, toIndex } from '../elf/errors';
import type { ElfFile, FileHeader, SectionHeader } from '../elf/types';
import type { WritePiece } from './plan';
import { alignUp } from './regions';

const SHT_SYMTAB = 2;
const SHT_RELA = 4;
const SHT_REL = 9;
const SHT_DYNSYM = 11;
const SHT_SYMTAB_SHNDX = 18;
const SHF_INFO_LINK = 0x40n;

/** Largest symbol table whose section indices a stamp rewrites; a larger one refuses the stamp. */
const MAX_SYMBOL_TABLE = 256 << 20;

/**
 * Where a new allocated section at `addr` goes so that the table stays as linkers emit it:
 * after every allocated section at a lower or equal address, before the first allocated
 * section above it (or before the first non-allocated one, which follow the allocated ones).
 */
export function insertionIndex(sections: SectionHeader[], addr: bigint): number {
  for (let i = 1; i < sections.length; i++) {
    const s = sections[i]!;
    if ((s.flags & C.SHF_ALLOC) === 0n || s.addr > addr) return i;
  }
  return sections.length;
}

/**
 * The section table with `added` inserted at index `at`, every reference to a later index
 * renumbered: e_shstrndx, sh_link, sh_info of relocation sections, and st_shndx of every
 * symbol (the returned writes patch the symbol tables where they are). A reference past the
 * last section (malformed) stays past the last section, so nothing refers to the new one.
 */
export function insertSection(elf: ElfFile, header: FileHeader, sections: SectionHeader[], at: number, added: Omit<SectionHeader, 'index'>): { sections: SectionHeader[]; writes: WritePiece[] } {
  if (elf.header.raw.shnum === 0 || elf.header.raw.shstrndx === C.SHN_XINDEX || sections.length + 1 >= C.SHN_LORESERVE) {
    throw new PlacementRefusedError(['the section header table uses (or would need) extended numbering'], 'Use a sidecar (`--fallback sidecar`).');
  }
  const r = renumber(elf, header, sections, (i) => (i >= at && i < C.SHN_LORESERVE ? i + 1 : i));
  r.sections.splice(at, 0, { ...added, index: at });
  r.sections.forEach((s, i) => (s.index = i));
  header.shnum = r.sections.length;
  return r;
}

/** The section table without section `at` (nothing may refer to it), references renumbered back. */
export function dropSection(elf: ElfFile, header: FileHeader, sections: SectionHeader[], at: number): { sections: SectionHeader[]; writes: WritePiece[] } {
  const r = renumber(elf, header, sections, (i) => (i > at && i < C.SHN_LORESERVE ? i - 1 : i));
  r.sections.splice(at, 1);
  r.sections.forEach((s, i) => (s.index = i));
  header.shnum = r.sections.length;
  return r;
}

function renumber(elf: ElfFile, header: FileHeader, sections: SectionHeader[], map: (i: number) => number): { sections: SectionHeader[]; writes: WritePiece[] } {
  const out = sections.map((s) => ({
    ...s,
    link: map(s.link),
    info: s.type === SHT_REL || s.type === SHT_RELA || (s.flags & SHF_INFO_LINK) !== 0n ? map(s.info) : s.info,
  }));
  header.shstrndx = map(header.shstrndx);
  const writes: WritePiece[] = [];
  for (const s of sections) {
    const w = s.type === SHT_SYMTAB || s.type === SHT_DYNSYM ? renumberSymbols(elf, s, map) : s.type === SHT_SYMTAB_SHNDX ? renumberWords(elf, s, map) : undefined;
    if (w) writes.push(w);
  }
  return { sections: out, writes };
}

function tableBytes(elf: ElfFile, s: SectionHeader): Uint8Array | undefined {
  if (s.size === 0n || s.type === C.SHT_NOBITS) return undefined;
  if (s.size > BigInt(MAX_SYMBOL_TABLE)) {
    throw new PlacementRefusedError([`symbol table ${s.name || s.index} is ${s.size} bytes, over the ${MAX_SYMBOL_TABLE} a stamp rewrites`], 'Use a sidecar (`--fallback sidecar`).');
  }
  return Uint8Array.from(elf.source.read(s.offset, toIndex(s.size, 'size'), ['sectionHeaders', s.index]));
}

/** st_shndx of every symbol, renumbered; undefined when nothing changes. */
function renumberSymbols(elf: ElfFile, s: SectionHeader, bump: (i: number) => number): WritePiece | undefined {
  const bytes = tableBytes(elf, s);
  if (!bytes) return undefined;
  const h = elf.header;
  const entsize = h.is64 ? 24 : 16;
  const field = h.is64 ? 6 : 14;
  const v = new ByteView(bytes, h.littleEndian, s.offset);
  const w = new ByteWriter(bytes, h.littleEndian);
  let changed = false;
  for (let at = 0; at + entsize <= bytes.length; at += entsize) {
    const old = v.u16(at + field);
    const now = bump(old);
    if (now !== old) {
      changed = true;
      w.u16(at + field, now);
    }
  }
  return changed ? { at: s.offset, bytes, what: `section indices of the symbols in ${s.name || `section ${s.index}`}` } : undefined;
}

/** The entries of an SHT_SYMTAB_SHNDX table (32-bit section indices), renumbered. */
function renumberWords(elf: ElfFile, s: SectionHeader, bump: (i: number) => number): WritePiece | undefined {
  const bytes = tableBytes(elf, s);
  if (!bytes) return undefined;
  const v = new ByteView(bytes, elf.header.littleEndian, s.offset);
  const w = new ByteWriter(bytes, elf.header.littleEndian);
  let changed = false;
  for (let at = 0; at + 4 <= bytes.length; at += 4) {
    const old = v.u32(at);
    const now = bump(old);
    if (now !== old) {
      changed = true;
      w.u32(at, now);
    }
  }
  return changed ? { at: s.offset, bytes, what: `extended section indices in ${s.name || `section ${s.index}`}` } : undefined;
}

/** Appends `name` to a copy of the section name table unless it is already there. */
export function nameTable(elf: ElfFile, name: string): { bytes: Uint8Array; offset: number } {
  const s = elf.sections[elf.header.shstrndx]!;
  const old = elf.source.read(s.offset, toIndex(s.size, 'size'));
  const needle = Buffer.from(name + '\0', 'latin1');
  const found = Buffer.from(old).indexOf(needle);
  if (found >= 0) return { bytes: Uint8Array.from(old), offset: found };
  const bytes = new Uint8Array(old.length + needle.length);
  bytes.set(old);
  bytes.set(needle, old.length);
  return { bytes, offset: old.length };
}

/**
 * Writes the section name table (when given) and the section header table at `at`, the
 * start of the file's tail, as linkers lay them out: names, then the headers word-aligned.
 * Returns the end of what was written.
 */
export function writeSectionTail(header: FileHeader, sections: SectionHeader[], at: bigint, names: Uint8Array | undefined, writes: WritePiece[]): bigint {
  const sz = C.sizes(header.is64);
  if (names && header.shstrndx) {
    const strtab = sections[header.shstrndx]!;
    strtab.offset = at;
    strtab.size = BigInt(names.length);
    writes.push({ at, bytes: names, what: 'section name table' });
    at += strtab.size;
  }
  // The padding is written too: bytes left over from an earlier table must not stay there.
  const padding = Number(alignUp(at, BigInt(sz.word)) - at);
  if (padding) writes.push({ at, bytes: new Uint8Array(padding), what: 'section table padding' });
  at = alignUp(at, BigInt(sz.word));
  header.shoff = at;
  writes.push({ at, bytes: encodeSectionHeaders(header, sections), what: 'section header table' });
  return at + BigInt(sections.length * sz.shdr);
}
