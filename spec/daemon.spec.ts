// elfprefetchd (issue 11), for real, as root: the daemon watches the file system of an ext4 loop
// device (read-only, read-ahead 0, so nothing but the daemon reads a page the program does not
// touch) holding a stamped program, an unstamped one and crafted hostile ones. Shown here:
//   - it prefetches a stamped program at exec (its log, strace of its readahead calls, fincore),
//     and leaves it alone once its set is resident; unstamped programs cost a "no note";
//   - hostile notes: every program prints what the unstamped one prints, the daemon gives the
//     shim's reason, never reads past EOF; a note in a file of another owner cannot make it open
//     what that owner cannot;
//   - fail-open: SIGSTOP it while execs continue (notify mode); SIGKILL it mid-storm (both modes);
//     in permission mode a stopped daemon holds execs (the documented risk) until it is killed;
//   - a storm of distinct cold programs is held to the configured I/O budget;
//   - it refuses to run as anyone but root, and refuses bad configuration files clearly;
//   - SIGHUP reloads, SIGTERM stops it cleanly with its counts;
//   - the note cache: an unchanged program's note is not read again, after a restart too; a
//     changed file's is; a cache file it did not write (or others could have) is not used.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { Test } from 'tap';
import { Loop, attachLoop, buildImage, detachLoop, unmount } from '../src/io/loop';
import { sh } from '../src/io/spawn';
import { writeSidecar } from '../src/ops/sidecar';
import { stampFile } from '../src/ops/stamp';
import { DEVICES, planReads } from '../src/readplan/coalesce';
import { chooseDevice } from '../src/readplan/device';
import { nativeDir, buildNative, cc, escapeRegExp, inspect, parseStrace } from './helpers/shim';
import { objectBody, rawNote } from './helpers/raw-note';

const daemonBin = path.join(nativeDir, 'elfprefetchd');
const made = buildNative();
if (made) throw new Error(made);

const PROGRAM_C = `#include <stdio.h>
/* 256 KiB nobody reads at run time: the pages the note names live here. */
__attribute__((used)) static const unsigned char pad[256u << 10] = {1};
int main(void) { puts("hello from the daemon's sample"); return 0; }
`;
const EXPECTED = "hello from the daemon's sample\n";

