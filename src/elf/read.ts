import { ByteSource, ByteView, BufferSource, FileSource } from './bytes';
import * as C from './constants';
import { ElfFormatError, ElfPath, safeBound } from './errors';
import type { ElfFile, FileHeader, Note, ProgramHeader, SectionHeader } from './types';

/** Most notes a single container may hold before we call it malformed. */
const MAX_NOTE_CONTAINER = 64n << 20n;
/** Largest section-name table we read. */
const MAX_SHSTRTAB = 64n << 20n;
/** Largest program or section header table we read (about 300,000 program headers). */
const MAX_TABLE = 16n << 20n;

export function parseElf(bytes: Uint8Array): ElfFile {
  return readElf(new BufferSource(bytes));
}

/** Opens and parses a file; the returned model keeps the file open (close its source). */
export function openElf(path: string): ElfFile {
  const src = FileSource.open(path);
  try {
    return readElf(src);
  } catch (e) {
    src.close();
    throw e;
  }
}

export function readElf(src: ByteSource): ElfFile {
  const header = readHeader(src);
  const sections = readSections(src, header);
  const programHeaders = readProgramHeaders(src, header);
  const notes = readNotes(src, header, programHeaders, sections);
  return { source: src, header, programHeaders, sections, notes };
}

function readHeader(src: ByteSource): FileHeader {
  if (src.size < 16n) throw new ElfFormatError('not_elf', 'file too short for an ELF identification', 0n, ['e_ident'], src.size);
  const ident = src.read(0n, 16);
  if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) {
    throw new ElfFormatError('not_elf', 'bad ELF magic', 0n, ['e_ident', 'EI_MAG']);
  }
  const cls = ident[4]!;
  if (cls !== C.ELFCLASS32 && cls !== C.ELFCLASS64) throw new ElfFormatError('bad_class', 'unknown ELF class', 4n, ['e_ident', 'EI_CLASS'], cls);
  const data = ident[5]!;
  if (data !== C.ELFDATA2LSB && data !== C.ELFDATA2MSB) throw new ElfFormatError('bad_encoding', 'unknown ELF data encoding', 5n, ['e_ident', 'EI_DATA'], data);
  if (ident[6] !== 1) throw new ElfFormatError('bad_version', 'unknown ELF identification version', 6n, ['e_ident', 'EI_VERSION'], ident[6]!);
  const is64 = cls === C.ELFCLASS64;
  const sz = C.sizes(is64);
  const v = new ByteView(src.read(0n, sz.ehdr, ['e_ehdr']), data === C.ELFDATA2LSB);
  const w = sz.word;
  const at = (n32: number, n64: number): number => (is64 ? n64 : n32);
  const h: FileHeader = {
    is64,
    littleEndian: v.littleEndian,
    osabi: ident[7]!,
    abiVersion: ident[8]!,
    type: v.u16(16),
    machine: v.u16(18),
    version: v.u32(20),
    entry: v.word(24, is64),
    phoff: v.word(24 + w, is64),
    shoff: v.word(24 + 2 * w, is64),
    flags: v.u32(at(36, 48)),
    ehsize: v.u16(at(40, 52)),
    phentsize: v.u16(at(42, 54)),
    phnum: v.u16(at(44, 56)),
    shentsize: v.u16(at(46, 58)),
    shnum: v.u16(at(48, 60)),
    shstrndx: v.u16(at(50, 62)),
    raw: { phnum: 0, shnum: 0, shstrndx: 0 },
  };
  h.raw = { phnum: h.phnum, shnum: h.shnum, shstrndx: h.shstrndx };
  if (h.version !== 1) throw new ElfFormatError('bad_version', 'unknown ELF version', 20n, ['e_version'], h.version);

  // Counts that overflowed their 16-bit fields live in section 0 (gABI "Extended numbering").
  if (h.shoff !== 0n) {
    if (h.shentsize !== sz.shdr) throw new ElfFormatError('bad_entsize', `section header size must be ${sz.shdr}`, BigInt(at(46, 58)), ['e_shentsize'], h.shentsize);
    const s0 = new ByteView(src.read(h.shoff, sz.shdr, ['sectionHeaders', 0]), h.littleEndian, h.shoff);
    if (h.raw.shnum === 0) h.shnum = safeBound(s0.word(is64 ? 32 : 20, is64), MAX_TABLE / BigInt(sz.shdr), 'section count in section 0 sh_size', h.shoff, ['sectionHeaders', 0, 'sh_size']);
    if (h.raw.shstrndx === C.SHN_XINDEX) h.shstrndx = s0.u32(is64 ? 40 : 24);
    if (h.raw.phnum === C.PN_XNUM) h.phnum = safeBound(BigInt(s0.u32(is64 ? 44 : 28)), MAX_TABLE / BigInt(sz.phdr), 'program header count in section 0 sh_info', h.shoff, ['sectionHeaders', 0, 'sh_info']);
  } else if (h.shnum !== 0) {
    throw new ElfFormatError('out_of_bounds', 'sections counted but no section header table', BigInt(at(48, 60)), ['e_shnum'], h.shnum);
  } else {
    h.shstrndx = 0;
  }
  if (h.phnum > 0 && h.phentsize !== sz.phdr) {
    throw new ElfFormatError('bad_entsize', `program header size must be ${sz.phdr}`, BigInt(at(42, 54)), ['e_phentsize'], h.phentsize);
  }
  checkTable(src, h.phoff, h.phnum, sz.phdr, ['e_phoff']);
  if (h.shoff !== 0n) checkTable(src, h.shoff, h.shnum, sz.shdr, ['e_shoff']);
  if (h.shnum > 0 && h.shstrndx !== 0 && h.shstrndx >= h.shnum) {
    throw new ElfFormatError('bad_index', `section name table index beyond ${h.shnum} sections`, BigInt(at(50, 62)), ['e_shstrndx'], h.shstrndx);
  }
  return h;
}

