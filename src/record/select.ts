/*
 * Selection: from profiles of several runs, the pages worth prefetching (docs/RECORDING.md).
 *
 * - merge: profiles of the same command add up; a page's count is the number of runs that
 *   touched it (a profile without counts touched each of its pages in all of its runs).
 *   Objects are told apart by path, build-id, layout digest and page-set name.
 * - share: a page is kept when it was touched in at least minShare of the runs
 *   (count >= minShare * runs; minShare 0 keeps every page any run touched, 1 only the pages
 *   every run touched).
 * - budget: if the kept pages of all objects together take more than `budget` bytes, the
 *   most-used pages are kept first (higher count first; on equal counts, in file order: the
 *   profile's object order, the program first, then page order) until the budget is full.
 *   Page 0 of the program, which `stamp` always adds, is not counted.
 *
 * Pure functions: no I/O.
 */
import { formatRanges, parseRanges, runsFromPages } from '../note/pageset';
export { parseSize } from './size';
import { Profile, ProfileObject, ProfileSchema } from '../profile/schema';

export interface SelectOptions {
  /** Keep pages touched in at least this share of the runs, 0 to 1. */
  minShare: number;
  /** At most this many bytes of pages over all objects. */
  budget?: number;
}

export interface ObjectSelection {
  path: string;
  main: boolean;
  set: string;
  /** Pages the runs touched (any run). */
  touched: number;
  /** Pages kept. */
  selected: number;
  /** Bytes kept (selected pages times the page size). */
  bytes: number;
  /** File size. */
  size: number;
  /** Selected pages / pages of the file. */
  share: number;
}

export interface Selection {
  profile: Profile;
  objects: ObjectSelection[];
  runs: number;
  /** Pages that passed the share test but did not fit the budget. */
  overBudget: number;
}

function pagesOf(o: ProfileObject): number[] {
  if (!o.pages.trim()) return [];
  const out: number[] = [];
  for (const r of parseRanges(o.pages)) for (let i = 0; i < r.count; i++) out.push(r.first + i);
  return out;
}

/** Page -> count of an object; a profile without counts touched every page in all its runs. */
export function pageCounts(o: ProfileObject, runs: number): Map<number, number> {
  const pages = pagesOf(o);
  if (o.counts && o.counts.length !== pages.length) {
    throw new Error(`${o.path}: ${o.counts.length} counts for ${pages.length} pages`);
  }
  return new Map(pages.map((p, i) => [p, o.counts ? o.counts[i]! : runs]));
}

/** The functions (or data symbols) of two profiles of one object, each once, in file order. */
function unionSymbols(a: NonNullable<ProfileObject['functions']>, b: NonNullable<ProfileObject['functions']>): NonNullable<ProfileObject['functions']> {
  const all = new Map<string, (typeof a)[number]>();
  for (const f of [...a, ...b]) all.set(`${f.offset}\0${f.name}`, f);
  return [...all.values()].sort((x, y) => x.offset - y.offset || x.name.localeCompare(y.name));
}

const keyOf = (o: ProfileObject): string => [o.path, o.buildId, o.layoutDigest ?? '', o.set].join('\0');

