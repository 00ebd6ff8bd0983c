import * as C from '../elf/constants';
import type { ElfFile, SectionHeader } from '../elf/types';
import { SECTION_NAME } from '../note/format';
import type { LayoutPlan } from './plan';

/**
 * The contract of docs/DESIGN.md ("What a stamp keeps"), checked on a planned output against
 * its input. Each rule has a consumer that breaks without it:
 * - the program headers do not change at all: libdwfl lines a separate debug file up with the
 *   binary by the end of the first PT_LOAD (its "address_sync"), the kernel and ld.so load by
 *   them, and the layout digest that names a build is computed from them;
 * - no byte of any segment's file content changes (the ELF header aside, whose e_shoff,
 *   e_shnum and e_shstrndx follow the section table): core dumps keep page 0 with its notes,
 *   the kernel's build-id reader before Linux 6.12 reads the table at sizeof(Ehdr) and notes
 *   inside page 0, and the content digest stays what it was;
 * - every existing section keeps its kind, and the allocated ones their offset, address and
 *   size: separate debug files (libdwfl, eu-unstrip) match them by name and address;
 * - allocated sections stay in address order, before the non-allocated ones: eu-strip
 *   --reloc-debug-sections relies on it.
 * Returns one line per broken rule.
 */
export function contractViolations(before: ElfFile, after: ElfFile, plan: LayoutPlan): string[] {
  const out: string[] = [];
  const a = before.header;
  const b = after.header;
  for (const k of ['type', 'machine', 'version', 'entry', 'flags', 'ehsize', 'phentsize', 'phoff', 'phnum', 'shentsize', 'osabi', 'abiVersion'] as const) {
    if (a[k] !== b[k]) out.push(`the ELF header's ${k} changed`);
  }
  const key = (p: ElfFile["programHeaders"][number]): string => [p.type, p.flags, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.align].join(',');
  if (before.programHeaders.map(key).join(';') !== after.programHeaders.map(key).join(';')) out.push('the program headers changed');

  const noteAt = plan.descOffset - 24n;
  const k = after.sections.findIndex((s) => s.name === SECTION_NAME && s.offset === noteAt);
  const sections = k > 0 ? after.sections.filter((_, i) => i !== k) : after.sections;
  if (sections.length !== before.sections.length) out.push('sections other than ours were added or removed');
  const renumbered = (i: number): number => (k > 0 && i >= k && i < C.SHN_LORESERVE ? i + 1 : i);
  before.sections.forEach((s, i) => {
    const t = sections[i];
    if (!t) return;
    const alloc = (s.flags & C.SHF_ALLOC) !== 0n;
    const moved = s.offset !== t.offset || s.addr !== t.addr || s.size !== t.size;
    if (s.name !== t.name || s.type !== t.type || s.flags !== t.flags || s.addralign !== t.addralign || s.entsize !== t.entsize || (alloc && moved)) {
      out.push(`section ${s.index} (${s.name}) changed place or kind`);
    }
    if (t.link !== renumbered(s.link)) out.push(`section ${s.index} (${s.name}) links to another section than before`);
  });
  if (inAddressOrder(before.sections) && !inAddressOrder(after.sections)) out.push('the allocated sections are no longer in address order, before the non-allocated ones');

  // Non-allocated sections a placement moved (after-load): their old bytes are free to write.
  const moved = new Set(before.sections.filter((x, i) => (x.flags & C.SHF_ALLOC) === 0n && sections[i] && sections[i]!.offset !== x.offset).map((x) => x.index));
  const loads = before.programHeaders.filter((p) => p.type === C.PT_LOAD && p.filesz > 0n);
  for (const w of plan.writes) {
    const start = w.at;
    const end = w.at + BigInt(w.bytes.length);
    if (w.what === 'ELF header' && start === 0n && end === BigInt(a.ehsize)) continue;
    for (const p of loads) {
      if (p.offset < end && start < p.offset + p.filesz) out.push(`the ${w.what} would overwrite loaded bytes of segment ${p.index}`);
    }
    for (const s of before.sections) {
      if (s.type === C.SHT_NULL || s.type === C.SHT_NOBITS || s.size === 0n || moved.has(s.index) || s.offset >= end || start >= s.offset + s.size) continue;
      const symbols = /^(section indices of the symbols|extended section indices) in /.test(w.what) && (s.flags & C.SHF_ALLOC) === 0n && w.at === s.offset && BigInt(w.bytes.length) === s.size;
      const names = s.index === a.shstrndx && (s.flags & C.SHF_ALLOC) === 0n && /^section (name|header) table|section table padding$/.test(w.what);
      if (!symbols && !names) out.push(`the ${w.what} would overwrite section ${s.index} (${s.name})`);
    }
  }
  for (const c of plan.copies) {
    if (c.from === c.to) continue;
    const end = c.from + c.length;
    if (loads.some((p) => p.offset < end && c.from < p.offset + p.filesz)) out.push(`a copy would move loaded bytes at 0x${c.from.toString(16)}`);
    if (before.sections.some((s) => (s.flags & C.SHF_ALLOC) !== 0n && s.type !== C.SHT_NOBITS && s.size > 0n && s.offset < end && c.from < s.offset + s.size)) out.push(`a copy would move an allocated section at 0x${c.from.toString(16)}`);
  }
  return out;
}

/** Allocated sections by ascending address (TLS .tbss aside), all before the non-allocated ones. */
export function inAddressOrder(sections: SectionHeader[]): boolean {
  let last = -1n;
  let seenOther = false;
  for (const s of sections.slice(1)) {
    if ((s.flags & C.SHF_ALLOC) === 0n) {
      seenOther = true;
      continue;
    }
    if (seenOther || s.addr < last) return false;
    const tbss = s.type === C.SHT_NOBITS && (s.flags & 0x400n) !== 0n;
    if (!tbss) last = s.addr;
  }
  return true;
}
