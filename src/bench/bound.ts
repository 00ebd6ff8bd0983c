/*
 * The lower bound of a cold start on a throttled device: the warm start plus the least time the
 * device needs to deliver the pages really touched (the exact recording): the fewest requests
 * that could read them (each request at most 1 MiB, holes read through for free) at the
 * model's IOPS, and their bytes alone at its bandwidth. Either term alone is a lower bound on
 * its own resource, so their sum is optimistic, never pessimistic.
 */
import { parseRanges } from '../note/pageset';
import type { Profile } from '../profile/schema';

export const MAX_REQUEST = 1 << 20;

export interface TouchedSet {
  pages: number;
  bytes: number;
  /** Fewest requests of at most MAX_REQUEST bytes that cover every touched page. */
  requests: number;
  /** The same for smaller largest requests (bytes, as a string key: 131072 ... 524288). */
  requestsBy?: Record<string, number>;
}

/** Largest requests `touchedSet` also counts for (what devices split 1 MiB reads into). */
export const REQUEST_SIZES = [128 << 10, 256 << 10, 512 << 10, 640 << 10, 768 << 10];

export function touchedSet(profile: Profile): TouchedSet {
  const ps = profile.pageSize;
  let pages = 0;
  const byFile = new Map<string, Set<number>>();
  for (const o of profile.objects) {
    if (!o.pages.trim()) continue;
    let s = byFile.get(o.path);
    if (!s) byFile.set(o.path, (s = new Set()));
    for (const r of parseRanges(o.pages)) for (let i = 0; i < r.count; i++) s.add(r.first + i);
  }
  const files = [...byFile.values()].map((s) => [...s].sort((a, b) => a - b));
  for (const f of files) pages += f.length;
  // greedy: a request starts at the first page not read yet and covers `per` pages
  const fewest = (maxBytes: number): number => {
    const per = Math.max(1, Math.floor(maxBytes / ps));
    let requests = 0;
    for (const sorted of files) {
      let end = -Infinity;
      for (const p of sorted) {
        if (p < end) continue;
        requests++;
        end = p + per;
      }
    }
    return requests;
  };
  const requestsBy: Record<string, number> = {};
  for (const b of REQUEST_SIZES) requestsBy[String(b)] = fewest(b);
  return { pages, bytes: pages * ps, requests: fewest(MAX_REQUEST), requestsBy };
}

/** Milliseconds: warm + requests / iops + bytes / bandwidth (each term only when limited). */
export function boundMs(warmMs: number, t: TouchedSet, limits: { riops?: number; rbps?: number }): number {
  return warmMs + (limits.riops ? (t.requests / limits.riops) * 1000 : 0) + (limits.rbps ? (t.bytes / limits.rbps) * 1000 : 0);
}
