import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElfFormatError, PlacementRefusedError, toIndex } from '../elf/errors';
import { FileSource } from '../elf/bytes';
import { openElf } from '../elf/read';
import type { ElfFile } from '../elf/types';
import { applyPlan, writeAt } from '../layout/apply';
import { replaceAtomically } from '../io/atomic';
import { checkLayout, newViolations } from '../layout/check';
import type { LayoutPlan, Placement } from '../layout/plan';
import { PlanOptions, checkPlan, placeNote } from '../layout/planner';
import { planRemove } from '../layout/remove';
import { findOurNote } from '../note/locate';
import { NoteObject, PageSet, decodeNote, emptyNote, encodeNote } from '../note/codec';
import { DEFAULT_PAGE_SHIFT, FORMAT_VERSION } from '../note/format';
import { buildIdOf, contentSha256, layoutDigest } from '../note/identity';
import { Run, normalizeRuns } from '../note/pageset';
import { verifyElf } from './verify';
import { InternalError, InvalidInputError } from '../errors';

/** A page set of the file being stamped, by page of the input file. */
export interface SelfPageSet {
  name: string;
  runs: Run[];
}

/** A library the program loads, with its own identity and page sets. */
export interface LibraryEntry {
  path: string;
  buildId: Uint8Array;
  layoutDigest: bigint;
  contentSha256?: Uint8Array;
  pageSets: PageSet[];
}

export interface StampRequest {
  pageShift?: number;
  sets: SelfPageSet[];
  libraries?: LibraryEntry[];
}

export interface StampResult {
  strategy: Placement;
  /** The note held what this stamp would write already: nothing was written. */
  unchanged?: boolean;
  output: string;
  growth: bigint;
  descUsed: number;
  descCapacity: number;
  pages: number;
}

/** Maps page runs of the input to the output: an exec shift moves all content by whole pages. */
function shiftRuns(runs: Run[], shift: bigint, pageSize: number): Run[] {
  const bytes = Number(shift);
  return normalizeRuns(
    runs.map((r) => {
      const start = r.first * pageSize + bytes;
      const end = (r.first + r.count) * pageSize + bytes;
      const first = Math.floor(start / pageSize);
      return { first, count: Math.ceil(end / pageSize) - first };
    }),
  );
}

export function buildNote(req: StampRequest, pageCount: number, shift: bigint, self: Omit<NoteObject, 'pageSets'>): Uint8Array {
  const pageShift = req.pageShift ?? DEFAULT_PAGE_SHIFT;
  const pageSize = 1 << pageShift;
  const sets: PageSet[] = req.sets.map((s) => ({
    name: s.name,
    pageCount,
    // Page 0 holds the headers and the note: the loader reads it first anyway.
    runs: normalizeRuns([{ first: 0, count: 1 }, ...shiftRuns(s.runs, shift, pageSize)]),
  }));
  const libraries: NoteObject[] = (req.libraries ?? []).map((l) => ({
    path: l.path,
    buildId: l.buildId,
    layoutDigest: l.layoutDigest,
    contentSha256: l.contentSha256 ?? new Uint8Array(32),
    pageSets: l.pageSets,
  }));
  return encodeNote({ version: FORMAT_VERSION, pageShift, empty: false, objects: [{ ...self, pageSets: sets }, ...libraries] });
}

const placeholderSelf = { path: '', buildId: new Uint8Array(64), layoutDigest: 0n, contentSha256: new Uint8Array(32) };

export function checkPages(req: StampRequest, fileSize: bigint): void {
  const pageSize = 1 << (req.pageShift ?? DEFAULT_PAGE_SHIFT);
  const pages = Math.ceil(Number(fileSize) / pageSize);
  for (const s of req.sets) {
    s.runs.forEach((r, i) => {
      // A run from a caller of the API, not from a checked profile: say which one is wrong.
      if (!Number.isSafeInteger(r.first) || r.first < 0 || !Number.isSafeInteger(r.count) || r.count < 0) {
        throw new InvalidInputError(`run ${i} of set '${s.name}' (first ${r.first}, count ${r.count}) is not a range of pages: both must be whole numbers, at least 0`);
      }
    });
    const last = normalizeRuns(s.runs).pop();
    if (last && last.first + last.count > pages) {
      throw new InvalidInputError(`page ${last.first + last.count - 1} of set '${s.name}' is beyond the file's ${pages} pages of ${pageSize} bytes`);
    }
  }
}

export function wasEmptyReservation(elf: ElfFile): boolean {
  const ours = findOurNote(elf);
  if (!ours) return false;
  try {
    return decodeNote(elf.source.read(ours.note.descOffset, ours.note.descSize)).empty;
  } catch {
    return false;
  }
}

