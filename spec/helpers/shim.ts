// Running programs through the loader shim's hooks and watching its readahead calls with strace.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { openElf } from '../../src/elf/read';
import { findOurNote } from '../../src/note/locate';
import { buildIdOf, layoutDigest } from '../../src/note/identity';
import { verifyElf } from '../../src/ops/verify';
import { repoRoot } from './fixtures';

export const nativeDir = path.join(repoRoot, 'build', 'native');
export const wrapper = path.join(nativeDir, 'elfprefetch-exec');
export const auditLib = path.join(nativeDir, 'libelfprefetch-audit.so');
export const preloadLib = path.join(nativeDir, 'libelfprefetch-preload.so');
export const cliMain = path.join(repoRoot, 'dist', 'cli', 'main.js');

export type HookName = 'plain' | 'exec' | 'audit' | 'preload' | 'cli-exec' | 'cli-audit' | 'cli-preload';

/** Builds build/native (make -C shim); returns make's error text or ''. */
export function buildNative(): string {
  const r = spawnSync('make', ['-s', '-C', path.join(repoRoot, 'shim')], { encoding: 'utf8' });
  return r.status === 0 ? '' : `make failed (${r.status}): ${r.stdout}${r.stderr}`;
}

/** argv and extra environment (for the traced program only) that run `cmd` through `hook`. */
export function hooked(hook: HookName, cmd: string[]): { argv: string[]; env: Record<string, string> } {
  switch (hook) {
    case 'plain':
      return { argv: cmd, env: {} };
    case 'exec':
      return { argv: [wrapper, ...cmd], env: {} };
    case 'audit':
      return { argv: cmd, env: { LD_AUDIT: auditLib } };
    case 'preload':
      return { argv: cmd, env: { LD_PRELOAD: preloadLib } };
    default:
      return { argv: [process.execPath, cliMain, 'run', '--hook', hook.slice(4), '--', ...cmd], env: {} };
  }
}

export interface Call {
  syscall: 'readahead' | 'fadvise64';
  path: string;
  offset: number;
  length: number;
  result: number;
}

export interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** readahead/fadvise64 calls seen by strace (only when traced). */
  calls: Call[];
  /** Lines strace wrote that we did not understand (only when traced). */
  unparsed: string[];
}

const CALL = /^(?:\d+\s+)?(readahead|fadvise64)\((\d+)<(.*)>, (\d+), (\d+)(?:, [A-Z_]+)?\)\s+=\s+(-?\d+)/;

export function parseStrace(text: string): { calls: Call[]; unparsed: string[] } {
  const calls: Call[] = [];
  const unparsed: string[] = [];
  for (const line of text.split('\n')) {
    // the shim's POSIX_FADV_RANDOM before its own reads of a file reads nothing (epf_own_read)
    if (!line.trim() || line.includes('POSIX_FADV_RANDOM')) continue;
    const m = CALL.exec(line);
    if (!m) {
      unparsed.push(line);
      continue;
    }
    calls.push({ syscall: m[1] as Call['syscall'], path: m[3]!, offset: Number(m[4]), length: Number(m[5]), result: Number(m[6]) });
  }
  return { calls, unparsed };
}

let traceSeq = 0;
let traceTmp: string | undefined;

