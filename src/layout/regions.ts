import * as C from '../elf/constants';
import type { ElfFile, ProgramHeader } from '../elf/types';

export const alignUp = (v: bigint, a: bigint): bigint => (a <= 1n ? v : ((v + a - 1n) / a) * a);
export const alignDown = (v: bigint, a: bigint): bigint => (a <= 1n ? v : (v / a) * a);
export const maxOf = (...v: bigint[]): bigint => v.reduce((m, x) => (x > m ? x : m));
export const minOf = (...v: bigint[]): bigint => v.reduce((m, x) => (x < m ? x : m));

export interface Range {
  start: bigint;
  end: bigint;
}

export type RegionId = { kind: 'section' | 'segment' | 'shdrs' | 'phdrs'; index: number };

/** PT_LOADs in address order. */
export function loadsOf(phdrs: ProgramHeader[]): ProgramHeader[] {
  return phdrs.filter((p) => p.type === C.PT_LOAD).sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
}

/** The machine's largest page size, or the largest PT_LOAD alignment if that is larger. */
export function pageSizeFor(elf: ElfFile, override?: bigint): bigint {
  if (override) return override;
  return maxOf(C.maxPageSize(elf.header.machine), ...loadsOf(elf.programHeaders).map((p) => p.align));
}

/** The file ranges holding something, except those `skip` names: for finding free room. */
export function occupied(elf: ElfFile, skip: (r: RegionId) => boolean = () => false): Range[] {
  const out: Range[] = [];
  for (const s of elf.sections) {
    if (s.type === C.SHT_NULL || s.type === C.SHT_NOBITS || s.size === 0n || skip({ kind: 'section', index: s.index })) continue;
    out.push({ start: s.offset, end: s.offset + s.size });
  }
  for (const p of elf.programHeaders) {
    if (p.filesz === 0n || skip({ kind: 'segment', index: p.index })) continue;
    out.push({ start: p.offset, end: p.offset + p.filesz });
  }
  const sz = C.sizes(elf.header.is64);
  if (elf.header.shoff !== 0n && elf.header.shnum > 0 && !skip({ kind: 'shdrs', index: 0 })) {
    out.push({ start: elf.header.shoff, end: elf.header.shoff + BigInt(elf.header.shnum * sz.shdr) });
  }
  if (elf.header.phnum > 0 && !skip({ kind: 'phdrs', index: 0 })) {
    out.push({ start: elf.header.phoff, end: elf.header.phoff + BigInt(elf.header.phnum * sz.phdr) });
  }
  return out;
}

/**
 * Where the section header table (and the section name table, when it sits with it) can be
 * cut off and written anew: the start of the file's tail that holds nothing else.
 */
export function tailStart(elf: ElfFile): bigint {
  const h = elf.header;
  if (h.shoff === 0n || h.shnum === 0) return elf.source.size;
  const strtab = h.shstrndx ? elf.sections[h.shstrndx] : undefined;
  const others = occupied(elf, (r) => r.kind === 'shdrs' || (r.kind === 'section' && r.index === h.shstrndx));
  const otherEnd = maxOf(0n, ...others.map((r) => r.end));
  const mine: Range[] = [{ start: h.shoff, end: h.shoff + BigInt(h.shnum * C.sizes(h.is64).shdr) }];
  if (strtab && strtab.size > 0n && strtab.type !== C.SHT_NOBITS) mine.push({ start: strtab.offset, end: strtab.offset + strtab.size });
  const candidates = mine.filter((r) => r.start >= otherEnd).sort((a, b) => (a.start < b.start ? -1 : 1));
  if (candidates.length === 0) return elf.source.size;
  // Everything from the cut to the end must be these tables (alignment padding allowed).
  let at = candidates[0]!.start;
  for (const r of candidates) {
    if (r.start - at > 16n) return elf.source.size;
    at = maxOf(at, r.end);
  }
  return elf.source.size - at <= 16n ? candidates[0]!.start : elf.source.size;
}