function checkTable(src: ByteSource, off: bigint, count: number, entsize: number, path: ElfPath): void {
  const end = off + BigInt(count) * BigInt(entsize);
  if (count > 0 && end > src.size) {
    throw new ElfFormatError('out_of_bounds', `table of ${count} entries runs past the end of the file (size ${src.size})`, off, path, off);
  }
}

function readProgramHeaders(src: ByteSource, h: FileHeader): ProgramHeader[] {
  if (h.phnum === 0) return [];
  const sz = C.sizes(h.is64).phdr;
  const v = new ByteView(src.read(h.phoff, h.phnum * sz, ['programHeaders']), h.littleEndian, h.phoff);
  const out: ProgramHeader[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const b = i * sz;
    const p: ProgramHeader = h.is64
      ? { index: i, type: v.u32(b), flags: v.u32(b + 4), offset: v.u64(b + 8), vaddr: v.u64(b + 16), paddr: v.u64(b + 24), filesz: v.u64(b + 32), memsz: v.u64(b + 40), align: v.u64(b + 48) }
      : { index: i, type: v.u32(b), offset: BigInt(v.u32(b + 4)), vaddr: BigInt(v.u32(b + 8)), paddr: BigInt(v.u32(b + 12)), filesz: BigInt(v.u32(b + 16)), memsz: BigInt(v.u32(b + 20)), flags: v.u32(b + 24), align: BigInt(v.u32(b + 28)) };
    out.push(p);
  }
  return out;
}

function readSections(src: ByteSource, h: FileHeader): SectionHeader[] {
  if (h.shnum === 0) return [];
  const sz = C.sizes(h.is64).shdr;
  const v = new ByteView(src.read(h.shoff, h.shnum * sz, ['sectionHeaders']), h.littleEndian, h.shoff);
  const out: SectionHeader[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const b = i * sz;
    const s: SectionHeader = h.is64
      ? { index: i, nameOffset: v.u32(b), name: '', type: v.u32(b + 4), flags: v.u64(b + 8), addr: v.u64(b + 16), offset: v.u64(b + 24), size: v.u64(b + 32), link: v.u32(b + 40), info: v.u32(b + 44), addralign: v.u64(b + 48), entsize: v.u64(b + 56) }
      : { index: i, nameOffset: v.u32(b), name: '', type: v.u32(b + 4), flags: BigInt(v.u32(b + 8)), addr: BigInt(v.u32(b + 12)), offset: BigInt(v.u32(b + 16)), size: BigInt(v.u32(b + 20)), link: v.u32(b + 24), info: v.u32(b + 28), addralign: BigInt(v.u32(b + 32)), entsize: BigInt(v.u32(b + 36)) };
    out.push(s);
  }
  if (h.shstrndx !== 0) {
    const strtab = out[h.shstrndx]!;
    const path = ['sectionHeaders', h.shstrndx];
    if (strtab.type === C.SHT_NOBITS) throw new ElfFormatError('bad_index', 'section name table has no bytes (SHT_NOBITS)', h.shoff + BigInt(h.shstrndx * sz), path, strtab.type);
    const len = safeBound(strtab.size, MAX_SHSTRTAB, 'section name table size', h.shoff + BigInt(h.shstrndx * sz), [...path, 'sh_size']);
    if (strtab.offset + strtab.size > src.size) {
      throw new ElfFormatError('out_of_bounds', 'section name table runs past the end of the file', strtab.offset, [...path, 'sh_offset'], strtab.offset);
    }
    const names = src.read(strtab.offset, len, path);
    for (const s of out) s.name = cString(names, s.nameOffset, strtab.offset, ['sectionHeaders', s.index, 'sh_name']);
  }
  return out;
}

