/*
 * The start-up order of an object's functions, from what a profile knows: each function on the
 * object's recorded pages, hottest first (touched in the most runs), then earliest. The recorder
 * keeps no touch order (a run is a snapshot of the pages it mapped, docs/RECORDING.md), so
 * "earliest" is the function's place in the recorded file: within a run count, functions keep
 * the order the stock link gave them, which groups the code of one source file together.
 */
import { parseRanges } from '../note/pageset';
import type { ProfileObject } from '../profile/schema';

export interface RankedFunction {
  name: string;
  /** Where it was in the recorded file. */
  offset: number;
  size: number;
  /** In how many runs a page of it was touched (the most of its pages). */
  runs: number;
}

/** The object's functions in start-up order, each name once (its hottest, earliest copy). */
export function rankFunctions(object: ProfileObject, pageSize: number, runsInProfile: number): RankedFunction[] {
  const countOf = new Map<number, number>();
  let i = 0;
  for (const r of parseRanges(object.pages)) {
    for (let p = r.first; p < r.first + r.count; p++, i++) countOf.set(p, object.counts?.[i] ?? runsInProfile);
  }
  const ranked: RankedFunction[] = [];
  for (const f of object.functions ?? []) {
    let runs = 0;
    for (let p = Math.floor(f.offset / pageSize); p * pageSize < f.offset + f.size; p++) runs = Math.max(runs, countOf.get(p) ?? 0);
    if (runs > 0) ranked.push({ name: f.name, offset: f.offset, size: f.size, runs });
  }
  ranked.sort((a, b) => b.runs - a.runs || a.offset - b.offset || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seen = new Set<string>();
  return ranked.filter((f) => !seen.has(f.name) && seen.add(f.name));
}
