import type { ByteSource } from './bytes';

/** The ELF header, class-independent: addresses and offsets widened to bigint. */
export interface FileHeader {
  is64: boolean;
  littleEndian: boolean;
  osabi: number;
  abiVersion: number;
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: bigint;
  shoff: bigint;
  flags: number;
  ehsize: number;
  phentsize: number;
  /** Resolved counts: PN_XNUM / SHN_XINDEX overflow already read from section 0. */
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
  /** The raw 16-bit fields as they are in the file, so a rewrite keeps the overflow form. */
  raw: { phnum: number; shnum: number; shstrndx: number };
}

export interface ProgramHeader {
  index: number;
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

export interface SectionHeader {
  index: number;
  nameOffset: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  addralign: bigint;
  entsize: bigint;
}

export interface Note {
  /** Owner name without its terminating NUL. */
  name: string;
  type: number;
  /** File offset of the note header, and of its descriptor. */
  offset: bigint;
  descOffset: bigint;
  descSize: number;
  /** Padding the container uses (4 or 8). */
  align: number;
  /**
   * The PT_NOTE (by program header index) or SHT_NOTE section it was found in, or the
   * PT_LOAD after whose file content it sits (docs/FORMAT.md 1.1).
   */
  container: { kind: 'segment' | 'section' | 'beside'; index: number };
}

export interface ElfFile {
  source: ByteSource;
  header: FileHeader;
  programHeaders: ProgramHeader[];
  sections: SectionHeader[];
  /** Notes of all PT_NOTE segments, or of SHT_NOTE sections when there are no segments. */
  notes: Note[];
}
