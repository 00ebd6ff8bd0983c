import type { ElfFile } from '../elf/types';
import { NoteDecodeError, PrefetchNote, decodeNote } from '../note/codec';
import { buildIdOf, contentSha256, layoutDigest } from '../note/identity';
import { SHF_ALLOC } from '../elf/constants';
import { SECTION_NAME } from '../note/format';
import { OurNote, findOurNote } from '../note/locate';
import { toIndex } from '../elf/errors';

export type VerifyStatus = 'valid' | 'absent' | 'stale' | 'corrupt';

export interface VerifyResult {
  status: VerifyStatus;
  reason: string;
  note?: PrefetchNote;
  /** What is wrong around a note, whatever its status: where it sits, what a stamp moved. */
  warnings?: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Reads our note and checks it is intact and belongs to this build of the file. */
export function verifyElf(elf: ElfFile, opts: { content?: boolean } = {}): VerifyResult {
  const ours = findOurNote(elf);
  if (!ours) return { status: 'absent', reason: 'no elfprefetch note' };
  const warnings = placementWarnings(elf, ours);
  const r = verifyNote(elf, ours, opts);
  return warnings.length ? { ...r, warnings } : r;
}

/**
 * A note where loaders do not look (a tool moved it), or one an earlier version placed by
 * moving sections, which breaks separate debug files and core dumps (docs/DESIGN.md).
 */
export function placementWarnings(elf: ElfFile, ours: OurNote): string[] {
  const out: string[] = [];
  if (ours.note.container.kind === 'section') {
    out.push('the note is not where loaders look for it (beside the first or last PT_LOAD): a tool moved it; `elfprefetch stamp` puts it back');
  }
  if (ours.addedByStamp && ours.section && (ours.section.flags & SHF_ALLOC) !== 0n) {
    const moved = movedByEarlierStamp(elf);
    out.push(
      `stamped by an earlier elfprefetch that moved sections to make room${moved.length ? ` (${moved.join(', ')})` : ''}: a debug file split off before that stamp, core dumps and the kernel's build-id reader do not match this file; \`elfprefetch remove\` and stamp again to repair what can be repaired`,
    );
  }
  return out;
}

/** Allocated sections out of address order: what an earlier stamp moved behind its neighbours. */
export function movedByEarlierStamp(elf: ElfFile): string[] {
  const alloc = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n && s.name !== SECTION_NAME);
  // A moved section keeps its index but jumped past the sections that follow it in the table.
  return alloc.filter((s, i) => i + 1 < alloc.length && s.addr > alloc[i + 1]!.addr && (s.flags & 0x400n) === 0n).map((s) => s.name || `section ${s.index}`);
}

function verifyNote(elf: ElfFile, ours: OurNote, opts: { content?: boolean }): VerifyResult {
  if (ours.note.align !== 4) return { status: 'corrupt', reason: 'the note is in an 8-aligned note segment' };
  let note: PrefetchNote;
  try {
    note = decodeNote(elf.source.read(ours.note.descOffset, ours.note.descSize));
  } catch (e) {
    if (e instanceof NoteDecodeError) return { status: 'corrupt', reason: e.message };
    throw e;
  }
  if (note.empty) return { status: 'absent', reason: `an empty reservation of ${ours.note.descSize} bytes, not stamped yet`, note };
  return checkIdentity(elf, note, [{ start: ours.note.descOffset, end: ours.note.descOffset + BigInt(ours.note.descSize) }], opts);
}

/**
 * Checks a decoded note against the file it claims to describe: build-id, layout digest,
 * then (unless `content` is false) the content digest with `zeroed` (the note's own bytes) read as zeros.
 */
export function checkIdentity(elf: ElfFile, note: PrefetchNote, zeroed: Array<{ start: bigint; end: bigint }>, opts: { content?: boolean } = {}): VerifyResult {
  const self = note.objects[0]!;
  const buildId = buildIdOf(elf);
  if (hex(self.buildId) !== hex(buildId)) {
    return { status: 'stale', reason: `the note is for build-id ${hex(self.buildId) || '(none)'}, the file has ${hex(buildId) || '(none)'}`, note };
  }
  const digest = layoutDigest(elf.programHeaders);
  if (digest !== self.layoutDigest) {
    return { status: 'stale', reason: `the loadable layout changed (digest ${digest.toString(16)}, note says ${self.layoutDigest.toString(16)})`, note };
  }
  if (opts.content === false) return { status: 'valid', reason: 'the note is intact and matches this build\'s build-id and layout', note };
  const sha = contentSha256(elf.source, elf.header.ehsize, elf.programHeaders, zeroed);
  if (hex(sha) !== hex(self.contentSha256)) return { status: 'stale', reason: 'the loadable content changed since the file was stamped', note };
  const pageCount = Math.ceil(toIndex(elf.source.size, 'file size') / (1 << note.pageShift));
  for (const s of self.pageSets) {
    const last = s.runs[s.runs.length - 1];
    if (last && last.first + last.count > Math.max(pageCount, s.pageCount)) return { status: 'stale', reason: `page set '${s.name}' reaches past the end of the file`, note };
  }
  return { status: 'valid', reason: 'the note is intact and matches this build', note };
}
