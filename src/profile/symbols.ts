/*
 * Function symbols as anchors for carrying pages to another build: a page recorded inside
 * `parse_args` lands inside `parse_args` of the next build, wherever the linker put it.
 * Only .symtab (unstripped builds, which is what a build system links) or, failing that,
 * .dynsym; bounded like every other table the reader reads.
 */
import { ByteView } from '../elf/bytes';
import { SHN_UNDEF } from '../elf/constants';
import type { ElfFile } from '../elf/types';
import { toIndex } from '../elf/errors';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const SHT_NOBITS = 8;
/** A table larger than this is not read (a malformed size, or a program too big to be worth it). */
const MAX_SYMBOLS = 1 << 20;

/** A function by name, where its bytes lie in the file. */
export interface Anchor {
  name: string;
  offset: number;
  size: number;
}

/** The file's function symbols with bytes in the file, in file order; [] when it has none. */
export function functionAnchors(elf: ElfFile): Anchor[] {
  return symbolAnchors(elf, STT_FUNC);
}

/** The file's data symbols (variables, tables) with bytes in the file (not .bss), in file order. */
export function dataAnchors(elf: ElfFile): Anchor[] {
  return symbolAnchors(elf, STT_OBJECT);
}

function symbolAnchors(elf: ElfFile, symbolType: number): Anchor[] {
  const table = elf.sections.find((s) => s.type === SHT_SYMTAB) ?? elf.sections.find((s) => s.type === SHT_DYNSYM);
  if (!table || table.link >= elf.sections.length) return [];
  const strtab = elf.sections[table.link]!;
  const { is64, littleEndian } = elf.header;
  const entsize = is64 ? 24 : 16;
  const count = Math.floor(toIndex(table.size, 'size') / entsize);
  if (count === 0 || count > MAX_SYMBOLS || strtab.size > BigInt(64 << 20)) return [];
  try {
    const v = new ByteView(elf.source.read(table.offset, count * entsize, ['symtab']), littleEndian, table.offset);
    const names = elf.source.read(strtab.offset, toIndex(strtab.size, 'size'), ['strtab']);
    const out: Anchor[] = [];
    for (let i = 1; i < count; i++) {
      const at = i * entsize;
      const nameAt = v.u32(at);
      const info = is64 ? v.u8(at + 4) : v.u8(at + 12);
      const shndx = is64 ? v.u16(at + 6) : v.u16(at + 14);
      const value = is64 ? v.u64(at + 8) : BigInt(v.u32(at + 4));
      const size = is64 ? v.u64(at + 16) : BigInt(v.u32(at + 8));
      if ((info & 0xf) !== symbolType || shndx === SHN_UNDEF || shndx >= elf.sections.length || size === 0n) continue;
      const sec = elf.sections[shndx]!;
      if (sec.type === SHT_NOBITS) continue; // .bss and .tbss: no bytes on any page of the file
      if (value < sec.addr || value + size > sec.addr + sec.size) continue;
      let end = nameAt;
      while (end < names.length && names[end] !== 0) end++;
      if (nameAt >= names.length) continue;
      out.push({ name: Buffer.from(names.subarray(nameAt, end)).toString('utf8'), offset: Number(sec.offset + (value - sec.addr)), size: toIndex(size, 'size') });
    }
    return out.sort((a, b) => a.offset - b.offset || a.name.localeCompare(b.name));
  } catch {
    return []; // a table that does not read cleanly is no anchor; sections remain
  }
}

/** The anchors that overlap the given pages: what a profile keeps of the program's symbols. */
export function anchorsOfPages(anchors: Anchor[], pages: number[], pageSize: number): Anchor[] {
  const wanted = new Set(pages);
  return anchors.filter((a) => {
    for (let p = Math.floor(a.offset / pageSize); p * pageSize < a.offset + a.size; p++) if (wanted.has(p)) return true;
    return false;
  });
}
