import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StdioOptions } from 'node:child_process';
import { normalizeRuns } from '../note/pageset';
import { RECORDER_LIBRARY, nativeFile } from '../native/locate';
import { RawProcess, readRawDir } from './raw';
import { prependList, runToExit } from '../io/spawn';
import { RunRecord, addPages } from './types';

export interface PagemapOptions {
  /** Record only the first N ms of each process (0: the whole run). */
  windowMs?: number;
  /**
   * Switches for measurements (docs/RECORDING.md): `noaudit` (LD_PRELOAD only), `nouffd`
   * (fault-around left on: the naive pagemap snapshot), `nozap`, `random` (MADV_RANDOM).
   */
  flags?: string[];
  stdio?: StdioOptions;
  /** Keep the raw results here (a folder per run) instead of a temporary folder. */
  rawDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** The environment that loads the recorder into the command and all its children. */
export function recorderEnv(base: NodeJS.ProcessEnv, dir: string, opts: PagemapOptions): NodeJS.ProcessEnv {
  const lib = nativeFile(RECORDER_LIBRARY);
  const flags = opts.flags ?? [];
  const env: NodeJS.ProcessEnv = { ...base, ELFPREFETCH_RECORD_DIR: dir, LD_PRELOAD: prependList(base.LD_PRELOAD, lib) };
  if (!flags.includes('noaudit')) env.LD_AUDIT = prependList(base.LD_AUDIT, lib);
  if (opts.windowMs) env.ELFPREFETCH_RECORD_MS = String(opts.windowMs);
  else delete env.ELFPREFETCH_RECORD_MS;
  const libFlags = flags.filter((f) => f !== 'noaudit');
  if (libFlags.length) env.ELFPREFETCH_RECORD_FLAGS = libFlags.join(',');
  else delete env.ELFPREFETCH_RECORD_FLAGS;
  return env;
}

/** Merges the raw results of one run: pages per file over every process, the program's path. */
export function mergeProcesses(procs: RawProcess[], rootPid: number, exclude: string[] = []): Omit<RunRecord, 'code' | 'signal'> {
  const files = new Map<string, Set<number>>();
  const notes: string[] = [];
  for (const p of procs) {
    if (!p.complete) notes.push(`process ${p.pid} (${p.exe}): result cut short`);
    if (!p.uffd.available) notes.push(`process ${p.pid} (${p.exe}): no userfaultfd, pages carry fault-around neighbours`);
    for (const m of p.maps) {
      if (exclude.includes(m.path)) continue;
      const pages: number[] = [];
      for (const r of normalizeRuns([...m.pre, ...m.post])) for (let i = 0; i < r.count; i++) pages.push(r.first + i);
      addPages(files, m.path, pages);
    }
  }
  // The program: the command's own process, its last image (a wrapper may exec the real one).
  const root = procs.filter((p) => p.pid === rootPid && !p.forked).sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
  const main = root.length ? root[root.length - 1]!.exe : undefined;
  if (!procs.length) notes.push('no process loaded the recorder (a static or setuid program, or one that clears LD_PRELOAD?)');
  else if (!main) notes.push(`the command's own process (pid ${rootPid}) left no result`);
  return { files, main, processes: procs.length, notes };
}

/** Runs the command once with the recorder loaded and merges what its processes wrote. */
export async function recordPagemapRun(argv: string[], opts: PagemapOptions = {}): Promise<RunRecord> {
  const lib = nativeFile(RECORDER_LIBRARY);
  const tmp = opts.rawDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-rec-'));
  fs.mkdirSync(tmp, { recursive: true });
  try {
    const env = recorderEnv(opts.env ?? process.env, tmp, opts);
    const exit = await runToExit(argv, env, opts.stdio);
    const procs = readRawDir(tmp);
    const merged = mergeProcesses(procs, exit.pid, [lib]);
    return { ...merged, code: exit.code, signal: exit.signal };
  } finally {
    if (!opts.rawDir) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

