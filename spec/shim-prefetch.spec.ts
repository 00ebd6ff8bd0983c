// The loader shim (shim/epf_prefetch.c) through its three hooks: what it prefetches, that it
// never changes what a program does, and that hostile notes cannot make it misbehave.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { NoteObject, encodeNote } from '../src/note/codec';
import { crc32 } from '../src/note/crc32';
import * as F from '../src/note/format';
import { Run } from '../src/note/pageset';
import { LibraryEntry, stampFile } from '../src/ops/stamp';
import { DEVICES, DeviceClass, ReadRequest, planReads } from '../src/readplan/coalesce';
import { chooseDevice } from '../src/readplan/device';
import { Fixture, copyFixture, fixture, runCommand } from './helpers/fixtures';
import { Call, HookName, buildNative, preloadLib, runHooked, straced, withoutDiagnostics, wrapper, FD_ERRNO_PROBE_C, BIG_PROGRAM_C, cc, escapeRegExp, inspect } from './helpers/shim';
import { prng as rng } from './helpers/prng';
import { missing, needs } from './helpers/capabilities';
import { shimSources } from './helpers/native-sources';

const HOOKS: HookName[] = ['exec', 'audit', 'preload'];

const made = buildNative();
if (made) throw new Error(made);

/** What the shim should issue for `file`'s note on `device`: per file, in order. */
function expectedCalls(file: string, device: DeviceClass): Array<{ path: string; reqs: ReadRequest[] }> {
  const me = inspect(file);
  if (me.status !== 'valid' || !me.note) throw new Error(`${file}: ${me.status}`);
  const pageSize = 1 << me.note.pageShift;
  return me.note.objects.map((o, i) => {
    const p = i === 0 ? file : o.path;
    const set = o.pageSets.find((s) => s.name === 'default')!;
    return { path: p, reqs: planReads(set.runs, pageSize, DEVICES[device], fs.statSync(p).size, chooseDevice(p).cap) };
  });
}

const fmt = (calls: Array<{ path: string; offset: number; length: number }>): string[] => calls.map((c) => `${c.path} ${c.offset}+${c.length}`);

t.test('(a) a stamped program: each hook issues exactly the planned reads, output unchanged', { skip: needs('strace') }, async (t) => {
  const dir = t.testdir();
  const pie = fixture('x86-64-pie');
  const shlib = fixture('x86-64-shlib');

  // 1. the x86-64 PIE fixture, pages 0 and 2-4 (the last one partial: clipped at the end).
  const a = copyFixture(pie, path.join(dir, 'pie'));
  stampFile(a.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 2, count: 3 }] }] });

  // 2. the shared-library fixture with a library set for libgreet.so.
  const b = copyFixture(shlib, path.join(dir, 'shlib'));
  const lib = inspect(b.libs[0]!);
  const libEntry: LibraryEntry = {
    path: b.libs[0]!,
    buildId: lib.buildId,
    layoutDigest: lib.layout,
    pageSets: [{ name: 'default', pageCount: Math.ceil(lib.size / 4096), runs: [{ first: 0, count: 1 }, { first: 3, count: 1 }] }],
  };
  stampFile(b.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }], libraries: [libEntry] });

  // 3. a 3 MiB program: runs far apart, one longer than 1 MiB.
  const big = path.join(dir, 'big', 'big');
  fs.mkdirSync(path.dirname(big));
  fs.writeFileSync(big + '.c', BIG_PROGRAM_C);
  if (!cc(t, big, [big + '.c'])) return;
  const bigPlain = spawnSync(big, ['x'], { encoding: 'utf8' });
  const bigRuns: Run[] = [
    { first: 1, count: 3 },
    { first: 10, count: 1 },
    { first: 16, count: 6 },
    { first: 40, count: 300 },
    { first: 345, count: 2 },
    { first: 600, count: 1 },
    { first: 700, count: 5 },
  ];
  stampFile(big, { pageShift: 12, sets: [{ name: 'default', runs: bigRuns }] });

  const cases: Array<{ name: string; exe: string; args: string[]; stdout: string; status: number; devices: DeviceClass[]; hooks: HookName[] }> = [
    { name: 'pie', exe: a.exe, args: pie.args, stdout: pie.expected, status: pie.status, devices: ['ssd', 'nvme'], hooks: HOOKS },
    { name: 'shlib', exe: b.exe, args: shlib.args, stdout: shlib.expected, status: shlib.status, devices: ['hdd'], hooks: HOOKS },
    { name: 'big', exe: big, args: ['x'], stdout: bigPlain.stdout, status: bigPlain.status!, devices: ['nvme', 'hdd', 'ssd', 'net'], hooks: [...HOOKS, 'cli-exec', 'cli-audit', 'cli-preload'] },
  ];
  const plainPie = await runHooked('plain', [a.exe, ...pie.args]);
  t.equal(plainPie.stdout, pie.expected, 'the stamped copy prints what the original printed');
  const distinct = new Set<string>();
  for (const c of cases) {
    for (const device of c.devices) {
      const want = expectedCalls(c.exe, device);
      const wantCalls = want.flatMap((w) => w.reqs.map((r) => ({ path: w.path, ...r })));
      distinct.add(fmt(wantCalls).join(','));
      for (const hook of c.hooks) {
        const o = await runHooked(hook, [c.exe, ...c.args], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: device } });
        const what = `${c.name} via ${hook} on ${device}`;
        t.equal(o.stdout, c.stdout, `${what}: same output`);
        t.equal(o.status, c.status, `${what}: same exit status`);
        t.same(o.unparsed, [], `${what}: strace shows nothing else`);
        t.same(fmt(o.calls), fmt(wantCalls), `${what}: exactly the planned requests`);
        t.ok(o.calls.every((x) => x.syscall === 'readahead' && x.result === 0), `${what}: readahead succeeded`);
        for (const w of want) {
          const bytes = w.reqs.reduce((n, r) => n + r.length, 0);
          const line = new RegExp(`^elfprefetch: ${escapeRegExp(w.path)}: prefetched \\d+ runs, ${bytes} bytes in ${w.reqs.length} requests \\(${device}, requests <= ${chooseDevice(w.path).cap >> 10} KiB\\)$`, 'm');
          t.match(o.stderr, line, `${what}: the debug line for ${path.basename(w.path)}`);
        }
        t.equal(withoutDiagnostics(o.stderr), '', `${what}: nothing else on stderr`);
      }
    }
  }
  t.ok(distinct.size >= 5, `the device classes give different plans (${distinct.size})`);

  // A library with its own note: audit (la_objopen) and preload read it, the wrapper cannot know it.
  // When the program's note covers it too, it is read once, from the program's note.
  const own = copyFixture(shlib, path.join(dir, 'own'));
  stampFile(own.libs[0]!, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }] });
  stampFile(own.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }] });
  const both = copyFixture(shlib, path.join(dir, 'both'));
  stampFile(both.libs[0]!, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 2, count: 1 }] }] });
  const bothLib = inspect(both.libs[0]!);
  stampFile(both.exe, {
    pageShift: 12,
    sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }],
    libraries: [{ ...libEntry, path: both.libs[0]!, buildId: bothLib.buildId, layoutDigest: bothLib.layout }],
  });
  for (const [name, c, libSets] of [
    ['own note', own, expectedCalls(own.libs[0]!, 'nvme')],
    ['own note and library set', both, []],
  ] as const) {
    const exeCalls = expectedCalls(c.exe, 'nvme');
    for (const hook of HOOKS) {
      const o = await runHooked(hook, [c.exe, ...shlib.args], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme' } });
      const want = [...exeCalls, ...(hook === 'exec' ? [] : libSets)].flatMap((w) => w.reqs.map((r) => ({ path: w.path, ...r })));
      t.equal(o.stdout, shlib.expected, `${name} via ${hook}: same output`);
      t.same(fmt(o.calls), fmt(want), `${name} via ${hook}: the library read ${hook === 'exec' && libSets.length ? 'not at all' : 'once'}`);
    }
  }
  const bigNvme = expectedCalls(big, 'nvme')[0]!.reqs;
  const bigCap = chooseDevice(big).cap;
  t.ok(bigCap <= 1 << 20 && bigNvme.some((r) => r.length === bigCap) && bigNvme.length >= 5, `the big plan splits at the device's cap (${bigCap >> 10} KiB, at most 1 MiB) and keeps far runs apart`);
  const pieSsd = expectedCalls(a.exe, 'ssd')[0]!.reqs;
  t.equal(pieSsd[pieSsd.length - 1]!.offset + pieSsd[pieSsd.length - 1]!.length, fs.statSync(a.exe).size, 'the PIE plan ends at the end of the file');

  // ELFPREFETCH_DISABLE=1 and another set name: nothing.
  for (const hook of HOOKS) {
    const off = await runHooked(hook, [big, 'x'], { trace: true, env: { ELFPREFETCH_DISABLE: '1', ELFPREFETCH_DEBUG: '1' } });
    t.same(off.calls, [], `${hook}: ELFPREFETCH_DISABLE=1 prefetches nothing`);
    t.equal(off.stderr, '', `${hook}: and says nothing`);
    const other = await runHooked(hook, [big, 'x'], { trace: true, env: { ELFPREFETCH_SET: 'other' } });
    t.same(other.calls, [], `${hook}: a set name the note lacks prefetches nothing`);
    t.equal(other.stdout, bigPlain.stdout);
  }
});

