/*
 * What `stamp-tree` does to one file: find its profile by build-id, select the pages, and
 * stamp (or write its sidecar) unless the note it has is already the one it would get.
 * Never throws: every outcome, failures included, is a FileReport.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PT_LOAD, SHF_ALLOC, SHT_NOBITS, SHT_NOTE } from '../elf/constants';
import { ElfFormatError, PlacementRefusedError, toIndex } from '../elf/errors';
import { ProfileError } from '../errors';
import { openElf } from '../elf/read';
import type { ElfFile } from '../elf/types';
import { tempBeside } from '../io/atomic';
import { findOurNote } from '../note/locate';
import { decodeNote, encodeNote } from '../note/codec';
import { DEFAULT_PAGE_SHIFT } from '../note/format';
import { buildIdOf } from '../note/identity';
import { requestFromProfileData } from '../ops/from-profile';
import { verifySidecar, writeSidecar } from '../ops/sidecar';
import { StampRequest, buildNote, planFor, stampOpened } from '../ops/stamp';
import { VerifyResult, verifyElf } from '../ops/verify';
import { PathIndexEntry, lookupProfile } from '../profile/store';
import { selectPages } from '../profile/select';
import type { Candidate } from './walk';

export type Fallback = 'sidecar' | 'move';

export type Outcome = 'stamped' | 'would-stamp' | 'current' | 'no-profile' | 'skipped' | 'refused' | 'failed';

export interface FileReport {
  path: string;
  links?: string[];
  outcome: Outcome;
  reason?: string;
  buildId?: string;
  profile?: string;
  strategy?: string;
  pages?: number;
  growth?: number;
  sidecar?: string;
  /** With --carry-over: the build whose pages were carried over to this one. */
  carriedFrom?: string;
  ms: number;
}

export interface TreeStampOptions {
  profiles: string;
  minShare: number;
  budget?: number;
  dryRun: boolean;
  /** Write notes to this sidecar directory; the files are only read. */
  sidecar?: string;
  /**
   * Where no place in the file keeps the contract of docs/DESIGN.md: the note goes to the
   * sidecar directory `fallbackDir`, or existing sections move to make room ('move').
   */
  fallback?: Fallback;
  fallbackDir?: string;
  maxPageSize?: bigint;
  /**
   * For files whose build has no entry: the entries by installed path (PDIR's programs as
   * recorded at /usr/bin/foo), whose pages are carried over to this build section by section.
   */
  carryOver?: { root: string; index: Record<string, PathIndexEntry> };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * A separate debug file (objcopy --only-keep-debug, /usr/lib/debug) carries the build-id of
 * its binary, but its allocated sections other than notes have no bytes (SHT_NOBITS).
 */
function isDebugFile(elf: ElfFile): boolean {
  if (!elf.programHeaders.some((p) => p.type === PT_LOAD && p.filesz > 0n)) return true;
  const alloc = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n && s.type !== SHT_NOTE);
  return alloc.length > 0 && alloc.every((s) => s.type === SHT_NOBITS);
}

function countPages(req: StampRequest): number {
  return req.sets.reduce((n, s) => n + s.runs.reduce((m, r) => m + r.count, 0), 0);
}

/** True when a valid note (the file's own, or its sidecar) is exactly what this request would write now. */
function isCurrent(elf: ElfFile, req: StampRequest, v: VerifyResult): boolean {
  if (v.status !== 'valid' || !v.note) return false;
  const pageCount = Math.ceil(toIndex(elf.source.size, 'file size') / (1 << (req.pageShift ?? DEFAULT_PAGE_SHIFT)));
  const self = v.note.objects[0]!;
  const wanted = buildNote(req, pageCount, 0n, { path: self.path, buildId: self.buildId, layoutDigest: self.layoutDigest, contentSha256: self.contentSha256 });
  return Buffer.from(encodeNote(v.note)).equals(Buffer.from(wanted));
}

