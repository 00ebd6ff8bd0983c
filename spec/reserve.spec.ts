// `elfprefetch reserve`: an object holding an empty note, linked into the fixture program
// for x86-64, aarch64 and big-endian ppc64; verify says absent, stamp fills it in place
// (strategy "reserved", same size, only the descriptor changes), the program runs the same
// (under qemu where needed) and a stripped copy still verifies.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Fixture, loadFixtures, repoRoot, runCommand, runFixtureAsync, samplesSrc, type RunResult } from './helpers/fixtures';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const CAPACITY = 2048;
const EXIT_OK = 0;
const EXIT_ABSENT = 10;

t.jobs = 2;

const MACHINES = [
  { machine: 'x86-64', cc: 'gcc' },
  { machine: 'aarch64', cc: 'aarch64-linux-gnu-gcc' },
  { machine: 'ppc64', cc: 'powerpc64-linux-gnu-gcc' },
];

// As samples/build.sh compiles the "pie" variant.
const CFLAGS = ['-O1', '-g0', '-Wall', '-Wextra', '-fno-ident', '-fPIE'];
const LDFLAGS = ['-pie', '-Wl,--build-id=sha1'];
const SOURCES = [path.join(samplesSrc, 'src', 'hello.c'), path.join(samplesSrc, 'src', 'greet.c')];

function diag(r: RunResult | ReturnType<typeof spawnSync>): Record<string, unknown> {
  return { status: r.status, signal: r.signal, stdout: String(r.stdout ?? '').slice(0, 3000), stderr: String(r.stderr ?? '').slice(0, 3000) };
}

const ep = (...args: string[]): Promise<RunResult> => runCommand([process.execPath, cli, ...args], { cwd: repoRoot });

