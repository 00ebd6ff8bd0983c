// Sidecar files (docs/FORMAT.md section 8): the loader shim reads the note of a file that has
// none from DIR/hh/rest.note, through each hook, and ignores every sidecar it must not trust.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { Test } from 'tap';
import { NoteObject, buildIdOf, contentSha256, decodeNote, emptyNote, encodeNote, findOurNote, format, layoutDigest, normalizeRuns, openElf, stampFile } from '../src/index';
import { DEFAULT_SIDECAR_DIR, MAX_SIDECAR } from '../src/ops/sidecar';
import type { Run } from '../src/index';
import { DEVICES, DeviceClass, ReadRequest, planReads } from '../src/readplan/coalesce';
import { chooseDevice } from '../src/readplan/device';
import { Fixture, copyFixture, fixture, repoRoot } from './helpers/fixtures';
import { HookName, buildNative, cliMain, evict, parseStrace, runHooked, withoutDiagnostics, wrapper, FD_ERRNO_PROBE_C, cc, escapeRegExp } from './helpers/shim';
import { needs } from './helpers/capabilities';
import { shimSources } from './helpers/native-sources';

const HOOKS: HookName[] = ['exec', 'audit', 'preload'];
const shimDir = path.join(repoRoot, 'shim');
const PAGE = 4096;

const made = buildNative();
if (made) throw new Error(made);

/** A folder under /tmp that user nobody can read (t.testdir() is inside the repository). */
function tmpRoot(t: Test): string {
  const dir = fs.mkdtempSync('/tmp/epf-sidecar-');
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Identity {
  size: number;
  buildId: Uint8Array;
  layout: bigint;
  content: Uint8Array;
}

/** Identity of a file without a note of its own: only the ELF header is read as zeros. */
function identity(file: string): Identity {
  const elf = openElf(file);
  try {
    return {
      size: Number(elf.source.size),
      buildId: buildIdOf(elf),
      layout: layoutDigest(elf.programHeaders),
      content: contentSha256(elf.source, elf.header.ehsize, elf.programHeaders, []),
    };
  } finally {
    elf.source.close();
  }
}

/** The descriptor `elfprefetch stamp FILE --sidecar` writes: page 0 and `runs`, for the file as it is. */
function sidecarFor(file: string, runs: Run[], libraries: NoteObject[] = [], self: Partial<NoteObject> = {}): Buffer {
  const me = identity(file);
  const pageCount = Math.ceil(me.size / PAGE);
  return Buffer.from(
    encodeNote({
      version: 1,
      pageShift: 12,
      empty: false,
      objects: [
        { path: '', buildId: me.buildId, layoutDigest: me.layout, contentSha256: me.content, pageSets: [{ name: 'default', pageCount, runs: normalizeRuns([{ first: 0, count: 1 }, ...runs]) }], ...self },
        ...libraries,
      ],
    }),
  );
}

/** A library entry of a note: its identity and one set. */
function libraryObject(file: string, runs: Run[]): NoteObject {
  const me = identity(file);
  return { path: file, buildId: me.buildId, layoutDigest: me.layout, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount: Math.ceil(me.size / PAGE), runs }] };
}

/** DIR/hh/rest.note */
function sidecarPath(dir: string, buildId: Uint8Array): string {
  const hex = Buffer.from(buildId).toString('hex');
  return path.join(dir, hex.slice(0, 2), `${hex.slice(2)}.note`);
}

function putSidecar(dir: string, file: string, bytes: Buffer, mode = 0o644): string {
  const p = sidecarPath(dir, identity(file).buildId);
  fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
  fs.writeFileSync(p, bytes, { mode });
  fs.chmodSync(p, mode);
  return p;
}

/** The runs of the default set of object `index` of a descriptor. */
function runsOf(desc: Uint8Array, index = 0): Run[] {
  return decodeNote(desc).objects[index]!.pageSets.find((s) => s.name === 'default')!.runs;
}

const fmt = (calls: Array<{ path: string; offset: number; length: number }>): string[] => calls.map((c) => `${c.path} ${c.offset}+${c.length}`);
const at = (file: string, reqs: ReadRequest[]) => reqs.map((r) => ({ path: file, ...r }));
const plan = (file: string, runs: Run[], device: DeviceClass) => at(file, planReads(runs, PAGE, DEVICES[device], fs.statSync(file).size, chooseDevice(file).cap));

