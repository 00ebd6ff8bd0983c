// The shim leaves out requests whose pages are in the page cache already (docs/SHIM.md, "Pages
// that are cached already"): a fully cached file gets no readahead call under any hook, a partly
// cached one only the requests that are not, a cold one all of them; cachestat(2) and the
// mincore(2) fallback agree; notes the shim must ignore still cost no request.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { stampFile } from '../src/ops/stamp';
import { queueLimits } from '../src/bench/device';
import { DEVICES, ReadRequest, planReads, requestCap } from '../src/readplan/coalesce';
import { capText, chooseDevice } from '../src/readplan/device';
import { repoRoot } from './helpers/fixtures';
import { HookName, buildNative, cc, evict, inspect, runHooked, straced } from './helpers/shim';

const made = buildNative();
if (made) throw new Error(made);

// A 32 MiB blob: the set's pages lie far (more than a read-ahead window, up to 8 MiB here) from
// anything the loader or the shim's own header read brings into the page cache.
const BLOB_C = `#include <stdio.h>
#define N (32u << 20)
__attribute__((aligned(4096))) const unsigned char blob[N] = {1, 2, 3};
int main(int argc, char **argv) {
  printf("blob %d %s %u\\n", argc, argc > 1 ? argv[1] : "-", (unsigned)blob[argc]);
  return 0;
}
`;

