/*
 * The exact method (root): every file the program maps is copied to an ext4 file system on a
 * loop device with read-ahead off, a private mount namespace binds each copy over its original
 * path, and the kernel tracepoint filemap:mm_filemap_add_to_page_cache lists the pages read into
 * the page cache from that device. From a cold cache with no read-ahead, a page enters the
 * cache exactly when the program first touches it (a fault, or read(2)); fault-around maps only
 * pages already cached, so it adds nothing. Each run gets a loop device of its own (read-only,
 * on the same image), so its cache starts cold whatever outlived the previous run.
 * docs/RECORDING.md has the details and the measurements.
 */
import { execFileSync } from 'node:child_process';
import type { StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BINDEXEC, nativeFile } from '../native/locate';
import { runToExit, sh } from '../io/spawn';
import { attachLoop, buildImage, detachLoop, kernelDev, unmount } from '../io/loop';
import { RunRecord, addPages } from './types';
import { ConflictError, UnavailableError } from '../errors';

export interface ExactOptions {
  windowMs?: number;
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
  log?: (s: string) => void;
  /** Stops before the next run once aborted. */
  signal?: AbortSignal;
}

const TRACEFS_CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const EVENT = 'events/filemap/mm_filemap_add_to_page_cache';

/** Why the exact method cannot run here, or undefined when it can. */
export function exactUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the exact method needs Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the exact method needs root: it attaches a loop device, mounts it and reads kernel tracepoints; run as root or use --method pagemap';
  }
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
    if (!findTool(tool)) return `the exact method needs ${tool} (Debian: util-linux, mount, e2fsprogs)`;
  }
  try {
    tracefs();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    const f = path.join(dir, name);
    if (dir && fs.existsSync(f)) return f;
  }
  return undefined;
}

/** The tracefs mount point, mounting it when it is not. */
function tracefs(): string {
  for (const t of TRACEFS_CANDIDATES) if (fs.existsSync(path.join(t, 'instances'))) return check(t);
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS_CANDIDATES[0]!], { stdio: 'ignore' });
  } catch {
    throw new UnavailableError('the exact method needs tracefs, which is not mounted and could not be (mount -t tracefs nodev /sys/kernel/tracing)');
  }
  return check(TRACEFS_CANDIDATES[0]!);
}

function check(t: string): string {
  if (!fs.existsSync(path.join(t, EVENT))) throw new UnavailableError(`this kernel has no tracepoint filemap:mm_filemap_add_to_page_cache (${t}/${EVENT})`);
  return t;
}

const write = (file: string, text: string): void => fs.writeFileSync(file, text);

interface TraceEvent {
  pid: number;
  ts: number; // seconds, CLOCK_MONOTONIC
  name: string;
  body: string;
}

const LINE = /^\s*(.*?)-(\d+)\s+\[\d+\]\s+\S+\s+(\d+\.\d+): (\w+): (.*)$/;

export function parseTrace(text: string): { events: TraceEvent[]; lost: number } {
  const events: TraceEvent[] = [];
  let lost = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      const m = /entries-in-buffer\/entries-written: (\d+)\/(\d+)/.exec(line);
      if (m) lost += Number(m[2]) - Number(m[1]);
      continue;
    }
    const m = LINE.exec(line);
    if (m) events.push({ pid: Number(m[2]), ts: Number(m[3]), name: m[4]!, body: m[5]! });
  }
  return { events, lost };
}

/**
 * The pages each copied file had read, per process tree and window: events of the command's
 * process (from its exec into the command on) and its descendants; with a window, each
 * process's events up to windowMs after its start (its exec, or its parent's start for a
 * thread or a forked child).
 */
