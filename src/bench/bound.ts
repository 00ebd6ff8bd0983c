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
}

export function touchedSet(profile: Profile): TouchedSet {
  const ps = profile.pageSize;
  const per = Math.max(1, Math.floor(MAX_REQUEST / ps));
  let pages = 0;
  let requests = 0;
  const byFile = new Map<string, Set<number>>();
  for (const o of profile.objects) {
    if (!o.pages.trim()) continue;
    let s = byFile.get(o.path);
    if (!s) byFile.set(o.path, (s = new Set()));
    for (const r of parseRanges(o.pages)) for (let i = 0; i < r.count; i++) s.add(r.first + i);
  }
  for (const s of byFile.values()) {
    const sorted = [...s].sort((a, b) => a - b);
    pages += sorted.length;
    // greedy: a request starts at the first page not read yet and covers `per` pages
    let end = -Infinity;
    for (const p of sorted) {
      if (p < end) continue;
      requests++;
      end = p + per;
    }
  }
  return { pages, bytes: pages * ps, requests };
}

/** Milliseconds: warm + requests / iops + bytes / bandwidth (each term only when limited). */
export function boundMs(warmMs: number, t: TouchedSet, limits: { riops?: number; rbps?: number }): number {
  return warmMs + (limits.riops ? (t.requests / limits.riops) * 1000 : 0) + (limits.rbps ? (t.bytes / limits.rbps) * 1000 : 0);
}