// Brings exactly the pages of the given byte ranges into the page cache (readahead(2) reads
// exactly what it is asked for), then waits for them: "cache FILE OFF LEN [OFF LEN...]".
const CACHE_C = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 2;
  char b;
  for (int i = 2; i + 1 < argc; i += 2) {
    off_t off = strtoll(argv[i], 0, 10);
    size_t len = strtoull(argv[i + 1], 0, 10);
    if (readahead(fd, off, len) != 0) return 3;
    for (size_t k = 0; k < len; k += 4096) if (pread(fd, &b, 1, off + (off_t)k) != 1) return 4;
  }
  return 0;
}
`;

const PAGE = 4096;
// Five runs far apart; with page 0 (the writer puts it in every set of the file itself) six
// requests on nvme.
const RUNS = [
  { first: 1000, count: 4 },
  { first: 2000, count: 8 },
  { first: 3000, count: 2 },
  { first: 5000, count: 3 },
  { first: 6000, count: 16 },
];

const dir = fs.mkdtempSync('/tmp/epf-residency-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const at = (file: string, reqs: ReadRequest[]): string[] => reqs.map((r) => `${file} ${r.offset}+${r.length}`);

function setup(): { prog: string; cache: string; plan: ReadRequest[] } | undefined {
  const prog = path.join(dir, 'blob');
  const cache = path.join(dir, 'cache');
  fs.writeFileSync(prog + '.c', BLOB_C);
  fs.writeFileSync(cache + '.c', CACHE_C);
  if (!cc(t, prog, [prog + '.c']) || !cc(t, cache, [cache + '.c'], [], 'gnu99')) return undefined;
  stampFile(prog, { pageShift: 12, sets: [{ name: 'default', runs: RUNS }] });
  const me = inspect(prog);
  const runs = me.note!.objects[0]!.pageSets.find((s) => s.name === 'default')!.runs;
  return { prog, cache, plan: planReads(runs, PAGE, DEVICES.nvme, fs.statSync(prog).size, chooseDevice(prog).cap) };
}

const s = setup();
if (s) {
  const { prog, cache, plan } = s;
  const bring = (reqs: ReadRequest[]) => {
    const r = spawnSync(cache, [prog, ...reqs.flatMap((q) => [String(q.offset), String(q.length)])], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cache helper failed: ${r.status} ${r.stderr}`);
  };
  const run = (hook: HookName, env: Record<string, string> = {}) =>
    runHooked(hook, [prog, 'x'], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '1', ...env } });
  const ofProg = (calls: Array<{ path: string; offset: number; length: number }>) => calls.filter((c) => c.path === prog).map((c) => `${c.path} ${c.offset}+${c.length}`);

  t.test('the plan has six requests, the first at page 0', async (t) => {
    t.equal(plan.length, 6, 'page 0 and the five runs: six requests on nvme');
    t.equal(plan[0]!.offset, 0);
  });

  t.test('a fully cached file: no readahead call under any hook', async (t) => {
    bring(plan);
    for (const hook of ['exec', 'audit', 'preload'] as HookName[]) {
      const o = await run(hook);
      t.equal(o.status, 0, `${hook}: the program ran`);
      t.match(o.stdout, /^blob 2 x /, `${hook}: its output`);
      t.same(ofProg(o.calls), [], `${hook}: no readahead or fadvise call for the program`);
      t.match(o.stderr, new RegExp(`: prefetched \\d+ runs, 0 bytes in 0 requests \\(nvme, device not looked at\\), ${plan.length} requests of ${plan.reduce((n, q) => n + q.length, 0)} bytes cached already$`, 'm'), `${hook}: the debug line says all were cached, and that the device was not looked at`);
    }
    // control: with the check off, every request is issued
    const off = await run('exec', { ELFPREFETCH_RESIDENCY: '0' });
    t.same(ofProg(off.calls), at(prog, plan), 'ELFPREFETCH_RESIDENCY=0: every planned request');
  });

  t.test('the warm look: a fully cached file\'s device is not looked at, a cold one\'s is', async (t) => {
    // What finding the device costs: sysfs reads (a block device) or fstatfs (anything else).
    const looks = (text: string) => text.split('\n').filter((l) => /^\d+ +(openat\(.*"\/sys\/|readlink\("\/sys\/|fstatfs\(|statfs\()/.test(l));
    const traced = (hook: HookName, env: Record<string, string>) => {
      const r = straced(hook, [prog, 'x'], 'openat,readlink,fstatfs,statfs', path.join(dir, `look-${hook}.log`), { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_RESIDENCY: '1', ...env });
      t.equal(r.status, 0, `${hook}: the program ran under strace`);
      return { stderr: r.stderr, looks: looks(r.trace.join('\n')) };
    };
    bring(plan);
    for (const hook of ['exec', 'audit', 'preload'] as HookName[]) {
      const warm = traced(hook, {});
      t.same(warm.looks, [], `${hook}, warm: no sysfs read, no statfs`);
      t.match(warm.stderr, /blob: prefetched \d+ runs, 0 bytes in 0 requests \(device not looked at\), 6 requests of \d+ bytes cached already$/m, `${hook}, warm: the debug line says so`);
    }
    evict(prog);
    const cold = traced('exec', {});
    t.not(cold.looks, [], `cold: the device is looked at (${cold.looks.length} calls)`);
    t.match(cold.stderr, /blob: prefetched \d+ runs, \d+ bytes in [1-9]\d* requests \(\w+: [^)]*requests <= \d+ KiB/m, 'cold: the debug line names the class and why');
  });

  // Page 0 is cached by the time the shim plans: its own read of the ELF header brought it in.
  const missing = (cached: number[]) => at(prog, plan.filter((_, i) => i !== 0 && !cached.includes(i)));

  for (const [what, wrapperDir] of [
    ['cachestat', undefined],
    ['mincore (a shim built without cachestat)', path.join(dir, 'mincore')],
  ] as const) {
    t.test(`${what}: a cold file gets every request, a partly cached one only the missing ones`, async (t) => {
      if (wrapperDir) {
        const r = spawnSync('make', ['-s', '-C', path.join(repoRoot, 'shim'), `OUT=${wrapperDir}`, 'EXTRA_CFLAGS=-DEPF_NO_CACHESTAT', `${wrapperDir}/elfprefetch-exec`], { encoding: 'utf8' });
        t.equal(r.status, 0, `make: ${r.stderr}`);
      }
      const exec = async () => {
        if (!wrapperDir) return run('exec');
        // the same traced run, through the other build of the wrapper
        return runHooked('plain', [path.join(wrapperDir, 'elfprefetch-exec'), prog, 'x'], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '1' } });
      };
      evict(prog);
      const cold = await exec();
      t.equal(cold.status, 0, 'cold: the program ran');
      t.same(ofProg(cold.calls), missing([]), 'cold: every request but page 0 (read by the shim itself)');

      for (const cached of [[2, 4], [1, 5], [3]]) {
        evict(prog);
        bring(cached.map((i) => plan[i]!));
        const o = await exec();
        t.equal(o.status, 0, `requests ${cached} cached: the program ran`);
        t.same(ofProg(o.calls), missing(cached), `requests ${cached} cached: only the others are issued`);
        t.match(o.stderr, new RegExp(`requests \\(nvme, requests <= \\d+ KiB\\), ${cached.length + 1} requests of \\d+ bytes cached already$`, 'm'), `requests ${cached} cached: the debug line counts them and page 0`);
      }

      // a request with one page of its run missing is issued whole
      evict(prog);
      const part = plan[5]!;
      bring([plan[1]!, { offset: part.offset, length: part.length - PAGE }]);
      const o = await exec();
      t.same(ofProg(o.calls), missing([1]), 'a partly cached request is issued');
    });
  }

  // The first page is checked too, not only the last: a request can end on a page the shim read
  // itself (the note's, when the note lies after the last PT_LOAD's content) while the rest of it
  // is cold. A review found that a last-page-only rule then read nothing of it on a cold start.
  t.test('a request that ends on the page of the note is issued when the rest of it is cold', async (t) => {
    const src = path.join(dir, 'tail.c');
    // 4 MiB of initialised data, code and data in one stretch of the file with no gap between
    // them (no separate code, no RELRO): the writer puts the note right after the last PT_LOAD's
    // content, about a thousand pages from the headers.
    fs.writeFileSync(src, `#include <stdio.h>
unsigned char big[4u << 20] = {1};
int main(int argc, char **argv) { printf("tail %d %u\\n", argc, (unsigned)big[argc]); (void)argv; return 0; }
`);
    const tail = path.join(dir, 'tail');
    if (!cc(t, tail, [src], ['-Wl,-z,noseparate-code', '-Wl,-z,norelro'])) return;
    const pristine = fs.readFileSync(tail);
    const stampEnding = (page: number) => {
      fs.writeFileSync(tail, pristine, { mode: 0o755 });
      stampFile(tail, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: page - 40, count: 41 }] }] });
      return Math.floor(inspect(tail).descOffset / PAGE);
    };
    const notePage = stampEnding(Math.floor(pristine.length / PAGE) - 1);
    if (!t.ok(notePage > 1000, `the note lies far from the headers (page ${notePage})`)) return;
    t.equal(stampEnding(notePage), notePage, 'stamped again with a run of 41 pages ending on the note\'s page, the note stays there');
    const want = planReads([{ first: 0, count: 1 }, { first: notePage - 40, count: 41 }], PAGE, DEVICES.nvme, fs.statSync(tail).size, chooseDevice(tail).cap);
    t.equal(want.length, 2, 'two requests: the headers, and the run ending on the note');
    // The exec wrapper runs before the program's exec, so nothing but its own reads has touched
    // the file. (Under the auditor and preload the kernel's exec has already read the last page
    // of the program's data, to zero what follows it, and the read-around of that fault: there
    // the request is really cached.)
    evict(tail);
    const o = await runHooked('exec', [tail, 'x'], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '1' } });
    t.equal(o.status, 0, 'the program ran');
    t.same(o.calls.filter((c) => c.path === tail).map((c) => `${c.offset}+${c.length}`), [`${want[1]!.offset}+${want[1]!.length}`], 'cold: the run ending on the note\'s page is read (the headers were, by the shim\'s own read)');
  });

  // A request can also start on a page the shim read (the headers) and end on another (the
  // note's, right after the first PT_LOAD) with every page between them cold: the ends the check
  // looks at are the first and last pages the shim did not read itself.
  t.test('a request from the headers to the page of the note is issued when the pages between are cold', async (t) => {
    const src = path.join(dir, 'head.c');
    // 400 KiB of read-only data in the first PT_LOAD (code and data not separated): the writer
    // puts the note in the gap after it, about a hundred pages from the headers.
    fs.writeFileSync(src, `#include <stdio.h>
const unsigned char table[400u << 10] = {1};
int main(int argc, char **argv) { printf("head %d %u\\n", argc, (unsigned)table[argc * 4096]); (void)argv; return 0; }
`);
    const head = path.join(dir, 'head');
    if (!cc(t, head, [src], ['-Wl,-z,noseparate-code'])) return;
    const pristine = fs.readFileSync(head);
    const stampTo = (page: number) => {
      fs.writeFileSync(head, pristine, { mode: 0o755 });
      stampFile(head, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: page }] }] });
      return Math.floor(inspect(head).descOffset / PAGE);
    };
    const notePage = stampTo(50);
    if (!t.ok(notePage > 20 && notePage < 250, `the note lies after the first PT_LOAD, within 1 MiB of the headers (page ${notePage})`)) return;
    t.equal(stampTo(notePage), notePage, 'stamped again with pages 1 to the note\'s, the note stays there');
    const want = planReads([{ first: 0, count: notePage + 1 }], PAGE, DEVICES.nvme, fs.statSync(head).size, chooseDevice(head).cap);
    t.same(want.map((r) => [r.offset, r.length]), [[0, (notePage + 1) * PAGE]], 'one request, from the headers to the note\'s page');
    // Through the wrapper, before the program's exec (the auditor and preload run after the
    // kernel and ld.so have read the headers' pages and their read-around: there it is cached).
    evict(head);
    const o = await runHooked('exec', [head, 'x'], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '1' } });
    t.equal(o.status, 0, 'the program ran');
    t.same(o.calls.filter((c) => c.path === head).map((c) => `${c.offset}+${c.length}`), [`0+${(notePage + 1) * PAGE}`], 'cold: the request is read');
    // warm: nothing, and the device is not looked at
    const warm = await runHooked('exec', [head, 'x'], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_RESIDENCY: '1' } });
    t.same(warm.calls.filter((c) => c.path === head), [], 'warm: nothing is read');
    t.match(warm.stderr, /head: prefetched 1 runs, 0 bytes in 0 requests \(device not looked at\), 1 requests of \d+ bytes cached already$/m, 'warm: the warm look found it cached');
  });

  t.test('notes the shim ignores cost no request with the check on', async (t) => {
    const me = inspect(prog);
    t.ok(me.descOffset > 0, 'the note descriptor is found');
    const broken = path.join(dir, 'broken');
    const bytes = fs.readFileSync(prog);
    bytes[me.descOffset + 24]! ^= 0xff; // the first byte after the header: the CRC no longer matches
    fs.writeFileSync(broken, bytes, { mode: 0o755 });
    evict(broken);
    for (const hook of ['exec', 'audit', 'preload'] as HookName[]) {
      const o = await runHooked(hook, [broken, 'x'], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_RESIDENCY: '1' } });
      t.equal(o.status, 0, `${hook}: the program ran`);
      t.same(o.calls.filter((c) => c.path === broken), [], `${hook}: a corrupt note: nothing read`);
      t.match(o.stderr, /broken: corrupt note/, `${hook}: the debug line says why`);
    }
  });
}