export function pagesFromTrace(
  events: TraceEvent[],
  rootPid: number,
  inodes: Map<number, string>,
  pageSize: number,
  windowMs = 0,
): { files: Map<string, Set<number>>; processes: number; commandStart?: number } {
  const files = new Map<string, Set<number>>();
  const start = new Map<number, number>();
  const execed = new Set<number>();
  let commandStart: number | undefined;
  for (const e of events) {
    if (e.name === 'sched_process_exec') {
      const pid = Number(/ pid=(\d+)/.exec(e.body)?.[1]);
      if (pid === rootPid && !execed.has(pid)) {
        // The launcher's own exec: from here on, whatever the root process reads from the copies
        // is the command's (the kernel reads the program's and ld.so's headers before the
        // command's exec event fires). The window counts from the launcher's exec, a moment
        // (the bind mounts) before the command's.
        if (!start.has(pid)) {
          start.set(pid, e.ts);
          continue;
        }
        commandStart = e.ts;
        execed.add(pid);
      } else if (start.has(pid) && !execed.has(pid)) {
        start.set(pid, e.ts);
        execed.add(pid);
      }
    } else if (e.name === 'sched_process_fork') {
      const parent = Number(/ pid=(\d+)/.exec(e.body)?.[1]);
      const child = Number(/ child_pid=(\d+)/.exec(e.body)?.[1]);
      if (start.has(parent)) start.set(child, start.get(parent)!);
    } else if (e.name === 'mm_filemap_add_to_page_cache') {
      if (!start.has(e.pid)) continue;
      if (windowMs && e.ts > start.get(e.pid)! + windowMs / 1000) continue;
      const m = /ino ([0-9a-f]+) .*ofs=(\d+) order=(\d+)/.exec(e.body);
      if (!m) continue;
      const file = inodes.get(parseInt(m[1]!, 16));
      if (!file) continue;
      const first = Math.floor(Number(m[2]) / pageSize);
      const pages: number[] = [];
      for (let i = 0; i < 2 ** Number(m[3]); i++) pages.push(first + i);
      addPages(files, file, pages);
    }
  }
  return { files, processes: execed.size, commandStart };
}

/** A tracing instance of our own, so other users of tracefs are left alone. */
class Tracer {
  readonly dir: string;
  constructor(root: string) {
    this.dir = path.join(root, 'instances', `elfprefetch-${process.pid}-${Date.now()}`);
    fs.mkdirSync(this.dir);
    try {
      write(path.join(this.dir, 'tracing_on'), '0');
      write(path.join(this.dir, 'trace_clock'), 'mono');
      write(path.join(this.dir, 'buffer_size_kb'), '32768');
      for (const ev of ['sched/sched_process_fork', 'sched/sched_process_exec']) write(path.join(this.dir, 'events', ev, 'enable'), '1');
      write(path.join(this.dir, EVENT, 'enable'), '1');
    } catch (e) {
      this.close();
      throw e;
    }
  }
  start(kdev: number): void {
    write(path.join(this.dir, EVENT, 'filter'), `s_dev == ${kdev}`);
    write(path.join(this.dir, 'trace'), '');
    write(path.join(this.dir, 'tracing_on'), '1');
  }
  stop(): string {
    write(path.join(this.dir, 'tracing_on'), '0');
    return fs.readFileSync(path.join(this.dir, 'trace'), 'utf8');
  }
  close(): void {
    try {
      write(path.join(this.dir, 'tracing_on'), '0');
      write(path.join(this.dir, EVENT, 'enable'), '0');
      for (const ev of ['sched/sched_process_fork', 'sched/sched_process_exec']) write(path.join(this.dir, 'events', ev, 'enable'), '0');
    } catch {
      // removing the instance below turns everything off anyway
    }
    try {
      fs.rmdirSync(this.dir);
    } catch {
      // busy for a moment after tracing stops
      setTimeout(() => fs.rmSync(this.dir, { recursive: false, force: true }), 100).unref();
    }
  }
}

/**
 * Records `runs` cold runs of argv with the exact method. `files` are the files to copy (every
 * ELF file a pagemap run saw the command's processes map): pages of other files are not seen.
 */