t.test('(b) a program without a note: no readahead at all, same output', { skip: needs('strace') }, async (t) => {
  const dir = t.testdir();
  for (const name of ['x86-64-pie', 'x86-64-shlib', 'x86-64-static']) {
    const f = fixture(name);
    const c = copyFixture(f, path.join(dir, name));
    for (const hook of HOOKS) {
      const o = await runHooked(hook, [c.exe, ...f.args], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'hdd' } });
      t.equal(o.stdout, f.expected, `${name} via ${hook}: same output`);
      t.equal(o.status, f.status, `${name} via ${hook}: same status`);
      t.same(o.calls, [], `${name} via ${hook}: no readahead or fadvise`);
      t.same(o.unparsed, []);
      if (hook === 'exec' || name !== 'x86-64-static') t.match(o.stderr, /: no note$/m, `${name} via ${hook}: the debug output says why`);
      const quiet = await runHooked(hook, [c.exe, ...f.args]);
      t.equal(quiet.stderr, '', `${name} via ${hook}: silent without ELFPREFETCH_DEBUG`);
    }
  }
});

t.test('(c) 2000 hostile notes: the program always behaves as the original, never a read past EOF', { skip: needs('strace') }, async (t) => {
  const dir = t.testdir();
  const f = fixture('x86-64-pie');
  const base = copyFixture(f, path.join(dir, 'base'));
  stampFile(base.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 2, count: 3 }] }] });
  const me = inspect(base.exe);
  t.equal(me.status, 'valid');
  const original = fs.readFileSync(base.exe);
  const desc = original.subarray(me.descOffset, me.descOffset + me.descSize);
  const used = desc.readUInt32LE(F.H_USED_SIZE);
  const fifo = path.join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  const asan = path.join(dir, 'elfprefetch-exec-asan');
  const haveAsan = cc(t, asan, shimSources('exec_wrapper.c'), ['-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-O1']);

  const r = rng(20261126);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const fixCrc = (d: Buffer): void => {
    const u = d.readUInt32LE(F.H_USED_SIZE);
    if (u < F.HEADER_SIZE || u > d.length) return;
    const z = Buffer.from(d.subarray(0, u));
    z.fill(0, F.H_CRC32, F.H_CRC32 + 4);
    d.writeUInt32LE(crc32(z), F.H_CRC32);
  };
  const fit = (bytes: Uint8Array): Buffer => {
    const d = Buffer.alloc(me.descSize);
    Buffer.from(bytes).copy(d, 0, 0, Math.min(bytes.length, d.length));
    return d;
  };
  const selfObject = (pageSets: NoteObject['pageSets'], over: Partial<NoteObject> = {}): NoteObject => ({
    path: '',
    buildId: me.buildId,
    layoutDigest: me.layout,
    contentSha256: new Uint8Array(32),
    pageSets,
    ...over,
  });
  const hugeRuns = (): Run[] => {
    const runs: Run[] = [{ first: 0, count: 1 + Math.floor(r() * 8) }];
    let at = runs[0]!.count + 1 + Math.floor(r() * 3);
    for (let k = Math.floor(r() * 20); k > 0 && at < F.MAX_PAGE_COUNT - 100; k--) {
      const count = 1 + Math.floor(r() * (r() < 0.3 ? 100_000 : 10));
      runs.push({ first: at, count: Math.min(count, F.MAX_PAGE_COUNT - at) });
      at += count + 1 + Math.floor(r() * (r() < 0.5 ? 5 : 50_000_000));
    }
    return runs;
  };
  const strangePaths = [fifo, '/dev/zero', '/dev/tty', '/dev/null', '/etc/passwd', '/proc/self/mem', '/tmp', '/nonexistent/lib.so', 'relative/lib.so', base.exe, preloadLib, '/a\0b'];
  const kinds = ['flip', 'flip-crc', 'u32-crc', 'length-crc', 'run-count', 'past-eof', 'other-build', 'note-header', 'libraries', 'garbage'] as const;
  type Kind = (typeof kinds)[number];
  interface Variant {
    kind: Kind;
    desc: Buffer;
    header?: Buffer; // replaces the 24-byte note header
  }
  /** Offsets of the length fields of the real note: header, records, object and pages fields. */
  let runCountAt = -1;
  const fields: Array<[number, number]> = [[F.H_HEADER_SIZE, 2], [F.H_USED_SIZE, 4], [F.H_RECORD_COUNT, 2], [F.H_OBJECT_COUNT, 4], [F.H_PAGE_SHIFT, 1]];
  for (let at = desc.readUInt16LE(F.H_HEADER_SIZE), k = 0; k < desc.readUInt16LE(F.H_RECORD_COUNT) && at + 8 <= used; k++) {
    const kind = desc.readUInt16LE(at);
    const size = desc.readUInt32LE(at + 4);
    fields.push([at, 2], [at + 2, 2], [at + 4, 4]);
    const body = at + 8;
    if (kind === F.REC_OBJECT) fields.push([body + 40, 1], [body + 42, 2]);
    if (kind === F.REC_PAGES) {
      const nameLen = desc[body + 1]!;
      runCountAt = body + 12 + ((nameLen + 3) & ~3);
      fields.push([body, 1], [body + 1, 1], [body + 4, 4], [body + 8, 4], [runCountAt, 4]);
      for (let q = body + 16 + ((nameLen + 3) & ~3); q + 4 <= body + size; q += 4) fields.push([q, 4]);
    }
    at = body + ((size + 3) & ~3);
  }
  const makeVariant = (kind: Kind): Variant => {
    const d = Buffer.from(desc);
    const big = (): number => pick([0, 1, 2, 3, 0xff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff, Math.floor(r() * 5000), Math.floor(r() * 2 ** 32)]);
    switch (kind) {
      case 'flip':
      case 'flip-crc':
        for (let k = 1 + Math.floor(r() * 8); k > 0; k--) d[Math.floor(r() * used)]! ^= 1 << Math.floor(r() * 8);
        if (kind === 'flip-crc') fixCrc(d);
        return { kind, desc: d };
      case 'u32-crc':
        d.writeUInt32LE(big(), Math.floor((r() * (used - 4)) / 4) * 4);
        fixCrc(d);
        return { kind, desc: d };
      case 'length-crc': {
        const [at, size] = pick(fields);
        const v = big();
        if (size === 1) d[at] = v & 0xff;
        else if (size === 2) d.writeUInt16LE(v & 0xffff, at);
        else d.writeUInt32LE(v >>> 0, at);
        fixCrc(d);
        return { kind, desc: d };
      }
      case 'run-count': {
        // The run count of the PAGES record: huge, so its length check must hold.
        d.writeUInt32LE(pick([0xffffffff, 0x10000000, 0x20000, 65536, 4097, 1 << 28, 2]), runCountAt);
        fixCrc(d);
        return { kind, desc: d };
      }
      case 'past-eof': {
        const pageShift = pick([9, 12, 12, 16, 20]);
        const note = encodeNote({ version: 1, pageShift, empty: false, objects: [selfObject([{ name: 'default', pageCount: F.MAX_PAGE_COUNT, runs: hugeRuns() }])] });
        return { kind, desc: fit(note) };
      }
      case 'other-build': {
        const id = r() < 0.5 ? Uint8Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)) : me.buildId;
        const layout = id === me.buildId ? me.layout ^ (1n << BigInt(Math.floor(r() * 64))) : me.layout;
        const note = encodeNote({ version: 1, pageShift: 12, empty: false, objects: [selfObject([{ name: 'default', pageCount: 5, runs: [{ first: 0, count: 5 }] }], { buildId: id, layoutDigest: layout })] });
        return { kind, desc: fit(note) };
      }
      case 'note-header': {
        const h = Buffer.from(original.subarray(me.descOffset - 24, me.descOffset));
        const which = Math.floor(r() * 3);
        if (which === 0) h.writeUInt32LE(big(), 4); // descsz
        else if (which === 1) h.writeUInt32LE(big(), 0); // namesz
        else h.writeUInt32LE(big(), 8); // type
        return { kind, desc: d, header: h };
      }
      case 'libraries': {
        const libs: NoteObject[] = [];
        for (let k = 1 + Math.floor(r() * 4); k > 0; k--) {
          const p = pick(strangePaths);
          const same = p === base.exe && r() < 0.5;
          libs.push({
            path: p,
            buildId: same ? me.buildId : Uint8Array.from({ length: Math.floor(r() * 21) }, () => Math.floor(r() * 256)),
            layoutDigest: same ? me.layout : BigInt(Math.floor(r() * 2 ** 32)),
            contentSha256: new Uint8Array(32),
            pageSets: [{ name: 'default', pageCount: F.MAX_PAGE_COUNT, runs: hugeRuns() }],
          });
        }
        const note = encodeNote({ version: 1, pageShift: 12, empty: false, objects: [selfObject([{ name: 'default', pageCount: 5, runs: [{ first: 0, count: 1 }] }]), ...libs] });
        return { kind, desc: fit(note) };
      }
      case 'garbage': {
        const n = 24 + Math.floor(r() * (me.descSize - 24));
        for (let i = 0; i < n; i++) d[i] = Math.floor(r() * 256);
        d.writeUInt16LE(1, 0);
        if (r() < 0.5) d.writeUInt16LE(24, 2);
        d.writeUInt32LE(Math.min(n, me.descSize) & ~3, 4);
        if (r() < 0.7) fixCrc(d);
        return { kind, desc: d };
      }
    }
  };
  const variants: Variant[] = Array.from({ length: 2000 }, (_, i) => makeVariant(kinds[i % kinds.length]!));

  // Each variant is a copy of the stamped file with its note rewritten in place.
  const vdir = path.join(dir, 'v');
  fs.mkdirSync(vdir);
  const files = variants.map((v, i) => {
    const file = path.join(vdir, String(i).padStart(4, '0'));
    const bytes = Buffer.from(original);
    if (v.header) v.header.copy(bytes, me.descOffset - 24);
    v.desc.copy(bytes, me.descOffset);
    fs.writeFileSync(file, bytes, { mode: 0o755 });
    return file;
  });
  const size = me.size;
  const failures: string[] = [];
  const fail = (msg: string): void => {
    failures.push(msg);
  };
  const checkCalls = (i: number, how: string, calls: Call[], exe: string): number => {
    // A file the note names as a library gets its first request before its build is checked
    // (docs/SHIM.md): one request per file at most, and within the per-process budget.
    const unchecked = new Map<string, number>();
    let uncheckedBytes = 0;
    for (const c of calls) {
      const limit = c.path === exe ? size : fs.statSync(c.path, { throwIfNoEntry: false })?.size ?? -1;
      if (c.offset + c.length > limit || c.length <= 0 || c.length > 1 << 20) fail(`variant ${i} (${variants[i]!.kind}) via ${how}: ${c.syscall} ${c.path} ${c.offset}+${c.length} beyond the file's ${limit} bytes`);
      if (c.path !== exe && c.path !== base.exe && c.path !== preloadLib) {
        unchecked.set(c.path, (unchecked.get(c.path) ?? 0) + 1);
        uncheckedBytes += c.length;
        if (unchecked.get(c.path)! > 1) fail(`variant ${i} via ${how}: more than one request of ${c.path}, which is not a library of this note`);
      }
    }
    if (uncheckedBytes > (5 << 20)) fail(`variant ${i} via ${how}: ${uncheckedBytes} bytes read of files that failed their check (budget 4 MiB + 1 request)`);
    if (variants[i]!.kind === 'other-build' && calls.length > 0) fail(`variant ${i}: a note of another build was used`);
    return calls.length;
  };

  // ~50 under strace (every kind, with diagnostics on; the audit hook too)...
  const traced = 50;
  const tracedCalls = new Map<Kind, number>();
  for (let i = 0; i < traced; i++) {
    for (const hook of ['exec', 'preload', 'audit'] as const) {
      const o = await runHooked(hook, [files[i]!, ...f.args], { trace: true, env: { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: pick(['hdd', 'ssd', 'nvme', 'net']) } });
      const err = withoutDiagnostics(o.stderr);
      if (o.stdout !== f.expected || o.status !== f.status || err !== '') fail(`variant ${i} (${variants[i]!.kind}) via ${hook} (traced): status ${o.status}, stdout ${JSON.stringify(o.stdout.slice(0, 80))}, stderr ${JSON.stringify(err.slice(0, 300))}`);
      tracedCalls.set(variants[i]!.kind, (tracedCalls.get(variants[i]!.kind) ?? 0) + checkCalls(i, hook, o.calls, files[i]!));
    }
  }
  // ...the rest plain (silent: stderr must stay empty), by shell loops in parallel within a time
  // budget; every 4th also through the wrapper built with AddressSanitizer.
  const expectedOut = path.join(dir, 'expected.out');
  fs.writeFileSync(expectedOut, f.expected);
  const loop = path.join(dir, 'loop.sh');
  fs.writeFileSync(
    loop,
    `#!/bin/bash
# usage: loop.sh BUDGET_S STATUS EXPECTED WRAPPER PRELOAD ASAN LIST ARGS...
budget=$1 status=$2 expected=$3 wrapper=$4 preload=$5 asan=$6 list=$7; shift 7
tmp=$(mktemp -d); out=$tmp/out; err=$tmp/err; n=0; a=0
check() { # label, command...
  local label=$1; shift
  "$@" >"$out" 2>"$err"; local st=$?
  if [ "$st" != "$status" ] || ! cmp -s "$out" "$expected" || [ -s "$err" ]; then
    echo "FAIL $f $label: status $st, stdout $(head -c 80 "$out" | tr '\\n' '|'), stderr $(head -c 300 "$err" | tr '\\n' '|')"
  fi
}
while read -r i f; do
  [ "$SECONDS" -ge "$budget" ] && break
  check exec "$wrapper" "$f" "$@"
  LD_PRELOAD=$preload check preload "$f" "$@"
  if [ -n "$asan" ] && [ $((i % 4)) = 0 ]; then
    ASAN_OPTIONS=detect_leaks=0:exitcode=99 ELFPREFETCH_DEVICE=hdd check asan "$asan" "$f" "$@"; a=$((a + 1))
  fi
  n=$((n + 1))
done <"$list"
rm -rf "$tmp"
echo "DONE $n $a"
`,
  );
  const workers = 3;
  const start = Date.now();
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const list = path.join(dir, `list${w}`);
      fs.writeFileSync(list, files.map((file, i) => (i >= traced && i % workers === w ? `${i} ${file}\n` : '')).join(''));
      return runCommand(['bash', loop, '30', String(f.status), expectedOut, wrapper, preloadLib, haveAsan ? asan : '', list, ...f.args], { timeoutMs: 90_000 });
    }),
  );
  let done = traced;
  let asanRuns = 0;
  for (const res of results) {
    for (const line of res.stdout.split('\n')) {
      if (line.startsWith('FAIL ')) fail(line);
      const m = /^DONE (\d+) (\d+)$/.exec(line);
      if (m) {
        done += Number(m[1]);
        asanRuns += Number(m[2]);
      }
    }
    if (res.status !== 0) fail(`loop.sh: status ${res.status}: ${res.stderr.slice(0, 300)}`);
  }
  t.comment(`${done} variants in ${Date.now() - start} ms after the ${traced} traced (${asanRuns} also with AddressSanitizer)`);
  t.ok(done >= 500, `at least 500 variants ran in the time budget (${done})`);
  t.same(failures.slice(0, 10), [], `no variant changed the program or read past EOF (${failures.length} failures)`);
  t.ok((tracedCalls.get('past-eof') ?? 0) > 0, 'notes with runs past EOF were used (clipped), so the EOF check had something to check');
  t.equal(tracedCalls.get('other-build') ?? 0, 0, 'notes of another build were never used');
  t.ok(!haveAsan || asanRuns > 50, `the AddressSanitizer build ran too (${asanRuns})`);
});