/** Adds up profiles of the same program: runs and per-page counts. */
export function mergeProfiles(profiles: Profile[]): Profile {
  if (profiles.length === 0) throw new Error('no profiles to merge');
  const pageSize = profiles[0]!.pageSize;
  for (const p of profiles) {
    if (p.pageSize !== pageSize) throw new Error(`profiles count pages of ${pageSize} and of ${p.pageSize} bytes; record them with the same page size`);
  }
  const merged = new Map<string, { o: ProfileObject; counts: Map<number, number> }>();
  for (const p of profiles) {
    for (const o of p.objects) {
      const k = keyOf(o);
      let m = merged.get(k);
      if (!m) merged.set(k, (m = { o: { ...o, main: false }, counts: new Map() }));
      m.o.main ||= o.main;
      m.o.size = o.size;
      if (o.functions?.length && m.o.functions !== o.functions) m.o.functions = unionSymbols(m.o.functions ?? [], o.functions);
      if (o.data?.length && m.o.data !== o.data) m.o.data = unionSymbols(m.o.data ?? [], o.data);
      for (const [page, c] of pageCounts(o, p.runs)) m.counts.set(page, (m.counts.get(page) ?? 0) + c);
    }
  }
  const same = <T>(values: T[]): T | undefined => (values.every((v) => v === values[0]) ? values[0] : undefined);
  const objects = [...merged.values()].map(({ o, counts }) => {
    const pages = [...counts.keys()].sort((a, b) => a - b);
    return { ...o, pages: formatRanges(runsFromPages(pages)), counts: pages.map((p) => counts.get(p)!) };
  });
  objects.sort((a, b) => Number(b.main) - Number(a.main));
  return ProfileSchema.parse({
    format: 'elfprefetch-profile',
    version: 1,
    pageSize,
    runs: profiles.reduce((n, p) => n + p.runs, 0),
    command: profiles[0]!.command,
    createdAt: new Date().toISOString(),
    method: same(profiles.map((p) => p.method)),
    windowMs: same(profiles.map((p) => p.windowMs)),
    objects,
  });
}

/** Applies the share threshold and the budget (see the top of this file). */
export function selectPages(profile: Profile, opts: SelectOptions): Selection {
  const { minShare, budget } = opts;
  if (!(minShare >= 0 && minShare <= 1)) throw new Error(`the share must be between 0 and 1, not ${minShare}`);
  if (budget !== undefined && !(Number.isInteger(budget) && budget >= 0)) throw new Error(`the budget must be a whole number of bytes, not ${budget}`);
  const runs = profile.runs;
  const need = minShare * runs - 1e-9;
  const candidates: Array<{ obj: number; page: number; count: number }> = [];
  const counts = profile.objects.map((o) => pageCounts(o, runs));
  counts.forEach((c, obj) => {
    for (const [page, count] of c) if (count >= need && count > 0) candidates.push({ obj, page, count });
  });
  // most-used first; ties in file order (object order, then page)
  candidates.sort((a, b) => b.count - a.count || a.obj - b.obj || a.page - b.page);
  const limit = budget === undefined ? Infinity : Math.floor(budget / profile.pageSize);
  const kept = candidates.slice(0, Math.min(candidates.length, limit));
  const byObj = profile.objects.map(() => [] as number[]);
  for (const k of kept) byObj[k.obj]!.push(k.page);
  const objects: ProfileObject[] = [];
  const report: ObjectSelection[] = [];
  profile.objects.forEach((o, i) => {
    const pages = byObj[i]!.sort((a, b) => a - b);
    const bytes = pages.length * profile.pageSize;
    report.push({ path: o.path, main: o.main, set: o.set, touched: counts[i]!.size, selected: pages.length, bytes, size: o.size, share: o.size ? pages.length / Math.ceil(o.size / profile.pageSize) : 0 });
    if (pages.length === 0 && !o.main) return;
    objects.push({ ...o, pages: formatRanges(runsFromPages(pages)), counts: pages.map((p) => counts[i]!.get(p)!) });
  });
  if (objects.length === 0) throw new Error('nothing selected: no page was touched in enough runs (lower --min-share?)');
  const out = ProfileSchema.parse({
    ...profile,
    selection: { minShare, ...(budget !== undefined ? { budget } : {}), merged: runs },
    objects,
  });
  return { profile: out, objects: report, runs, overBudget: candidates.length - kept.length };
}


/**
 * Why these profiles are not of one program, or undefined: their programs (the objects marked
 * main) share neither a build-id nor a path. Runs of one program at several builds are one program.
 */
export function differentPrograms(profiles: Array<{ name: string; profile: Profile }>): string | undefined {
  const mains = profiles.flatMap((p) => p.profile.objects.filter((o) => o.main).map((o) => ({ name: p.name, path: o.path, buildId: o.buildId })));
  const first = mains[0];
  if (!first) return undefined;
  const other = mains.find((m) => m.path !== first.path && !(m.buildId && m.buildId === first.buildId));
  return other && `${first.name} is a profile of ${first.path}, ${other.name} of ${other.path}`;
}
