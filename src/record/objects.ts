import * as fs from 'node:fs';
import { openElf } from '../elf/read';
import { buildIdOf, layoutDigest } from '../note/identity';
import { SectionSpan, sectionSpans } from '../profile/carry';

/** What a profile says about an ELF file besides its pages (docs/FORMAT.md section 2). */
export interface ObjectIdentity {
  path: string;
  buildId: string;
  layoutDigest: string;
  size: number;
  machine: number;
  sections: SectionSpan[];
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function isElf(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(4);
    return fs.readSync(fd, b, 0, 4, 0) === 4 && b.equals(ELF_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The identity of an ELF file as it is now, read with our own reader; undefined for files
 * that are not ELF (data files a program maps, like locale-archive) or that we cannot read.
 */
export function identify(file: string): ObjectIdentity | undefined {
  if (!isElf(file)) return undefined;
  const elf = openElf(file);
  try {
    return {
      path: file,
      buildId: Buffer.from(buildIdOf(elf)).toString('hex'),
      layoutDigest: layoutDigest(elf.programHeaders).toString(16).padStart(16, '0'),
      size: Number(elf.source.size),
      machine: elf.header.machine,
      sections: sectionSpans(elf),
    };
  } finally {
    elf.source.close();
  }
}

/** "major:minor" (decimal, as the recorder writes it) of a glibc dev_t, as fs.statSync(f, { bigint: true }).dev holds it. */
export function devString(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn & 0xffffffffn);
  return `${major}:${minor}`;
}