t.test('(c2) libraries of another build: the first request before the check, waste capped per process', { skip: needs('strace') }, async (t) => {
  const dir = t.testdir();
  const pie = fixture('x86-64-pie');
  const a = copyFixture(pie, path.join(dir, 'pie'));
  // 40 big files named as libraries with a made-up build: none passes the check.
  const bigs: string[] = [];
  for (let i = 0; i < 40; i++) {
    const f = path.join(dir, `fake${i}.so`);
    fs.writeFileSync(f, Buffer.alloc(2 << 20, i + 1));
    bigs.push(f);
  }
  const libraries: LibraryEntry[] = bigs.map((p) => ({
    path: p,
    buildId: Buffer.alloc(20, 7),
    layoutDigest: 1n,
    pageSets: [{ name: 'default', pageCount: 512, runs: [{ first: 0, count: 512 }] }],
  }));
  stampFile(a.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }], libraries });
  for (const hook of ['exec', 'audit', 'preload'] as const) {
    const o = await runHooked(hook, [a.exe, ...pie.args], { trace: true, env: { ELFPREFETCH_DEVICE: 'hdd' } });
    t.equal(o.stdout, pie.expected, `${hook}: the program's output is unchanged`);
    const fake = o.calls.filter((c) => bigs.includes(c.path));
    const perFile = new Map<string, number>();
    for (const c of fake) perFile.set(c.path, (perFile.get(c.path) ?? 0) + 1);
    const bytes = fake.reduce((n, c) => n + c.length, 0);
    t.ok([...perFile.values()].every((n) => n === 1), `${hook}: at most one request of each file that fails its check`);
    t.ok(bytes > 0 && bytes <= (4 << 20) + (1 << 20), `${hook}: ${bytes} bytes of them in all, within 4 MiB + one request`);
    t.ok(perFile.size < bigs.length, `${hook}: after the budget the files are checked first (${perFile.size} of ${bigs.length} read)`);
  }
});

