import type { ElfFile } from '../elf/types';
import { NoteDecodeError, PrefetchNote, decodeNote } from '../note/codec';
import { buildIdOf, contentSha256, layoutDigest } from '../note/identity';
import { findOurNote } from '../layout/planner';

export type VerifyStatus = 'valid' | 'absent' | 'stale' | 'corrupt';

export interface VerifyResult {
  status: VerifyStatus;
  reason: string;
  note?: PrefetchNote;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Reads our note and checks it is intact and belongs to this build of the file. */
export function verifyElf(elf: ElfFile, opts: { content?: boolean } = {}): VerifyResult {
  const ours = findOurNote(elf);
  if (!ours) return { status: 'absent', reason: 'no elfprefetch note' };
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
  const pageCount = Math.ceil(Number(elf.source.size) / (1 << note.pageShift));
  for (const s of self.pageSets) {
    const last = s.runs[s.runs.length - 1];
    if (last && last.first + last.count > Math.max(pageCount, s.pageCount)) return { status: 'stale', reason: `page set '${s.name}' reaches past the end of the file`, note };
  }
  return { status: 'valid', reason: 'the note is intact and matches this build', note };
}
