import * as fs from 'node:fs';
import { openElf } from '../elf/read';
import type { ElfFile } from '../elf/types';
import { buildIdOf, layoutDigest } from '../note/identity';
import { Run, parseRanges } from '../note/pageset';
import { SectionSpan, carryPages, sectionSpans } from '../profile/carry';
import { sameProgram } from '../profile/same-program';
import { Anchor, functionAnchors } from '../profile/symbols';
import { Profile, ProfileObject, parseProfile } from '../profile/schema';
import type { LibraryEntry, SelfPageSet, StampRequest } from './stamp';
import { ProfileError } from '../errors';
import { toIndex } from '../elf/errors';

/** elfinfo's name of an e_machine (loaded only for this message). */
function machineName(m: number): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ISA } = require('elfinfo') as { ISA: Record<number, string> };
  return ISA[m] ?? `EM_${m}`;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The layout digest of a library: from the profile, else from the file if it is the same build. */
function libraryDigest(o: ProfileObject): bigint | undefined {
  if (o.layoutDigest) return BigInt('0x' + o.layoutDigest);
  if (!fs.existsSync(o.path)) return undefined;
  const elf = openElf(o.path);
  try {
    return hex(buildIdOf(elf)) === o.buildId ? layoutDigest(elf.programHeaders) : undefined;
  } finally {
    elf.source.close();
  }
}

export interface FromProfileOptions {
  /** Accept a profile of another build of the program: carry its pages over section by section. */
  carryOver?: boolean;
  /** Carry over even a profile that does not look like one of this program (sameProgram). */
  force?: boolean;
  /** `file` parsed already (stamp-tree): read from this model instead of opening it again. */
  elf?: ElfFile;
}

/** How the program's own pages were found in the profile. */
export interface ProfileMatch {
  /** `build-id`: the profile is of this very build; `carried`: of another build (`--carry-over`). */
  how: 'build-id' | 'main' | 'carried';
  /** With `carried`: the build the pages were recorded on, and pages that had nowhere to go. */
  from?: string;
  dropped?: number;
  /** With `carried`: pages placed through a function both builds have (the rest by section). */
  anchored?: number;
}

/**
 * How many pages the content of a build moved since it was recorded: the move of its largest
 * section, when that is a whole number of pages (an exec-shift moves everything alike; our
 * other placements only move small notes). Undefined when it moved otherwise.
 */
function sameBuildShift(from: SectionSpan[], to: SectionSpan[], pageSize: number): number | undefined {
  const largest = [...from].sort((a, b) => b.size - a.size)[0];
  const now = largest && to.find((s) => s.name === largest.name && s.size === largest.size);
  if (!now) return undefined;
  const delta = now.offset - largest.offset;
  return delta % pageSize === 0 ? delta / pageSize : undefined;
}

/** Turns a profile into what `stamp` writes for `file`: its own page sets and its libraries'. */
export function requestFromProfile(file: string, where: string, text: string, opts: FromProfileOptions = {}): StampRequest & { match: ProfileMatch } {
  return requestFromProfileData(file, where, parseProfile(text, where), opts);
}