/** Runs `argv` under strace, tracing `syscalls`; the readahead calls and every other line. */
function strace(argv: string[], syscalls: string, env: Record<string, string>, opts: { user?: string; cwd?: string } = {}) {
  const log = fs.mkdtempSync('/tmp/epf-sidecar-log-');
  try {
    const file = path.join(log, 'strace');
    const user = opts.user ? ['-u', opts.user] : [];
    const r = spawnSync('strace', ['-f', '-qq', '-y', ...user, '-e', `trace=${syscalls}`, '-e', 'signal=none', '-o', file, '--', ...argv], {
      env: { ...stripHooks(process.env), ...env },
      cwd: opts.cwd,
      encoding: 'utf8',
    });
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const { calls, unparsed } = parseStrace(text);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls, lines: unparsed };
  } finally {
    fs.rmSync(log, { recursive: true, force: true });
  }
}

function stripHooks(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const e = { ...env };
  delete e.LD_AUDIT;
  delete e.LD_PRELOAD;
  for (const k of Object.keys(e)) if (k.startsWith('ELFPREFETCH_')) delete e[k];
  return e;
}

/** Runs `cmd` through `hook` with a clean ELFPREFETCH_* environment plus `env`, under strace. */
async function traced(hook: HookName, cmd: string[], env: Record<string, string>, cwd?: string) {
  const saved = process.cwd();
  const clean = Object.keys(process.env).filter((k) => k.startsWith('ELFPREFETCH_'));
  for (const k of clean) delete process.env[k];
  if (cwd) process.chdir(cwd);
  try {
    return await runHooked(hook, cmd, { trace: true, env: { ELFPREFETCH_DEBUG: '1', ...env } });
  } finally {
    process.chdir(saved);
  }
}

t.test('an unstamped program with a sidecar is prefetched as the stamped copy would be, through each hook', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const pie = fixture('x86-64-pie');
  const runs: Run[] = [{ first: 2, count: 3 }];
  const plain = copyFixture(pie, path.join(root, 'plain')).exe;
  const dir = path.join(root, 'sidecars');
  const sc = putSidecar(dir, plain, sidecarFor(plain, runs));
  // The stamped copy, for comparison: the same page set in its own note.
  const stamped = copyFixture(pie, path.join(root, 'stamped')).exe;
  stampFile(stamped, { pageShift: 12, sets: [{ name: 'default', runs }] });
  const own = openElf(stamped);
  let ownRuns: Run[];
  try {
    const n = findOurNote(own)!;
    ownRuns = runsOf(own.source.read(n.note.descOffset, n.note.descSize));
  } finally {
    own.source.close();
  }
  t.same(runsOf(fs.readFileSync(sc)), ownRuns, 'the sidecar holds the page set the stamp writes into the file');
  t.same(identity(plain).buildId, identity(pie.path).buildId, 'the program is the fixture, untouched');

  for (const device of ['ssd', 'nvme'] as DeviceClass[]) {
    const want = plan(plain, ownRuns, device);
    const wantStamped = plan(stamped, ownRuns, device);
    t.ok(want.length > 0, `${device}: something to read`);
    for (const hook of HOOKS) {
      const what = `via ${hook} on ${device}`;
      const o = await traced(hook, [plain, ...pie.args], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: device });
      t.equal(o.stdout, pie.expected, `${what}: same output`);
      t.equal(o.status, pie.status, `${what}: same status`);
      t.same(o.unparsed, [], `${what}: strace shows nothing else`);
      t.same(fmt(o.calls), fmt(want), `${what}: exactly the planned requests`);
      const bytes = want.reduce((n, r) => n + r.length, 0);
      t.match(o.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(plain)}: prefetched \\d+ runs, ${bytes} bytes in ${want.length} requests \\(${device}, requests <= \\d+ KiB\\) \\(sidecar ${escapeRegExp(sc)}\\)$`, 'm'), `${what}: the debug line names the sidecar`);
      t.equal(withoutDiagnostics(o.stderr), '', `${what}: nothing else on stderr`);
      // The stamped copy, which has the same build-id: its own note, not the sidecar.
      const s = await traced(hook, [stamped, ...pie.args], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: device });
      t.same(fmt(s.calls), fmt(wantStamped), `${what}: the stamped copy reads the same pages from its own note`);
      t.notMatch(s.stderr, /\(sidecar |; sidecar /, `${what}: the stamped copy does not look at the sidecar`);
    }
  }
  // A trailing slash names the same directory.
  const slash = await traced('exec', [plain, ...pie.args], { ELFPREFETCH_SIDECAR: dir + '//', ELFPREFETCH_DEVICE: 'nvme' });
  t.same(fmt(slash.calls), fmt(plan(plain, ownRuns, 'nvme')), 'ELFPREFETCH_SIDECAR=DIR//: the same sidecar');
  t.match(slash.stderr, new RegExp(`\\(sidecar ${escapeRegExp(sc)}\\)$`, 'm'), 'named without the trailing slashes');
  // Without ELFPREFETCH_SIDECAR the compiled-in directory is used, which has none here.
  for (const hook of HOOKS) {
    const o = await traced(hook, [plain, ...pie.args], {});
    t.same(o.calls, [], `via ${hook}: no sidecar in the default directory, nothing read`);
    t.match(o.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(plain)}: no note$`, 'm'));
  }
});

