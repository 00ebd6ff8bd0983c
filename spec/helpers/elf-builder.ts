// A small, independent ELF image builder for the reader specs: ELF32 or ELF64, little- or
// big-endian, with the program headers, sections and notes a test asks for. It knows the
// on-disk layout from the gABI only (it uses nothing from src/), and returns where it put
// every table and field, so a test can check the parser's answers or poke bad values in.

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_386 = 3;
export const EM_PPC = 20;
export const EM_PPC64 = 21;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const SHT_PROGBITS = 1;
export const SHT_STRTAB = 3;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHF_ALLOC = 0x2n;
export const SHN_XINDEX = 0xffff;
export const PN_XNUM = 0xffff;

/** Sizes by class, from the gABI. */
export function elfSizes(is64: boolean): { ehdr: number; phdr: number; shdr: number; word: number } {
  return is64 ? { ehdr: 64, phdr: 56, shdr: 64, word: 8 } : { ehdr: 52, phdr: 32, shdr: 40, word: 4 };
}

type Field = { offset: number; size: number };

/** Where each ELF header field is. */
export function headerField(is64: boolean, name: string): Field {
  const w = is64 ? 8 : 4;
  const f: Record<string, Field> = {
    e_type: { offset: 16, size: 2 },
    e_machine: { offset: 18, size: 2 },
    e_version: { offset: 20, size: 4 },
    e_entry: { offset: 24, size: w },
    e_phoff: { offset: 24 + w, size: w },
    e_shoff: { offset: 24 + 2 * w, size: w },
    e_flags: { offset: is64 ? 48 : 36, size: 4 },
    e_ehsize: { offset: is64 ? 52 : 40, size: 2 },
    e_phentsize: { offset: is64 ? 54 : 42, size: 2 },
    e_phnum: { offset: is64 ? 56 : 44, size: 2 },
    e_shentsize: { offset: is64 ? 58 : 46, size: 2 },
    e_shnum: { offset: is64 ? 60 : 48, size: 2 },
    e_shstrndx: { offset: is64 ? 62 : 50, size: 2 },
  };
  const r = f[name];
  if (!r) throw new Error(`no header field ${name}`);
  return r;
}

/** Where each section header field is, inside one entry. */
export function sectionField(is64: boolean, name: string): Field {
  const f: Record<string, Field> = is64
    ? {
        sh_name: { offset: 0, size: 4 },
        sh_type: { offset: 4, size: 4 },
        sh_flags: { offset: 8, size: 8 },
        sh_addr: { offset: 16, size: 8 },
        sh_offset: { offset: 24, size: 8 },
        sh_size: { offset: 32, size: 8 },
        sh_link: { offset: 40, size: 4 },
        sh_info: { offset: 44, size: 4 },
        sh_addralign: { offset: 48, size: 8 },
        sh_entsize: { offset: 56, size: 8 },
      }
    : {
        sh_name: { offset: 0, size: 4 },
        sh_type: { offset: 4, size: 4 },
        sh_flags: { offset: 8, size: 4 },
        sh_addr: { offset: 12, size: 4 },
        sh_offset: { offset: 16, size: 4 },
        sh_size: { offset: 20, size: 4 },
        sh_link: { offset: 24, size: 4 },
        sh_info: { offset: 28, size: 4 },
        sh_addralign: { offset: 32, size: 4 },
        sh_entsize: { offset: 36, size: 4 },
      };
  const r = f[name];
  if (!r) throw new Error(`no section header field ${name}`);
  return r;
}

/** Where each program header field is, inside one entry. */
export function segmentField(is64: boolean, name: string): Field {
  const f: Record<string, Field> = is64
    ? {
        p_type: { offset: 0, size: 4 },
        p_flags: { offset: 4, size: 4 },
        p_offset: { offset: 8, size: 8 },
        p_vaddr: { offset: 16, size: 8 },
        p_paddr: { offset: 24, size: 8 },
        p_filesz: { offset: 32, size: 8 },
        p_memsz: { offset: 40, size: 8 },
        p_align: { offset: 48, size: 8 },
      }
    : {
        p_type: { offset: 0, size: 4 },
        p_offset: { offset: 4, size: 4 },
        p_vaddr: { offset: 8, size: 4 },
        p_paddr: { offset: 12, size: 4 },
        p_filesz: { offset: 16, size: 4 },
        p_memsz: { offset: 20, size: 4 },
        p_flags: { offset: 24, size: 4 },
        p_align: { offset: 28, size: 4 },
      };
  const r = f[name];
  if (!r) throw new Error(`no program header field ${name}`);
  return r;
}

