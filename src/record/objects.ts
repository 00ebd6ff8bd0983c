import { openElf } from '../elf/read';
import { sniffElfType } from '../elf/sniff';
import { buildIdOf, layoutDigest } from '../note/identity';
import { SectionSpan, sectionSpans } from '../profile/carry';
import { toIndex } from '../elf/errors';

/** What a profile says about an ELF file besides its pages (docs/FORMAT.md section 2). */
export interface ObjectIdentity {
  path: string;
  buildId: string;
  layoutDigest: string;
  size: number;
  machine: number;
  sections: SectionSpan[];
}

/**
 * The identity of an ELF file as it is now, read with our own reader; undefined for files
 * that are not ELF (data files a program maps, like locale-archive) or that we cannot read.
 */
export function identify(file: string): ObjectIdentity | undefined {
  if (sniffElfType(file) === undefined) return undefined;
  const elf = openElf(file);
  try {
    return {
      path: file,
      buildId: Buffer.from(buildIdOf(elf)).toString('hex'),
      layoutDigest: layoutDigest(elf.programHeaders).toString(16).padStart(16, '0'),
      size: toIndex(elf.source.size, 'file size'),
      machine: elf.header.machine,
      sections: sectionSpans(elf),
    };
  } finally {
    elf.source.close();
  }
}

/** Whether `file` is an ELF file our reader reads whole (identify succeeds): one the recorder may trace. */
export function readableElf(file: string): boolean {
  try {
    return identify(file) !== undefined;
  } catch {
    return false;
  }
}