t.test('a system program, left where it is, prefetched from its sidecar', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const prog = fs.realpathSync('/usr/bin/true');
  const me = identity(prog);
  if (!t.ok(me.buildId.length >= 2, `${prog} has a build-id`)) return;
  const dir = path.join(root, 'sc');
  const before = fs.statSync(prog);
  const sc = putSidecar(dir, prog, sidecarFor(prog, [{ first: 1, count: 2 }]));
  const want = plan(prog, runsOf(fs.readFileSync(sc)), 'nvme');
  for (const hook of HOOKS) {
    const o = await traced(hook, [prog], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: 'nvme' });
    t.equal(o.status, 0);
    t.same(fmt(o.calls), fmt(want), `${prog} via ${hook}: its sidecar's pages`);
  }
  const after = fs.statSync(prog);
  t.same([after.mtimeMs, after.size, after.ino], [before.mtimeMs, before.size, before.ino], 'the program is untouched');
});

t.test('the C shim and the TypeScript writer agree on the default directory and the size limit', async (t) => {
  const header = fs.readFileSync(path.join(shimDir, 'epf_prefetch.h'), 'utf8');
  t.equal(/^#define EPF_SIDECAR_DIR "(.*)"$/m.exec(header)?.[1], DEFAULT_SIDECAR_DIR);
  const makefile = fs.readFileSync(path.join(shimDir, 'Makefile'), 'utf8');
  t.equal(/^SIDECAR_DIR \?= (.*)$/m.exec(makefile)?.[1], DEFAULT_SIDECAR_DIR);
  t.equal(MAX_SIDECAR, format.MAX_DESC_SIZE, 'a sidecar holds at most what a note descriptor may');
});

t.test('the CLI writes the sidecar this spec writes, and the shim reads it', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const pie = fixture('x86-64-pie');
  const prog = copyFixture(pie, path.join(root, 'prog')).exe;
  const before = fs.readFileSync(prog);
  const dir = path.join(root, 'cli');
  const r = spawnSync(process.execPath, [cliMain, 'stamp', prog, '--pages', '2-4', '--sidecar', dir], { encoding: 'utf8' });
  t.equal(r.status, 0, `elfprefetch stamp --sidecar: ${r.stderr}`);
  const p = sidecarPath(dir, identity(prog).buildId);
  t.ok(fs.existsSync(p), 'written at DIR/hh/rest.note');
  t.same(fs.readFileSync(prog), before, 'the program is unchanged');
  const ours = sidecarFor(prog, [{ first: 2, count: 3 }]);
  t.same(fs.readFileSync(p), ours, 'byte for byte the descriptor built here');
  t.equal(fs.statSync(p).mode & 0o777, 0o644);
  for (const hook of HOOKS) {
    const o = await traced(hook, [prog, ...pie.args], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: 'ssd' });
    t.equal(o.stdout, pie.expected);
    t.same(fmt(o.calls), fmt(plan(prog, runsOf(ours), 'ssd')), `via ${hook}: the CLI's sidecar is used`);
  }
});

