// A small program to stamp and start cold, with pages no start of it ever reads: they are resident
// afterwards only when something prefetched them (a mincore probe looks). Used where an installed
// shim or daemon is tried.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { openElf } from '../../src/elf/read';
import { cc } from './shim';

export const SAMPLE_OUTPUT = 'hello from a cold start\n';
const SOURCE = '#include <stdio.h>\nint main(void) { fputs("hello from a cold start\\n", stdout); return 0; }\n';
const PAGE = 4096;
/**
 * The unread tail: a section that is not loaded, this far past everything the program maps. A
 * page fault reads around itself up to the device's read-ahead window (8 MiB on this machine's
 * disk), so the pages named for prefetching lie at least that far from any loaded segment.
 */
const TAIL_BYTES = 24 << 20;
/** The pages named for prefetching: the last MiB of the tail. */
export const TAIL_SET_BYTES = 1 << 20;

/** Compiles the sample program to `dir/name`; undefined (a failed check) when gcc fails. */
export function compileSample(t: Test, dir: string, name = 'cold-sample'): string | undefined {
  fs.mkdirSync(dir, { recursive: true });
  const src = path.join(dir, `${name}.c`);
  fs.writeFileSync(src, SOURCE);
  const exe = path.join(dir, name);
  return cc(t, exe, [src]) ? exe : undefined;
}

/** The pages named for prefetching at the end of the unread tail, as a byte range of the file. */
export interface Tail {
  /** `--pages` for stamp: the first pages of the file and the tail's. */
  pages: string;
  offset: number;
  length: number;
}

/** Appends a non-loaded section of TAIL_BYTES to `exe` (objcopy); the range of its last MiB. */
export function addUnreadTail(t: Test, exe: string): Tail | undefined {
  const blob = `${exe}.tail`;
  fs.writeFileSync(blob, Buffer.alloc(TAIL_BYTES, 0xa5));
  const r = spawnSync('objcopy', ['--add-section', `.epf_tail=${blob}`, exe], { encoding: 'utf8' });
  fs.rmSync(blob);
  if (!t.equal(r.status, 0, `objcopy --add-section: ${r.stderr}`)) return undefined;
  const elf = openElf(exe);
  try {
    const tail = elf.sections.find((s) => s.name === '.epf_tail');
    if (!t.ok(tail, 'the tail section is there')) return undefined;
    const end = Number(tail!.offset + tail!.size);
    const first = Math.ceil((end - TAIL_SET_BYTES) / PAGE);
    const last = Math.floor(end / PAGE) - 1;
    return { pages: `0-3,${first}-${last}`, offset: first * PAGE, length: (last - first + 1) * PAGE };
  } finally {
    elf.source.close();
  }
}

const PROBE_C = `#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
/* resident FILE OFFSET LENGTH: how many pages of that range are in the page cache (mincore). */
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) { perror(argv[1]); return 1; }
  long page = sysconf(_SC_PAGESIZE);
  size_t len = strtoull(argv[3], 0, 0);
  void *p = mmap(0, len, PROT_READ, MAP_SHARED, fd, (off_t)strtoll(argv[2], 0, 0));
  if (p == MAP_FAILED) { perror("mmap"); return 1; }
  size_t n = (len + page - 1) / page, in = 0;
  unsigned char *v = malloc(n);
  if (!v || mincore(p, len, v) != 0) { perror("mincore"); return 1; }
  for (size_t i = 0; i < n; i++) in += v[i] & 1;
  printf("%zu\\n", in);
  return 0;
}
`;

/** Compiles the residency probe into `dir`; undefined (a failed check) when gcc fails. */
export function compileProbe(t: Test, dir: string): string | undefined {
  const src = path.join(dir, 'resident.c');
  fs.writeFileSync(src, PROBE_C);
  const exe = path.join(dir, 'resident');
  return cc(t, exe, [src]) ? exe : undefined;
}

/** Bytes of the tail's range in the page cache. */
export function tailResident(probe: string, exe: string, tail: Tail): number {
  const r = spawnSync(probe, [exe, String(tail.offset), String(tail.length)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${probe} ${exe}: ${r.stderr}`);
  return Number(r.stdout.trim()) * PAGE;
}

/** Polls until the tail of `exe` is all resident (read-ahead finishes after the call that asked for it). */
export async function waitTailResident(probe: string, exe: string, tail: Tail, ms = 5000): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    const now = tailResident(probe, exe, tail);
    if (now >= tail.length || Date.now() > until) return now;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Bytes of `file` in the page cache (fincore). */
export function residentBytes(file: string): number {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fincore ${file}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Writes `file` back and drops it from the page cache (fsync, then posix_fadvise DONTNEED via dd); the bytes still cached. */
export function evict(file: string): number {
  const s = spawnSync('sync', [file], { encoding: 'utf8' });
  if (s.status !== 0) throw new Error(`sync ${file}: ${s.stderr}`);
  const d = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8' });
  if (d.status !== 0) throw new Error(`dd iflag=nocache ${file}: ${d.stderr}`);
  return residentBytes(file);
}
