// What this machine's kernel and set-up give the specs, probed once each, lazily, in one place.
//
// `missing(cap)` is undefined where the capability is there, else the reason it is not; a
// spec either runs the same check another way (qemu-i386 for i386 programs, for example)
// or skips with that reason. A check never passes silently where it could not run.
//
// ELFPREFETCH_TEST_ASSUME_NO=i386,binfmt,... makes the named probes report "missing"
// without probing, so the fallback paths can be run on a machine that has everything.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ioThrottleUnavailable } from '../../src/bench/device';
import { loopUnavailable } from '../../src/io/loop';
import { exactUnavailable } from '../../src/record/exact';

/** Each capability and what it is. */
export const CAPABILITIES = {
  root: 'running as root (mounts, loop devices, cgroups, setuid checks)',
  i386: 'the kernel runs 32-bit x86 programs natively (IA-32 emulation)',
  mount: 'mounting a tmpfs (root with CAP_SYS_ADMIN, not a locked-down container)',
  binfmt: 'binfmt_misc hands foreign programs to qemu-user, so they run by their name (after an exec, say)',
  strace: 'strace can trace a child (ptrace allowed)',
  loop: 'a free loop device can be attached (/dev/loop-control, losetup)',
  blkio: "a cgroup io controller that throttles and counts a device's reads (v2 io or v1 blkio)",
  tracefs: 'the exact recording method: root, loop devices, tracefs with the filemap tracepoint',
  userfaultfd: 'userfaultfd with asynchronous write-protect (Linux >= 6.7): page-exact pagemap recording',
  musl: 'musl-gcc (Debian musl-tools) links static programs with musl, as shim/Makefile links elfprefetch-exec',
} as const;
export type Capability = keyof typeof CAPABILITIES;

const ASSUME_NO_VAR = 'ELFPREFETCH_TEST_ASSUME_NO';

function assumedMissing(): Set<string> {
  const names = (process.env[ASSUME_NO_VAR] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(n in CAPABILITIES)) throw new Error(`${ASSUME_NO_VAR}: unknown capability '${n}' (one of ${Object.keys(CAPABILITIES).join(', ')})`);
  return new Set(names);
}

const cache = new Map<string, string | undefined>();

/** Why `cap` is not available here, or undefined when it is. Probed on first use only. */
export function missing(cap: Capability): string | undefined {
  if (assumedMissing().has(cap)) return `assumed missing (${ASSUME_NO_VAR}=${process.env[ASSUME_NO_VAR]})`;
  if (!cache.has(cap)) cache.set(cap, PROBES[cap]());
  return cache.get(cap);
}

export const has = (cap: Capability): boolean => missing(cap) === undefined;

/** The first reason among `caps`, for `{ skip: needs('root', 'loop') }`; false when all are there. */
export function needs(...caps: Capability[]): string | false {
  for (const c of caps) {
    const why = missing(c);
    if (why) return `needs ${c}: ${why}`;
  }
  return false;
}

/** Whether `cmd` is on PATH. */
export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$0"', cmd], { stdio: 'ignore' }).status === 0;
}

function tmpFile(name: string, bytes: Buffer, mode: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-probe-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes, { mode });
  return file;
}

/** A static 32-bit x86 ELF program of 96 bytes that exits with 42 (no toolchain needed). */
export function i386ExitProgram(): Buffer {
  const code = Buffer.from([0xb8, 1, 0, 0, 0, 0xbb, 42, 0, 0, 0, 0xcd, 0x80]); // mov eax,1; mov ebx,42; int 0x80
  const base = 0x08048000;
  const b = Buffer.alloc(52 + 32 + code.length);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(3, 18); // EM_386
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(base + 84, 24); // e_entry
  b.writeUInt32LE(52, 28); // e_phoff
  b.writeUInt16LE(52, 40);
  b.writeUInt16LE(32, 42);
  b.writeUInt16LE(1, 44);
  const ph = 52;
  b.writeUInt32LE(1, ph); // PT_LOAD
  b.writeUInt32LE(0, ph + 4);
  b.writeUInt32LE(base, ph + 8);
  b.writeUInt32LE(base, ph + 12);
  b.writeUInt32LE(b.length, ph + 16);
  b.writeUInt32LE(b.length, ph + 20);
  b.writeUInt32LE(5, ph + 24); // R+X
  b.writeUInt32LE(0x1000, ph + 28);
  code.copy(b, 84);
  return b;
}

