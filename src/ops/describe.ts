import * as C from '../elf/constants';
import type { ElfFile } from '../elf/types';
import { buildIdOf } from '../note/identity';
import { pageTotal } from '../note/pageset';
import { verifyElf } from './verify';
import { toIndex } from '../elf/errors';

const hex = (v: bigint | number): string => '0x' + v.toString(16);

/** Everything `info` shows, as plain JSON-able data. */
export function describeElf(elf: ElfFile, machineName: (m: number) => string) {
  const h = elf.header;
  const v = verifyElf(elf);
  return {
    class: h.is64 ? 'ELF64' : 'ELF32',
    byteOrder: h.littleEndian ? 'little' : 'big',
    type: C.etName(h.type),
    machine: machineName(h.machine),
    machineNumber: h.machine,
    size: toIndex(elf.source.size, 'file size'),
    entry: hex(h.entry),
    buildId: Buffer.from(buildIdOf(elf)).toString('hex'),
    segments: elf.programHeaders.map((p) => ({
      type: C.ptName(p.type),
      flags: C.pfName(p.flags),
      offset: hex(p.offset),
      vaddr: hex(p.vaddr),
      filesz: hex(p.filesz),
      memsz: hex(p.memsz),
      align: hex(p.align),
    })),
    sections: elf.sections.map((s) => ({
      name: s.name,
      type: C.shtName(s.type),
      flags: hex(s.flags),
      addr: hex(s.addr),
      offset: hex(s.offset),
      size: hex(s.size),
      align: hex(s.addralign),
    })),
    notes: elf.notes.map((n) => ({ owner: n.name, type: n.type, offset: hex(n.offset), descSize: n.descSize, align: n.align })),
    prefetch: {
      status: v.status,
      reason: v.reason,
      pageSize: v.note ? 1 << v.note.pageShift : undefined,
      objects: (v.note?.objects ?? []).map((o) => ({
        path: o.path || '(this file)',
        buildId: Buffer.from(o.buildId).toString('hex'),
        layoutDigest: o.layoutDigest.toString(16).padStart(16, '0'),
        sets: o.pageSets.map((s) => ({ name: s.name, pageCount: s.pageCount, pages: pageTotal(s.runs), runs: s.runs })),
      })),
    },
  };
}

export type Description = ReturnType<typeof describeElf>;