t.test('(d) secure mode: a setuid-root program run as nobody ignores ELFPREFETCH_DEBUG', async (t) => {
  const dir = fs.mkdtempSync('/tmp/epf-suid-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const src = path.join(dir, 'secure.c');
  fs.writeFileSync(src, '#include <stdio.h>\n#include <sys/auxv.h>\nint main(void) { printf("secure=%lu\\n", getauxval(AT_SECURE)); return 0; }\n');
  // The preload form linked in: the constructor runs inside the setuid program.
  const exe = path.join(dir, 'secure');
  if (!cc(t, exe, shimSources(src, 'preload.c'))) return;
  stampFile(exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }] });
  const env = { ...process.env, ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '0' };
  const asNobody = (file: string) => spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', file], { env, encoding: 'utf8' });
  // Control: not setuid, the diagnostics appear (so the check below can fail).
  fs.chmodSync(exe, 0o755);
  const plain = asNobody(exe);
  t.equal(plain.stdout, 'secure=0\n');
  t.match(plain.stderr, /^elfprefetch: .*secure: prefetched 1 runs, \d+ bytes in 1 requests \(nvme, requests <= \d+ KiB\)$/m, 'not setuid: the diagnostics are there');
  fs.chmodSync(exe, 0o4755);
  const suid = asNobody(exe);
  t.equal(suid.stdout, 'secure=1\n', 'setuid: AT_SECURE is set');
  t.equal(suid.status, 0);
  t.equal(suid.stderr, '', 'setuid: ELFPREFETCH_DEBUG is ignored');
});

