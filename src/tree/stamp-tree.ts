/*
 * `stamp-tree`: every ELF executable and shared object of a directory tree (a package's
 * staging tree, a DESTDIR) stamped from a profile directory, on all cores. Each file is
 * replaced atomically on its own, so an interrupted run leaves every file either as it was
 * or completely stamped; a second run finds the stamped ones current (idempotent).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { readTreeXattrs } from '../io/xattrs';
import { indexByPath } from '../profile/store';
import { FileReport, Outcome, TreeStampOptions, stampOne } from './stamp-one';
import { Candidate, walkTree } from './walk';
import { InvalidInputError, ToolError } from '../errors';

export interface TreeOptions extends Omit<TreeStampOptions, 'carryOver'> {
  /** Files without a profile of their build take the pages of the build recorded at their installed path. */
  carryOver?: boolean;
  jobs?: number;
  /** Called after each file, and once at the start (done 0). */
  progress?: (done: number, total: number, counts: Record<Outcome, number>) => void;
  /** Aborted when the run should stop after the files in progress (the CLI aborts it on a signal). */
  signal?: AbortSignal;
}

export interface TreeReport {
  root: string;
  profiles: string;
  sidecar?: string;
  dryRun: boolean;
  jobs: number;
  seconds: number;
  /** Stopped before every file was done (a signal); the files not reached are not listed. */
  interrupted: boolean;
  counts: Record<Outcome, number>;
  elfFiles: number;
  otherFiles: number;
  symlinks: number;
  staleTempsRemoved: string[];
  files: FileReport[];
}

export const OUTCOMES: Outcome[] = ['stamped', 'would-stamp', 'current', 'no-profile', 'skipped', 'refused', 'failed'];

const zeroCounts = (): Record<Outcome, number> => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;

/** The compiled worker beside this file; absent when running from TypeScript sources. */
function workerScript(): string | undefined {
  const js = path.join(__dirname, 'worker.js');
  return __filename.endsWith('.js') && fs.existsSync(js) ? js : undefined;
}

export async function stampTree(root: string, opts: TreeOptions): Promise<TreeReport> {
  const t0 = process.hrtime.bigint();
  const absRoot = path.resolve(root);
  if (!fs.existsSync(opts.profiles)) throw new InvalidInputError(`the profile directory ${opts.profiles} does not exist`);
  if (!fs.statSync(opts.profiles).isDirectory()) throw new InvalidInputError(`the profile directory ${opts.profiles} is not a directory (profiles add PDIR FILE.json fills one)`);
  const walked = walkTree(absRoot, { cleanTemps: !opts.dryRun });
  const todo = walked.candidates;
  // One getfattr for the whole tree instead of one per file (file capabilities are kept).
  const xattrs = opts.dryRun || opts.sidecar !== undefined ? undefined : readTreeXattrs(absRoot);
  const xattrsOf = (c: Candidate): string | null | undefined => (xattrs ? (xattrs.get(c.path) ?? null) : undefined);
  const counts = zeroCounts();
  const reports: FileReport[] = new Array(todo.length);
  let done = 0;
  const stopped = (): boolean => opts.signal?.aborted === true;
  const record = (i: number, r: FileReport) => {
    reports[i] = r;
    counts[r.outcome]++;
    done++;
    opts.progress?.(done, todo.length, counts);
  };
  opts.progress?.(0, todo.length, counts);
  const script = workerScript();
  const jobs = Math.max(1, Math.min(opts.jobs ?? os.availableParallelism(), todo.length || 1, script ? 64 : 1));
  const plain: TreeStampOptions = {
    profiles: opts.profiles,
    minShare: opts.minShare,
    budget: opts.budget,
    dryRun: opts.dryRun,
    sidecar: opts.sidecar,
    fallback: opts.fallback,
    fallbackDir: opts.fallbackDir,
    maxPageSize: opts.maxPageSize,
    ...(opts.carryOver ? { carryOver: { root: absRoot, index: indexByPath(opts.profiles) } } : {}),
  };
  if (!script || jobs === 1) {
    for (let i = 0; i < todo.length && !stopped(); i++) {
      record(i, stampOne(todo[i]!, plain, xattrsOf(todo[i]!)));
      // Let a signal's handler run between two files.
      await new Promise((r) => setImmediate(r));
    }
  } else {
    let next = 0;
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      const workers: Worker[] = [];
      const finish = () => {
        for (const w of workers) void w.terminate();
        resolve();
      };
      const feed = (w: Worker) => {
        if (stopped() || next >= todo.length) {
          if (running === 0) finish();
          return;
        }
        const id = next++;
        running++;
        w.postMessage({ id, candidate: todo[id], xattrs: xattrsOf(todo[id]!) });
      };
      for (let k = 0; k < jobs; k++) {
        const w = new Worker(script, { workerData: plain });
        workers.push(w);
        w.on('message', (m: { id: number; report: FileReport }) => {
          running--;
          record(m.id, m.report);
          feed(w);
        });
        w.on('error', (e) => {
          for (const x of workers) void x.terminate();
          reject(e);
        });
        feed(w);
      }
      // A signal with nothing left to feed: finish when the last file in progress is done.
      opts.signal?.addEventListener(
        'abort',
        () => {
          if (running === 0) finish();
        },
        { once: true },
      );
    });
  }
  // Files were replaced without a flush each (src/io/atomic.ts); one flush of the file system
  // makes them all durable, as one per file would have, at a fraction of the cost.
  if (counts.stamped > 0) {
    const dirs = new Set([opts.sidecar !== undefined ? path.resolve(opts.sidecar) : absRoot]);
    if (opts.fallback === 'sidecar' && reports.some((r) => r?.strategy === 'sidecar')) dirs.add(path.resolve(opts.fallbackDir!));
    for (const dir of dirs) {
      const r = spawnSync('sync', ['--file-system', dir]);
      if (r.error || r.status !== 0) throw new ToolError(`flushing the file system of ${dir}: ${r.error?.message ?? r.stderr}`);
    }
  }
  return {
    root: absRoot,
    profiles: path.resolve(opts.profiles),
    ...(opts.sidecar !== undefined ? { sidecar: path.resolve(opts.sidecar) } : {}),
    dryRun: opts.dryRun,
    jobs,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    interrupted: done < todo.length,
    counts,
    elfFiles: todo.length,
    otherFiles: walked.others,
    symlinks: walked.symlinks,
    staleTempsRemoved: walked.staleTemps,
    files: reports.filter((r) => r !== undefined),
  };
}