/** Writes an unsigned integer of 1, 2, 4 or 8 bytes in the given byte order. */
export function putUint(buf: Uint8Array, at: number, size: number, value: bigint | number, littleEndian: boolean): void {
  let v = BigInt.asUintN(size * 8, BigInt(value));
  for (let i = 0; i < size; i++) {
    buf[littleEndian ? at + i : at + size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

export function getUint(buf: Uint8Array, at: number, size: number, littleEndian: boolean): bigint {
  let v = 0n;
  for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(buf[littleEndian ? at + size - 1 - i : at + i]!);
  return v;
}

export interface NoteSpec {
  name: string;
  type: number;
  desc: Uint8Array;
}

export interface PlacedNote extends NoteSpec {
  /** Offsets inside the blob. */
  offset: number;
  descOffset: number;
}

const alignUpN = (n: number, a: number): number => (a <= 1 ? n : Math.ceil(n / a) * a);

/**
 * The bytes of a run of notes as a PT_NOTE / SHT_NOTE holds them: each note header in the
 * file's byte order, the owner name with its NUL, both name and descriptor padded to `align`.
 */
export function notesBlob(notes: NoteSpec[], align: 4 | 8, littleEndian: boolean): { bytes: Uint8Array; placed: PlacedNote[] } {
  const placed: PlacedNote[] = [];
  let size = 0;
  for (const n of notes) {
    const namesz = n.name.length ? Buffer.byteLength(n.name, 'latin1') + 1 : 0;
    const descOffset = size + alignUpN(12 + namesz, align);
    placed.push({ ...n, offset: size, descOffset });
    size = descOffset + alignUpN(n.desc.length, align);
  }
  const bytes = new Uint8Array(size);
  notes.forEach((n, i) => {
    const p = placed[i]!;
    const namesz = n.name.length ? Buffer.byteLength(n.name, 'latin1') + 1 : 0;
    putUint(bytes, p.offset, 4, namesz, littleEndian);
    putUint(bytes, p.offset + 4, 4, n.desc.length, littleEndian);
    putUint(bytes, p.offset + 8, 4, n.type, littleEndian);
    bytes.set(Buffer.from(n.name, 'latin1'), p.offset + 12);
    bytes.set(n.desc, p.descOffset);
  });
  return { bytes, placed };
}

export interface SectionSpec {
  name: string;
  type: number;
  flags?: bigint;
  /** Address; allocated sections default to base + file offset. */
  addr?: bigint;
  addralign?: bigint;
  entsize?: bigint;
  link?: number;
  info?: number;
  /** Contents (none for SHT_NOBITS). */
  data?: Uint8Array;
  /** Size for SHT_NOBITS (or a size other than the data's). */
  size?: bigint;
}

export interface SegmentSpec {
  type: number;
  flags?: number;
  /** Covers these sections, first to last (by name). */
  sections?: string[];
  /** Covers the file from byte 0 through the end of the last section's data. */
  wholeFile?: boolean;
  offset?: bigint;
  filesz?: bigint;
  vaddr?: bigint;
  paddr?: bigint;
  memsz?: bigint;
  align?: bigint;
}

export interface ElfSpec {
  is64: boolean;
  littleEndian: boolean;
  type?: number;
  machine?: number;
  entry?: bigint;
  flags?: number;
  osabi?: number;
  /** Base address: an allocated section's address is base + its offset. */
  base?: bigint;
  /** Sections after the NULL section 0 (added here); .shstrtab is added last. */
  sections?: SectionSpec[];
  segments?: SegmentSpec[];
  /** No section header table and no .shstrtab. */
  noSectionHeaders?: boolean;
  /** e_shnum = 0, the count in section 0's sh_size. */
  extendedShnum?: boolean;
  /** e_shstrndx = SHN_XINDEX, the index in section 0's sh_link. */
  extendedShstrndx?: boolean;
  /** e_phnum = PN_XNUM, the count in section 0's sh_info. */
  extendedPhnum?: boolean;
}

export interface BuiltSection {
  index: number;
  name: string;
  nameOffset: number;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  addralign: bigint;
  entsize: bigint;
  /** File offset of this section's header. */
  headerOffset: number;
}

export interface BuiltSegment {
  index: number;
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
  headerOffset: number;
}

export interface BuiltElf {
  spec: ElfSpec;
  bytes: Uint8Array;
  is64: boolean;
  littleEndian: boolean;
  phoff: number;
  shoff: number;
  phnum: number;
  shnum: number;
  shstrndx: number;
  sections: BuiltSection[];
  segments: BuiltSegment[];
  /** Section by name. */
  section(name: string): BuiltSection;
  /** Sets an ELF header field. */
  setHeader(name: string, value: bigint | number): void;
  /** Sets a field of section header `index`. */
  setSection(index: number, name: string, value: bigint | number): void;
  /** Sets a field of program header `index`. */
  setSegment(index: number, name: string, value: bigint | number): void;
}

/** Builds a minimal, well-formed ELF image. */
export function buildElf(spec: ElfSpec): BuiltElf {
  const { is64, littleEndian: le } = spec;
  const sz = elfSizes(is64);
  const base = spec.base ?? 0x400000n;
  const segSpecs = spec.segments ?? [];
  const userSections = spec.sections ?? [];
  const withShdrs = !spec.noSectionHeaders;
  if (spec.noSectionHeaders && userSections.length) throw new Error('sections need a section header table');

  // Section name table: index 0 is the empty name.
  const names: string[] = withShdrs ? [...userSections.map((s) => s.name), '.shstrtab'] : [];
  const parts: Buffer[] = [Buffer.from([0])];
  let strtabLength = 1;
  const nameOffsets = names.map((n) => {
    if (n === '') return 0;
    const at = strtabLength;
    const bytes = Buffer.from(n + '\0', 'latin1');
    parts.push(bytes);
    strtabLength += bytes.length;
    return at;
  });
  const strtab = Buffer.concat(parts);

  let off = sz.ehdr;
  const phoff = segSpecs.length ? alignUpN(off, 8) : 0;
  off = phoff ? phoff + segSpecs.length * sz.phdr : off;

  const placedSections: Array<{ spec: SectionSpec; offset: number; size: number }> = [];
  const allSections: SectionSpec[] = withShdrs
    ? [...userSections, { name: '.shstrtab', type: SHT_STRTAB, data: strtab, addralign: 1n }]
    : [];
  for (const s of allSections) {
    const align = Number(s.addralign ?? 1n) || 1;
    if (s.type === SHT_NOBITS || !s.data) {
      placedSections.push({ spec: s, offset: alignUpN(off, align), size: Number(s.size ?? 0n) });
      continue;
    }
    off = alignUpN(off, align);
    placedSections.push({ spec: s, offset: off, size: s.data.length });
    off += s.data.length;
  }
  const dataEnd = off;
  const shnum = withShdrs ? allSections.length + 1 : 0;
  const shoff = withShdrs ? alignUpN(off, 8) : 0;
  const total = withShdrs ? shoff + shnum * sz.shdr : off;
  const bytes = new Uint8Array(total);

  const sections: BuiltSection[] = [];
  if (withShdrs) {
    sections.push({ index: 0, name: '', nameOffset: 0, type: 0, flags: 0n, addr: 0n, offset: 0n, size: 0n, link: 0, info: 0, addralign: 0n, entsize: 0n, headerOffset: shoff });
    placedSections.forEach((p, i) => {
      const s = p.spec;
      const flags = s.flags ?? 0n;
      sections.push({
        index: i + 1,
        name: s.name,
        nameOffset: nameOffsets[i]!,
        type: s.type,
        flags,
        addr: s.addr ?? ((flags & SHF_ALLOC) !== 0n ? base + BigInt(p.offset) : 0n),
        offset: BigInt(p.offset),
        size: s.size ?? BigInt(p.size),
        link: s.link ?? 0,
        info: s.info ?? 0,
        addralign: s.addralign ?? 1n,
        entsize: s.entsize ?? 0n,
        headerOffset: shoff + (i + 1) * sz.shdr,
      });
      if (s.data && s.type !== SHT_NOBITS) bytes.set(s.data, p.offset);
    });
  }
  const byName = (n: string): BuiltSection => {
    const s = sections.find((x) => x.name === n);
    if (!s) throw new Error(`no section ${n}`);
    return s;
  };

  const segments: BuiltSegment[] = segSpecs.map((p, i) => {
    let offset = p.offset ?? 0n;
    let filesz = p.filesz ?? 0n;
    if (p.sections?.length) {
      const first = byName(p.sections[0]!);
      const last = byName(p.sections[p.sections.length - 1]!);
      offset = p.offset ?? first.offset;
      filesz = p.filesz ?? last.offset + (last.type === SHT_NOBITS ? 0n : last.size) - offset;
    } else if (p.wholeFile) {
      offset = 0n;
      filesz = p.filesz ?? BigInt(dataEnd);
    }
    const vaddr = p.vaddr ?? base + offset;
    return {
      index: i,
      type: p.type,
      flags: p.flags ?? 4,
      offset,
      vaddr,
      paddr: p.paddr ?? vaddr,
      filesz,
      memsz: p.memsz ?? filesz,
      align: p.align ?? (p.type === PT_LOAD ? 0x1000n : p.type === PT_NOTE ? 4n : 8n),
      headerOffset: phoff + i * sz.phdr,
    };
  });

  const built: BuiltElf = {
    spec,
    bytes,
    is64,
    littleEndian: le,
    phoff,
    shoff,
    phnum: segments.length,
    shnum,
    shstrndx: withShdrs ? shnum - 1 : 0,
    sections,
    segments,
    section: byName,
    setHeader(name, value) {
      const f = headerField(is64, name);
      putUint(bytes, f.offset, f.size, value, le);
    },
    setSection(index, name, value) {
      const f = sectionField(is64, name);
      putUint(bytes, shoff + index * sz.shdr + f.offset, f.size, value, le);
    },
    setSegment(index, name, value) {
      const f = segmentField(is64, name);
      putUint(bytes, phoff + index * sz.phdr + f.offset, f.size, value, le);
    },
  };

  // ELF header.
  bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? ELFCLASS64 : ELFCLASS32, le ? ELFDATA2LSB : ELFDATA2MSB, 1, spec.osabi ?? 0]);
  built.setHeader('e_type', spec.type ?? ET_DYN);
  built.setHeader('e_machine', spec.machine ?? (is64 ? EM_X86_64 : EM_386));
  built.setHeader('e_version', 1);
  built.setHeader('e_entry', spec.entry ?? base);
  built.setHeader('e_phoff', phoff);
  built.setHeader('e_shoff', shoff);
  built.setHeader('e_flags', spec.flags ?? 0);
  built.setHeader('e_ehsize', sz.ehdr);
  built.setHeader('e_phentsize', sz.phdr);
  built.setHeader('e_phnum', spec.extendedPhnum ? PN_XNUM : segments.length);
  built.setHeader('e_shentsize', withShdrs ? sz.shdr : 0);
  built.setHeader('e_shnum', spec.extendedShnum ? 0 : shnum);
  built.setHeader('e_shstrndx', spec.extendedShstrndx ? SHN_XINDEX : built.shstrndx);

  for (const s of sections) {
    const i = s.index;
    built.setSection(i, 'sh_name', s.nameOffset);
    built.setSection(i, 'sh_type', s.type);
    built.setSection(i, 'sh_flags', s.flags);
    built.setSection(i, 'sh_addr', s.addr);
    built.setSection(i, 'sh_offset', s.offset);
    built.setSection(i, 'sh_size', s.size);
    built.setSection(i, 'sh_link', s.link);
    built.setSection(i, 'sh_info', s.info);
    built.setSection(i, 'sh_addralign', s.addralign);
    built.setSection(i, 'sh_entsize', s.entsize);
  }
  if (withShdrs) {
    const s0 = sections[0]!;
    if (spec.extendedShnum) built.setSection(0, 'sh_size', (s0.size = BigInt(shnum)));
    if (spec.extendedShstrndx) built.setSection(0, 'sh_link', (s0.link = built.shstrndx));
    if (spec.extendedPhnum) built.setSection(0, 'sh_info', (s0.info = segments.length));
  }
  for (const p of segments) {
    const i = p.index;
    built.setSegment(i, 'p_type', p.type);
    built.setSegment(i, 'p_flags', p.flags);
    built.setSegment(i, 'p_offset', p.offset);
    built.setSegment(i, 'p_vaddr', p.vaddr);
    built.setSegment(i, 'p_paddr', p.paddr);
    built.setSegment(i, 'p_filesz', p.filesz);
    built.setSegment(i, 'p_memsz', p.memsz);
    built.setSegment(i, 'p_align', p.align);
  }
  return built;
}

export { prng } from './prng';

/** Some typical notes: a GNU build-id, an ABI tag and a few odd ones. */
export function sampleNotes(rand: () => number, count: number): NoteSpec[] {
  const out: NoteSpec[] = [];
  for (let i = 0; i < count; i++) {
    const nameLen = Math.floor(rand() * 20);
    const name = nameLen === 0 ? '' : Array.from({ length: nameLen }, (_, k) => String.fromCharCode(65 + ((i + k) % 26))).join('');
    const desc = new Uint8Array(Math.floor(rand() * 41));
    for (let k = 0; k < desc.length; k++) desc[k] = Math.floor(rand() * 256);
    out.push({ name, type: Math.floor(rand() * 0x10000), desc });
  }
  return out;
}