t.test('(e) errno is 0 and no fd >= 3 is open at main() through every hook', async (t) => {
  const dir = t.testdir();
  const src = path.join(dir, 'probe.c');
  fs.writeFileSync(src, FD_ERRNO_PROBE_C);
  const exe = path.join(dir, 'probe');
  if (!cc(t, exe, [src])) return;
  // A library set whose file is missing and one that is not ELF: the shim's own calls fail.
  const missing: LibraryEntry = { path: path.join(dir, 'missing.so'), buildId: new Uint8Array(20), layoutDigest: 1n, pageSets: [{ name: 'default', pageCount: 4, runs: [{ first: 0, count: 1 }] }] };
  const notElf: LibraryEntry = { ...missing, path: src };
  stampFile(exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }], libraries: [missing, notElf] });
  // Descriptors this test process hands down without CLOEXEC are open in the plain run too.
  const plain = await runHooked('plain', [exe]);
  t.match(plain.stdout, /^errno=0 open=\d+\n$/m, 'plain run: errno 0');
  const inherited = plain.stdout;
  for (const hook of HOOKS) {
    const o = await runHooked(hook, [exe], { env: { ELFPREFETCH_DEBUG: '1' } });
    t.equal(o.stdout, inherited, `${hook}: errno 0 and no fd open beyond the inherited ones`);
    t.equal(o.status, plain.status);
    t.match(o.stderr, /probe: prefetched/, `${hook}: the shim did prefetch`);
    t.match(o.stderr, /missing\.so: cannot open the library/, `${hook}: and met a failing call`);
  }
});

