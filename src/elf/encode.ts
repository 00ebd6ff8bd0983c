import { ByteWriter } from './bytes';
import * as C from './constants';
import type { FileHeader, ProgramHeader, SectionHeader } from './types';

/** The ELF header as bytes; counts that overflow 16 bits take the extended-numbering form. */
export function encodeHeader(h: FileHeader): Uint8Array {
  const sz = C.sizes(h.is64);
  const w = new ByteWriter(sz.ehdr, h.littleEndian);
  w.set(0, Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, h.is64 ? 2 : 1, h.littleEndian ? 1 : 2, 1, h.osabi, h.abiVersion));
  const at = (n32: number, n64: number): number => (h.is64 ? n64 : n32);
  w.u16(16, h.type);
  w.u16(18, h.machine);
  w.u32(20, h.version);
  w.word(24, h.entry, h.is64);
  w.word(24 + sz.word, h.phoff, h.is64);
  w.word(24 + 2 * sz.word, h.shoff, h.is64);
  w.u32(at(36, 48), h.flags);
  w.u16(at(40, 52), h.ehsize);
  w.u16(at(42, 54), h.phentsize);
  w.u16(at(44, 56), h.phnum >= C.PN_XNUM ? C.PN_XNUM : h.phnum);
  w.u16(at(46, 58), h.shentsize);
  w.u16(at(48, 60), h.shnum >= C.SHN_LORESERVE ? 0 : h.shnum);
  w.u16(at(50, 62), h.shstrndx >= C.SHN_LORESERVE ? C.SHN_XINDEX : h.shstrndx);
  return w.bytes;
}

export function encodeProgramHeaders(h: FileHeader, phdrs: ProgramHeader[]): Uint8Array {
  const sz = C.sizes(h.is64).phdr;
  const w = new ByteWriter(sz * phdrs.length, h.littleEndian);
  phdrs.forEach((p, i) => {
    const b = i * sz;
    w.u32(b, p.type);
    if (h.is64) {
      w.u32(b + 4, p.flags);
      w.u64(b + 8, p.offset);
      w.u64(b + 16, p.vaddr);
      w.u64(b + 24, p.paddr);
      w.u64(b + 32, p.filesz);
      w.u64(b + 40, p.memsz);
      w.u64(b + 48, p.align);
    } else {
      w.u32(b + 4, Number(p.offset));
      w.u32(b + 8, Number(p.vaddr));
      w.u32(b + 12, Number(p.paddr));
      w.u32(b + 16, Number(p.filesz));
      w.u32(b + 20, Number(p.memsz));
      w.u32(b + 24, p.flags);
      w.u32(b + 28, Number(p.align));
    }
  });
  return w.bytes;
}

export function encodeSectionHeaders(h: FileHeader, sections: SectionHeader[]): Uint8Array {
  const sz = C.sizes(h.is64).shdr;
  const w = new ByteWriter(sz * sections.length, h.littleEndian);
  sections.forEach((s, i) => {
    const b = i * sz;
    w.u32(b, s.nameOffset);
    w.u32(b + 4, s.type);
    if (h.is64) {
      w.u64(b + 8, s.flags);
      w.u64(b + 16, s.addr);
      w.u64(b + 24, s.offset);
      w.u64(b + 32, s.size);
      w.u32(b + 40, s.link);
      w.u32(b + 44, s.info);
      w.u64(b + 48, s.addralign);
      w.u64(b + 56, s.entsize);
    } else {
      w.u32(b + 8, Number(s.flags));
      w.u32(b + 12, Number(s.addr));
      w.u32(b + 16, Number(s.offset));
      w.u32(b + 20, Number(s.size));
      w.u32(b + 24, s.link);
      w.u32(b + 28, s.info);
      w.u32(b + 32, Number(s.addralign));
      w.u32(b + 36, Number(s.entsize));
    }
  });
  return w.bytes;
}

/** A whole note (header, owner name, descriptor) in the file's byte order, 4-aligned. */
export function encodeNoteEntry(littleEndian: boolean, name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = Buffer.from(name + '\0', 'latin1');
  const nameLen = (nameBytes.length + 3) & ~3;
  const descLen = (desc.length + 3) & ~3;
  const w = new ByteWriter(12 + nameLen + descLen, littleEndian);
  w.u32(0, nameBytes.length);
  w.u32(4, desc.length);
  w.u32(8, type);
  w.set(12, nameBytes);
  w.set(12 + nameLen, desc);
  return w.bytes;
}