/** Gives the other names of a stamped inode the new file, each atomically. */
function relink(file: string, links: string[]): void {
  for (const l of links) {
    const tmp = tempBeside(l);
    fs.linkSync(file, tmp);
    try {
      fs.renameSync(tmp, l);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  }
}

export function stampOne(c: Candidate, opts: TreeStampOptions, xattrs?: string | null): FileReport {
  const t0 = process.hrtime.bigint();
  const report: FileReport = { path: c.path, outcome: 'failed', ms: 0, ...(c.links.length ? { links: c.links } : {}) };
  const done = (r: Partial<FileReport>): FileReport => Object.assign(report, r, { ms: Number(process.hrtime.bigint() - t0) / 1e6 });
  let elf: ElfFile | undefined;
  try {
    elf = openElf(c.path);
    if (isDebugFile(elf)) return done({ outcome: 'skipped', reason: 'a separate debug file (no loadable bytes)' });
    const id = hex(buildIdOf(elf));
    if (id.length < 4) return done({ outcome: 'skipped', reason: 'no build-id: it cannot be matched to a profile' });
    report.buildId = id;
    const own = findOurNote(elf);
    if (opts.sidecar !== undefined && own) {
      let empty = false;
      try {
        empty = decodeNote(elf.source.read(own.note.descOffset, own.note.descSize)).empty;
      } catch {
        /* a corrupt note of its own: the shim will not use a sidecar either */
      }
      if (!empty) return done({ outcome: 'skipped', reason: 'it has a note of its own, which the shim prefers to a sidecar' });
    }
    let entry = lookupProfile(opts.profiles, id);
    let carry = false;
    if (!entry && opts.carryOver) {
      // Another build of the program installed at the same path, if the profiles have one.
      const installed = '/' + path.relative(opts.carryOver.root, c.path).split(path.sep).join('/');
      const other = opts.carryOver.index[installed];
      if (other && (other.machine === undefined || other.machine === elf.header.machine)) {
        entry = lookupProfile(opts.profiles, other.buildId);
        carry = !!entry;
        if (carry) report.carriedFrom = other.buildId;
      }
    }
    if (!entry) return done({ outcome: 'no-profile' });
    report.profile = entry.path;
    let req: StampRequest;
    try {
      const selected = selectPages(entry.profile, { minShare: opts.minShare, budget: opts.budget }).profile;
      req = requestFromProfileData(c.path, entry.path, selected, { carryOver: carry, elf });
    } catch (e) {
      if (e instanceof ProfileError && e.code === 'nothing_selected') return done({ outcome: 'no-profile', reason: `no page of ${entry.path} was used in enough runs` });
      // The build recorded at this path is not this program any more (carry-over refused).
      if (carry && e instanceof ProfileError && e.code === 'other_program') return done({ outcome: 'no-profile', reason: e.short });
      throw e;
    }
    report.pages = countPages(req);
    const inFile = verifyElf(elf, { content: false });
    const fellBack = opts.fallback === 'sidecar' && inFile.status === 'absent' && isCurrent(elf, req, verifySidecar(elf, opts.fallbackDir!));
    const current = fellBack || isCurrent(elf, req, opts.sidecar !== undefined ? verifySidecar(elf, opts.sidecar) : inFile);
    if (current) return done({ outcome: 'current' });
    const planOpts = { maxPageSize: opts.maxPageSize, allowMove: opts.fallback === 'move' };
    if (opts.dryRun) {
      if (opts.sidecar !== undefined) return done({ outcome: 'would-stamp', strategy: 'sidecar' });
      try {
        const plan = planFor(elf, req, planOpts);
        return done({ outcome: 'would-stamp', strategy: plan.strategy, growth: Number(plan.growth) });
      } catch (e) {
        if (!(e instanceof PlacementRefusedError) || opts.fallback !== 'sidecar') throw e;
        return done({ outcome: 'would-stamp', strategy: 'sidecar', reason: `no room in the file: ${e.reasons.join('; ')}` });
      }
    }
    if (opts.sidecar !== undefined) {
      const r = writeSidecar(c.path, req, opts.sidecar, { fsync: false, elf });
      return done({ outcome: 'stamped', strategy: 'sidecar', sidecar: r.output });
    }
    try {
      // The parse that matched the file to its profile is the one the stamp uses.
      const r = stampOpened(elf, c.path, req, { ...planOpts, xattrs, fsync: false });
      relink(r.output, c.links);
      return done({ outcome: 'stamped', strategy: r.strategy, growth: Number(r.growth) });
    } catch (e) {
      if (!(e instanceof PlacementRefusedError) || opts.fallback !== 'sidecar') throw e;
      const r = writeSidecar(c.path, req, opts.fallbackDir!, { fsync: false, elf });
      return done({ outcome: 'stamped', strategy: 'sidecar', sidecar: r.output, reason: `no room in the file: ${e.reasons.join('; ')}` });
    }
  } catch (e) {
    if (e instanceof PlacementRefusedError) return done({ outcome: 'refused', reason: e.message });
    if (e instanceof ElfFormatError) return done({ outcome: 'failed', reason: `malformed ELF: ${e.message}` });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      const where = opts.sidecar !== undefined ? `the sidecar directory ${opts.sidecar}` : path.dirname(c.path);
      return done({ outcome: 'failed', reason: `${code}: cannot write in ${where} (${(e as Error).message}); each file is replaced by a new one written beside it: run as the owner of the tree, or as root` });
    }
    return done({ outcome: 'failed', reason: (e as Error).message });
  } finally {
    elf?.source.close();
  }
}
