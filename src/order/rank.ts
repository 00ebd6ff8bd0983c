/*
 * The start-up order of an object's functions (or data symbols), from what a profile knows: each
 * one on the object's recorded pages, hottest first (touched in the most runs), then earliest. The recorder
 * keeps no touch order (a run is a snapshot of the pages it mapped, docs/RECORDING.md), so
 * "earliest" is the function's place in the recorded file: within a run count, functions keep
 * the order the stock link gave them, which groups the code of one source file together.
 */
import { pageCounts } from '../profile/merge';
import type { ProfileObject } from '../profile/schema';
import type { Anchor } from '../profile/symbols';

export interface RankedSymbol {
  name: string;
  /** Where it was in the recorded file. */
  offset: number;
  size: number;
  /** In how many runs a page of it was touched (the most of its pages). */
  runs: number;
}

/** `symbols` of the object (its functions or its data) in start-up order, each name once (its hottest, earliest copy). */
export function rankSymbols(symbols: Anchor[], object: ProfileObject, pageSize: number, runsInProfile: number): RankedSymbol[] {
  const countOf = pageCounts(object, runsInProfile);
  const ranked: RankedSymbol[] = [];
  for (const f of symbols) {
    let runs = 0;
    for (let p = Math.floor(f.offset / pageSize); p * pageSize < f.offset + f.size; p++) runs = Math.max(runs, countOf.get(p) ?? 0);
    if (runs > 0) ranked.push({ name: f.name, offset: f.offset, size: f.size, runs });
  }
  ranked.sort((a, b) => b.runs - a.runs || a.offset - b.offset || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seen = new Set<string>();
  return ranked.filter((f) => !seen.has(f.name) && seen.add(f.name));
}

/**
 * Page granularity lists every function that shares a page with start-up code, run or not.
 * Profiles of other layouts of the same program (the ordered link, recorded again) tell those
 * apart: a function start-up runs lies on recorded pages in every layout, one it does not run
 * rarely does once the order has packed such functions onto pages of their own. Keeps the
 * first ranking's order, without the functions some other profile did not see on its pages.
 */
export function seenInAll(ranked: RankedSymbol[], others: RankedSymbol[][]): RankedSymbol[] {
  const sets = others.map((o) => new Set(o.map((f) => f.name)));
  return ranked.filter((f) => sets.every((s) => s.has(f.name)));
}