// ---------------------------------------------------------------- the device class, C and TS

/** The largest request a loop device takes: its max_sectors_kb, kept as the plan keeps it. */
const loopCap = (dev: string): number => requestCap(queueLimits({ dev })!.maxSectorsKb * 1024);

/** "CLASS: WHY, requests <= N KiB" from the shim's debug line for `file`. */
const classOf = (stderr: string, file: string): string | undefined => {
  const line = stderr.split('\n').find((l) => l.startsWith(`elfprefetch: ${file}: prefetched`));
  return line ? /requests \(([^)]*)\)/.exec(line)?.[1] : undefined;
};

if (s) {
  t.test('the device class and why: the shim and src/readplan/device.ts agree', async (t) => {
    const twin = (file: string): string => {
      const c = chooseDevice(file);
      return `${c.device.name}: ${c.why}, ${capText(c.cap)}`;
    };
    const here = await runHooked('exec', [s.prog, 'x'], { env: { ELFPREFETCH_DEBUG: '1' } });
    t.equal(classOf(here.stderr, s.prog), twin(s.prog), `a file on ${s.prog}'s file system: ${twin(s.prog)}`);
    const forced = await runHooked('exec', [s.prog, 'x'], { env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'net' } });
    t.equal(classOf(forced.stderr, s.prog), `net, ${capText(chooseDevice(s.prog, 'net').cap)}`, 'ELFPREFETCH_DEVICE: the class alone, and the device\'s cap');
    t.equal(chooseDevice(s.prog, 'net').why, undefined, 'the twin: no why when set');

    // a loop device over an ext4 image in /tmp: the class of the device the image lies on
    const img = path.join(dir, 'disk.img');
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const sh = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    sh('truncate', ['-s', '64M', img]);
    sh('mkfs.ext4', ['-q', '-F', img]);
    const dev = sh('losetup', ['-f', '--show', img]);
    try {
      sh('mount', [dev, mnt]);
      try {
        const copy = path.join(mnt, 'blob');
        fs.copyFileSync(s.prog, copy);
        fs.chmodSync(copy, 0o755);
        const o = await runHooked('exec', [copy, 'x'], { env: { ELFPREFETCH_DEBUG: '1' } });
        const c = classOf(o.stderr, copy);
        t.match(c, /^\w+: loop device on /, `on ${dev}: ${c}`);
        t.equal(c, twin(copy), 'the twin says the same');
        const why = (x?: string) => x?.replace(/^\w+: (loop device on )?/, '').replace(/, requests <= \d+ KiB$/, '');
        t.equal(why(c), why(twin(img)), 'the reason is that of the device the image lies on');
        t.equal(chooseDevice(copy).cap, Math.min(chooseDevice(img).cap, loopCap(dev)), 'the cap: the smaller of the loop\'s queue and the disk\'s');
      } finally {
        sh('umount', [mnt]);
      }
    } finally {
      sh('losetup', ['-d', dev]);
    }
  });
}
