import * as C from '../elf/constants';
import type { ElfFile, FileHeader, ProgramHeader, SectionHeader } from '../elf/types';

/** Copies of headers a placement edits (the input's model is never changed). */
export const cloneHeader = (h: FileHeader): FileHeader => ({ ...h, raw: { ...h.raw } });
export const clonePhdrs = (p: ProgramHeader[]): ProgramHeader[] => p.map((x) => ({ ...x }));
export const cloneSections = (s: SectionHeader[]): SectionHeader[] => s.map((x) => ({ ...x }));

export function notePhdr(noteAt: bigint, vaddr: bigint, paddr: bigint, size: number): ProgramHeader {
  return { index: -1, type: C.PT_NOTE, flags: C.PF_R, offset: noteAt, vaddr, paddr, filesz: BigInt(size), memsz: BigInt(size), align: 4n };
}

/** Inserts a PT_NOTE after the last PT_NOTE (or at the end), and a PT_LOAD after the last PT_LOAD. */
export function insertPhdr(phdrs: ProgramHeader[], p: ProgramHeader): ProgramHeader[] {
  let at = -1;
  phdrs.forEach((q, i) => {
    if (q.type === p.type) at = i;
  });
  const out = [...phdrs];
  out.splice(at >= 0 ? at + 1 : out.length, 0, p);
  return out.map((q, i) => ({ ...q, index: i }));
}

/** Points PT_PHDR at the table's new place (its size is set by setPhdrSize). */
export function resizePhdrSegment(phdrs: ProgramHeader[], tableAt: bigint, delta: bigint, pdelta: bigint): void {
  for (const p of phdrs) {
    if (p.type !== C.PT_PHDR) continue;
    p.offset = tableAt;
    p.vaddr = tableAt + delta;
    p.paddr = tableAt + pdelta;
  }
}

export function setPhdrSize(phdrs: ProgramHeader[], entsize: number): void {
  for (const p of phdrs) if (p.type === C.PT_PHDR) p.filesz = p.memsz = BigInt(phdrs.length * entsize);
}

export function tableFits(elf: ElfFile, count: number, reasons: string[]): boolean {
  const bytes = count * C.sizes(elf.header.is64).phdr;
  if (bytes > 4096) {
    reasons.push(`a program header table of ${count} entries (${bytes} bytes) is larger than the 4 KiB the kernel reads`);
    return false;
  }
  return true;
}