/** Plans a stamp whose capacity fits the note for the output's size (which the plan decides). */
export function planFor(elf: ElfFile, req: StampRequest, opts: PlanOptions, before?: string[]): LayoutPlan {
  const pageSize = 1 << (req.pageShift ?? DEFAULT_PAGE_SHIFT);
  let size = elf.source.size;
  for (let i = 0; i < 4; i++) {
    const pageCount = Math.ceil(toIndex(size, 'size') / pageSize);
    const needed = buildNote(req, pageCount, 0n, placeholderSelf).length + 8 * 2;
    const plan = placeNote(elf, needed, opts);
    const outPages = Math.ceil(toIndex(plan.outputSize, 'output size') / pageSize);
    const shift = plan.shift;
    // Only the plan kept is read back (checkPlan), once.
    if (buildNote(req, outPages, shift, placeholderSelf).length <= plan.descCapacity) return checkPlan(elf, plan, before);
    size = plan.outputSize;
  }
  throw new InternalError('the note does not converge to a size that fits its place');
}

/**
 * Stamps `input` with a note holding the requested page sets. The output is written to a
 * temporary file, re-parsed, checked against the layout rules and verified before it
 * replaces the destination; the input is untouched on any error.
 */
export interface StampOptions extends PlanOptions {
  output?: string;
  /** The input's extended attributes, read already (see ReplaceOptions.xattrs). */
  xattrs?: string | null;
  /** See ReplaceOptions.fsync. */
  fsync?: boolean;
}

export function stampFile(input: string, req: StampRequest, opts: StampOptions = {}): StampResult {
  const elf = openElf(input);
  try {
    return stampOpened(elf, input, req, opts);
  } finally {
    elf.source.close();
  }
}

/**
 * stampFile for a file the caller opened and parsed already (stamp-tree matched it to its
 * profile with this very parse): `elf` must be `input` opened with openElf. Parses: the input
 * once (the caller's), the planned output once (the planner reads it back), the written file
 * once; the input's layout rules are computed once.
 */
export function stampOpened(elf: ElfFile, input: string, req: StampRequest, opts: StampOptions = {}): StampResult {
  checkPages(req, elf.source.size);
  // A note a tool moved to where loaders do not look goes back to its place.
  const ours = findOurNote(elf);
  if (ours?.addedByStamp && ours.note.container.kind === 'section') return restampFresh(input, req, opts);
  const before = checkLayout(elf);
  let plan: LayoutPlan;
  try {
    plan = planFor(elf, req, opts, before);
  } catch (e) {
    // A note we added earlier that is now too small: take it out and place a bigger one.
    if (!(e instanceof PlacementRefusedError) || !ours?.addedByStamp) throw e;
    return restampFresh(input, req, opts);
  }
  // Filled in place, the output's identity is the input's: computed once (a SHA-256 of the image).
  const inPlaceSelf = plan.strategy === 'in-place' ? identityOf(elf, plan.descOffset, plan.descCapacity) : undefined;
  if (inPlaceSelf && opts.output === undefined) {
    const desc = buildNote(req, pageCountOf(elf.source.size, req), 0n, inPlaceSelf);
    if (holds(elf, plan, desc)) {
      // The note holds exactly what this stamp would write: the file is left as it is.
      const pages = decodeNote(elf.source.read(plan.descOffset, plan.descCapacity)).objects[0]!.pageSets.reduce((n, x) => n + x.runs.reduce((m, r) => m + r.count, 0), 0);
      return { strategy: 'in-place', output: input, growth: 0n, descUsed: desc.length, descCapacity: plan.descCapacity, pages, unchanged: true };
    }
  }
  let result: StampResult | undefined;
  const output = replaceAtomically(
    input,
    (tmp) => {
      applyPlan(elf.source as FileSource, plan, tmp);
      // The identity of the bytes just written, the descriptor read as zeros: the build-id note
      // is copied as it is, the program headers are the plan's. No parse is needed for it.
      let self = inPlaceSelf;
      if (!self) {
        const written = FileSource.open(tmp);
        try {
          const zeroed = [{ start: plan.descOffset, end: plan.descOffset + BigInt(plan.descCapacity) }];
          self = { path: '', buildId: buildIdOf(elf), layoutDigest: layoutDigest(plan.programHeaders), contentSha256: contentSha256(written, plan.header.ehsize, plan.programHeaders, zeroed) };
        } finally {
          written.close();
        }
      }
      const desc = buildNote(req, pageCountOf(plan.outputSize, req), plan.shift, self);
      const padded = new Uint8Array(plan.descCapacity);
      padded.set(desc);
      writeAt(tmp, plan.descOffset, padded);
      // The written file, read once as any reader will, with its descriptor in.
      let check: ElfFile;
      try {
        check = openElf(tmp);
      } catch (e) {
        // The input parsed; an output that does not is our refusal, not the input's fault.
        if (e instanceof ElfFormatError) throw new PlacementRefusedError([`the rewritten file would not parse (${e.message})`], 'The file\'s headers are inconsistent; check it with readelf or eu-elflint.');
        throw e;
      }
      try {
        const broken = newViolations(before, check);
        if (broken.length) throw new PlacementRefusedError([`the rewritten file would break layout rules: ${broken.join('; ')}`], 'The file is left as it is; check it with readelf or eu-elflint.');
        const found = findOurNote(check);
        if (!found) throw new InternalError('internal error: the rewritten file has no note');
        if (found.note.descOffset !== plan.descOffset || found.note.descSize !== plan.descCapacity) throw new InternalError(`internal error: the note is at ${found.note.descOffset} (${found.note.descSize} bytes), not where it was planned (${plan.descOffset}, ${plan.descCapacity} bytes)`);
        // The content digest was computed from these very bytes a moment ago.
        const v = verifyElf(check, { content: false });
        if (v.status !== 'valid') throw new InternalError(`internal error: the stamped file does not verify: ${v.reason}`);
        const pages = v.note!.objects[0]!.pageSets.reduce((n, x) => n + x.runs.reduce((m, r) => m + r.count, 0), 0);
        result = { strategy: plan.strategy, output: '', growth: plan.growth, descUsed: desc.length, descCapacity: plan.descCapacity, pages };
      } finally {
        check.source.close();
      }
    },
    { output: opts.output, opened: (elf.source as FileSource).stat, xattrs: opts.xattrs, fsync: opts.fsync },
  );
  if (plan.strategy === 'in-place' && wasEmptyReservation(elf)) result!.strategy = 'reserved';
  result!.output = output;
  return result!;
}