/** As requestFromProfile, for a profile already parsed. */
export function requestFromProfileData(file: string, where: string, profile: Profile, opts: FromProfileOptions = {}): StampRequest & { match: ProfileMatch } {
  const elf = opts.elf ?? openElf(file);
  let fileId: string;
  let spans: SectionSpan[];
  let fileSize: number;
  let fileDigest: string;
  let machine: number;
  let anchorsNow: Anchor[];
  try {
    machine = elf.header.machine;
    fileId = hex(buildIdOf(elf));
    spans = sectionSpans(elf);
    fileSize = toIndex(elf.source.size, 'file size');
    fileDigest = layoutDigest(elf.programHeaders).toString(16).padStart(16, '0');
    anchorsNow = opts.carryOver ? functionAnchors(elf) : [];
  } finally {
    if (!opts.elf) elf.source.close();
  }
  let mains = profile.objects.filter((o) => (fileId && o.buildId === fileId) || (!fileId && o.main));
  let match: ProfileMatch = { how: fileId ? 'build-id' : 'main' };
  const pageShift = Math.log2(profile.pageSize);
  const ownRuns = (o: ProfileObject): Run[] => (o.pages.trim() ? parseRanges(o.pages) : []);
  let carried: Map<ProfileObject, Run[]> | undefined;
  if (mains.length === 0) {
    const ids = profile.objects.map((o) => `${o.path} (${o.buildId || 'no build-id'})`).join(', ');
    const programs = profile.objects.filter((o) => o.main);
    if (!opts.carryOver || programs.length === 0) {
      const hint = programs.length && !opts.carryOver ? '; if it is a profile of an earlier build of this program, add --carry-over' : '';
      throw new ProfileError('no_pages', `${where} has no pages for this file (build-id ${fileId || 'none'}); it describes ${ids}${hint}`);
    }
    const foreign = programs.find((o) => o.machine !== undefined && o.machine !== machine);
    if (foreign) {
      throw new ProfileError('mismatch', `${where} was recorded on a ${machineName(foreign.machine!)} build (${foreign.path}); this file is for ${machineName(machine)}: pages do not carry over between machines (record it on the target, or stamp it with --pages)`);
    }
    const noSections = programs.find((o) => !o.sections?.length);
    if (noSections) throw new ProfileError('mismatch', `${where} cannot be carried over to another build: it lists no sections for ${noSections.path} (record it again with this version of elfprefetch)`);
    if (!opts.force) {
      for (const o of programs) {
        const v = sameProgram(o, { path: file, sections: spans, functions: anchorsNow });
        if (v.same) continue;
        const short = `${where} does not look like a profile of this program (${v.evidence}); its pages would be guesses here`;
        throw new ProfileError('other_program', `${short}. Record this program, or add --force to carry them over anyway`, short);
      }
    }
    carried = new Map();
    let dropped = 0;
    let anchored = 0;
    for (const o of programs) {
      const anchors = o.functions?.length && anchorsNow.length ? { from: o.functions, to: anchorsNow } : undefined;
      const c = carryPages(ownRuns(o), o.sections!, spans, profile.pageSize, fileSize, anchors);
      carried.set(o, c.runs);
      dropped += c.dropped;
      anchored += c.anchored;
    }
    mains = programs;
    match = { how: 'carried', from: programs[0]!.buildId || 'no build-id', dropped, anchored };
  } else {
    // The same build, moved by an earlier stamp: an exec-shift moved the content by whole
    // pages; the recorded pages move with it, exactly as that stamp moved them.
    for (const o of mains) {
      if (!o.layoutDigest || o.layoutDigest === fileDigest || !o.sections?.length) continue;
      const shift = sameBuildShift(o.sections, spans, profile.pageSize);
      if (shift === 0) continue;
      carried ??= new Map();
      carried.set(o, shift === undefined ? carryPages(ownRuns(o), o.sections, spans, profile.pageSize, fileSize).runs : ownRuns(o).map((r) => ({ first: r.first + shift, count: r.count })));
    }
  }
  const sets = new Map<string, SelfPageSet>();
  for (const o of mains) {
    const s = sets.get(o.set) ?? { name: o.set, runs: [] };
    s.runs.push(...(carried?.get(o) ?? ownRuns(o)));
    sets.set(o.set, s);
  }
  const libraries: LibraryEntry[] = [];
  for (const o of profile.objects) {
    if (mains.includes(o) || !o.pages.trim()) continue;
    const digest = libraryDigest(o);
    if (digest === undefined) continue; // a library we cannot identify is left out, not guessed
    let lib = libraries.find((l) => l.path === o.path && hex(l.buildId) === o.buildId);
    if (!lib) {
      lib = { path: o.path, buildId: Buffer.from(o.buildId, 'hex'), layoutDigest: digest, pageSets: [] };
      libraries.push(lib);
    }
    lib.pageSets.push({ name: o.set, pageCount: Math.ceil(o.size / profile.pageSize), runs: parseRanges(o.pages) });
  }
  return { pageShift, sets: [...sets.values()], libraries, match };
}