/** One running daemon, its stderr in a file (a stopped daemon must not block a pipe). */
class Daemon {
  readonly proc: ChildProcess;
  readonly log: string;
  readonly traced: boolean;
  exit?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** opts.wrap: a command the daemon is started through (e.g. into a mount namespace of its own). */
  constructor(dir: string, conf: string, opts: { strace?: string; calls?: string; wrap?: string[] } = {}) {
    this.traced = !!opts.strace;
    this.log = path.join(dir, `daemon-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
    const err = fs.openSync(this.log, 'w');
    const argv = [...(opts.wrap ?? []), daemonBin, '--foreground', '--verbose', '--config', conf];
    const cmd = opts.strace ? ['strace', '-f', '-qq', '-yy', '-e', `trace=${opts.calls ?? 'readahead,fadvise64'}`, '-e', 'signal=none', '-o', opts.strace, ...argv] : argv;
    this.proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', err] });
    fs.closeSync(err);
    this.exit = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
  }
  text(): string {
    return fs.readFileSync(this.log, 'utf8');
  }
  /** Waits until the log matches re (or the daemon exits, or ms pass). */
  async waitFor(re: RegExp, ms = 10_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (re.test(this.text())) return true;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return re.test(this.text());
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }
  /** The daemon's pid: under strace, strace's child. */
  pid(): number {
    if (!this.traced) return this.proc.pid!;
    for (let i = 0; i < 100; i++) {
      const kids = fs.readFileSync(`/proc/${this.proc.pid}/task/${this.proc.pid}/children`, 'utf8').trim();
      if (kids) return Number(kids.split(' ')[0]);
      spawnSync('sleep', ['0.05']);
    }
    throw new Error('strace started no daemon');
  }
  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid(), sig);
  }
  /** How it ended, or 'still running' after ms. */
  ended(ms = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
    return Promise.race([this.exit!, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);
  }
}

/**
 * A configuration file; its note cache in memory unless `lines` name one (the default file is the
 * machine's), and every exec of a stamped program handled unless they set recheck-seconds (the
 * subtests evict and exec again within the default's 5 s).
 */
function writeConf(dir: string, lines: string[]): string {
  const conf = path.join(dir, `elfprefetchd-${Math.random().toString(36).slice(2)}.conf`);
  const given = (k: string) => lines.some((l) => l.startsWith(`${k} =`));
  // Not the machine's sidecar directory unless a test names it: the daemon makes it if missing.
  const all = [...lines, ...(given('note-cache') ? [] : ['note-cache = memory']), ...(given('recheck-seconds') ? [] : ['recheck-seconds = 0']), ...(given('sidecar') ? [] : ['sidecar = none'])];
  fs.writeFileSync(conf, all.join('\n') + '\n', { mode: 0o644 });
  return conf;
}

/** Runs argv; resolves with status, output and whether it finished within ms. */
function run(argv: string[], ms = 60_000): Promise<{ status: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, ms);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, timedOut });
    });
  });
}

/** Bytes of `file` in the page cache (fincore: mincore on a mapping, truthful for root). */
function resident(file: string): number {
  return Number(sh('fincore', ['--bytes', '--raw', '--noheadings', '--output', 'RES', file]));
}

/** DAEMON_ONLY=regex runs only the loop-device subtests whose names match (while debugging). */
const only = process.env.DAEMON_ONLY ? new RegExp(process.env.DAEMON_ONLY) : undefined;
const sub = (t: Test, name: string, fn: (t: Test) => Promise<void>) => (only && !only.test(name) ? undefined : t.test(name, fn));

// ---------------------------------------------------------------- without fanotify

t.test('refuses to run as anyone but root, with a clear message', async (t) => {
  const conf = writeConf(t.testdir(), ['filesystem = /']);
  fs.chmodSync(path.dirname(conf), 0o755);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', daemonBin, '--foreground', '--config', conf], { encoding: 'utf8', timeout: 10_000 });
  t.equal(r.status, 1, 'exit status 1');
  t.match(r.stderr, /^elfprefetchd: must run as root: fanotify needs CAP_SYS_ADMIN/m, r.stderr);
});

t.test('refuses a bad configuration file, naming the file, the line and what is wrong', async (t) => {
  const dir = t.testdir();
  const check = (lines: string[] | null, re: RegExp, prep?: (f: string) => void) => {
    const conf = writeConf(dir, lines ?? []);
    prep?.(conf);
    const r = spawnSync(daemonBin, ['--check-config', '--config', conf], { encoding: 'utf8' });
    t.equal(r.status, 1, `${re}: exit 1`);
    t.match(r.stderr, re, r.stderr);
  };
  check(['mode = notify', 'bogus = 1'], /\.conf:2: unknown key "bogus"/);
  check(['mode = fast'], /\.conf:1: mode must be notify or permission, not "fast"/);
  check(['filesystem = relative/dir'], /\.conf:1: filesystem must be an absolute path/);
  check(['filesystem = /a/../b'], /\.conf:1: filesystem must be an absolute path without \. or \.\./);
  check(['max-bytes-per-exec = 12Q'], /\.conf:1: max-bytes-per-exec must be a size/);
  check(['nice = 40'], /\.conf:1: nice must be -20 to 19/);
  check(['mode = notify', 'ignore-seconds = 0'], /\.conf:2: ignore-seconds must be 1 to 86400, not "0"/);
  check(['recheck-seconds = 3601'], /\.conf:1: recheck-seconds must be 0 to 3600, not "3601"/);
  check(['ignore-unstamped = maybe'], /\.conf:1: ignore-unstamped must be yes or no, not "maybe"/);
  check(['residency = sometimes'], /\.conf:1: residency must be yes or no, not "sometimes"/);
  check(['note-cache = cache/file'], /\.conf:1: note-cache must be an absolute file name \(at most 1024 bytes\), memory or none/);
  check(['note-cache-bytes = 0'], /\.conf:1: note-cache-bytes must be 1 to 64M, not "0"/);
  check(['note-cache-bytes = 65M'], /\.conf:1: note-cache-bytes must be 1 to 64M, not "65M"/);
  check(['just words'], /\.conf:1: expected key = value/);
  check(['set = '], /\.conf:1: set has no value/);
  check(['mode = notify'], /writable by group or others/, (f) => fs.chmodSync(f, 0o664));
  check(['mode = notify'], /not owned by root/, (f) => fs.chownSync(f, 65534, 65534));
  const target = writeConf(dir, ['mode = notify']);
  const link = path.join(dir, 'link.conf');
  fs.symlinkSync(target, link);
  const r = spawnSync(daemonBin, ['--check-config', '--config', link], { encoding: 'utf8' });
  t.equal(r.status, 1, 'a symbolic link: exit 1');
  t.match(r.stderr, /link\.conf: a symbolic link \(not followed\)/, r.stderr);
  const ok = spawnSync(daemonBin, ['--check-config', '--config', target], { encoding: 'utf8' });
  t.equal(ok.status, 0, `a good file passes: ${ok.stderr}`);
  const missing = spawnSync(daemonBin, ['--check-config', '--config', path.join(dir, 'none.conf')], { encoding: 'utf8' });
  t.equal(missing.status, 1, 'an explicit file that is missing: exit 1');
  t.match(missing.stderr, /none\.conf: No such file or directory/);
});

// ---------------------------------------------------------------- with fanotify, on a loop device

/** Why the daemon cannot run here, or '' (probed once: root, loop devices, fanotify). */
async function probe(dir: string): Promise<string> {
  if (process.getuid?.() !== 0) return 'not root: fanotify and loop devices need root';
  for (const tool of ['losetup', 'mkfs.ext4', 'strace', 'fincore', 'gcc']) if (spawnSync('which', [tool]).status !== 0) return `${tool} is missing`;
  const d = new Daemon(dir, writeConf(dir, [`filesystem = ${dir}`]));
  const up = await d.waitFor(/watching execs/, 10_000);
  d.signal('SIGTERM');
  await d.ended();
  return up ? '' : `the daemon cannot listen here: ${d.text().trim()}`;
}

t.test('on a loop device', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'epfd-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const why = await probe(work);
  if (why) {
    t.skip(`elfprefetchd: ${why}`);
    return;
  }

  // The programs: plain, stamped (a set of 8 pages inside pad[], never read by the program),
  // 12 distinct stamped copies for the budget storm, and the hostile cases.
  const src = path.join(work, 'prog.c');
  fs.writeFileSync(src, PROGRAM_C);
  const plain = path.join(work, 'plain');
  if (!cc(t, plain, [src], ['-g'])) return;
  const size = fs.statSync(plain).size;
  const first = Math.floor(size / 2 / 4096);
  const runs = [{ first, count: 8 }];
  // stamp adds page 0 (the headers, read first by every exec) to the set.
  const noteRuns = [{ first: 0, count: 1 }, ...runs];
  const stamped = path.join(work, 'stamped');
  fs.copyFileSync(plain, stamped);
  stampFile(stamped, { pageShift: 12, sets: [{ name: 'default', runs }] });
  fs.chmodSync(stamped, 0o755);
  const me = inspect(stamped);
  const original = fs.readFileSync(stamped);
  const self = (over: { buildId?: Uint8Array; layout?: bigint } = {}) => objectBody(over.buildId ?? me.buildId, over.layout ?? me.layout);
  const otherId = Uint8Array.from(me.buildId);
  otherId[otherId.length - 1] ^= 1;
  const secret = path.join(work, 'secret.so');
  fs.copyFileSync(plain, secret);
  fs.chmodSync(secret, 0o600);
  fs.chmodSync(work, 0o755);
  const lib = (p: string) => rawNote({ objects: [self(), objectBody(new Uint8Array(0), 0n, p)], pages: [{ pageCount: 4, runs: [[0, 1]] }, { object: 1, pageCount: 4, runs: [[0, 2]] }] });
  interface Hostile {
    name: string;
    desc?: Buffer;
    patch?: (b: Buffer) => void;
    reason: RegExp;
    owner?: number;
  }
  const hostile: Hostile[] = [
    { name: 'wrong-crc', desc: rawNote({ objects: [self()], crc: 'keep-wrong', pages: [{ pageCount: 5, runs: [[0, 2]] }] }), reason: /: corrupt note$/m },
    { name: 'run-count', desc: rawNote({ objects: [self()], pages: [{ pageCount: 5, runs: [[0, 1]], runCount: 0x20000000 }] }), reason: /: corrupt note$/m },
    { name: 'object-count', desc: rawNote({ objects: [self()], objectCount: 0xffffffff, pages: [{ pageCount: 5, runs: [[0, 1]] }] }), reason: /: corrupt note$/m },
    { name: 'version-2', desc: rawNote({ objects: [self()], version: 2, pages: [{ pageCount: 5, runs: [[0, 2]] }] }), reason: /: note of another format version$/m },
    { name: 'stale-build-id', desc: rawNote({ objects: [self({ buildId: otherId })], pages: [{ pageCount: 5, runs: [[0, 2]] }] }), reason: /: stale note \(another build-id\)$/m },
    { name: 'stale-layout', desc: rawNote({ objects: [self({ layout: me.layout ^ 1n })], pages: [{ pageCount: 5, runs: [[0, 2]] }] }), reason: /: stale note \(another layout\)$/m },
    { name: 'empty', desc: rawNote({ objects: [], pages: [], flags: 1 }), reason: /: an empty reservation$/m },
    { name: 'past-eof', desc: rawNote({ objects: [self()], pages: [{ pageCount: 1 << 28, runs: [[0, 1], [(1 << 28) - 10, 10]] }] }), reason: /: prefetched 1 runs/ },
    // The note beside the segments (docs/FORMAT.md 1.1): a header that fails a check is no note.
    { name: 'note-too-large', patch: (b) => b.writeUInt32LE((1 << 20) + 4, me.descOffset - 20), reason: /: no note$/m },
    { name: 'note-past-eof', patch: (b) => b.writeUInt32LE(original.length, me.descOffset - 20), reason: /: no note$/m },
    { name: 'lib-device', desc: lib('/dev/zero'), reason: /\/dev\/zero: cannot open the library$/m },
    { name: 'lib-relative', desc: lib('relative/lib.so'), reason: /relative\/lib\.so: library path is not absolute$/m },
    // A program of nobody's names a file only root may read: the daemon cannot open it for nobody.
    { name: 'lib-secret-nobody', desc: lib(secret), owner: 65534, reason: new RegExp(`${secret}: cannot open the library$`, 'm') },
    // The same note in root's program: opened (and found to be another build).
    { name: 'lib-secret-root', desc: lib(secret), reason: new RegExp(`${secret}: the library is another build than the note's$`, 'm') },
  ];
  const hostileFiles = hostile.map((h) => {
    const b = Buffer.from(original);
    if (h.desc) {
      const d = Buffer.alloc(me.descSize);
      h.desc.copy(d, 0, 0, Math.min(h.desc.length, d.length));
      d.copy(b, me.descOffset);
    }
    h.patch?.(b);
    const f = path.join(work, `hostile-${h.name}`);
    fs.writeFileSync(f, b, { mode: 0o755 });
    return f;
  });
  // A program whose note names a library at a path that only its own mount namespace maps to
  // the right file (`plain`, bind-mounted there); outside, the path holds a placeholder.
  const view = path.join(work, 'view');
  const viewLib = path.join(view, 'lib.so');
  const plainId = inspect(plain);
  const inContainer = Buffer.from(original);
  {
    const d = Buffer.alloc(me.descSize);
    rawNote({ objects: [self(), objectBody(plainId.buildId, plainId.layout, viewLib)], pages: [{ pageCount: 5, runs: [[0, 1]] }, { object: 1, pageCount: 4, runs: [[0, 2]] }] }).copy(d);
    d.copy(inContainer, me.descOffset);
  }
  const containerFile = path.join(work, 'container-prog');
  fs.writeFileSync(containerFile, inContainer, { mode: 0o755 });
  const COPIES = 12;
  const targets = [plain, stamped, containerFile, ...hostileFiles, ...Array.from({ length: COPIES }, () => stamped)];
  const names = ['plain', 'stamped', 'container', ...hostile.map((h) => `hostile-${h.name}`), ...Array.from({ length: COPIES }, (_, i) => `copy${i}`)];
  const image = buildImage(work, targets, (copyOf) => {
    names.forEach((n, i) => fs.renameSync(copyOf(i), path.join(path.dirname(copyOf(0)), n)));
    hostile.forEach((h) => h.owner !== undefined && fs.chownSync(path.join(path.dirname(copyOf(0)), `hostile-${h.name}`), h.owner, h.owner));
  });
  const loop: Loop = attachLoop(image, true, 0);
  const mnt = path.join(work, 'mnt');
  t.teardown(() => {
    unmount(mnt);
    detachLoop(loop.dev);
  });
  sh('mount', ['-o', 'ro', loop.dev, mnt]);
  const at = (n: string) => path.join(mnt, n);
  /*
   * Nothing of the file system cached: fadvise(DONTNEED) of every file (dd iflag=nocache). Not a
   * remount: a process elsewhere that unshares its mount namespace meanwhile (other specs and
   * benchmarks on this machine do) keeps a copy of the mount, and the next mount reuses its warm
   * superblock (docs/BENCHMARKS.md, "Runs that were not cold").
   */
  const uncache = (t: Test) => {
    for (const n of fs.readdirSync(mnt)) {
      const f = path.join(mnt, n);
      if (fs.statSync(f).isFile()) sh('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
    }
    t.equal(resident(at('stamped')), 0, 'nothing cached: the stamped program is cold');
  };
  // Every planned request issued (residency = no), so that what is read is the plan whatever the
  // kernel's exec read first; the default (yes) is the note cache subtest's.
  const baseConf = [`filesystem = ${mnt}`, 'device = nvme', 'sidecar = none', 'residency = no'];
  const planned = (file: string, rs: Array<{ first: number; count: number }>) =>
    planReads(rs, 4096, DEVICES.nvme, fs.statSync(file).size, chooseDevice(file).cap).map((r) => `readahead ${file} ${r.offset}+${r.length}`);
  // (strace 6.x prints cachestat, syscall 451, by number whatever -e trace says.)
  const callsOf = (trace: string) => parseStrace(fs.readFileSync(trace, 'utf8').split('\n').filter((l) => !/ syscall_0x1c3\(/.test(l)).join('\n'));

  /**
   * A directory of `work` bind-mounted on itself, to be watched alone (`mount = DIR`): the daemon
   * then sees only the subtest's execs, not the stamped programs of specs running beside it.
   */
  const ownMount = (t: Test, name: string): string => {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    sh('mount', ['--bind', dir, dir]);
    t.teardown(() => unmount(dir));
    return dir;
  };
  /** A copy of the stamped program in `dir` (mode 0755); its path. */
  const stampedIn = (dir: string): string => {
    const f = path.join(dir, 'stamped');
    fs.copyFileSync(stamped, f);
    fs.chmodSync(f, 0o755);
    return f;
  };
  /** How many `call`s of a trace were on `file` (strace -yy names each descriptor's file). */
  const callsOn = (trace: string, call: string, file: string) => fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes(`${call}(`) && l.includes(`<${file}>`)).length;

  /** A daemon with permission events on the loop device, or undefined (killed, the test skipped) where the kernel has none. */
  const permissionDaemon = async (t: Test): Promise<Daemon | undefined> => {
    const d = new Daemon(work, writeConf(work, [...baseConf, 'mode = permission']));
    t.ok(await d.waitFor(/watching execs on .* with (permission|notification) events/), 'listening');
    if (/with permission events/.test(d.text())) return d;
    d.signal('SIGKILL');
    t.skip('no permission events on this kernel');
    return undefined;
  };

  await sub(t, 'prefetches a stamped program at exec, cold; then finds it resident; leaves unstamped programs alone', async (t) => {
    uncache(t);
    const trace = path.join(work, 'trace-prefetch');
    // skip-resident (off by default) is what turns the second exec into "resident already".
    const d = new Daemon(work, writeConf(work, [...baseConf, 'skip-resident = yes']), { strace: trace });
    t.ok(await d.waitFor(/watching execs on the file system of .* with notification events/), 'listening with notification events');
    const r = await run([at('stamped')]);
    t.equal(r.stdout, EXPECTED, 'the stamped program prints what it prints');
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${at('stamped')}: prefetched 2 runs, 36864 bytes in 2 requests \\(nvme, requests <= \\d+ KiB\\)$`, 'm')), `the daemon says it prefetched it:\n${d.text()}`);
    const set = 8 * 4096;
    t.ok(resident(at('stamped')) >= set, `the set's ${set} bytes are in the page cache now (${resident(at('stamped'))} bytes resident; nothing but the daemon read them)`);
    const again = await run([at('stamped')]);
    t.equal(again.stdout, EXPECTED);
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${at('stamped')}: resident already$`, 'm')), 'a second exec finds the set resident and reads nothing');
    const p = await run([at('plain')]);
    t.equal(p.stdout, EXPECTED, 'the unstamped program too');
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${at('plain')}: no note$`, 'm')), 'an unstamped program: "no note"');
    d.signal('SIGHUP');
    t.ok(await d.waitFor(/reloaded /), 'SIGHUP reloads the configuration');
    d.signal('SIGTERM');
    const e = await d.ended();
    t.same(e, { code: 0, signal: null }, 'SIGTERM: a clean exit');
    t.match(d.text(), /signal 15: stopping\n.*elfprefetchd: 3 execs seen, 1 prefetched \(1 files\), 0 left alone over the I\/O budget, 0 queue overflows/s, 'its counts at exit');
    const { calls, unparsed } = callsOf(trace);
    t.same(unparsed, [], 'strace lines all understood');
    t.same(calls.map((c) => `${c.syscall} ${c.path} ${c.offset}+${c.length}`), planned(at('stamped'), noteRuns), 'exactly the planned requests, for the stamped program only');
  });

  await sub(t, 'sidecars: an unstamped program is prefetched from its sidecar; a sidecar it must not trust is ignored', async (t) => {
    uncache(t);
    const dir = path.join(work, 'sidecars');
    const sc = writeSidecar(plain, { pageShift: 12, sets: [{ name: 'default', runs }] }, dir).output;
    const d = new Daemon(work, writeConf(work, [`filesystem = ${mnt}`, 'device = nvme', `sidecar = ${dir}`, 'skip-resident = no', 'residency = no']));
    t.ok(await d.waitFor(/watching execs/), 'listening');
    t.equal((await run([at('plain')])).stdout, EXPECTED);
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${at('plain')}: prefetched 2 runs, 36864 bytes in 2 requests \\(nvme, requests <= \\d+ KiB\\) \\(sidecar ${sc}\\)$`, 'm')), `prefetched from ${sc}`);
    fs.chmodSync(sc, 0o664);
    t.equal((await run([at('plain')])).stdout, EXPECTED);
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${at('plain')}: no note; sidecar ${sc} ignored: writable by group or others$`, 'm')), 'a group-writable sidecar is ignored');
    fs.renameSync(sc, `${sc}.real`);
    fs.chmodSync(`${sc}.real`, 0o644);
    fs.symlinkSync(`${sc}.real`, sc);
    t.equal((await run([at('plain')])).stdout, EXPECTED);
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${at('plain')}: no note; sidecar ${sc} ignored: a symbolic link$`, 'm')), 'a symbolic link is not followed');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
  });

  await sub(t, 'hostile notes: the programs run as unstamped, the daemon says why and never reads past EOF', async (t) => {
    uncache(t);
    const trace = path.join(work, 'trace-hostile');
    const d = new Daemon(work, writeConf(work, [...baseConf, 'skip-resident = no']), { strace: trace });
    t.ok(await d.waitFor(/watching execs/), 'listening');
    for (const h of hostile) {
      const r = await run([at(`hostile-${h.name}`)]);
      t.same({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 0, stdout: EXPECTED, stderr: '' }, `${h.name}: the program is unchanged`);
      t.ok(await d.waitFor(h.reason, 5000), `${h.name}: the daemon says ${h.reason}`);
    }
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null }, 'it is still alive and exits cleanly');
    const { calls, unparsed } = callsOf(trace);
    t.same(unparsed, [], 'strace lines all understood');
    for (const c of calls) {
      const size = fs.statSync(c.path, { throwIfNoEntry: false })?.size ?? -1;
      t.ok(c.length > 0 && c.offset + c.length <= size, `${c.syscall} ${c.path} ${c.offset}+${c.length} within the file (${size} bytes)`);
    }
    const secretReads = calls.filter((c) => c.path === secret);
    t.equal(secretReads.length, 1, 'the root-only file was read for root\'s program only (its first request, before the check)');
    t.same(
      calls.filter((c) => c.path === at('hostile-past-eof')).map((c) => `${c.syscall} ${c.path} ${c.offset}+${c.length}`),
      planned(at('hostile-past-eof'), [{ first: 0, count: 1 }, { first: (1 << 28) - 10, count: 10 }]),
      'runs past EOF: the clipped plan',
    );
  });

  await sub(t, 'notify mode: execs go on while the daemon is stopped, and while it is killed', async (t) => {
    uncache(t);
    const d = new Daemon(work, writeConf(work, baseConf));
    t.ok(await d.waitFor(/watching execs/), 'listening');
    d.signal('SIGSTOP');
    const storm = await run(['sh', '-c', `i=0; while [ $i -lt 300 ]; do "${at('stamped')}" >/dev/null || exit 1; i=$((i+1)); done`], 120_000);
    t.same({ status: storm.status, timedOut: storm.timedOut }, { status: 0, timedOut: false }, '300 execs of the stamped program completed with the daemon stopped');
    d.signal('SIGCONT');
    t.ok(await d.waitFor(/stamped: (prefetched|resident already)/), 'continued, it handles the events queued meanwhile');
    const killer = run(['sh', '-c', `i=0; while [ $i -lt 600 ]; do "${at('stamped')}" >/dev/null || exit 1; i=$((i+1)); done`], 120_000);
    await new Promise((r) => setTimeout(r, 300));
    d.signal('SIGKILL');
    const k = await killer;
    t.same({ status: k.status, timedOut: k.timedOut }, { status: 0, timedOut: false }, 'SIGKILL mid-storm: all 600 execs completed');
    t.same(await d.ended(), { code: null, signal: 'SIGKILL' }, 'it was killed');
  });

  await sub(t, 'permission mode: prefetches before the exec goes on; a stopped daemon holds execs (the documented risk) until it is killed', async (t) => {
    uncache(t);
    const d = new Daemon(work, writeConf(work, [...baseConf, 'mode = permission']));
    const up = await d.waitFor(/watching execs on .* with (permission|notification) events/);
    t.ok(up, 'listening');
    if (!/with permission events/.test(d.text())) {
      t.match(d.text(), /permission events unavailable .*: falling back to notification events/, 'no permission events here: it says it fell back');
      d.signal('SIGKILL');
      return;
    }
    const r = await run([at('stamped')]);
    t.equal(r.stdout, EXPECTED);
    t.match(d.text(), new RegExp(`${at('stamped')}: prefetched 2 runs`), 'prefetched before the exec was allowed');
    const storm = run(['sh', '-c', `i=0; while [ $i -lt 400 ]; do "${at('stamped')}" >/dev/null || exit 1; i=$((i+1)); done`], 120_000);
    await new Promise((r) => setTimeout(r, 300));
    d.signal('SIGKILL');
    const s = await storm;
    t.same({ status: s.status, timedOut: s.timedOut }, { status: 0, timedOut: false }, 'SIGKILL mid-storm: all 400 execs completed');
    t.not(await d.ended(), 'still running', 'it ended');

    const d2 = new Daemon(work, writeConf(work, [...baseConf, 'mode = permission']));
    t.ok(await d2.waitFor(/with permission events/), 'listening again');
    d2.signal('SIGSTOP');
    // Through sh: node's spawn itself waits for the exec it starts, and would be held too.
    const held = run(['sh', '-c', `exec "${at('stamped')}"`], 60_000);
    const state = await Promise.race([held.then(() => 'finished'), new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
    t.equal(state, 'waiting', 'with the daemon stopped, an exec waits (the kernel has no timeout)');
    d2.signal('SIGKILL');
    const h = await held;
    t.same({ status: h.status, stdout: h.stdout, timedOut: h.timedOut }, { status: 0, stdout: EXPECTED, timedOut: false }, 'killing the daemon lets it go on');
    t.not(await d2.ended(), 'still running', 'it ended');
  });

  await sub(t, 'a program with nothing to prefetch is looked at once: the kernel stops reporting its execs until it changes or ignore-seconds pass', async (t) => {
    const count = (d: Daemon, re: RegExp) => (d.text().match(re) ?? []).length;
    const noNote = (f: string) => new RegExp(`^elfprefetch: ${f}: no note$`, 'gm');
    const ignored = (f: string) => new RegExp(`^elfprefetchd: ${f}: nothing to prefetch, its execs are ignored from now on$`, 'gm');
    const d = new Daemon(work, writeConf(work, [...baseConf, 'ignore-seconds = 3']));
    t.ok(await d.waitFor(/watching execs/), 'listening');
    // The mark is placed once the daemon has looked: an exec made before that (notification
    // events do not wait) is reported too. So the later execs come after the first look.
    t.equal((await run([at('plain')])).stdout, EXPECTED, 'plain, exec 1');
    t.ok(await d.waitFor(ignored(at('plain'))), 'the first exec was looked at and its file ignored');
    for (let i = 1; i < 5; i++) t.equal((await run([at('plain')])).stdout, EXPECTED, `plain, exec ${i + 1}`);
    for (let i = 0; i < 3; i++) t.equal((await run([at('stamped')])).stdout, EXPECTED, `stamped, exec ${i + 1}`);
    t.ok(await d.waitFor(new RegExp(`(${at('stamped')}: .*[\\s\\S]*){3}`)), 'the three execs of the stamped program were all handled');
    t.equal(count(d, noNote(at('plain'))), 1, 'five execs of the unstamped program: looked at once');
    t.equal(count(d, ignored(at('plain'))), 1, 'and ignored from then on');
    t.equal(count(d, ignored(at('stamped'))), 0, 'a stamped program is never ignored');
    await new Promise((r) => setTimeout(r, 3500));
    t.equal((await run([at('plain')])).stdout, EXPECTED);
    t.ok(await d.waitFor(new RegExp(`(^elfprefetch: ${at('plain')}: no note$[\\s\\S]*){2}`, 'm')), 'after ignore-seconds it is looked at again');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
    t.match(d.text(), /execs seen, .* 2 files ignored, \d+ notes from the note cache, 0 programs rested, 0 execs of resting programs let through\n/, 'the count at exit');

    // A file written in place loses its ignore mark (the kernel drops it on modification).
    const rw = path.join(work, 'rw');
    fs.mkdirSync(rw, { recursive: true });
    const prog = path.join(rw, 'plain');
    fs.copyFileSync(plain, prog);
    fs.chmodSync(prog, 0o755);
    const w = new Daemon(work, writeConf(work, [`filesystem = ${rw}`, 'device = nvme', 'sidecar = none']));
    t.ok(await w.waitFor(/watching execs/), 'listening on the writable file system');
    for (let i = 0; i < 3; i++) t.equal((await run([prog])).stdout, EXPECTED);
    t.ok(await w.waitFor(ignored(prog)), 'ignored after one look');
    fs.appendFileSync(prog, Buffer.from([0]));
    t.equal((await run([prog])).stdout, EXPECTED, 'it still runs with a byte appended');
    t.ok(await w.waitFor(new RegExp(`(^elfprefetch: ${prog}: no note$[\\s\\S]*){2}`, 'm')), 'written in place, it is looked at again');
    w.signal('SIGTERM');
    t.same(await w.ended(), { code: 0, signal: null });

    // Permission mode: an ignored program's exec does not wait even for a stopped daemon.
    const p = await permissionDaemon(t);
    if (!p) return;
    t.equal((await run([at('plain')])).stdout, EXPECTED);
    t.ok(await p.waitFor(ignored(at('plain'))), 'looked at once');
    p.signal('SIGSTOP');
    const r = await run(['sh', '-c', `for i in 1 2 3 4 5; do "${at('plain')}" || exit 1; done`], 10_000);
    t.same({ status: r.status, timedOut: r.timedOut }, { status: 0, timedOut: false }, 'five more execs with the daemon stopped: none waited');
    p.signal('SIGKILL');
    t.not(await p.ended(), 'still running', 'it ended');
  });

  await sub(t, 'a stamped program handled rests: its execs are not reported for recheck-seconds, unless it is written; a resting exec never waits', async (t) => {
    const handled = (f: string) => new RegExp(`^elfprefetch: ${f}: prefetched `, 'gm');
    const rests = (f: string, secs = 3) => new RegExp(`^elfprefetchd: ${f}: handled: its execs are not reported for ${secs} s$`, 'gm');
    const count = (d: Daemon, re: RegExp) => (d.text().match(re) ?? []).length;
    const d = new Daemon(work, writeConf(work, [...baseConf, 'recheck-seconds = 3']));
    t.ok(await d.waitFor(/a stamped program handled is not looked at again for 3 s/), 'listening, and says so');
    t.equal((await run([at('stamped')])).stdout, EXPECTED, 'exec 1');
    t.ok(await d.waitFor(rests(at('stamped'))), 'the first exec was handled, then the program rests');
    for (let i = 1; i < 5; i++) t.equal((await run([at('stamped')])).stdout, EXPECTED, `exec ${i + 1}`);
    await new Promise((r) => setTimeout(r, 300));
    t.equal(count(d, handled(at('stamped'))), 1, 'five execs within 3 s: handled once');
    await new Promise((r) => setTimeout(r, 3000));
    t.equal((await run([at('stamped')])).stdout, EXPECTED);
    t.ok(await d.waitFor(new RegExp(`(^elfprefetch: ${at('stamped')}: prefetched [\\s\\S]*){2}`, 'm')), 'after recheck-seconds an exec is handled again');
    // Execs reported before the mark was placed (the daemon stopped while three of them ran: their
    // events wait in one batch): the first is handled, the other two are let through at once.
    await new Promise((r) => setTimeout(r, 3300));
    d.signal('SIGSTOP');
    for (let i = 0; i < 3; i++) t.equal((await run([at('stamped')])).stdout, EXPECTED, `burst exec ${i + 1}, the daemon stopped`);
    d.signal('SIGCONT');
    const letThrough = /^elfprefetchd: exec of a resting program \(pid \d+\): reported before its mark, let through$/gm;
    t.ok(await d.waitFor(new RegExp(`(^elfprefetch: ${at('stamped')}: prefetched [\\s\\S]*){3}`, 'm')), 'the first of the burst is handled');
    t.ok(await d.waitFor(/(^elfprefetchd: exec of a resting program \(pid \d+\): reported before its mark, let through$[\s\S]*){2}/m), 'the other two are let through');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(count(d, handled(at('stamped'))), 3, 'handled once per rest');
    t.equal(count(d, letThrough), 2, 'two let through');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
    t.match(d.text(), /execs seen, .* 3 programs rested, 2 execs of resting programs let through\n/, 'the counts at exit');

    // A daemon whose own view differs from the programs' (as under the unit: ProtectSystem,
    // PrivateTmp): a mount namespace of its own with a tmpfs over /mnt. Programs still rest, and
    // their rests end (the file is opened again by its handle, not looked up by name).
    const own = new Daemon(work, writeConf(work, [...baseConf, 'recheck-seconds = 2']), {
      wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs epfd-private /mnt && exec "$0" "$@"'],
    });
    t.ok(await own.waitFor(/watching execs/), 'a daemon in a mount namespace of its own: listening');
    t.equal((await run([at('stamped')])).stdout, EXPECTED);
    t.ok(await own.waitFor(rests(at('stamped'), 2)), 'the program rests');
    await new Promise((r) => setTimeout(r, 2500));
    t.equal((await run([at('stamped')])).stdout, EXPECTED);
    t.ok(await own.waitFor(new RegExp(`(^elfprefetch: ${at('stamped')}: prefetched [\\s\\S]*){2}`, 'm')), 'and its rest ends: the next exec is handled');
    own.signal('SIGTERM');
    t.same(await own.ended(), { code: 0, signal: null });

    // Written in place while it rests (a new note, say): the kernel drops the mark, the next exec is seen.
    const rw = ownMount(t, 'rw-rest');
    const prog = stampedIn(rw);
    const w = new Daemon(work, writeConf(work, [`mount = ${rw}`, 'device = nvme', 'sidecar = none', 'recheck-seconds = 3']));
    t.ok(await w.waitFor(/watching execs/), 'listening on the writable file system');
    t.equal((await run([prog])).stdout, EXPECTED);
    t.ok(await w.waitFor(rests(prog)), 'resting after its first exec');
    t.equal((await run([prog])).stdout, EXPECTED);
    fs.appendFileSync(prog, Buffer.from([0]));
    t.equal((await run([prog])).stdout, EXPECTED, 'it still runs with a byte appended');
    t.ok(await w.waitFor(new RegExp(`(^elfprefetchd: ${prog}: handled: [\\s\\S]*){2}`, 'm')), 'written in place, its next exec is handled at once');
    w.signal('SIGTERM');
    t.same(await w.ended(), { code: 0, signal: null });
    t.match(w.text(), /execs seen, .* 2 programs rested, \d+ execs of resting programs let through\n/, 'rested twice');
    // A resting program holds nothing open: its mount can be unmounted at once.
    const m2 = path.join(work, 'rw-rest-2');
    fs.mkdirSync(m2, { recursive: true });
    sh('mount', ['-t', 'tmpfs', 'tmpfs', m2]);
    let mounted = true;
    t.teardown(() => mounted && unmount(m2));
    const p2 = stampedIn(m2);
    const u = new Daemon(work, writeConf(work, [`mount = ${m2}`, 'device = nvme', 'sidecar = none', 'recheck-seconds = 60']));
    t.ok(await u.waitFor(/watching execs/), 'listening on a tmpfs of its own');
    t.equal((await run([p2])).stdout, EXPECTED);
    t.ok(await u.waitFor(rests(p2, 60)), 'resting for 60 s');
    const um = spawnSync('umount', [m2], { encoding: 'utf8' });
    mounted = um.status !== 0;
    t.equal(um.status, 0, `umount while it rests: ${um.stderr}`);
    u.signal('SIGTERM');
    t.same(await u.ended(), { code: 0, signal: null });

    // Permission mode: a resting program's exec does not wait even for a stopped daemon.
    const p = new Daemon(work, writeConf(work, [...baseConf, 'mode = permission', 'recheck-seconds = 60']));
    t.ok(await p.waitFor(/watching execs on .* with (permission|notification) events/), 'listening');
    if (!/with permission events/.test(p.text())) {
      p.signal('SIGKILL');
      t.skip('no permission events on this kernel');
      return;
    }
    t.equal((await run([at('stamped')])).stdout, EXPECTED);
    t.ok(await p.waitFor(rests(at('stamped'), 60)), 'resting');
    p.signal('SIGSTOP');
    const r = await run(['sh', '-c', `for i in 1 2 3 4 5; do "${at('stamped')}" >/dev/null || exit 1; done`], 10_000);
    t.same({ status: r.status, timedOut: r.timedOut }, { status: 0, timedOut: false }, 'five more execs with the daemon stopped: none waited');
    p.signal('SIGKILL');
    t.not(await p.ended(), 'still running', 'it ended');
  });

  await sub(t, 'a program in another mount namespace: the libraries its note names are looked up in its view, never in the daemon\'s', async (t) => {
    uncache(t);
    fs.mkdirSync(view, { recursive: true });
    fs.writeFileSync(viewLib, 'a placeholder, not the library\n');
    // Permission events: the exec waits for the daemon, so the process is still there when the
    // daemon looks at its root (with notification events a program this short may be gone, and
    // then its libraries are looked up in the daemon's view); the namespace lives on in sh for a
    // second after it.
    const d = await permissionDaemon(t);
    if (!d) return;
    const inside = await run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount --bind "${at('plain')}" "${viewLib}" && "${at('container')}" && sleep 1`]);
    t.same({ status: inside.status, stdout: inside.stdout }, { status: 0, stdout: EXPECTED }, 'it runs in its own mount namespace');
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${viewLib}: prefetched 1 runs`, 'm')), `inside: the library its namespace sees is prefetched:\n${d.text()}`);
    t.match(d.text(), /container \(pid \d+\): in another root or mount namespace: its libraries are looked up in \/proc\/\d+\/root/, 'the daemon says where it looked');
    const outside = await run([at('container')]);
    t.equal(outside.stdout, EXPECTED, 'it runs in the daemon\'s namespace too');
    t.ok(await d.waitFor(new RegExp(`^elfprefetch: ${viewLib}: (?!prefetched).+$`, 'm')), 'outside: the placeholder is looked at, found not to be the library, and left alone');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
  });

  await sub(t, 'keeps the notes of programs it prefetched: the next exec reads no note, after a restart too; a changed file is read again; a cache file it did not write is not used', async (t) => {
    // A mount of its own: the cache then keeps only this subtest's notes.
    const rw = ownMount(t, 'rw-notes');
    const prog = stampedIn(rw);
    const cache = path.join(work, 'notes.cache');
    const conf = writeConf(work, [`mount = ${rw}`, 'device = nvme', 'sidecar = none', `note-cache = ${cache}`]);
    const esc = escapeRegExp(prog);
    const fromCache = new RegExp(`^elfprefetchd: ${esc} \\(pid \\d+\\): its note is in the note cache: not read$`, 'gm');
    const prefetched = new RegExp(`^elfprefetch: ${esc}: prefetched 2 runs`, 'gm');
    const count = (d: Daemon, re: RegExp) => (d.text().match(re) ?? []).length;
    /** pread64 calls of the daemon on the program (strace -yy names the descriptor's file). */
    const reads = (trace: string) => callsOn(trace, 'pread64', prog);
    const exec = async (d: Daemon, n: number, what: string) => {
      t.equal((await run([prog])).stdout, EXPECTED, `${what}: it runs`);
      t.ok(await d.waitFor(new RegExp(`(^elfprefetch: ${esc}: prefetched[\\s\\S]*){${n}}`, 'm')), `${what}: prefetched`);
    };

    const trace1 = path.join(work, 'trace-notes-1');
    let d = new Daemon(work, conf, { strace: trace1, calls: 'pread64,readahead' });
    t.ok(await d.waitFor(/watching execs/), 'listening, no note cache yet');
    await exec(d, 1, 'first exec');
    t.equal(count(d, fromCache), 0, 'the first exec reads the note');
    await exec(d, 2, 'second exec');
    t.equal(count(d, fromCache), 1, 'the second exec takes it from the note cache');
    // Its set is in the page cache now (the first exec read it): nothing is read again.
    t.match(d.text(), new RegExp(`^elfprefetch: ${esc}: prefetched 2 runs, 0 bytes in 0 requests \\(nvme, device not looked at\\), 2 requests of \\d+ bytes cached already$`, 'm'), 'the second exec leaves out the requests whose pages are cached, without looking at the device');
    const when = new Date(Date.now() + 5000);
    fs.utimesSync(prog, when, when);
    await exec(d, 3, 'after touch');
    t.equal(count(d, fromCache), 1, 'a touched file (new mtime and ctime) has its note read again');
    await exec(d, 4, 'the touched file again');
    t.equal(count(d, fromCache), 2, 'and kept again');
    fs.chmodSync(prog, 0o750); // the change time alone changes
    await exec(d, 5, 'after chmod');
    t.equal(count(d, fromCache), 2, 'a file whose change time alone changed has its note read again');
    await exec(d, 6, 'after chmod, again');
    t.equal(count(d, fromCache), 3, 'and kept again');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null }, 'a clean stop');
    t.match(d.text(), /, 3 notes from the note cache, 0 programs rested, 0 execs of resting programs let through\n/, 'its count at exit');
    t.ok(reads(trace1) > 0, `the daemon read the program's note (${reads(trace1)} pread64 of it)`);
    const st = fs.lstatSync(cache);
    t.same({ file: st.isFile(), uid: st.uid, mode: st.mode & 0o777 }, { file: true, uid: 0, mode: 0o600 }, 'the cache is written at stop: a root-owned file of mode 0600');

    const trace2 = path.join(work, 'trace-notes-2');
    d = new Daemon(work, conf, { strace: trace2, calls: 'pread64,readahead' });
    t.ok(await d.waitFor(/note cache \S+: [1-3] notes \(\d+ bytes\)/), 'restarted, it loads the cache');
    t.ok(await d.waitFor(/watching execs/), 'listening');
    await exec(d, 1, 'after a restart');
    t.equal(count(d, fromCache), 1, 'the first exec after a restart takes the note from the cache');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
    t.equal(reads(trace2), 0, 'and reads nothing of the program (its requests, or their residency, are all it looks at)');

    // Cache files it did not write, or that others could have: not used, and every exec goes on.
    const good = fs.readFileSync(cache);
    const bad = async (what: string, prep: () => void, why: RegExp, unusable = false) => {
      fs.rmSync(cache, { force: true });
      prep();
      const b = new Daemon(work, conf);
      t.ok(await b.waitFor(/watching execs/), `${what}: the daemon starts`);
      if (!unusable) t.match(b.text(), why, `${what}: it says why the cache is not used`);
      await exec(b, 1, what);
      if (unusable) t.ok(await b.waitFor(why), `${what}: the kept note is refused when used, and the program's own read instead`);
      else t.equal(count(b, fromCache), 0, `${what}: the note is read from the program`);
      b.signal('SIGTERM');
      t.same(await b.ended(), { code: 0, signal: null }, `${what}: a clean stop`);
    };
    const fnv = (b: Buffer): bigint => {
      let h = 0xcbf29ce484222325n;
      for (const x of b) h = ((h ^ BigInt(x)) * 0x100000001b3n) & 0xffffffffffffffffn;
      return h;
    };
    await bad('a flipped byte', () => {
      const b = Buffer.from(good);
      b[b.length - 5]! ^= 0x40;
      fs.writeFileSync(cache, b, { mode: 0o600 });
    }, /notes\.cache: a corrupt note cache \(its checksum\): not used/);
    await bad('group-writable', () => {
      fs.writeFileSync(cache, good, { mode: 0o600 });
      fs.chmodSync(cache, 0o620);
    }, /notes\.cache: not owned by root, or writable by others than root: not used/);
    await bad('owned by nobody', () => {
      fs.writeFileSync(cache, good, { mode: 0o600 });
      fs.chownSync(cache, 65534, 65534);
    }, /notes\.cache: not owned by root, or writable by others than root: not used/);
    await bad('a symbolic link', () => {
      fs.writeFileSync(`${cache}.real`, good, { mode: 0o600 });
      fs.symlinkSync(`${cache}.real`, cache);
    }, /notes\.cache: a symbolic link: not used/);
    await bad('truncated', () => fs.writeFileSync(cache, good.subarray(0, good.length - 8), { mode: 0o600 }), /notes\.cache: a truncated or corrupt note cache \(its header\): not used/);
    // A directory others may write: they could replace the file. Not used, and not written.
    const open = path.join(work, 'open-dir');
    fs.mkdirSync(open, { recursive: true });
    fs.chmodSync(open, 0o777);
    fs.writeFileSync(path.join(open, 'notes.cache'), good, { mode: 0o600 });
    const o = new Daemon(work, writeConf(work, [`mount = ${rw}`, 'device = nvme', 'sidecar = none', `note-cache = ${path.join(open, 'notes.cache')}`]));
    t.ok(await o.waitFor(/watching execs/), 'a cache in a world-writable directory: the daemon starts');
    t.match(o.text(), /open-dir\/notes\.cache: its directory is not root's alone \(owned by root, writable by no one else\): not used/, 'and says why the cache is not used');
    await exec(o, 1, 'a cache in a world-writable directory');
    o.signal('SIGTERM');
    t.same(await o.ended(), { code: 0, signal: null });
    t.match(o.text(), /cannot write the note cache .*open-dir\/notes\.cache: its directory is not root's alone/, 'nor written there at stop');
    t.same(fs.readdirSync(open), ['notes.cache'], 'no file of its own is left there');
    // Well formed, with a sound checksum, but the kept note's own CRC is wrong: refused at use.
    await bad('a kept note that does not open', () => {
      // The file (shim/daemon/notecache.c, version 2): a 40-byte header (magic, version, notes,
      // libraries, payload, digest at 32), then per note a 64-byte record and its bytes.
      const b = Buffer.from(good);
      for (let i = 0, at = 40; i < b.readUInt32LE(12); i++) {
        const len = b.readUInt32LE(at + 56);
        b[at + 64 + 8]! ^= 1; // the note's crc32 (docs/FORMAT.md)
        at += 64 + ((len + 7) & ~7);
      }
      b.writeBigUInt64LE(fnv(b.subarray(40)), 32);
      fs.writeFileSync(cache, b, { mode: 0o600 });
    }, new RegExp(`^elfprefetch: ${esc}: the kept note is unusable$`, 'm'), true);
  });

  await sub(t, 'a library whose build it has checked is not read again while its identity holds; a changed one is', async (t) => {
    // A program whose note names a library beside it (a copy of `plain`, its build named right).
    const rw = ownMount(t, 'rw-libs');
    const libFile = path.join(rw, 'lib.so');
    fs.copyFileSync(plain, libFile);
    const prog = path.join(rw, 'prog');
    const b = Buffer.from(original);
    const d0 = Buffer.alloc(me.descSize);
    rawNote({ objects: [self(), objectBody(plainId.buildId, plainId.layout, libFile)], pages: [{ pageCount: 5, runs: [[0, 1]] }, { object: 1, pageCount: 4, runs: [[0, 2]] }] }).copy(d0);
    d0.copy(b, me.descOffset);
    fs.writeFileSync(prog, b, { mode: 0o755 });
    const cacheFile = path.join(work, 'libs.cache');
    const conf = writeConf(work, [`mount = ${rw}`, 'device = nvme', 'sidecar = none', 'residency = no', `note-cache = ${cacheFile}`]);
    let trace = path.join(work, 'trace-libs-1');
    let d = new Daemon(work, conf, { strace: trace, calls: 'pread64,readahead' });
    t.ok(await d.waitFor(/watching execs/), 'listening');
    const libLine = new RegExp(`^elfprefetch: ${escapeRegExp(libFile)}: prefetched 1 runs`, 'gm');
    const lines = () => (d.text().match(libLine) ?? []).length;
    /** Lines of the trace on the library: its header reads, its requests. */
    const onLib = (call: string) => callsOn(trace, call, libFile);
    const exec = async (n: number, what: string) => {
      t.equal((await run([prog])).stdout, EXPECTED, `${what}: it runs`);
      t.ok(await d.waitFor(new RegExp(`(^elfprefetch: ${escapeRegExp(libFile)}: prefetched[\\s\\S]*){${n}}`, 'm')), `${what}: the library's set was requested`);
    };
    await exec(1, 'first exec');
    const firstReads = onLib('pread64');
    t.ok(firstReads > 0, `the first exec read the library's headers (${firstReads} pread64)`);
    await exec(2, 'second exec');
    await exec(3, 'third exec');
    t.equal(onLib('pread64'), firstReads, 'the next execs did not read them again');
    t.equal(lines(), 3, 'and requested its set each time');
    // Kept in the note cache's file: after a restart the library is still known.
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
    trace = path.join(work, 'trace-libs-2');
    d = new Daemon(work, conf, { strace: trace, calls: 'pread64,readahead' });
    t.ok(await d.waitFor(/watching execs/), 'restarted');
    await exec(1, 'after a restart');
    t.equal(onLib('pread64'), 0, 'after a restart its headers are not read either');
    t.ok(onLib('readahead') > 0, 'and its set is requested');
    // Any change to the file changes its change time (chmod here): checked again.
    fs.chmodSync(libFile, 0o600);
    await exec(2, 'after chmod');
    t.ok(onLib('pread64') > 0, 'a changed library is read again');
    // A library that is another build is never remembered as good.
    fs.copyFileSync('/bin/true', libFile);
    for (let i = 0; i < 2; i++) t.equal((await run([prog])).stdout, EXPECTED, `another build, exec ${i + 1}: it runs`);
    t.ok(await d.waitFor(new RegExp(`(^elfprefetch: ${escapeRegExp(libFile)}: the library is another build than the note's$[\\s\\S]*){2}`, 'm')), 'another build is found at both execs');
    d.signal('SIGTERM');
    t.same(await d.ended(), { code: 0, signal: null });
  });

  await sub(t, 'a storm of distinct cold programs is held to the I/O budget', async (t) => {
    uncache(t);
    const trace = path.join(work, 'trace-budget');
    // 32 KiB per program; a budget of 64 KiB + 64 KiB of refill at most: the 64 KiB floor lets
    // through 2 programs (at most 3 with refill), and the rest are left alone.
    const d = new Daemon(work, writeConf(work, [...baseConf, 'max-bytes-per-exec = 64K', 'burst-bytes = 128K', 'bytes-per-second = 1K']), { strace: trace });
    t.ok(await d.waitFor(/watching execs/), 'listening');
    for (let i = 0; i < COPIES; i++) t.equal((await run([at(`copy${i}`)])).stdout, EXPECTED, `copy${i} runs`);
    t.ok(await d.waitFor(new RegExp(`copy${COPIES - 1}.*(left alone|prefetched)`)), 'the last exec was handled');
    d.signal('SIGTERM');
    t.not(await d.ended(), 'still running', 'it ended');
    const bytes = callsOf(trace).calls.reduce((n, c) => n + c.length, 0);
    const left = (d.text().match(/left alone, the I\/O budget is spent/g) ?? []).length;
    t.ok(bytes <= 128 * 1024 + 32 * 1024, `read-ahead requested: ${bytes} bytes, within the budget`);
    t.ok(bytes >= 2 * 32 * 1024, 'the first programs were prefetched');
    t.ok(left >= COPIES - 4, `${left} of ${COPIES} execs left alone once the budget was spent`);
  });
});