const pageCountOf = (size: bigint, req: StampRequest): number => Math.ceil(toIndex(size, 'file size') / (1 << (req.pageShift ?? DEFAULT_PAGE_SHIFT)));

/** The identity of the file whose note descriptor is `size` bytes at `at` (read as zeros). */
function identityOf(elf: ElfFile, at: bigint, size: number): Omit<NoteObject, 'pageSets'> {
  const zeroed = [{ start: at, end: at + BigInt(size) }];
  return { path: '', buildId: buildIdOf(elf), layoutDigest: layoutDigest(elf.programHeaders), contentSha256: contentSha256(elf.source, elf.header.ehsize, elf.programHeaders, zeroed) };
}

/** Whether the note in place holds exactly `desc` (its padding zero). */
function holds(elf: ElfFile, plan: LayoutPlan, desc: Uint8Array): boolean {
  if (desc.length > plan.descCapacity) return false;
  const padded = new Uint8Array(plan.descCapacity);
  padded.set(desc);
  return Buffer.from(elf.source.read(plan.descOffset, plan.descCapacity)).equals(padded);
}

/** Takes the note out and places a new one: for a note too small, or not where loaders look. */
function restampFresh(input: string, req: StampRequest, opts: StampOptions): StampResult {
  const dir = fs.mkdtempSync(path.join(path.dirname(fs.realpathSync(input)), '.elfprefetch-'));
  try {
    const removed = path.join(dir, 'removed');
    removeNote(input, { output: removed });
    return stampFile(removed, req, { ...opts, output: opts.output ?? input });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface RemoveResult {
  removed: boolean;
  output: string;
}

/** Takes our note out (or empties a linked-in reservation). Without a note, nothing changes. */
export function removeNote(input: string, opts: { output?: string } = {}): RemoveResult {
  const elf = openElf(input);
  try {
    const plan = planRemove(elf, emptyNote());
    if (!plan) {
      if (opts.output !== undefined) fs.copyFileSync(input, opts.output);
      return { removed: false, output: opts.output ?? input };
    }
    const output = replaceAtomically(
      input,
      (tmp) => {
        applyPlan(elf.source as FileSource, plan, tmp);
        const out = openElf(tmp);
        try {
          const broken = newViolations(elf, out);
          if (broken.length) throw new InternalError(`internal error: removing the note would break layout rules: ${broken.join('; ')}`);
        } finally {
          out.source.close();
        }
      },
      { output: opts.output, opened: (elf.source as FileSource).stat },
    );
    return { removed: true, output };
  } finally {
    elf.source.close();
  }
}