/** One exact recording at a time on a machine: they share tracefs, loop devices and mounts. */
const EXACT_LOCK = path.join(os.tmpdir(), 'elfprefetch-exact.lock');
const LOCK_WAIT_MS = 10 * 60_000;

/** The pid in the lock file, when that process is alive. */
function lockHolder(): number | undefined {
  try {
    const pid = Number(fs.readFileSync(EXACT_LOCK, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? -1 : undefined;
  }
}

async function withExactLock<T>(log: (s: string) => void, body: () => Promise<T>): Promise<T> {
  const start = Date.now();
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(EXACT_LOCK, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = lockHolder();
      if (holder === undefined) {
        fs.rmSync(EXACT_LOCK, { force: true }); // left by a process that is gone
        continue;
      }
      if (!said) log(`exact: waiting for another exact recording (pid ${holder}) to finish`);
      said = true;
      if (Date.now() - start > LOCK_WAIT_MS) throw new ConflictError(`another exact recording (pid ${holder}, ${EXACT_LOCK}) has run for more than ${LOCK_WAIT_MS / 60_000} minutes`);
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  try {
    return await body();
  } finally {
    fs.rmSync(EXACT_LOCK, { force: true });
  }
}

export async function recordExact(argv: string[], files: string[], runs: number, opts: ExactOptions = {}): Promise<RunRecord[]> {
  const why = exactUnavailable();
  if (why) throw new UnavailableError(why);
  return withExactLock(opts.log ?? (() => {}), () => recordExactLocked(argv, files, runs, opts));
}

async function recordExactLocked(argv: string[], files: string[], runs: number, opts: ExactOptions): Promise<RunRecord[]> {
  const log = opts.log ?? (() => {});
  const launcher = nativeFile(BINDEXEC);
  const pageSize = 4096;
  const targets = [...new Set(files.map((f) => fs.realpathSync(f)))];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-exact-'));
  const mnt = path.join(work, 'mnt');
  const bytes = targets.reduce((n, f) => n + Math.ceil(fs.statSync(f).size / 4096) * 4096, 0);
  let tracer: Tracer | undefined;
  let mounted = false;
  const results: RunRecord[] = [];
  try {
    // 1. the copies, on a file system of their own
    const image = buildImage(work, targets);
    log(`exact: ${targets.length} files (${(bytes / 1048576).toFixed(1)} MiB) copied to a loop device with read-ahead off`);
    tracer = new Tracer(tracefs());
    // 2. each run on a fresh read-only loop device of the image: a cold cache
    for (let run = 0; run < runs && !opts.signal?.aborted; run++) {
      const loop = attachLoop(image, true, 0);
      try {
        sh('mount', ['-o', 'ro,noload', loop.dev, mnt]);
        mounted = true;
        const inodes = new Map<number, string>();
        targets.forEach((f, i) => inodes.set(fs.statSync(path.join(mnt, String(i))).ino, f));
        const binds = targets.flatMap((f, i) => [path.join(mnt, String(i)), f]);
        tracer.start(kernelDev(loop));
        const exit = await runToExit([launcher, ...binds, '--', ...argv], opts.env ?? process.env, opts.stdio);
        const parsed = parseTrace(tracer.stop());
        const notes: string[] = [];
        if (parsed.lost) notes.push(`${parsed.lost} trace events lost (the trace buffer overflowed): pages are missing`);
        if (exit.code === 126 || exit.code === 127) notes.push(`the launcher failed (exit ${exit.code})`);
        const got = pagesFromTrace(parsed.events, exit.pid, inodes, pageSize, opts.windowMs);
        if (got.commandStart === undefined) notes.push('the trace shows no exec of the command');
        results.push({ files: got.files, processes: got.processes, code: exit.code, signal: exit.signal, notes });
      } finally {
        if (mounted) unmount(mnt);
        mounted = false;
        detachLoop(loop.dev);
      }
    }
  } finally {
    tracer?.close();
    if (mounted) unmount(mnt);
    fs.rmSync(work, { recursive: true, force: true });
  }
  return results;
}
