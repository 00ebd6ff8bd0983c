import * as fs from 'node:fs';
import { openElf } from '../elf/read';
import { formatRanges, parseRanges, runsFromPages } from '../note/pageset';
import { Anchor, anchorsOfPages, dataAnchors, functionAnchors } from '../profile/symbols';
import { Profile, ProfileObject, ProfileSchema } from '../profile/schema';
import { DEFAULT_SET } from '../note/format';
import { ObjectIdentity, identify } from './objects';
import type { Method, RunRecord } from './types';
import { RecordingError } from '../errors';

export interface BuildOptions {
  pageSize?: number;
  command?: string[];
  method?: Method;
  windowMs?: number;
  /** The file to mark as the program, instead of the command's own executable. */
  main?: string;
  /** Files left out (the recorder's own libraries). */
  exclude?: string[];
}

export interface BuildResult {
  profile: Profile;
  /** Files the runs touched that are not in the profile, and why. */
  skipped: Array<{ path: string; reason: string }>;
}

const real = (f: string): string => {
  try {
    return fs.realpathSync(f);
  } catch {
    return f;
  }
};

/** Function and data symbols of `file` that overlap the pages `ranges`; none without symbols or on any error. */
function symbolsOnPages(file: string, ranges: string, pageSize: number): { functions: Anchor[]; data: Anchor[] } {
  try {
    const elf = openElf(file);
    try {
      const pages: number[] = [];
      for (const r of parseRanges(ranges)) for (let i = 0; i < r.count; i++) pages.push(r.first + i);
      return { functions: anchorsOfPages(functionAnchors(elf), pages, pageSize), data: anchorsOfPages(dataAnchors(elf), pages, pageSize) };
    } finally {
      elf.source.close();
    }
  } catch {
    return { functions: [], data: [] };
  }
}

/** The most frequent value (the first one on a tie). */
function mode<T>(values: T[]): T | undefined {
  const n = new Map<T, number>();
  for (const v of values) n.set(v, (n.get(v) ?? 0) + 1);
  let best: T | undefined;
  for (const [v, c] of n) if (best === undefined || c > n.get(best)!) best = v;
  return best;
}

/**
 * Turns recorded runs into a profile: one object per ELF file any run touched, its pages
 * (touched in at least one run) and, page by page, in how many runs it was touched. The
 * program (main) is the command's own executable unless `main` names another file.
 */
export function buildProfile(runs: RunRecord[], opts: BuildOptions = {}): BuildResult {
  if (runs.length === 0) throw new RecordingError('no runs to build a profile from');
  const pageSize = opts.pageSize ?? 4096;
  const exclude = new Set((opts.exclude ?? []).map(real));
  const counts = new Map<string, Map<number, number>>();
  for (const r of runs) {
    for (const [file, pages] of r.files) {
      let c = counts.get(file);
      if (!c) counts.set(file, (c = new Map()));
      for (const p of pages) c.set(p, (c.get(p) ?? 0) + 1);
    }
  }
  const mainPath = opts.main ? real(opts.main) : mode(runs.map((r) => r.main).filter((m): m is string => !!m));
  const skipped: BuildResult['skipped'] = [];
  const objects: ProfileObject[] = [];
  for (const file of [...counts.keys()].sort()) {
    if (exclude.has(real(file))) continue;
    let id: ObjectIdentity | undefined;
    try {
      id = identify(file);
    } catch (e) {
      skipped.push({ path: file, reason: `unreadable ELF: ${(e as Error).message}` });
      continue;
    }
    if (!id) {
      skipped.push({ path: file, reason: fs.existsSync(file) ? 'not ELF' : 'gone' });
      continue;
    }
    const last = Math.ceil(id.size / pageSize);
    const c = counts.get(file)!;
    const pages = [...c.keys()].filter((p) => p < last).sort((a, b) => a - b);
    if (pages.length === 0) continue;
    objects.push({
      path: file,
      buildId: id.buildId,
      layoutDigest: id.layoutDigest,
      machine: id.machine,
      size: id.size,
      main: mainPath !== undefined && real(file) === mainPath,
      pages: formatRanges(runsFromPages(pages)),
      counts: pages.map((p) => c.get(p)!),
      ...(id.sections.length ? { sections: id.sections } : {}),
      set: DEFAULT_SET,
    });
  }
  // The program's functions on its pages, to carry them to a later build (src/profile/carry.ts),
  // and with its data, to order a link by them (src/order/).
  for (const o of objects) {
    if (!o.main) continue;
    const { functions, data } = symbolsOnPages(o.path, o.pages, pageSize);
    if (functions.length) o.functions = functions;
    if (data.length) o.data = data;
  }
  if (mainPath && !objects.some((o) => o.main)) {
    throw new RecordingError(`the program ${mainPath} is not among the recorded objects${opts.main ? '' : ' (a static program? name the file with --main)'}`);
  }
  objects.sort((a, b) => Number(b.main) - Number(a.main));
  if (objects.length === 0) throw new RecordingError('the runs touched no ELF object');
  const profile = ProfileSchema.parse({
    format: 'elfprefetch-profile',
    version: 1,
    pageSize,
    runs: runs.length,
    command: opts.command,
    createdAt: new Date().toISOString(),
    ...(opts.method ? { method: opts.method } : {}),
    ...(opts.windowMs ? { windowMs: opts.windowMs } : {}),
    objects,
  });
  return { profile, skipped };
}