t.test('a sidecar names library sets like an in-file note; each library is read once', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const shlib = fixture('x86-64-shlib');
  const c = copyFixture(shlib, path.join(root, 'app'));
  const lib = c.libs[0]!;
  const dir = path.join(root, 'sidecars');
  const libRuns = [{ first: 0, count: 1 }, { first: 3, count: 1 }];
  const sc = putSidecar(dir, c.exe, sidecarFor(c.exe, [{ first: 1, count: 1 }], [libraryObject(lib, libRuns)]));
  for (const device of ['hdd', 'nvme'] as DeviceClass[]) {
    const want = [...plan(c.exe, runsOf(fs.readFileSync(sc)), device), ...plan(lib, libRuns, device)];
    for (const hook of HOOKS) {
      const what = `via ${hook} on ${device}`;
      const o = await traced(hook, [c.exe, ...shlib.args], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: device });
      t.equal(o.stdout, shlib.expected, `${what}: same output`);
      t.same(fmt(o.calls), fmt(want), `${what}: the program's set, then the library's, once`);
      t.match(o.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(lib)}: prefetched 2 runs, \\d+ bytes in \\d+ requests \\(${device}, requests <= \\d+ KiB\\) \\(sidecar ${escapeRegExp(sc)}\\)$`, 'm'), `${what}: the library line names the sidecar`);
      t.equal(withoutDiagnostics(o.stderr), '');
    }
  }
  // A library with a sidecar of its own: audit (la_objopen) and preload find it, the wrapper cannot.
  const d = copyFixture(shlib, path.join(root, 'app2'));
  const dir2 = path.join(root, 'sidecars2');
  const libSc = putSidecar(dir2, d.libs[0]!, sidecarFor(d.libs[0]!, [{ first: 2, count: 1 }]));
  const libWant = plan(d.libs[0]!, runsOf(fs.readFileSync(libSc)), 'nvme');
  for (const hook of HOOKS) {
    const o = await traced(hook, [d.exe, ...shlib.args], { ELFPREFETCH_SIDECAR: dir2, ELFPREFETCH_DEVICE: 'nvme' });
    t.equal(o.stdout, shlib.expected);
    t.same(fmt(o.calls), fmt(hook === 'exec' ? [] : libWant), `via ${hook}: the library's own sidecar ${hook === 'exec' ? 'is not the wrapper\'s business' : 'is used'}`);
  }
});

t.test('an in-file note wins over the sidecar: stale or corrupt, nothing is read; an empty reservation takes the sidecar', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const pie = fixture('x86-64-pie');
  const base = copyFixture(pie, path.join(root, 'base')).exe;
  stampFile(base, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }] });
  const elf = openElf(base);
  const n = findOurNote(elf)!;
  const descOffset = Number(n.note.descOffset);
  const descSize = n.note.descSize;
  const inFile = Buffer.from(elf.source.read(n.note.descOffset, descSize));
  elf.source.close();
  const me = identity(base); // the layout and build-id do not depend on the descriptor's bytes
  const variant = (name: string, desc: Buffer): string => {
    const file = path.join(root, name);
    const bytes = fs.readFileSync(base);
    bytes.fill(0, descOffset, descOffset + descSize);
    desc.copy(bytes, descOffset);
    fs.writeFileSync(file, bytes, { mode: 0o755 });
    return file;
  };
  const pageCount = Math.ceil(me.size / PAGE);
  const staleDesc = Buffer.from(
    encodeNote({ version: 1, pageShift: 12, empty: false, objects: [{ path: '', buildId: new Uint8Array(20).fill(7), layoutDigest: me.layout, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount, runs: [{ first: 0, count: 2 }] }] }] }),
  );
  const corruptDesc = Buffer.from(inFile);
  corruptDesc[30] ^= 0x40;
  const cases: Array<[string, string, RegExp]> = [
    ['own note', base, /: prefetched 1 runs, 8192 bytes in 1 requests \(nvme, requests <= \d+ KiB\)$/m],
    ['stale', variant('stale', staleDesc), /: stale note \(another build-id\)$/m],
    ['corrupt', variant('corrupt', corruptDesc), /: corrupt note$/m],
    ['empty reservation', variant('empty', Buffer.from(emptyNote(12))), /\(sidecar /],
  ];
  const sidecarRuns = [{ first: 3, count: 2 }];
  for (const [name, file, line] of cases) {
    const dir = path.join(root, `sc-${name.replace(/ /g, '-')}`);
    // A sidecar that belongs to the file as it is (same build-id, same layout), with other pages.
    putSidecar(dir, file, sidecarFor(file, sidecarRuns));
    const want = name === 'own note' ? plan(file, [{ first: 0, count: 2 }], 'nvme') : name === 'empty reservation' ? plan(file, normalizeRuns([{ first: 0, count: 1 }, ...sidecarRuns]), 'nvme') : [];
    for (const hook of HOOKS) {
      const o = await traced(hook, [file, ...pie.args], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: 'nvme' });
      t.equal(o.stdout, pie.expected, `${name} via ${hook}: same output`);
      t.same(fmt(o.calls), fmt(want), `${name} via ${hook}: ${want.length ? 'the expected pages' : 'nothing read'}`);
      t.match(o.stderr, line, `${name} via ${hook}: said so`);
      if (name !== 'empty reservation') t.notMatch(o.stderr, /\(sidecar |; sidecar /, `${name} via ${hook}: the sidecar is not looked at`);
    }
  }
});

t.test('sidecars the shim must not use are ignored: nothing read, output unchanged, the reason said', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const pie = fixture('x86-64-pie');
  const nopie = fixture('x86-64-nopie');
  const prog = copyFixture(pie, path.join(root, 'prog')).exe;
  const other = copyFixture(nopie, path.join(root, 'other')).exe;
  const good = sidecarFor(prog, [{ first: 1, count: 3 }]);
  const me = identity(prog);
  const want = plan(prog, runsOf(good), 'nvme');
  let n = 0;
  const setup = (make: (p: string) => void): { dir: string; p: string } => {
    const dir = path.join(root, `case${n++}`);
    const p = sidecarPath(dir, me.buildId);
    fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
    make(p);
    return { dir, p };
  };
  const write = (bytes: Buffer, mode = 0o644) => (p: string) => {
    fs.writeFileSync(p, bytes, { mode });
    fs.chmodSync(p, mode);
  };
  const padded = (size: number): Buffer => {
    const b = Buffer.alloc(size);
    good.copy(b);
    return b;
  };
  const badCrc = Buffer.from(good);
  badCrc[good.length - 3] ^= 1;
  const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
  const cases: Array<{ name: string; dir: string; p: string; why: RegExp | null; env?: Record<string, string>; cwd?: string }> = [];
  const add = (name: string, why: RegExp | null, make: (p: string) => void, env?: Record<string, string>) => cases.push({ name, why, ...setup(make), env });
  // Controls: these are used, so the cases below can fail.
  add('valid', null, write(good));
  add('valid, padded with zeros to exactly 1 MiB', null, write(padded(1 << 20)));
  add('valid, read-only for its owner', null, write(good, 0o400));
  // Refused by fstat (or lstat, before it is opened).
  add('owned by nobody', /owned by another user than root or the process's/, (p) => {
    write(good)(p);
    fs.chownSync(p, Number(nobody), 0);
  });
  add('group-writable', /writable by group or others/, write(good, 0o664));
  add('writable by others', /writable by group or others/, write(good, 0o646));
  add('a symbolic link to a good sidecar', /a symbolic link/, (p) => {
    write(good)(p + '.real');
    fs.symlinkSync(p + '.real', p);
  });
  add('a directory', /not a regular file/, (p) => fs.mkdirSync(p));
  add('a FIFO', /not a regular file/, (p) => {
    const r = spawnSync('mkfifo', [p]);
    if (r.status !== 0) throw new Error('mkfifo failed');
  });
  add('one byte over 1 MiB', /longer than 1 MiB/, write(padded((1 << 20) + 1)));
  add('shorter than a header', /shorter than 24 bytes/, write(good.subarray(0, 20)));
  // Refused by the parser or the identity check.
  add('truncated', /corrupt$/, write(good.subarray(0, good.length - 4)));
  add('bad CRC', /corrupt$/, write(badCrc));
  add('another build\'s sidecar', /another build-id/, write(sidecarFor(other, [{ first: 1, count: 3 }])));
  add('another layout', /another layout/, write(sidecarFor(prog, [{ first: 1, count: 3 }], [], { layoutDigest: me.layout ^ 1n })));
  add('an empty note', /an empty note/, write(Buffer.from(emptyNote(12))));
  add('another format version', /a note of another format version/, (p) => {
    const b = Buffer.from(good);
    b.writeUInt16LE(2, 0);
    write(b)(p);
  });
  // Relative ELFPREFETCH_SIDECAR: ignored even when it names a good sidecar from the working directory.
  const rel = setup(write(good));
  cases.push({ name: 'relative ELFPREFETCH_SIDECAR', why: null, dir: path.relative(root, rel.dir), p: rel.p, cwd: root });
  t.ok(!path.isAbsolute(cases[cases.length - 1]!.dir));

  for (const c of cases) {
    for (const hook of HOOKS) {
      const what = `${c.name} via ${hook}`;
      const o = await traced(hook, [prog, ...pie.args], { ELFPREFETCH_SIDECAR: c.dir, ELFPREFETCH_DEVICE: 'nvme', ...c.env }, c.cwd);
      t.equal(o.stdout, pie.expected, `${what}: same output`);
      t.equal(o.status, pie.status, `${what}: same status`);
      t.equal(withoutDiagnostics(o.stderr), '', `${what}: nothing else on stderr`);
      const used = c.why === null && !c.cwd;
      t.same(fmt(o.calls), fmt(used ? want : []), `${what}: ${used ? 'used' : 'nothing read'}`);
      if (c.why) t.match(o.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(prog)}: no note; sidecar ${escapeRegExp(c.p)} ignored: ${c.why.source}`, 'm'), `${what}: the reason`);
      if (c.cwd) {
        t.match(o.stderr, /^elfprefetch: ELFPREFETCH_SIDECAR: not an absolute path/m, `${what}: said so`);
        t.match(o.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(prog)}: no note$`, 'm'), `${what}: the default directory has none`);
      }
    }
  }

  // Run as nobody: a sidecar owned by nobody (the effective user) or by root is used, one owned by another user is not.
  const asNobody = (dir: string) =>
    spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', wrapper, prog, ...pie.args], {
      env: { ...stripHooks(process.env), ELFPREFETCH_DEBUG: '1', ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '0' },
      encoding: 'utf8',
    });
  const usedLine = (p: string) => new RegExp(`^elfprefetch: ${escapeRegExp(prog)}: prefetched \\d+ runs, \\d+ bytes in ${want.length} requests \\(nvme, requests <= \\d+ KiB\\) \\(sidecar ${escapeRegExp(p)}\\)$`, 'm');
  const owned = cases.find((c) => c.name === 'owned by nobody')!;
  const r1 = asNobody(owned.dir);
  t.equal(r1.stdout, pie.expected);
  t.match(r1.stderr, usedLine(owned.p), 'run as nobody: a sidecar owned by nobody is used');
  const valid = cases.find((c) => c.name === 'valid')!;
  t.match(asNobody(valid.dir).stderr, usedLine(valid.p), 'run as nobody: a sidecar owned by root is used');
  const bin = setup((p) => {
    write(good)(p);
    fs.chownSync(p, 2, 2); // bin (or whoever has uid 2): neither root nor nobody
  });
  const r3 = asNobody(bin.dir);
  t.equal(r3.stdout, pie.expected);
  t.match(r3.stderr, /ignored: owned by another user than root or the process's$/m, 'run as nobody: a sidecar owned by a third user is not');
});

t.test('build-ids: 2 bytes is enough, 1 byte or none means no sidecar; the directory is looked at once', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const src = path.join(root, 'p.c');
  fs.writeFileSync(src, '#include <stdio.h>\nint main(void) { puts("p"); return 0; }\n');
  const two = path.join(root, 'two');
  const one = path.join(root, 'one');
  const none = path.join(root, 'none');
  if (!cc(t, two, [src], ['-Wl,--build-id=0xabcd']) || !cc(t, one, [src], ['-Wl,--build-id=0x5a']) || !cc(t, none, [src], ['-Wl,--build-id=none'])) return;
  t.same([...identity(two).buildId], [0xab, 0xcd]);
  t.equal(identity(one).buildId.length, 1);
  t.equal(identity(none).buildId.length, 0);
  const dir = path.join(root, 'sc');
  const sc = putSidecar(dir, two, sidecarFor(two, [{ first: 1, count: 1 }]));
  t.equal(sc, path.join(dir, 'ab', 'cd.note'), 'DIR/hh/rest.note');
  // A 1-byte build-id has no sidecar name; put one where a careless reader might look.
  fs.mkdirSync(path.join(dir, '5a'));
  fs.writeFileSync(path.join(dir, '5a', '.note'), sidecarFor(one, [{ first: 1, count: 1 }]), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, '5a.note'), sidecarFor(one, [{ first: 1, count: 1 }]), { mode: 0o644 });
  const want = plan(two, runsOf(fs.readFileSync(sc)), 'nvme');
  for (const hook of HOOKS) {
    const a = await traced(hook, [two], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: 'nvme' });
    t.same(fmt(a.calls), fmt(want), `2-byte build-id via ${hook}: its sidecar is used`);
    for (const f of [one, none]) {
      const b = await traced(hook, [f], { ELFPREFETCH_SIDECAR: dir, ELFPREFETCH_DEVICE: 'nvme' });
      t.equal(b.stdout, 'p\n');
      t.same(b.calls, [], `${path.basename(f)} via ${hook}: nothing read`);
      t.match(b.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(f)}: no note$`, 'm'));
    }
  }

  // The cost for objects without a note: the directory is stat()ed once per process; when it
  // exists, each object with a build-id costs one failed lstat of its sidecar, and nothing is opened.
  const files = 'openat,open,stat,lstat,newfstatat,statx,access,readlink,readlinkat';
  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  const missing = path.join(root, 'missing');
  for (const hook of HOOKS) {
    const h = hook === 'exec' ? [wrapper, none] : [none];
    const env: Record<string, string> = hook === 'audit' ? { LD_AUDIT: path.join(repoRoot, 'build/native/libelfprefetch-audit.so') } : hook === 'preload' ? { LD_PRELOAD: path.join(repoRoot, 'build/native/libelfprefetch-preload.so') } : {};
    const m = strace(h, files, { ...env, ELFPREFETCH_SIDECAR: missing });
    t.equal(m.stdout, 'p\n');
    // The wrapper sees only the program, which has no build-id: it does not even look.
    const looks = hook === 'exec' ? 0 : 1;
    const mLines = m.lines.filter((l) => l.includes(missing));
    t.equal(mLines.length, looks, `missing directory via ${hook}: ${looks} look at it per process (${mLines.join(' | ')})`);
    t.ok(mLines.every((l) => /stat.*= -1 ENOENT/.test(l)), `via ${hook}: a stat`);
    const e = strace(h, files, { ...env, ELFPREFETCH_SIDECAR: empty });
    t.equal(e.stdout, 'p\n');
    const eLines = e.lines.filter((l) => l.includes(empty));
    const lookups = eLines.filter((l) => l.includes('.note'));
    t.equal(eLines.length - lookups.length, looks, `empty directory via ${hook}: stat()ed ${looks} times`);
    t.equal(lookups.length, hook === 'exec' ? 0 : hook === 'audit' ? 2 : 3, `via ${hook}: ${lookups.length} sidecar lookups (ld.so, libc${hook === 'preload' ? ', the preload library' : ''})`);
    t.ok(lookups.every((l) => /^(\d+ +)?(newfstatat\(AT_FDCWD(<[^>]*>)?, |lstat\()".*\.note", .*\) = -1 ENOENT/.test(l) && !/openat|O_RDONLY/.test(l)), `via ${hook}: each a failed lstat, none opened: ${lookups.join(' | ')}`);
    const objects = new Set(lookups.map((l) => /"([^"]+)"/.exec(l)![1]));
    t.equal(objects.size, lookups.length, `via ${hook}: one lookup per object`);
  }
});

