// The auditor without a C library (docs/SHIM.md, "The auditor without a C library"): on x86-64
// and aarch64 it needs ld.so alone, so ld.so loads no second libc into its namespace; built for
// aarch64 by the cross compiler and run under qemu-user, it reads the environment from the
// initial stack and prefetches as the libc build does. (The hooks' behaviour on this machine,
// secure mode and errno included, is spec/shim-prefetch.spec.ts's and spec/shim-hostile.spec.ts's,
// which run this build.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { stampFile } from '../src/ops/stamp';
import { needs, onPath } from './helpers/capabilities';
import { repoRoot } from './helpers/fixtures';
import { BIG_PROGRAM_C, auditLib, buildNative, evict } from './helpers/shim';

const made = buildNative();
if (made) throw new Error(made);

const needed = (file: string): string[] => {
  const r = spawnSync('readelf', ['-dW', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`readelf -d ${file}: ${r.stderr}`);
  return [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
};

t.test('on this machine (x86-64 or aarch64): the auditor needs ld.so alone', { skip: !['x64', 'arm64'].includes(os.arch()) && `nolibc.c does not know ${os.arch()}` }, async (t) => {
  const libs = needed(auditLib);
  t.equal(libs.length, 1, `one library needed: ${libs.join(', ')}`);
  t.match(libs[0], /^ld-linux-(x86-64|aarch64)\.so\.\d$/, 'the dynamic linker');
  const undef = spawnSync('nm', ['-D', '--undefined-only', auditLib], { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).pop());
  t.same(undef.map((s) => s?.replace(/@.*/, '')), ['__libc_stack_end'], 'its only undefined symbol: ld.so\'s __libc_stack_end');
  const exported = spawnSync('nm', ['-D', '--defined-only', auditLib], { encoding: 'utf8' }).stdout;
  t.notMatch(exported, /\b(getenv|open|memcpy|__errno_location)\b/, 'its libc functions are its own (hidden), not exported');
  t.match(exported, /\bla_version\b/, 'la_version is exported');
});

t.test('aarch64, cross-built and run under qemu-user: the environment is read and the note prefetched', async (t) => {
  for (const tool of ['aarch64-linux-gnu-gcc', 'qemu-aarch64']) if (!onPath(tool)) return t.fail(`${tool} is not installed: run scripts/setup.sh`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-nolibc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mk = spawnSync('make', ['-s', '-C', path.join(repoRoot, 'shim'), 'CC=aarch64-linux-gnu-gcc', `OUT=${dir}`, 'AUDIT_LIBC=none', `${dir}/libelfprefetch-audit.so`], { encoding: 'utf8' });
  t.equal(mk.status, 0, `make AUDIT_LIBC=none for aarch64: ${mk.stderr}`);
  t.match(mk.stdout, /linked without a C library \(ld\.so only: -l:ld-linux-aarch64\.so\.1\)/, 'make says how it linked');
  const lib = path.join(dir, 'libelfprefetch-audit.so');
  t.same(needed(lib), ['ld-linux-aarch64.so.1'], 'it needs the aarch64 dynamic linker alone');

  fs.writeFileSync(path.join(dir, 'hi.c'), '#include <stdio.h>\nint main(int argc, char **argv) { printf("hi %d %s\\n", argc, argc > 1 ? argv[1] : "-"); return 3; }\n');
  const prog = path.join(dir, 'hi');
  const cc = spawnSync('aarch64-linux-gnu-gcc', ['-O2', '-o', prog, path.join(dir, 'hi.c')], { encoding: 'utf8' });
  t.equal(cc.status, 0, `cross-compiled: ${cc.stderr}`);
  const plain = spawnSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', prog, 'x'], { encoding: 'utf8' });
  stampFile(prog, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }, { name: 'other', runs: [{ first: 0, count: 1 }] }] });
  // qemu hands its own environment to the program; -E sets a variable for the program only.
  const run = (env: Record<string, string>) =>
    spawnSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', '-E', `LD_AUDIT=${lib}`, ...Object.entries(env).flatMap(([k, v]) => ['-E', `${k}=${v}`]), prog, 'x'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  const on = run({ ELFPREFETCH_DEBUG: '1', ELFPREFETCH_RESIDENCY: '0' });
  t.equal(on.status, 3, 'the program\'s exit status');
  t.equal(on.stdout, plain.stdout, 'its output, as without the auditor');
  t.match(on.stderr, new RegExp(`^elfprefetch: ${prog}: prefetched 1 runs, 8192 bytes in 1 requests \\(`, 'm'), 'the default set, from the program\'s note');
  t.match(on.stderr, /^elfprefetch: \/lib\/libc\.so\.6: no note$/m, 'la_objopen ran for the libraries too');
  const other = run({ ELFPREFETCH_DEBUG: '1', ELFPREFETCH_RESIDENCY: '0', ELFPREFETCH_SET: 'other' });
  t.match(other.stderr, new RegExp(`^elfprefetch: ${prog}: prefetched 1 runs, 4096 bytes in 1 requests \\(`, 'm'), 'ELFPREFETCH_SET read from the environment');
  const none = run({ ELFPREFETCH_DEBUG: '1', ELFPREFETCH_SET: 'nosuch' });
  t.match(none.stderr, new RegExp(`^elfprefetch: ${prog}: no page set named nosuch`, 'm'), 'an unknown set is named');
  const off = run({ ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DISABLE: '1' });
  t.equal(off.stderr, '', 'ELFPREFETCH_DISABLE=1: nothing');
  t.equal(off.stdout, plain.stdout);
  const quiet = run({});
  t.equal(quiet.stderr, '', 'no ELFPREFETCH_DEBUG: silent');
});