t.test('the exec wrapper finds programs like execvp and fails like a shell', async (t) => {
  const env = { ...process.env, ELFPREFETCH_DEBUG: '1' };
  const run = (args: string[], e: NodeJS.ProcessEnv = env) => spawnSync(wrapper, args, { env: e, encoding: 'utf8' });
  const r1 = run(['sh', '-c', 'echo "$0 $1"; exit 7', 'zero', 'one']);
  t.equal(r1.stdout, 'zero one\n');
  t.equal(r1.status, 7, 'exit status passed through (exec, not a child)');
  t.match(r1.stderr, /^elfprefetch: \/.*\/sh: no note$/m, 'PROG looked up in PATH');
  const r2 = run(['no-such-command-xyz']);
  t.equal(r2.status, 127);
  t.match(r2.stderr, /no-such-command-xyz: command not found/);
  const r3 = run(['/no/such/file']);
  t.equal(r3.status, 127);
  t.match(r3.stderr, /\/no\/such\/file: No such file or directory/);
  const r4 = run(['/etc/passwd']);
  t.equal(r4.status, 126);
  t.match(r4.stderr, /\/etc\/passwd: Permission denied/);
  const r5 = run([]);
  t.equal(r5.status, 2);
  const r6 = spawnSync(wrapper, ['printenv', 'ELFPREFETCH_TEST_VAR'], { env: { ...process.env, ELFPREFETCH_TEST_VAR: 'kept' }, encoding: 'utf8' });
  t.equal(r6.stdout, 'kept\n', 'the environment is passed on');
});

