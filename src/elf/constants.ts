/** ELF constants the reader and writer need, with names straight from the spec. */

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;

export const ET_NONE = 0;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_SHLIB = 5;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PT_GNU_STACK = 0x6474e551;
export const PT_GNU_RELRO = 0x6474e552;
export const PT_GNU_PROPERTY = 0x6474e553;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;

export const SHF_WRITE = 0x1n;
export const SHF_ALLOC = 0x2n;
export const SHF_EXECINSTR = 0x4n;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_XINDEX = 0xffff;
export const PN_XNUM = 0xffff;

export const NT_GNU_BUILD_ID = 3;

export const EM_386 = 3;
export const EM_68K = 4;
export const EM_SPARC = 2;
export const EM_MIPS = 8;
export const EM_PPC = 20;
export const EM_PPC64 = 21;
export const EM_S390 = 22;
export const EM_ARM = 40;
export const EM_SPARCV9 = 43;
export const EM_IA_64 = 50;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_RISCV = 243;
export const EM_LOONGARCH = 258;
export const EM_ALPHA = 0x9026;

/** Sizes of the on-disk structures, by class. */
export function sizes(is64: boolean): { ehdr: number; phdr: number; shdr: number; word: number } {
  return is64 ? { ehdr: 64, phdr: 56, shdr: 64, word: 8 } : { ehdr: 52, phdr: 32, shdr: 40, word: 4 };
}

/**
 * The largest page size a kernel for this machine may use: segments must not share a page
 * at this size. Machines not listed use 4 KiB.
 */
export function maxPageSize(machine: number): bigint {
  switch (machine) {
    case EM_AARCH64:
    case EM_PPC64:
    case EM_PPC:
    case EM_MIPS:
    case EM_LOONGARCH:
    case EM_ALPHA:
    case EM_IA_64:
      return 0x10000n;
    case EM_SPARC:
    case EM_SPARCV9:
      return 0x2000n;
    default:
      return 0x1000n;
  }
}

const PT_NAMES: Record<number, string> = {
  [PT_NULL]: 'NULL',
  [PT_LOAD]: 'LOAD',
  [PT_DYNAMIC]: 'DYNAMIC',
  [PT_INTERP]: 'INTERP',
  [PT_NOTE]: 'NOTE',
  [PT_SHLIB]: 'SHLIB',
  [PT_PHDR]: 'PHDR',
  [PT_TLS]: 'TLS',
  [PT_GNU_EH_FRAME]: 'GNU_EH_FRAME',
  [PT_GNU_STACK]: 'GNU_STACK',
  [PT_GNU_RELRO]: 'GNU_RELRO',
  [PT_GNU_PROPERTY]: 'GNU_PROPERTY',
};

const SHT_NAMES: Record<number, string> = {
  0: 'NULL', 1: 'PROGBITS', 2: 'SYMTAB', 3: 'STRTAB', 4: 'RELA', 5: 'HASH', 6: 'DYNAMIC', 7: 'NOTE',
  8: 'NOBITS', 9: 'REL', 10: 'SHLIB', 11: 'DYNSYM', 14: 'INIT_ARRAY', 15: 'FINI_ARRAY',
  16: 'PREINIT_ARRAY', 17: 'GROUP', 18: 'SYMTAB_SHNDX', 19: 'RELR',
  0x6ffffff6: 'GNU_HASH', 0x6ffffffd: 'VERDEF', 0x6ffffffe: 'VERNEED', 0x6fffffff: 'VERSYM',
};

const ET_NAMES: Record<number, string> = { 0: 'NONE', 1: 'REL', 2: 'EXEC', 3: 'DYN', 4: 'CORE' };

/** Unknown values print relative to the nearest named range, never fail (as Go's debug/elf). */
function named(table: Record<number, string>, v: number, ranges: Array<[number, string]>): string {
  const n = table[v];
  if (n) return n;
  for (const [lo, name] of ranges) if (v >= lo) return `${name}+0x${(v - lo).toString(16)}`;
  return `0x${v.toString(16)}`;
}

export const ptName = (v: number): string =>
  named(PT_NAMES, v, [[0x70000000, 'PT_LOPROC'], [0x60000000, 'PT_LOOS']]);
export const shtName = (v: number): string =>
  named(SHT_NAMES, v, [[0x80000000, 'SHT_LOUSER'], [0x70000000, 'SHT_LOPROC'], [0x60000000, 'SHT_LOOS']]);
export const etName = (v: number): string => named(ET_NAMES, v, [[0xff00, 'ET_LOPROC'], [0xfe00, 'ET_LOOS']]);

export function pfName(flags: number): string {
  return (flags & PF_R ? 'R' : '') + (flags & PF_W ? 'W' : '') + (flags & PF_X ? 'E' : '') || '-';
}
