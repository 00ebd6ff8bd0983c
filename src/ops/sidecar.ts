import * as fs from 'node:fs';
import * as path from 'node:path';
import { openElf } from '../elf/read';
import { writeFileAtomically } from '../io/atomic';
import { findOurNote } from '../note/locate';
import { DEFAULT_PAGE_SHIFT } from '../note/format';
import { buildIdOf, contentSha256, layoutDigest } from '../note/identity';
import type { ElfFile } from '../elf/types';
import { NoteDecodeError, PrefetchNote, decodeNote } from '../note/codec';
import { StampRequest, buildNote, checkPages, wasEmptyReservation } from './stamp';
import { VerifyResult, checkIdentity } from './verify';
import { InvalidInputError } from '../errors';
import { toIndex } from '../elf/errors';

/** The largest sidecar the shim reads (docs/FORMAT.md section 8). */
export const MAX_SIDECAR = 1 << 20;

/** Where the shim looks when neither the environment nor the caller says otherwise. */
export const DEFAULT_SIDECAR_DIR = '/var/lib/elfprefetch/sidecar';

/** `DIR/hh/rest.note` for build-id bytes hh rest... (docs/FORMAT.md section 8). */
export function sidecarPath(dir: string, buildId: Uint8Array): string {
  if (buildId.length < 2 || buildId.length > 64) throw new InvalidInputError(`a sidecar needs a build-id of 2 to 64 bytes, not ${buildId.length}`);
  const hex = Buffer.from(buildId).toString('hex');
  return path.join(dir, hex.slice(0, 2), `${hex.slice(2)}.note`);
}

export interface SidecarResult {
  output: string;
  descUsed: number;
  pages: number;
}

/**
 * Writes the note for `file` into the sidecar directory instead of into the file, which is
 * only read: for binaries that must not change (signed, on read-only media). The descriptor
 * is the one a stamp would write, for the file exactly as it is (no shift, no note of its own).
 */
export function writeSidecar(file: string, req: StampRequest, dir: string, opts: { fsync?: boolean; elf?: ElfFile } = {}): SidecarResult {
  if (!path.isAbsolute(dir)) dir = path.resolve(dir);
  // `opts.elf`: `file` parsed already by the caller (stamp-tree), which closes it.
  const elf = opts.elf ?? openElf(file);
  let desc: Uint8Array;
  let buildId: Uint8Array;
  try {
    checkPages(req, elf.source.size);
    buildId = buildIdOf(elf);
    if (buildId.length < 2) throw new InvalidInputError(`${file} has no GNU build-id: a sidecar is found by build-id, so it cannot have one (link with --build-id)`);
    const own = findOurNote(elf);
    if (own && !wasEmptyReservation(elf)) {
      throw new InvalidInputError(`${file} has an elfprefetch note of its own, which the shim uses instead of a sidecar; remove it first (elfprefetch remove)`);
    }
    const self = {
      path: '',
      buildId,
      layoutDigest: layoutDigest(elf.programHeaders),
      contentSha256: contentSha256(elf.source, elf.header.ehsize, elf.programHeaders, []),
    };
    const pageCount = Math.ceil(toIndex(elf.source.size, 'file size') / (1 << (req.pageShift ?? DEFAULT_PAGE_SHIFT)));
    desc = buildNote(req, pageCount, 0n, self);
  } finally {
    if (!opts.elf) elf.source.close();
  }
  const output = sidecarPath(dir, buildId);
  // 0644: the shim ignores sidecars that group or others could write.
  writeFileAtomically(output, desc, { mode: 0o644, fsync: opts.fsync });
  const pages = req.sets.reduce((n, s) => n + s.runs.reduce((m, r) => m + r.count, 0), 0);
  return { output, descUsed: desc.length, pages };
}

/** Checks the sidecar of `elf` in `dir` as the shim would, plus the content digest. */
export function verifySidecar(elf: ElfFile, dir: string): VerifyResult & { path?: string } {
  const buildId = buildIdOf(elf);
  if (buildId.length < 2) return { status: 'absent', reason: 'the file has no build-id, so it has no sidecar' };
  const file = sidecarPath(path.resolve(dir), buildId);
  let bytes: Buffer;
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile()) return { status: 'corrupt', reason: `${file} is not a regular file`, path: file };
    if (st.size > MAX_SIDECAR) return { status: 'corrupt', reason: `${file} is ${st.size} bytes, more than ${MAX_SIDECAR}`, path: file };
    if (st.mode & 0o022) return { status: 'corrupt', reason: `${file} is writable by group or others; the shim ignores it`, path: file };
    const euid = process.geteuid?.();
    if (euid !== undefined && st.uid !== 0 && st.uid !== euid) return { status: 'corrupt', reason: `${file} belongs to uid ${st.uid}, neither root nor this user; the shim ignores it`, path: file };
    bytes = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'absent', reason: `no sidecar at ${file}`, path: file };
    throw e;
  }
  let note: PrefetchNote;
  try {
    note = decodeNote(bytes);
  } catch (e) {
    if (e instanceof NoteDecodeError) return { status: 'corrupt', reason: `${file}: ${e.message}`, path: file };
    throw e;
  }
  if (note.empty) return { status: 'absent', reason: `${file} is an empty note`, path: file };
  const r = checkIdentity(elf, note, []);
  return { ...r, reason: `sidecar ${file}: ${r.reason}`, path: file };
}