t.test('the exec wrapper behaves the same linked with musl or with the C library of cc', { skip: needs('musl', 'strace', 'root') }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/epf-libc-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const built: Record<string, string> = {};
  for (const libc of ['musl', 'cc']) {
    const out = path.join(dir, libc);
    const m = spawnSync('make', ['-s', '-C', path.join(__dirname, '..', 'shim'), `OUT=${out}`, `EXEC_LIBC=${libc}`, path.join(out, 'elfprefetch-exec')], { encoding: 'utf8' });
    t.equal(m.status, 0, `make EXEC_LIBC=${libc}: ${m.stderr}`);
    t.match(m.stdout, libc === 'musl' ? /^elfprefetch-exec: linked statically with musl \(musl-gcc\)$/m : /^elfprefetch-exec: linked statically with the C library of cc$/m, `make says which C library it used (${libc})`);
    built[libc] = path.join(out, 'elfprefetch-exec');
  }
  if (t.counts.fail) return;
  t.ok(fs.statSync(built.musl!).size * 4 < fs.statSync(built.cc!).size, `the musl wrapper is the smaller image (${fs.statSync(built.musl!).size} vs ${fs.statSync(built.cc!).size} bytes)`);
  t.equal(spawnSync('readelf', ['-S', built.musl!], { encoding: 'utf8' }).stdout.includes('.note.ABI-tag'), false, 'no glibc start files in the musl wrapper (no .note.ABI-tag)');

  // A stamped program with a library set, a script without #! found in PATH (glibc's execvp runs
  // it with /bin/sh, musl's would not), a symbolic link loop, a directory, a name longer than
  // NAME_MAX, PATH entries that fail in different ways.
  const shlib = fixture('x86-64-shlib');
  const pie = copyFixture(shlib, path.join(dir, 'shlib'));
  const lib = inspect(pie.libs[0]!);
  stampFile(pie.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 2 }] }], libraries: [{ path: pie.libs[0]!, buildId: lib.buildId, layoutDigest: lib.layout, pageSets: [{ name: 'default', pageCount: Math.ceil(lib.size / 4096), runs: [{ first: 0, count: 1 }, { first: 3, count: 1 }] }] }] });
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'noshebang'), 'echo "script $0: $*"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'noexec'), 'echo never\n', { mode: 0o644 });
  fs.symlinkSync('loop-b', path.join(bin, 'loop-a'));
  fs.symlinkSync('loop-a', path.join(bin, 'loop-b'));
  fs.symlinkSync(pie.exe, path.join(bin, 'stamped'));
  const long = 'x'.repeat(300);
  const PATH = `/no/such/dir:${bin}:/usr/bin:/bin`;
  const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; cwd?: string }> = [
    { args: [] },
    { args: [pie.exe, ...shlib.args] },
    { args: ['stamped', ...shlib.args] },
    { args: ['noshebang', 'a', 'b'] },
    { args: [path.join(bin, 'noshebang'), 'a'] },
    { args: ['noexec'] },
    { args: ['noexec'], env: { PATH: `${bin}:/no/such` } },
    { args: [path.join(bin, 'noexec')] },
    { args: ['loop-a'] },
    { args: [path.join(bin, 'loop-a')] },
    { args: ['/tmp'] },
    { args: [''] },
    { args: ['no-such-command-xyz'] },
    { args: ['/no/such/file'] },
    { args: [long] },
    { args: [long], env: { PATH: '/no/such/dir' } },
    { args: ['noshebang', 'x'], env: { PATH: ':/no/such' }, cwd: bin },
    { args: ['noshebang', 'x'], env: { PATH: `${'/d'.repeat(2100)}:/no/such` }, cwd: bin },
    { args: ['ls', '/dev/null'], env: { PATH: undefined } },
    { args: ['printenv', 'ELFPREFETCH_TEST_VAR'], env: { ELFPREFETCH_TEST_VAR: 'kept' } },
  ];
  // The oracle: the exec and error report of the wrapper as it was, on glibc's own execvp.
  const ref = path.join(dir, 'ref');
  fs.writeFileSync(ref + '.c', `#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) { fputs("usage: elfprefetch-exec PROG [ARGS...]\\n", stderr); return 2; }
  const char *prog = argv[1];
  if (strchr(prog, '/')) execv(prog, argv + 1); else execvp(prog, argv + 1);
  int e = errno;
  if (e == ENOENT && !strchr(prog, '/')) { fprintf(stderr, "elfprefetch-exec: %s: command not found\\n", prog); return 127; }
  fprintf(stderr, "elfprefetch-exec: %s: %s\\n", prog, strerror(e));
  return e == ENOENT || e == ENOTDIR ? 127 : 126;
}
`);
  if (!cc(t, ref, [ref + '.c'])) return;
  const base = { ...process.env, PATH, ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'hdd', ELFPREFETCH_RESIDENCY: '0' };
  for (const c of cases) {
    const env = { ...base, ...c.env };
    const outcome = (w: string) => {
      const log = path.join(dir, 'strace.log');
      const r = spawnSync('/usr/bin/strace', ['-f', '-qq', '-y', '-s', '8192', '-e', 'trace=readahead,fadvise64,execve', '-e', 'signal=none', '-o', log, '--', w, ...c.args], { env, cwd: c.cwd, encoding: 'utf8' });
      const calls = fs.readFileSync(log, 'utf8').replaceAll(w, 'WRAPPER').replace(/^\d+ +/gm, '').replace(/ \/\* \d+ vars \*\//g, '');
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: calls.replace(/0x[0-9a-f]+/g, 'ADDR') };
    };
    const [m, g] = [outcome(built.musl!), outcome(built.cc!)];
    const what = `${JSON.stringify(c.args).slice(0, 80)}${c.env ? ` ${JSON.stringify(c.env).slice(0, 60)}` : ''}`;
    t.same(m, g, `${what}: the same status, output, diagnostics, readahead and execve calls (${g.status}${g.stderr ? `, ${g.stderr.trim().split('\n').pop()!.slice(0, 60)}` : ''})`);
    if (c.args[0] === pie.exe) {
      t.equal(m.stdout, shlib.expected, 'the stamped program runs');
      t.match(m.stderr, /shlib\/[^/\s]+: prefetched 1 runs[^]*libgreet\S*: prefetched 2 runs/, 'and was prefetched, its library too');
      t.match(m.calls, /readahead\(\d+<[^>]*libgreet/, 'its library read ahead');
    }
    const r = spawnSync(ref, c.args, { env, cwd: c.cwd, encoding: 'utf8' });
    t.same({ status: m.status, stdout: m.stdout, stderr: withoutDiagnostics(m.stderr) }, { status: r.status, stdout: r.stdout, stderr: r.stderr }, `${what}: as glibc's execvp`);
  }

  // Secure mode (the wrapper setuid root, run as nobody): glibc's start-up drops variables such as
  // LD_PRELOAD and TMPDIR from the environment; the musl wrapper drops the same ones itself.
  const environ = ['FOO=1', 'TMPDIR=/x', 'LOCPATH=/y', 'NLSPATH=/z', 'MALLOC_CHECK_=3', 'TMPDIRX=kept', 'XTMPDIR=kept', 'TMPDIR=/again', 'LD_BIND_NOW=1', 'ELFPREFETCH_DEBUG=1'];
  const secure: Record<string, string> = {};
  for (const libc of ['musl', 'cc']) {
    fs.chmodSync(built[libc]!, 0o4755);
    fs.chmodSync(path.dirname(built[libc]!), 0o755);
    // cat shows the environment execve was given.
    const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'env', '-i', ...environ, built[libc]!, '/bin/cat', '/proc/self/environ'], { encoding: 'utf8' });
    t.equal(r.status, 0, `${libc}: setuid wrapper run as nobody: ${r.stderr}`);
    secure[libc] = r.stdout.split('\0').filter(Boolean).join(' ');
    t.equal(r.stderr, '', `${libc}: secure mode: ELFPREFETCH_DEBUG is ignored`);
  }
  t.equal(secure.cc, 'FOO=1 TMPDIRX=kept XTMPDIR=kept LD_BIND_NOW=1 ELFPREFETCH_DEBUG=1', 'glibc drops TMPDIR, LOCPATH, NLSPATH, MALLOC_CHECK_ in secure mode');
  t.equal(secure.musl, secure.cc, 'the musl wrapper passes the same environment');
  const plain = spawnSync('env', ['-i', ...environ, built.musl!, '/bin/cat', '/proc/self/environ'], { encoding: 'utf8' });
  // (env keeps one TMPDIR of the two.)
  t.same(plain.stdout.split('\0').filter(Boolean).map((e) => e.split('=')[0]).sort(), [...new Set(environ.map((e) => e.split('=')[0]))].sort(), 'control: not in secure mode, nothing is dropped');
});

