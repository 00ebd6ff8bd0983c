// The touch sample (samples/touch) and its ground truth, for the recorder's tests and benchmark.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRanges } from '../../src/note/pageset';
import type { Profile } from '../../src/profile/schema';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const touchDir = process.env.ELFPREFETCH_TOUCH_DIR ?? path.join(repoRoot, 'build', 'samples', 'touch');

export interface Truth {
  pageSize: number;
  exe: { path: string; f: number[]; d: number[] };
  lib: { path: string; g: number[] };
}

/** Builds the sample when it is missing or older than its sources; returns its ground truth. */
export function buildTouch(): Truth {
  execFileSync('bash', [path.join(repoRoot, 'samples', 'touch', 'build.sh'), touchDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(fs.readFileSync(path.join(touchDir, 'truth.json'), 'utf8')) as Truth;
}

/** Indices as the sample's arguments write them. */
export const spec = (indices: number[]): string => indices.join(',');
export const every = (step: number, from: number, below: number): number[] => {
  const out: number[] = [];
  for (let i = from; i < below; i += step) out.push(i);
  return out;
};

/** Pages of each object of a profile, by path. */
export function profilePages(p: Profile): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const o of p.objects) {
    const s = out.get(o.path) ?? new Set<number>();
    if (o.pages.trim()) for (const r of parseRanges(o.pages)) for (let i = 0; i < r.count; i++) s.add(r.first + i);
    out.set(o.path, s);
  }
  return out;
}

export interface Score {
  truth: number;
  recorded: number;
  hits: number;
  recall: number;
  precision: number;
}

/**
 * Recall and precision inside a region (the pages of one kind of page function or data): what
 * the recorder says about pages outside the region (headers, libc, main) is not known exactly.
 */
export function score(recorded: Set<number> | undefined, region: number[], touched: number[]): Score {
  const inRegion = new Set(region);
  const want = new Set(touched.map((i) => region[i]!));
  const got = [...(recorded ?? [])].filter((p) => inRegion.has(p));
  const hits = got.filter((p) => want.has(p)).length;
  return { truth: want.size, recorded: got.length, hits, recall: want.size ? hits / want.size : 1, precision: got.length ? hits / got.length : 1 };
}

/** Sums scores of several regions. */
export function total(scores: Score[]): Score {
  const s = scores.reduce((a, b) => ({ truth: a.truth + b.truth, recorded: a.recorded + b.recorded, hits: a.hits + b.hits, recall: 0, precision: 0 }));
  return { ...s, recall: s.truth ? s.hits / s.truth : 1, precision: s.recorded ? s.hits / s.recorded : 1 };
}

export const fmt = (s: Score): string => `recall ${s.recall.toFixed(3)} (${s.hits}/${s.truth}), precision ${s.precision.toFixed(3)} (${s.hits}/${s.recorded})`;

/**
 * The sparse workload the accuracy figures use: every 17th code page of the program, every 9th
 * data page, every 11th code page of the library from main and every 13th (from 3) from the
 * library's constructor, which runs before LD_PRELOAD's constructor. Sparse on purpose: it is
 * where fault-around inflates a pagemap snapshot most.
 */
export const SPARSE = {
  f: every(17, 0, 256),
  d: every(9, 0, 64),
  gMain: every(11, 1, 64),
  gInit: every(13, 3, 64),
};

export function sparseArgs(): { args: string[]; env: Record<string, string> } {
  return { args: [`f:${spec(SPARSE.f)}`, `d:${spec(SPARSE.d)}`, `l:${spec(SPARSE.gMain)}`], env: { TOUCH_LIB_INIT: spec(SPARSE.gInit) } };
}

/** Scores of a profile of the sparse workload: program code, program data, library code. */
export function sparseScores(truth: Truth, p: Profile): { f: Score; d: Score; g: Score; all: Score } {
  const pages = profilePages(p);
  const exe = pages.get(truth.exe.path);
  const lib = pages.get(truth.lib.path);
  const g = [...new Set([...SPARSE.gMain, ...SPARSE.gInit])].sort((a, b) => a - b);
  const f = score(exe, truth.exe.f, SPARSE.f);
  const d = score(exe, truth.exe.d, SPARSE.d);
  const gs = score(lib, truth.lib.g, g);
  return { f, d, g: gs, all: total([f, d, gs]) };
}

/** Precision and recall of one set of pages against another taken as the truth (all objects). */
export function compare(reference: Map<string, Set<number>>, other: Map<string, Set<number>>): Score {
  let truth = 0;
  let recorded = 0;
  let hits = 0;
  for (const [file, ref] of reference) {
    const o = other.get(file) ?? new Set<number>();
    truth += ref.size;
    for (const p of o) if (ref.has(p)) hits++;
  }
  for (const o of other.values()) recorded += o.size;
  return { truth, recorded, hits, recall: truth ? hits / truth : 1, precision: recorded ? hits / recorded : 1 };
}