/** A static big-endian 64-bit PowerPC ELF program that exits with 42 (ELFv1: the entry is a descriptor). */
export function ppc64ExitProgram(): Buffer {
  const base = 0x10000000;
  const desc = 64 + 56; // the function descriptor, then the code
  const codeAt = desc + 24;
  // li r0,1 (exit); li r3,42; sc
  const code = [0x38000001, 0x3860002a, 0x44000002];
  const b = Buffer.alloc(codeAt + code.length * 4);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 2, 1], 0);
  b.writeUInt16BE(2, 16); // ET_EXEC
  b.writeUInt16BE(21, 18); // EM_PPC64
  b.writeUInt32BE(1, 20);
  b.writeBigUInt64BE(BigInt(base + desc), 24); // e_entry: the descriptor
  b.writeBigUInt64BE(64n, 32); // e_phoff
  b.writeUInt32BE(1, 48); // e_flags: ELFv1
  b.writeUInt16BE(64, 52);
  b.writeUInt16BE(56, 54);
  b.writeUInt16BE(1, 56);
  b.writeUInt32BE(1, 64); // PT_LOAD
  b.writeUInt32BE(5, 68); // R+X
  b.writeBigUInt64BE(0n, 72);
  b.writeBigUInt64BE(BigInt(base), 80);
  b.writeBigUInt64BE(BigInt(base), 88);
  b.writeBigUInt64BE(BigInt(b.length), 96);
  b.writeBigUInt64BE(BigInt(b.length), 104);
  b.writeBigUInt64BE(0x10000n, 112);
  b.writeBigUInt64BE(BigInt(base + codeAt), desc); // descriptor: entry, TOC, environment
  code.forEach((w, i) => b.writeUInt32BE(w, codeAt + 4 * i));
  return b;
}

/** Runs a hand-made program that should exit 42; the reason it did not, or undefined. */
function runsAndExits42(file: string, what: string): string | undefined {
  const r = spawnSync(file, [], { encoding: 'utf8', timeout: 20_000 });
  if (r.status === 42) return undefined;
  // On "Exec format error" execvp hands the file to /bin/sh, which fails on it: status 2 or 126.
  const how = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}, not 42 (execve refused it: Exec format error)`;
  return `${what}: ${how}`;
}

const PROBES: Record<Capability, () => string | undefined> = {
  root: () => (process.getuid?.() === 0 ? undefined : `running as uid ${process.getuid?.()}, not root`),

  mount: () => {
    const root = missing('root');
    if (root) return root;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-probe-mnt-'));
    try {
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
      if (r.status !== 0) return `cannot mount a tmpfs: ${(r.error?.message ?? r.stderr).trim().slice(0, 200)}`;
      spawnSync('umount', [dir]);
      return undefined;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },

  i386: () => {
    const why = runsAndExits42(tmpFile('exit42-i386', i386ExitProgram(), 0o755), 'a static i386 program run natively');
    return why && `this kernel runs no 32-bit x86 programs (IA-32 emulation off or not built in): ${why}`;
  },

  binfmt: () => {
    // A foreign static program run by its name: only binfmt_misc (qemu-user-binfmt) can run it.
    const why = runsAndExits42(tmpFile('exit42-ppc64', ppc64ExitProgram(), 0o755), 'a static ppc64 program run by its name');
    if (!why) return undefined;
    const reg = '/proc/sys/fs/binfmt_misc';
    const registered = fs.existsSync(path.join(reg, 'status')) ? fs.readdirSync(reg).filter((n) => n.startsWith('qemu-')) : undefined;
    return `foreign programs do not run without an explicit qemu (${why}; ${registered ? `binfmt_misc registers ${registered.join(', ') || 'no qemu'}` : `${reg} is not mounted`})`;
  },

  strace: () => {
    if (!onPath('strace')) return 'strace is not installed (Debian package strace)';
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=none', '--', 'true'], { encoding: 'utf8', timeout: 20_000 });
    return r.status === 0 ? undefined : `strace cannot trace here (ptrace refused?): ${(r.error?.message ?? r.stderr).trim().slice(0, 200)}`;
  },

  loop: () => missing('root') ?? loopUnavailable(),

  blkio: () => missing('root') ?? ioThrottleUnavailable(),

  tracefs: () => missing('loop') ?? exactUnavailable(),

  userfaultfd: () => {
    // The recorder says which processes it could not register with a userfaultfd.
    const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js');
    const out = tmpFile('uffd-probe.json', Buffer.alloc(0), 0o644);
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const r = spawnSync(process.execPath, [cli, 'record', '--method', 'pagemap', '--json', '-o', out, '--', 'true'], { encoding: 'utf8', env, timeout: 60_000 });
    if (r.status !== 0) return `the uffd probe (elfprefetch record --method pagemap -- true) failed: ${r.stderr.trim().slice(0, 300)}`;
    const notes = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { notes: string[] }).notes;
    const note = notes.find((n) => /no userfaultfd/.test(n));
    return note && `no userfaultfd with asynchronous write-protect (Linux < 6.7?): ${note}`;
  },
  musl: () => (onPath('musl-gcc') ? undefined : 'no musl-gcc on PATH (Debian: apt-get install musl-tools)'),
};