/** A NUL-terminated string from a string table; a name running off the table is malformed. */
export function cString(table: Uint8Array, at: number, base: bigint, path: ElfPath): string {
  if (at === 0 && table.length === 0) return '';
  if (at >= table.length) throw new ElfFormatError('bad_string', 'string offset beyond its string table', base, path, at);
  const end = table.indexOf(0, at);
  if (end < 0) throw new ElfFormatError('bad_string', 'string not terminated inside its table', base + BigInt(at), path, at);
  return Buffer.from(table.buffer, table.byteOffset + at, end - at).toString('latin1');
}

/** Note alignment as gimli's object crate defines it: 0..4 means 4, 8 means 8, else malformed. */
export function noteAlign(align: bigint, at: bigint, path: ElfPath): number {
  if (align <= 4n) return 4;
  if (align === 8n) return 8;
  throw new ElfFormatError('bad_alignment', 'note alignment must be 4 or 8', at, path, align);
}

function readNotes(src: ByteSource, h: FileHeader, phdrs: ProgramHeader[], sections: SectionHeader[]): Note[] {
  const out: Note[] = [];
  const containers: Array<{ kind: 'segment' | 'section'; index: number; offset: bigint; size: bigint; align: bigint }> = [];
  const noteSegs = phdrs.filter((p) => p.type === C.PT_NOTE);
  if (phdrs.length > 0) {
    for (const p of noteSegs) containers.push({ kind: 'segment', index: p.index, offset: p.offset, size: p.filesz, align: p.align });
  } else {
    for (const s of sections) if (s.type === C.SHT_NOTE) containers.push({ kind: 'section', index: s.index, offset: s.offset, size: s.size, align: s.addralign });
  }
  for (const c of containers) {
    const path = [c.kind === 'segment' ? 'programHeaders' : 'sectionHeaders', c.index];
    const align = noteAlign(c.align, c.offset, [...path, 'align']);
    const size = safeBound(c.size, MAX_NOTE_CONTAINER, 'note container size', c.offset, [...path, 'size']);
    if (c.offset + c.size > src.size) throw new ElfFormatError('out_of_bounds', 'notes run past the end of the file', c.offset, path, c.offset + c.size);
    const v = new ByteView(src.read(c.offset, size, path), h.littleEndian, c.offset);
    out.push(...iterateNotes(v, align, c));
  }
  return out;
}

/** Walks the notes of one container; the first malformed note ends the walk with an error. */
export function iterateNotes(v: ByteView, align: number, container: { kind: 'segment' | 'section'; index: number }): Note[] {
  const out: Note[] = [];
  const a = BigInt(align);
  let at = 0;
  const pad = (n: number): number => Number(((BigInt(n) + a - 1n) / a) * a);
  while (at < v.length) {
    const path = [container.kind === 'segment' ? 'programHeaders' : 'sectionHeaders', container.index, 'notes', out.length];
    if (v.length - at < 12) throw new ElfFormatError('bad_note', 'note header cut short', v.base + BigInt(at), path, v.length - at);
    const namesz = v.u32(at, path);
    const descsz = v.u32(at + 4, path);
    const type = v.u32(at + 8, path);
    const descAt = pad(at + 12 + namesz);
    const next = pad(descAt + descsz);
    if (at + 12 + namesz > v.length || descAt + descsz > v.length) {
      throw new ElfFormatError('bad_note', `note of name size ${namesz} and descriptor size ${descsz} runs past its container`, v.base + BigInt(at), path, descsz);
    }
    let nameBytes = v.slice(at + 12, namesz, path);
    if (nameBytes.length > 0 && nameBytes[nameBytes.length - 1] === 0) nameBytes = nameBytes.subarray(0, nameBytes.length - 1);
    out.push({
      name: Buffer.from(nameBytes).toString('latin1'),
      type,
      offset: v.base + BigInt(at),
      descOffset: v.base + BigInt(descAt),
      descSize: descsz,
      align,
      container,
    });
    at = Math.min(next, v.length);
  }
  return out;
}