t.test('secure mode: ELFPREFETCH_SIDECAR is ignored, the compiled-in directory is used', { skip: needs('strace') }, async (t) => {
  const root = tmpRoot(t);
  const src = path.join(root, 'secure.c');
  // A 32 MiB blob: the sidecars' pages lie more than a read-ahead window (up to 8 MiB here) from
  // anything ld.so reads, so in secure mode (ELFPREFETCH_RESIDENCY ignored) they are not cached
  // when the constructor runs, once the file is dropped from the page cache.
  fs.writeFileSync(
    src,
    '#include <stdio.h>\n#include <sys/auxv.h>\n__attribute__((aligned(4096))) const unsigned char blob[32u << 20] = {1};\n' +
      'int main(void) { printf("secure=%lu\\n", getauxval(AT_SECURE) + blob[1]); return 0; }\n',
  );
  const builtIn = path.join(root, 'builtin');
  const fromEnv = path.join(root, 'env');
  // The preload form linked in (glibc ignores LD_PRELOAD for setuid programs), with a compiled-in directory of our own.
  const exe = path.join(root, 'secure');
  if (!cc(t, exe, shimSources(src, 'preload.c'), [`-DEPF_SIDECAR_DIR="${builtIn}"`])) return;
  const envSc = putSidecar(fromEnv, exe, sidecarFor(exe, [{ first: 4096, count: 1 }]));
  const builtSc = putSidecar(builtIn, exe, sidecarFor(exe, [{ first: 4200, count: 1 }]));
  const env = { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_SIDECAR: fromEnv, ELFPREFETCH_RESIDENCY: '0' };
  const envWant = fmt(plan(exe, runsOf(fs.readFileSync(envSc)), 'ssd'));
  const builtWant = fmt(plan(exe, runsOf(fs.readFileSync(builtSc)), 'ssd'));
  t.not(envWant.join(), builtWant.join(), 'the two sidecars ask for different reads');
  // Not setuid, as nobody: the environment's directory is used (so the check below can fail).
  fs.chmodSync(exe, 0o755);
  const plain = strace([exe], 'readahead,fadvise64', env, { user: 'nobody' });
  t.equal(plain.stdout, 'secure=0\n');
  t.same(fmt(plain.calls), fmt(plan(exe, runsOf(fs.readFileSync(envSc)), 'nvme')), 'not setuid: ELFPREFETCH_SIDECAR and _DEVICE are used');
  t.match(plain.stderr, new RegExp(`\\(sidecar ${escapeRegExp(envSc)}\\)$`, 'm'));
  // Without the variable, the compiled-in directory.
  const dflt = strace([exe], 'readahead,fadvise64', { ELFPREFETCH_DEVICE: 'ssd', ELFPREFETCH_RESIDENCY: '0' }, { user: 'nobody' });
  t.same(fmt(dflt.calls), builtWant, 'not setuid, no ELFPREFETCH_SIDECAR: the compiled-in directory');
  // setuid root, run as nobody: secure mode.
  fs.chmodSync(exe, 0o4755);
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', exe], { env: { ...stripHooks(process.env), ...env }, encoding: 'utf8' });
  t.equal(r.stdout, 'secure=1\n', 'setuid: AT_SECURE is set');
  t.equal(r.stderr, '', 'setuid: ELFPREFETCH_DEBUG is ignored');
  evict(exe);
  const suid = strace([exe], 'readahead,fadvise64', env, { user: 'nobody' });
  t.equal(suid.stdout, 'secure=1\n', 'setuid under strace -u nobody: still secure mode');
  // (the request of page 0 is left out when ld.so has read that page already)
  const notFirst = (calls: string[]) => calls.filter((c) => !c.endsWith(' 0+4096'));
  t.same(notFirst(fmt(suid.calls)), notFirst(builtWant), 'setuid: the compiled-in directory, not ELFPREFETCH_SIDECAR (nor _DEVICE: the detected class, ssd here)');
  t.ok(notFirst(fmt(suid.calls)).length > 0, 'setuid: the far page was read');
  fs.rmSync(builtSc);
  const gone = strace([exe], 'readahead,fadvise64', env, { user: 'nobody' });
  t.same(gone.calls, [], 'setuid, no sidecar in the compiled-in directory: nothing read');
});

