import * as C from '../elf/constants';
import type { ElfFile, ProgramHeader } from '../elf/types';
import { toIndex } from '../elf/errors';

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

/** The free room after the first PT_LOAD: file and address limits for extending it. */
export function slackOf(elf: ElfFile, page: bigint, reasons: string[]) {
  const loads = loadsOf(elf.programHeaders);
  const first = loads[0];
  if (!first) return reasons.push('no PT_LOAD'), undefined;
  if (first.filesz !== first.memsz) return reasons.push('the first PT_LOAD has bytes in memory only (bss)'), undefined;
  const next = loads[1];
  const fileEnd = first.offset + first.filesz;
  const tail = tailStart(elf);
  const INF = 1n << 64n;
  let fileLimit = tail < elf.source.size ? tail : INF;
  for (const r of occupied(elf, (r) => r.kind === 'phdrs' || (r.kind === 'segment' && (r.index === first.index || elf.programHeaders[r.index]!.type === C.PT_PHDR)))) {
    if (r.end <= fileEnd || r.start >= tail) continue;
    if (r.start < fileEnd) return reasons.push(`something at file offset 0x${r.start.toString(16)} overlaps the end of the first PT_LOAD`), undefined;
    fileLimit = minOf(fileLimit, r.start);
  }
  let addrLimit = INF;
  if (next) {
    // New bytes go before the next segment's content, and no memory page (at the largest
    // page size) may be shared with the next segment.
    fileLimit = minOf(fileLimit, next.offset);
    addrLimit = alignDown(next.vaddr, page);
  }
  const delta = first.vaddr - first.offset;
  const pdelta = first.paddr - first.offset;
  return { first, fileEnd, tail, fileLimit, addrLimit, delta, pdelta, limit: minOf(fileLimit, addrLimit - delta) };
}

/**
 * Bytes the writer takes over without a section or segment saying what they hold must be
 * zero in the input: files with partial or no section headers (packers, hand-made files)
 * keep live data where the tables say nothing.
 */
export function unusedBytes(elf: ElfFile, start: bigint, end: bigint, skip: Array<{ start: bigint; end: bigint }>, what: string, reasons: string[]): boolean {
  const stop = minOf(end, elf.source.size);
  if (start >= stop) return true;
  const bytes = elf.source.read(start, toIndex(stop - start, `the bytes ${what} takes over`));
  for (let i = 0; i < bytes.length; i++) {
    const at = start + BigInt(i);
    if (bytes[i] !== 0 && !skip.some((r) => at >= r.start && at < r.end)) {
      reasons.push(`${what} at file offset 0x${at.toString(16)} holds data no section describes`);
      return false;
    }
  }
  return true;
}

/** The congruent position at or after `at` for a block that must keep `start mod align`. */
export function congruentAfter(at: bigint, start: bigint, align: bigint): bigint {
  return at + ((((start - at) % align) + align) % align);
}