t.test('other ELF classes and byte orders: refused by the native shim, read by a shim built for them', { skip: needs('strace') }, async (t) => {
  const dir = t.testdir();
  const i386 = fixture('i386-pie');
  const ppc = fixture('ppc64-pie');
  const a = copyFixture(i386, path.join(dir, 'i386'));
  const b = copyFixture(ppc, path.join(dir, 'ppc64'));
  stampFile(a.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 1 }, { first: 3, count: 1 }] }] });
  stampFile(b.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }] });
  const env = { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme' };
  // Without IA-32 emulation the 32-bit programs run under qemu-i386 (strace sees its host calls).
  const noI386 = missing('i386');
  const i386Run = (argv: string[]): string[] => (noI386 ? ['qemu-i386', '-L', '/usr/i686-linux-gnu', ...argv] : argv);
  // The x86-64 wrapper leaves a 32-bit file alone and hands it to the kernel as it is.
  const native = await runHooked('exec', [a.exe, ...i386.args], { trace: true, env });
  t.same(native.calls, [], 'no readahead for a foreign class');
  t.match(native.stderr, /: not a native ELF file$/m);
  if (noI386) t.pass('the x86-64 wrapper still runs the 32-bit program', { skip: noI386 });
  else t.equal(native.stdout, i386.expected, 'the x86-64 wrapper still runs the 32-bit program');
  const sources = (main: string) => shimSources(main);
  const build = (triple: string, out: string, main: string, extra: string[] = []): boolean => {
    const r = spawnSync(`${triple}-gcc`, ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', ...extra, '-o', out, ...sources(main)], { encoding: 'utf8' });
    t.equal(r.status, 0, `${triple}-gcc ${path.basename(out)}: ${r.stderr}`);
    return r.status === 0;
  };
  const planned = (exe: string) => {
    const want = expectedCalls(exe, 'nvme')[0]!.reqs;
    const bytes = want.reduce((n, q) => n + q.length, 0);
    return { want, line: new RegExp(`: prefetched \\d+ runs, ${bytes} bytes in ${want.length} requests \\(nvme, requests <= \\d+ KiB\\)$`, 'm') };
  };

  // i386: the wrapper built for it prefetches exactly the planned requests, then runs the program.
  const w32 = path.join(dir, 'elfprefetch-exec-i686-linux-gnu');
  if (build('i686-linux-gnu', w32, 'exec_wrapper.c')) {
    const { want, line } = planned(a.exe);
    const o = await runHooked('plain', i386Run([w32, a.exe, ...i386.args]), { trace: true, env });
    t.match(o.stderr, line, 'i686-linux-gnu: the planned reads');
    t.same(fmt(o.calls), fmt(want.map((q) => ({ path: a.exe, ...q }))), 'i686-linux-gnu: exactly the planned requests');
    if (!noI386) t.equal(o.stdout, i386.expected, 'i686-linux-gnu: same output');
    else {
      // The wrapper's exec of the 32-bit program needs the kernel to run it; the preload
      // library built for i386 shows the same under qemu without an exec.
      const lib = path.join(dir, 'libelfprefetch-preload-i686.so');
      if (build('i686-linux-gnu', lib, 'preload.c', ['-fPIC', '-shared', '-fvisibility=hidden'])) {
        const p = await runHooked('plain', ['qemu-i386', '-L', '/usr/i686-linux-gnu', '-E', `LD_PRELOAD=${lib}`, a.exe, ...i386.args], { trace: true, env });
        t.equal(p.stdout, i386.expected, `i686-linux-gnu, preload under qemu-i386 (${noI386}): same output`);
        t.match(p.stderr, line, 'i686-linux-gnu, preload: the planned reads');
        t.same(fmt(p.calls), fmt(want.map((q) => ({ path: a.exe, ...q }))), 'i686-linux-gnu, preload: exactly the planned requests');
      }
    }
  }

  // ppc64 (big-endian, 64-bit): the wrapper runs under qemu-ppc64; its exec of the program
  // runs only where binfmt_misc hands ppc64 programs to qemu (QEMU_LD_PREFIX: its libraries).
  const w64 = path.join(dir, 'elfprefetch-exec-powerpc64-linux-gnu');
  if (build('powerpc64-linux-gnu', w64, 'exec_wrapper.c')) {
    const { line } = planned(b.exe);
    const o = await runHooked('plain', ['qemu-ppc64', '-L', '/usr/powerpc64-linux-gnu', w64, b.exe, ...ppc.args], { env: { ...env, QEMU_LD_PREFIX: '/usr/powerpc64-linux-gnu' } });
    t.match(o.stderr, line, 'powerpc64-linux-gnu: the planned reads');
    const noBinfmt = missing('binfmt');
    if (noBinfmt) t.pass('powerpc64-linux-gnu: the wrapper runs the program', { skip: noBinfmt });
    else t.equal(o.stdout, ppc.expected, 'powerpc64-linux-gnu: the wrapper runs the program (binfmt_misc)');
  }
});

t.test('the auditor opens a library its program\'s note covers once, and la_objopen does not open it again', { skip: needs('strace') }, async (t) => {
  const dir = t.testdir();
  const shlib = fixture('x86-64-shlib');
  /** The auditor's opens of the library (its flags: O_NOCTTY|O_NONBLOCK; ld.so's own has neither), and its debug lines. */
  const audited = (exe: string, lib: string) => {
    const log = path.join(dir, `audit-${path.basename(path.dirname(exe))}.log`);
    const r = straced('audit', [exe, ...shlib.args], 'openat', log, { ELFPREFETCH_DEBUG: '1', ELFPREFETCH_DEVICE: 'nvme', ELFPREFETCH_RESIDENCY: '0' });
    t.equal(r.stdout, shlib.expected, 'the program runs as without the auditor');
    const opens = r.trace.filter((l) => l.includes(path.basename(lib)) && /O_NONBLOCK/.test(l));
    return { opens, stderr: r.stderr };
  };

  // Covered: the note has a set for the library; la_version reads it (one open, kept from the
  // library's first request to its check), la_objopen tells it by a stat.
  const b = copyFixture(shlib, path.join(dir, 'covered'));
  const lib = inspect(b.libs[0]!);
  stampFile(b.exe, {
    pageShift: 12,
    sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }],
    libraries: [{ path: b.libs[0]!, buildId: lib.buildId, layoutDigest: lib.layout, pageSets: [{ name: 'default', pageCount: Math.ceil(lib.size / 4096), runs: [{ first: 0, count: 1 }, { first: 3, count: 1 }] }] }],
  });
  const covered = audited(b.exe, b.libs[0]!);
  t.equal(covered.opens.length, 1, 'the auditor opens the library once', { opens: covered.opens });
  t.match(covered.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(b.libs[0]!)}: prefetched 2 runs, [1-9]\\d* bytes in [1-9]\\d* requests`, 'm'), 'la_version prefetches its set');
  t.match(covered.stderr, /^elfprefetch: \S*libgreet\S*: prefetched already$/m, 'la_objopen says it was prefetched already');

  // Not covered: the note has no library set, so la_objopen looks for a note of the library's own.
  const c = copyFixture(shlib, path.join(dir, 'alone'));
  stampFile(c.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 1, count: 1 }] }] });
  const alone = audited(c.exe, c.libs[0]!);
  t.equal(alone.opens.length, 1, 'la_objopen opens it to look for its own note', { opens: alone.opens });
  t.match(alone.stderr, /^elfprefetch: \S*libgreet\S*: no note$/m, 'and finds none');
});
