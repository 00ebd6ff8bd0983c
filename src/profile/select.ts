/*
 * Selection: from a (merged, src/profile/merge.ts) profile, the pages worth prefetching
 * (docs/RECORDING.md).
 *
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
import { formatRanges, runsFromPages } from '../note/pageset';
import { pageCounts } from './merge';
import { Profile, ProfileObject, ProfileSchema } from './schema';
import { InvalidInputError, ProfileError } from '../errors';

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

/** Applies the share threshold and the budget (see the top of this file). */
export function selectPages(profile: Profile, opts: SelectOptions): Selection {
  const { minShare, budget } = opts;
  if (!(minShare >= 0 && minShare <= 1)) throw new InvalidInputError(`the share must be between 0 and 1, not ${minShare}`);
  if (budget !== undefined && !(Number.isInteger(budget) && budget >= 0)) throw new InvalidInputError(`the budget must be a whole number of bytes, not ${budget}`);
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
  if (objects.length === 0) throw new ProfileError('nothing_selected', 'nothing selected: no page was touched in enough runs (lower --min-share?)');
  const out = ProfileSchema.parse({
    ...profile,
    selection: { minShare, ...(budget !== undefined ? { budget } : {}), merged: runs },
    objects,
  });
  return { profile: out, objects: report, runs, overBudget: candidates.length - kept.length };
}