function readelf(args: string[], file: string): string {
  const r = spawnSync('readelf', [...args, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file}: ${r.stderr}`);
  return r.stdout;
}

function sectionOf(file: string, name: string): { offset: number; size: number } | undefined {
  const m = new RegExp(`\\]\\s+${name.replace(/\./g, '\\.')}\\s+\\S+\\s+[0-9a-f]+\\s+([0-9a-f]+)\\s+([0-9a-f]+)`).exec(readelf(['-SW'], file));
  return m ? { offset: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16) } : undefined;
}

/** Program header lines and the sections each segment holds, from readelf -lW. */
function noteSegments(file: string): Array<{ align: string; sections: string[] }> {
  const text = readelf(['-lW'], file);
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^\s*Program Headers:/.test(l));
  const phdrs: string[] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.trim() !== ''; i++) if (/^\s+[A-Z_]+\s+0x/.test(lines[i]!)) phdrs.push(lines[i]!.trim());
  const map = lines.slice(lines.findIndex((l) => /Section to Segment mapping/.test(l)) + 2);
  const out: Array<{ align: string; sections: string[] }> = [];
  for (const l of map) {
    const m = /^\s+(\d+)\s*(.*)$/.exec(l);
    if (!m) break;
    const ph = phdrs[Number(m[1])] ?? '';
    if (ph.startsWith('NOTE ')) out.push({ align: ph.split(/\s+/).pop()!, sections: m[2]!.trim().split(/\s+/).filter(Boolean) });
  }
  return out;
}

function compile(t: Test, cc: string, out: string, extra: string[]): boolean {
  const r = spawnSync(cc, [...CFLAGS, '-o', out, ...SOURCES, ...extra, ...LDFLAGS], { encoding: 'utf8' });
  t.equal(r.status, 0, `${cc} links ${path.basename(out)}`, diag(r));
  return r.status === 0;
}

async function checkMachine(t: Test, m: (typeof MACHINES)[number], f: Fixture): Promise<void> {
  const dir = t.testdir();
  const noteObj = path.join(dir, 'note.o');
  const r = await ep('reserve', '--capacity', String(CAPACITY), '-o', noteObj, '--cc', m.cc);
  t.equal(r.status, EXIT_OK, `reserve --capacity ${CAPACITY} -o note.o --cc ${m.cc} exits 0`, diag(r));
  if (r.status !== EXIT_OK) return;
  t.ok(sectionOf(noteObj, '.note.elfprefetch'), 'the object has a .note.elfprefetch section');

  const reserved = path.join(dir, 'hello-reserved');
  const plain = path.join(dir, 'hello-plain');
  if (!compile(t, m.cc, reserved, [noteObj]) || !compile(t, m.cc, plain, [])) return;

  const notes = readelf(['-nW'], reserved);
  t.match(notes, new RegExp(`elfprefetch\\s+0x${CAPACITY.toString(16).padStart(8, '0')}\\s`), `readelf -nW shows an elfprefetch note of ${CAPACITY} bytes`);
  const segs = noteSegments(reserved);
  const holder = segs.find((s) => s.sections.includes('.note.elfprefetch'));
  t.ok(holder, 'a NOTE segment holds .note.elfprefetch', { segs });
  t.ok(holder && ['0x4', '0x1', '0x2', '0x0'].includes(holder.align), 'and it is 4-aligned', { holder });

  let v = await ep('verify', reserved);
  t.equal(v.status, EXIT_ABSENT, 'verify of the reservation exits 10 (absent)', diag(v));
  t.match(v.stdout, /empty reservation/, 'and says it is an empty reservation');

  const stamped = path.join(dir, 'hello-stamped');
  fs.copyFileSync(reserved, stamped);
  fs.chmodSync(stamped, 0o755);
  const s = await ep('stamp', stamped, '--pages', '0-1', '--json');
  t.equal(s.status, EXIT_OK, 'stamp exits 0', diag(s));
  if (s.status !== EXIT_OK) return;
  const res = JSON.parse(s.stdout);
  t.equal(res.strategy, 'reserved', 'the strategy is "reserved"');
  t.equal(res.growth, 0, 'the file did not grow');
  t.equal(res.descCapacity, CAPACITY, `the note's capacity is ${CAPACITY}`);

  const before = fs.readFileSync(reserved);
  const after = fs.readFileSync(stamped);
  t.equal(after.length, before.length, 'the file size is unchanged');
  const sec = sectionOf(reserved, '.note.elfprefetch')!;
  const desc = sec.offset + 24;
  const outside = [...Array(after.length).keys()].filter((i) => (i < desc || i >= desc + CAPACITY) && after[i] !== before[i]);
  t.same(outside.slice(0, 10), [], `no byte outside the descriptor [0x${desc.toString(16)}, +${CAPACITY}) changed (${outside.length} did)`);
  t.notOk(after.subarray(desc, desc + CAPACITY).equals(before.subarray(desc, desc + CAPACITY)), 'the descriptor changed');
  v = await ep('verify', stamped);
  t.equal(v.status, EXIT_OK, 'the stamped file verifies', diag(v));

  const [mine, theirs] = await Promise.all([runFixtureAsync(f, stamped), runFixtureAsync(f, plain)]);
  t.equal(theirs.status, 0, 'the build without reservation runs', diag(theirs));
  t.equal(theirs.stdout, f.expected, "and prints the fixture's output");
  t.equal(mine.status, 0, 'the stamped build runs', diag(mine));
  t.equal(mine.stdout, theirs.stdout, 'with the same output as the build without reservation');

  // remove gives the reservation back: the file is again the one the linker wrote.
  const removed = path.join(dir, 'hello-removed');
  const rm = await ep('remove', stamped, '-o', removed);
  t.equal(rm.status, EXIT_OK, 'remove -o exits 0', diag(rm));
  t.ok(fs.existsSync(removed) && fs.readFileSync(removed).equals(before), 'remove restores the reserved file byte for byte');
  v = await ep('verify', removed);
  t.equal(v.status, EXIT_ABSENT, 'and verify says absent again', diag(v));

  const stripped = path.join(dir, 'hello-stripped');
  const st = spawnSync(f.strip, ['-o', stripped, stamped], { encoding: 'utf8' });
  t.equal(st.status, 0, `${f.strip} exits 0`, diag(st));
  v = await ep('verify', stripped);
  t.equal(v.status, EXIT_OK, 'the stripped copy verifies as valid', diag(v));
  const run = await runFixtureAsync(f, stripped);
  t.equal(run.stdout, theirs.stdout, 'and runs the same');
}

const fixtures = loadFixtures();
if (!fs.existsSync(cli)) t.fail(`${cli} is missing: build first (npx tsc -p .)`);
for (const m of MACHINES) {
  t.test(`${m.machine} (${m.cc})`, async (t) => {
    const f = fixtures.find((x) => x.name === `${m.machine}-pie`);
    if (!f) return t.fail(`no ${m.machine}-pie fixture: samples/build.sh skipped it`);
    if (spawnSync(m.cc, ['--version']).error) return t.fail(`${m.cc} is not installed`);
    await checkMachine(t, m, f);
  });
}