/** One folder for this process's strace logs, removed when it exits. */
function traceFolder(): string {
  if (!traceTmp) {
    const dir = fs.mkdtempSync('/tmp/epf-trace-');
    traceTmp = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return traceTmp;
}

/**
 * Runs `cmd` through `hook` under strace, tracing the system calls `calls` (strace's -e trace=
 * list, no signals) into `log`, with `env` for the traced program: its status and output, and the
 * trace's lines. For counting calls runHooked does not parse (opens, sysfs reads, statfs).
 */
export function straced(hook: HookName, cmd: string[], calls: string, log: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string; trace: string[] } {
  const h = hooked(hook, cmd);
  const sets = Object.entries({ ...env, ...h.env }).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
  const r = spawnSync('strace', ['-f', '-qq', '-e', `trace=${calls}`, '-e', 'signal=none', '-o', log, ...sets, '--', ...h.argv], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, trace: fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n') : [] };
}

/**
 * Runs `cmd` through `hook` with `env` added, optionally under
 * `strace -f -y -e trace=readahead,fadvise64`, the hook's variables set for the traced program only.
 * The files a test has just written are in the page cache, so the shim would leave out every
 * request: ELFPREFETCH_RESIDENCY=0 is set unless `env` sets it (spec/shim-residency.spec.ts
 * tests the check itself).
 */
export function runHooked(
  hook: HookName,
  cmd: string[],
  opts: { env?: Record<string, string>; trace?: boolean; traceDir?: string; timeoutMs?: number } = {},
): Promise<Outcome> {
  const h = hooked(hook, cmd);
  const env: NodeJS.ProcessEnv = { ...process.env, ELFPREFETCH_RESIDENCY: '0', ...(opts.env ?? {}) };
  delete env.LD_AUDIT;
  delete env.LD_PRELOAD;
  let argv = h.argv;
  let log: string | undefined;
  if (opts.trace) {
    log = path.join(opts.traceDir ?? traceFolder(), `strace-${process.pid}-${traceSeq++}.log`);
    const sets = Object.entries(h.env).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
    argv = ['strace', '-f', '-qq', '-y', '-e', 'trace=readahead,fadvise64', '-e', 'signal=none', '-o', log, ...sets, '--', ...h.argv];
  } else {
    Object.assign(env, h.env);
  }
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', () => undefined);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      let calls: Call[] = [];
      let unparsed: string[] = [];
      if (log) {
        const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
        ({ calls, unparsed } = parseStrace(text));
        fs.rmSync(log, { force: true });
      }
      resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), calls, unparsed });
    });
  });
}

/** `s` matched literally inside a RegExp: the shim's diagnostic lines name files. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** stderr without the shim's diagnostics. */
export function withoutDiagnostics(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith('elfprefetch: '))
    .join('\n');
}

/** Runs tasks with at most `limit` at a time, stopping new ones after `budgetMs`. */
export async function pool<T>(items: T[], limit: number, budgetMs: number, task: (item: T, worker: number) => Promise<void>): Promise<number> {
  const deadline = Date.now() + budgetMs;
  let next = 0;
  let done = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < items.length && Date.now() < deadline) {
      const item = items[next++]!;
      await task(item, w);
      done++;
    }
  };
  await Promise.all(Array.from({ length: limit }, (_, w) => worker(w)));
  return done;
}

/** A C program that prints errno and the descriptors above 2 open at main(), and fails if any. */
export const FD_ERRNO_PROBE_C = `#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
int main(void) {
  int e = errno, open = 0;
  for (int fd = 3; fd < 4096; fd++) if (fcntl(fd, F_GETFD) != -1) { printf("fd %d is open\\n", fd); open++; }
  printf("errno=%d open=%d\\n", e, open);
  return e || open;
}
`;

/** Compiles `sources` with gcc, warnings as errors (C99 unless `std` says otherwise); a failure is a failed check. */
export function cc(t: Test, out: string, sources: string[], extra: string[] = [], std = 'c99'): boolean {
  const r = spawnSync('gcc', [`-std=${std}`, '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, ...sources, ...extra], { encoding: 'utf8' });
  t.equal(r.status, 0, `gcc ${path.basename(out)}: ${r.stderr}`);
  return r.status === 0;
}

/** The identity and note placement of an ELF file. */
export function inspect(file: string) {
  const elf = openElf(file);
  try {
    const v = verifyElf(elf);
    const ours = findOurNote(elf);
    return {
      size: Number(elf.source.size),
      buildId: buildIdOf(elf),
      layout: layoutDigest(elf.programHeaders),
      status: v.status,
      note: v.note,
      descOffset: ours ? Number(ours.note.descOffset) : -1,
      descSize: ours ? ours.note.descSize : 0,
    };
  } finally {
    elf.source.close();
  }
}

/**
 * Drops a file's pages from the page cache: fsync (dirty pages are not dropped), then
 * POSIX_FADV_DONTNEED over the whole file (GNU dd iflag=nocache count=0). Pages some process
 * maps stay.
 */
export function evict(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dd could not drop ${file} from the page cache: ${r.stderr}`);
}

/**
 * A program with 3 MiB of read-only data: page sets with long runs and far holes, which the
 * device classes plan differently (-DN=... for another size).
 */
export const BIG_PROGRAM_C = `#include <stdio.h>
#ifndef N
#define N (3u << 20)
#endif
__attribute__((aligned(4096))) const unsigned char blob[N] = {1, 2, 3};
int main(int argc, char **argv) {
  unsigned s = 0;
  for (unsigned i = 0; i < N; i += 4096 * 97) s += blob[i] + i;
  printf("big %d %s %u\\n", argc, argc > 1 ? argv[1] : "-", s);
  return 3;
}
`;
