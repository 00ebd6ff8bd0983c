import * as C from '../elf/constants';
import type { ElfFile } from '../elf/types';

/**
 * The layout rules a rewritten file must keep (docs/DESIGN.md, "Writing"). Returns one
 * line per broken rule; a writer compares the output's list with the input's, and any rule
 * broken only in the output aborts the write.
 */
export function checkLayout(elf: ElfFile): string[] {
  const out: string[] = [];
  const h = elf.header;
  const size = elf.source.size;
  const sz = C.sizes(h.is64);
  const loads = elf.programHeaders.filter((p) => p.type === C.PT_LOAD);
  const hex = (v: bigint): string => '0x' + v.toString(16);
  const inLoad = (off: bigint, len: bigint): boolean => loads.some((l) => l.offset <= off && off + len <= l.offset + l.filesz);
  const inLoadAddr = (addr: bigint, len: bigint): boolean => loads.some((l) => l.vaddr <= addr && addr + len <= l.vaddr + l.memsz);

  for (const p of elf.programHeaders) {
    if (p.filesz > 0n && p.offset + p.filesz > size) out.push(`segment ${p.index} (${C.ptName(p.type)}) ends past the end of the file`);
    if (p.type === C.PT_LOAD && p.memsz < p.filesz) out.push(`PT_LOAD ${p.index} has p_memsz < p_filesz`);
    if (p.type === C.PT_LOAD && p.align > 1n && (p.offset - p.vaddr) % p.align !== 0n) out.push(`PT_LOAD ${p.index} offset ${hex(p.offset)} and address ${hex(p.vaddr)} are not congruent modulo ${hex(p.align)}`);
    if (p.type === C.PT_NOTE && !(p.align <= 4n || p.align === 8n)) out.push(`PT_NOTE ${p.index} alignment ${p.align}`);
  }
  for (let i = 1; i < loads.length; i++) {
    if (loads[i]!.vaddr < loads[i - 1]!.vaddr) out.push(`PT_LOAD ${loads[i]!.index} is out of address order`);
  }
  const phdr = elf.programHeaders.find((p) => p.type === C.PT_PHDR);
  if (phdr) {
    const firstLoad = elf.programHeaders.findIndex((p) => p.type === C.PT_LOAD);
    if (firstLoad >= 0 && phdr.index > firstLoad) out.push('PT_PHDR comes after a PT_LOAD');
    if (!inLoad(phdr.offset, phdr.filesz)) out.push('PT_PHDR is not inside a PT_LOAD');
    if (phdr.offset !== h.phoff) out.push('PT_PHDR does not describe the program header table');
  }
  if ((h.type === C.ET_EXEC || h.type === C.ET_DYN) && loads.length > 0 && h.phnum > 0) {
    if (!inLoad(h.phoff, BigInt(h.phnum * sz.phdr)) && elf.programHeaders.some((p) => p.type === C.PT_INTERP)) out.push('the program header table is not inside a PT_LOAD');
    if (h.phnum * sz.phdr > 4096) out.push('the program header table is larger than 4 KiB');
  }
  for (const s of elf.sections) {
    if (s.type === C.SHT_NOBITS || s.type === C.SHT_NULL) continue;
    if (s.offset + s.size > size) out.push(`section ${s.index} (${s.name}) ends past the end of the file`);
    if ((s.flags & C.SHF_ALLOC) !== 0n && s.size > 0n && loads.length > 0 && !(inLoad(s.offset, s.size) && inLoadAddr(s.addr, s.size))) {
      out.push(`allocated section ${s.index} (${s.name}) is not inside a PT_LOAD`);
    }
  }
  for (const n of elf.notes) {
    if (n.offset % 4n !== 0n) out.push(`note at ${hex(n.offset)} is not 4-aligned`);
  }
  return out;
}

/** The rules broken by `after` that `before` kept (`before` as a file, or its checkLayout lines, computed once). */
export function newViolations(before: ElfFile | string[], after: ElfFile): string[] {
  const mask = (s: string): string => s.replace(/0x[0-9a-f]+|\d+/g, '#');
  const old = new Set((Array.isArray(before) ? before : checkLayout(before)).map(mask));
  return checkLayout(after).filter((s) => !old.has(mask(s)));
}