// ld.so unsets LD_AUDIT and the other unsafe variables of a setuid program by moving the later
// pointers of the environment down, which leaves more NULLs before the auxiliary vector: the
// auditor must still find AT_SECURE there and ignore every ELFPREFETCH_* variable. In secure mode
// glibc loads an auditor only by name from a system library directory, and only if it is setuid.
t.test('secure mode: a setuid program under this auditor ignores every ELFPREFETCH_* variable', { skip: needs('root') || (!onPath('strace') && 'needs strace') }, async (t) => {
  const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout.trim();
  const sysDir = `/usr/lib/${multiarch}`;
  if (!multiarch || !fs.existsSync(sysDir)) return t.fail(`no system library directory for ${multiarch}`);
  const name = `libelfprefetch-audit-spec-${process.pid}.so`;
  const installed = path.join(sysDir, name);
  fs.copyFileSync(auditLib, installed);
  fs.chmodSync(installed, 0o4755);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-nolibc-suid-'));
  t.teardown(() => {
    fs.rmSync(installed, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  fs.chmodSync(dir, 0o755);
  // A 32 MiB blob: page 4096 lies 16 MiB in, beyond anything the exec and ld.so bring into the
  // page cache, so with the residency check on it is still read.
  fs.writeFileSync(path.join(dir, 'p.c'), BIG_PROGRAM_C);
  const prog = path.join(dir, 'p');
  t.equal(spawnSync('gcc', ['-O2', '-DN=(32u<<20)', '-o', prog, path.join(dir, 'p.c')]).status, 0, 'compiled');
  stampFile(prog, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 1 }, { first: 4096, count: 1 }] }] });
  const plain = spawnSync(prog, [], { encoding: 'utf8' }).stdout;
  const run = (env: Record<string, string>) => {
    const log = path.join(dir, `strace-${Object.keys(env).length}-${fs.readdirSync(dir).length}.log`);
    evict(prog);
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=readahead,openat', '-o', log, prog], { encoding: 'utf8', env: { PATH: process.env.PATH, LD_AUDIT: name, ...env } });
    const calls = fs.readFileSync(log, 'utf8');
    return { ...r, loaded: calls.includes(installed) || calls.includes(`/${name}"`), readahead: /readahead\(/.test(calls) };
  };
  const asked = { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DISABLE: '1', ELFPREFETCH_RESIDENCY: '0' };
  // Control, not setuid: the auditor is loaded by name and obeys the variables.
  const control = run({ ELFPREFETCH_DEBUG: '1', ELFPREFETCH_RESIDENCY: '0' });
  t.ok(control.loaded, 'not setuid: the auditor is loaded from the system directory');
  t.match(control.stderr, new RegExp(`^elfprefetch: ${prog}: prefetched 2 runs, 8192 bytes in 2 requests`, 'm'), 'not setuid: ELFPREFETCH_DEBUG obeyed');
  const obeyed = run(asked);
  t.equal(obeyed.stderr, '', 'not setuid: ELFPREFETCH_DISABLE obeyed (nothing said)');
  t.notOk(obeyed.readahead, 'not setuid: ELFPREFETCH_DISABLE obeyed (nothing read)');
  // Setuid to nobody, run by root: AT_SECURE.
  const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  fs.chownSync(prog, nobody, 0);
  fs.chmodSync(prog, 0o4755);
  const secure = run(asked);
  t.equal(secure.status, 3, 'setuid: the program ran');
  t.equal(secure.stdout, plain, 'setuid: its output');
  t.ok(secure.loaded, 'setuid: the auditor was loaded');
  t.equal(secure.stderr, '', 'setuid: ELFPREFETCH_DEBUG ignored');
  t.ok(secure.readahead, 'setuid: ELFPREFETCH_DISABLE ignored: the note was prefetched');
});