t.test('errno is 0 and no fd is left open at main() after a sidecar was used', async (t) => {
  const root = tmpRoot(t);
  const src = path.join(root, 'probe.c');
  fs.writeFileSync(src, FD_ERRNO_PROBE_C);
  const exe = path.join(root, 'probe');
  if (!cc(t, exe, [src])) return;
  const dir = path.join(root, 'sc');
  const missing: NoteObject = { path: path.join(root, 'missing.so'), buildId: new Uint8Array(20), layoutDigest: 1n, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount: 4, runs: [{ first: 0, count: 1 }] }] };
  putSidecar(dir, exe, sidecarFor(exe, [{ first: 1, count: 1 }], [missing, { ...missing, path: src }]));
  const plain = await runHooked('plain', [exe]);
  t.match(plain.stdout, /^errno=0 open=\d+\n$/m);
  for (const hook of HOOKS) {
    const o = await runHooked(hook, [exe], { env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_SIDECAR: dir } });
    t.equal(o.stdout, plain.stdout, `${hook}: errno 0 and no fd open beyond the inherited ones`);
    t.match(o.stderr, /probe: prefetched .*\(sidecar /, `${hook}: the sidecar was used`);
    t.match(o.stderr, /missing\.so: cannot open the library/, `${hook}: and a failing call was met`);
  }
});
