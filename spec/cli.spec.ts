// The CLI as a user drives it: `node dist/cli/main.js ...` in subprocesses (and a few
// in-process calls of main()), on copies of the x86-64 PIE fixture. What the tool says is
// checked against binutils (readelf) and the file system, not against the tool itself.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../cli/main';
import { type Fixture, loadFixtures, repoRoot, runCommand, runFixture, samplesSrc, type RunResult, withoutSectionHeaders } from './helpers/fixtures';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const EXIT = { ok: 0, error: 1, malformed: 2, refused: 3, absent: 10, stale: 11, corrupt: 12 };

t.jobs = 2;

function diag(r: RunResult): Record<string, unknown> {
  return { status: r.status, signal: r.signal, stdout: r.stdout.slice(0, 3000), stderr: r.stderr.slice(0, 3000), ...(r.error ? { error: r.error.message } : {}) };
}

function ep(...args: string[]): Promise<RunResult> {
  return runCommand([process.execPath, cli, ...args], { cwd: repoRoot });
}

/** Runs main() in this process, collecting what it prints. */
async function inProcess(argv: string[]): Promise<{ code: number | undefined; out: string; err: string; threw?: unknown }> {
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } catch (e) {
    return { code: undefined, out: out.join('\n'), err: err.join('\n'), threw: e };
  }
}

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function readelf(args: string[], file: string): string {
  const r = spawnSync('readelf', [...args, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file}: ${r.stderr}`);
  return r.stdout;
}

/** The GNU build-id as `readelf -n` shows it. */
const buildIdOf = (file: string): string => /Build ID: ([0-9a-f]+)/.exec(readelf(['-nW'], file))?.[1] ?? '';

/** A section's file offset and size as `readelf -S` shows them. */
function sectionOf(file: string, name: string): { offset: number; size: number } {
  const esc = name.replace(/\./g, '\\.');
  const m = new RegExp(`\\]\\s+${esc}\\s+\\S+\\s+[0-9a-f]+\\s+([0-9a-f]+)\\s+([0-9a-f]+)`).exec(readelf(['-SW'], file));
  if (!m) throw new Error(`${file} has no section ${name}`);
  return { offset: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16) };
}

const loadCount = (file: string): number => readelf(['-lW'], file).split('\n').filter((l) => /^\s+LOAD\s/.test(l)).length;

/** No temporary files of ours left beside `file`. */
function noTempFiles(t: Test, dir: string): void {
  const left = fs.readdirSync(dir).filter((n) => /elfprefetch-.*\.tmp$/.test(n));
  t.same(left, [], 'no temporary file is left behind');
}

const fixtures = loadFixtures();
const pie = fixtures.find((f) => f.name === 'x86-64-pie');
const nopie = fixtures.find((f) => f.name === 'x86-64-nopie');
const staticExe = fixtures.find((f) => f.name === 'x86-64-static');

function copyOf(f: Fixture, dir: string, name = 'hello'): string {
  fs.mkdirSync(dir, { recursive: true });
  const to = path.join(dir, name);
  fs.copyFileSync(f.path, to);
  fs.chmodSync(to, 0o755);
  return to;
}

if (!pie) {
  t.fail('the x86-64-pie fixture was not built (see samples/build.sh)');
} else if (!fs.existsSync(cli)) {
  t.fail(`${cli} is missing: build first (npx tsc -p .)`);
} else {
  const f = pie;

  t.test('info, for people and as JSON', async (t) => {
    const file = copyOf(f, t.testdir());
    const r = await ep('info', file);
    t.equal(r.status, EXIT.ok, 'info exits 0', diag(r));
    t.match(r.stdout, /ELF64 little-endian DYN/, 'says class, byte order and type');
    t.match(r.stdout, new RegExp(`build-id ${buildIdOf(file)}`), 'shows the build-id readelf shows');
    t.match(r.stdout, /\.rodata/, 'lists the sections');
    t.match(r.stdout, /Prefetch note: absent/, 'says the prefetch note is absent');

    const j = await ep('info', file, '--json');
    t.equal(j.status, EXIT.ok, 'info --json exits 0', diag(j));
    const d = JSON.parse(j.stdout);
    t.equal(d.prefetch.status, 'absent', 'prefetch.status is absent');
    t.equal(d.buildId, buildIdOf(file), 'buildId is the one readelf shows');
    t.equal(d.size, fs.statSync(file).size, 'size is the file size');
    t.equal(d.segments.filter((s: { type: string }) => s.type === 'LOAD').length, loadCount(file), 'as many LOAD segments as readelf shows');

    const s = await ep('stamp', file, '--pages', '0-2,4');
    t.equal(s.status, EXIT.ok, 'stamp exits 0', diag(s));
    const after = JSON.parse((await ep('info', file, '--json')).stdout);
    t.equal(after.prefetch.status, 'valid', 'after stamp, prefetch.status is valid');
    t.same(after.prefetch.objects[0]?.sets[0]?.runs, [{ first: 0, count: 3 }, { first: 4, count: 1 }], 'the runs stamped');
    const human = await ep('info', file);
    t.match(human.stdout, /Prefetch note: valid/, 'info says valid');
    t.match(human.stdout, /set 'default': 4 of \d+ pages/, 'info counts the pages of the set');

    const ip = await inProcess(['info', file, '--json']);
    t.equal(ip.code, EXIT.ok, 'main() returns 0 for info --json', { err: ip.err, threw: String(ip.threw ?? '') });
    t.same(JSON.parse(ip.out), after, 'main() prints the same JSON as the CLI');
  });

  t.test('verify: valid 0, absent 10, stale 11, corrupt 12', async (t) => {
    const dir = t.testdir();
    const plain = copyOf(f, dir, 'plain');
    let r = await ep('verify', plain);
    t.equal(r.status, EXIT.absent, 'an unstamped file is absent (10)', diag(r));
    t.match(r.stdout, /absent/, 'and says so');

    const good = copyOf(f, dir, 'good');
    r = await ep('stamp', good, '--pages', '0-3');
    t.equal(r.status, EXIT.ok, 'stamp --pages 0-3 exits 0', diag(r));
    t.match(r.stdout, /stamped/, 'and says stamped');
    r = await ep('verify', good);
    t.equal(r.status, EXIT.ok, 'the stamped file is valid (0)', diag(r));
    t.match(r.stdout, /valid/, 'and says so');

    // Stale: one byte of .rodata (loaded content) changes after the stamp.
    const stale = path.join(dir, 'stale');
    fs.copyFileSync(good, stale);
    const rodata = sectionOf(stale, '.rodata');
    const bytes = fs.readFileSync(stale);
    bytes[rodata.offset + Math.floor(rodata.size / 2)] ^= 0x20;
    fs.writeFileSync(stale, bytes);
    r = await ep('verify', stale);
    t.equal(r.status, EXIT.stale, 'a changed .rodata byte makes it stale (11)', diag(r));
    const sj = await ep('verify', stale, '--json');
    t.equal(JSON.parse(sj.stdout).status, 'stale', 'verify --json says stale');

    // Corrupt: one byte inside the note's descriptor (readelf finds the section).
    const corrupt = path.join(dir, 'corrupt');
    fs.copyFileSync(good, corrupt);
    const note = sectionOf(corrupt, '.note.elfprefetch');
    const cb = fs.readFileSync(corrupt);
    t.equal(cb.toString('latin1', note.offset + 12, note.offset + 24), 'elfprefetch\0', 'readelf\'s .note.elfprefetch starts with our note');
    cb[note.offset + 24 + 40] ^= 0x01;
    fs.writeFileSync(corrupt, cb);
    r = await ep('verify', corrupt);
    t.equal(r.status, EXIT.corrupt, 'a flipped descriptor byte makes it corrupt (12)', diag(r));
    t.match(r.stdout, /corrupt/, 'and says so');

    for (const [file, code] of [[good, EXIT.ok], [plain, EXIT.absent], [stale, EXIT.stale], [corrupt, EXIT.corrupt]] as const) {
      const ip = await inProcess(['verify', file]);
      t.equal(ip.code, code, `main() returns ${code} for ${path.basename(file)}`, { out: ip.out, err: ip.err });
    }
  });

  t.test('remove: verify says absent and the program still runs', async (t) => {
    const file = copyOf(f, t.testdir());
    t.equal((await ep('stamp', file, '--pages', '0-3')).status, EXIT.ok, 'stamp');
    const r = await ep('remove', file);
    t.equal(r.status, EXIT.ok, 'remove exits 0', diag(r));
    t.match(r.stdout, /removed/, 'says the note was removed');
    const v = await ep('verify', file);
    t.equal(v.status, EXIT.absent, 'verify after remove exits 10', diag(v));
    t.notMatch(readelf(['-SW'], file), /\.note\.elfprefetch/, 'readelf sees no .note.elfprefetch section');
    const run = runFixture(f, file);
    t.equal(run.status, f.status, 'the program runs', { stderr: run.stderr });
    t.equal(run.stdout, f.expected, 'with the same output');
    const again = await ep('stamp', file, '--pages', '0');
    t.equal(again.status, EXIT.ok, 'it can be stamped again', diag(again));
    t.equal((await ep('verify', file)).status, EXIT.ok, 'and verifies');
  });

  t.test('-o OUT leaves the input byte for byte as it was', async (t) => {
    const dir = t.testdir();
    const input = copyOf(f, dir, 'in');
    const before = sha(input);
    const out = path.join(dir, 'out');
    const r = await ep('stamp', input, '--pages', '0-1', '-o', out);
    t.equal(r.status, EXIT.ok, 'stamp -o exits 0', diag(r));
    t.equal(sha(input), before, 'the input is unchanged');
    t.equal((await ep('verify', input)).status, EXIT.absent, 'the input still has no note');
    t.equal((await ep('verify', out)).status, EXIT.ok, 'the output verifies');
    const run = runFixture(f, out);
    t.equal(run.stdout, f.expected, 'the output runs as the original');
    noTempFiles(t, dir);
  });

  t.test('in-place stamping keeps mode (set-id bits too), owner, capabilities and xattrs', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root (chown, setcap)');
    for (const [tool, pkg] of [['setcap', 'libcap2-bin'], ['getcap', 'libcap2-bin'], ['setfattr', 'attr'], ['getfattr', 'attr']]) {
      if (spawnSync(tool!, ['--help']).error) return t.fail(`${tool} is not installed (Debian package ${pkg})`);
    }
    const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
    const nogroup = Number(spawnSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).stdout.split(':')[2]);
    t.ok(Number.isInteger(nobody) && Number.isInteger(nogroup), `nobody is ${nobody}, nogroup is ${nogroup}`);
    const dir = t.testdir();
    const file = copyOf(f, dir);
    // chown drops set-id bits and capabilities, so it comes first.
    fs.chownSync(file, nobody, nogroup);
    fs.chmodSync(file, 0o6755);
    const sc = spawnSync('setcap', ['cap_net_raw+ep', file], { encoding: 'utf8' });
    t.equal(sc.status, 0, 'setcap cap_net_raw+ep', { stderr: sc.stderr });
    const sf = spawnSync('setfattr', ['-n', 'user.test', '-v', 'kept', file], { encoding: 'utf8' });
    t.equal(sf.status, 0, 'setfattr user.test', { stderr: sf.stderr });
    const caps = (): string => spawnSync('getcap', [file], { encoding: 'utf8' }).stdout;
    const xattr = (): string => spawnSync('getfattr', ['--only-values', '-n', 'user.test', file], { encoding: 'utf8' }).stdout;
    const st0 = fs.statSync(file);
    t.equal(st0.mode & 0o7777, 0o6755, 'before: mode 6755');
    t.match(caps(), /cap_net_raw[=+]ep/, 'before: getcap shows cap_net_raw=ep');

    const r = await ep('stamp', file, '--pages', '0-3');
    t.equal(r.status, EXIT.ok, 'stamp in place exits 0', diag(r));
    t.equal((await ep('verify', file)).status, EXIT.ok, 'and verifies');
    const st = fs.statSync(file);
    t.equal((st.mode & 0o7777).toString(8), '6755', 'mode 6755 is kept, set-uid and set-gid included');
    t.equal(st.uid, nobody, 'owner nobody is kept');
    t.equal(st.gid, nogroup, 'group nogroup is kept');
    t.match(caps(), /cap_net_raw[=+]ep/, 'the file capability is kept');
    t.equal(xattr(), 'kept', 'user.test is kept');
    noTempFiles(t, dir);
  });

  t.test('a symlink is followed: the link stays a link, its target is stamped', async (t) => {
    const dir = t.testdir();
    const target = copyOf(f, path.join(dir, 'real'), 'hello');
    const link = path.join(dir, 'link');
    fs.symlinkSync(path.join('real', 'hello'), link);
    const r = await ep('stamp', link, '--pages', '0-3');
    t.equal(r.status, EXIT.ok, 'stamp through the link exits 0', diag(r));
    t.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a symlink');
    t.equal(fs.readlinkSync(link), path.join('real', 'hello'), 'pointing where it did');
    t.equal((await ep('verify', target)).status, EXIT.ok, 'the target is stamped');
    noTempFiles(t, dir);
    noTempFiles(t, path.join(dir, 'real'));
  });

  t.test('a malformed file: exit 2, the problem named, the file unchanged', async (t) => {
    const dir = t.testdir();
    const file = copyOf(f, dir);
    fs.truncateSync(file, 100);
    const before = sha(file);
    const r = await ep('stamp', file, '--pages', '0');
    t.equal(r.status, EXIT.malformed, 'stamp exits 2', diag(r));
    t.match(r.stderr, /malformed ELF/, 'says malformed ELF');
    t.match(r.stderr, /\[(truncated|out_of_bounds)\]/, 'names the problem by its code');
    t.match(r.stderr, /beyond the end of the file|past the end of the file/, 'and in words');
    t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
    t.equal(sha(file), before, 'the file is unchanged');
    t.equal(fs.statSync(file).size, 100, 'still 100 bytes');
    for (const cmd of ['verify', 'info', 'remove']) {
      const x = await ep(cmd, file);
      t.equal(x.status, EXIT.malformed, `${cmd} exits 2 too`, diag(x));
    }
    noTempFiles(t, dir);
  });

  t.test('a refused placement exits 3 and changes nothing', async (t) => {
    const dir = t.testdir();
    // An object file is not loaded by itself.
    const obj = path.join(dir, 'greet.o');
    const cc = spawnSync('gcc', ['-c', '-o', obj, path.join(samplesSrc, 'src', 'greet.c')], { encoding: 'utf8' });
    t.equal(cc.status, 0, 'gcc -c greet.c', { stderr: cc.stderr });
    const before = sha(obj);
    let r = await ep('stamp', obj, '--pages', '0');
    t.equal(r.status, EXIT.refused, 'stamping an ET_REL object exits 3', diag(r));
    t.match(r.stderr, /no safe place/, 'says there is no safe place');
    t.match(r.stderr, /REL/, 'names the file type');
    t.equal(sha(obj), before, 'the object is unchanged');

    // A reservation too small for any note.
    const note = path.join(dir, 'note.o');
    r = await ep('reserve', '--capacity', '64', '-o', note, '--cc', 'gcc');
    t.equal(r.status, EXIT.ok, 'reserve --capacity 64', diag(r));
    const exe = path.join(dir, 'small');
    const link = spawnSync('gcc', ['-O1', '-fPIE', '-pie', '-o', exe, path.join(samplesSrc, 'src', 'hello.c'), path.join(samplesSrc, 'src', 'greet.c'), note, '-Wl,--build-id=sha1'], { encoding: 'utf8' });
    t.equal(link.status, 0, 'link the program with it', { stderr: link.stderr });
    const exeBefore = sha(exe);
    r = await ep('stamp', exe, '--pages', '0-3');
    t.equal(r.status, EXIT.refused, 'stamping into a 64-byte reservation exits 3', diag(r));
    t.match(r.stderr, /holds 64 bytes/, 'says how much the reservation holds');
    t.match(r.stderr, /--capacity/, 'and what to do');
    t.equal(sha(exe), exeBefore, 'the program is unchanged');

    // Without section headers nothing can name a note beside the segments, and nothing may
    // move unless asked: refused; --fallback sidecar writes a sidecar; --fallback move moves.
    if (staticExe) {
      const st = copyOf(staticExe, dir, 'static');
      fs.writeFileSync(st, withoutSectionHeaders(st));
      const stBefore = sha(st);
      r = await ep('stamp', st, '--pages', '0');
      t.equal(r.status, EXIT.refused, 'a static exe without section headers: exit 3', diag(r));
      t.match(r.stderr, /no section headers/, 'says why');
      t.match(r.stderr, /--fallback sidecar/, 'and what would work');
      t.equal(sha(st), stBefore, 'the static exe is unchanged');
      const side = path.join(dir, 'sidecars');
      r = await ep('stamp', st, '--pages', '0', '--fallback', 'sidecar', '--sidecar-dir', side);
      t.equal(r.status, EXIT.ok, '--fallback sidecar: exit 0', diag(r));
      t.match(r.stdout, /no room in the file .*note written to sidecar/, 'says the note went to a sidecar and why');
      t.equal(sha(st), stBefore, 'the static exe is still unchanged');
      t.equal((await ep('verify', st, '--sidecar', side)).status, EXIT.ok, 'its sidecar verifies');
      r = await ep('stamp', st, '--pages', '0', '--fallback', 'move');
      t.equal(r.status, EXIT.ok, '--fallback move: exit 0', diag(r));
      t.match(r.stderr, /warning: .*sections were moved/, 'with a warning of what moving breaks');
    }
    noTempFiles(t, dir);
  });

  t.test('--pages and --profile together: exit 1 with a clear message', async (t) => {
    const dir = t.testdir();
    const file = copyOf(f, dir);
    const before = sha(file);
    const profile = path.join(dir, 'p.json');
    fs.writeFileSync(profile, '{}');
    for (const args of [['--pages', '0-3', '--profile', profile], []]) {
      const what = args.length ? 'both' : 'neither';
      const r = await ep('stamp', file, ...args);
      t.equal(r.status, EXIT.error, `${what}: exit 1`, diag(r));
      t.match(r.stderr, /Give exactly one of --profile or --pages/, `${what}: says to give exactly one`);
      t.notMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`, diag(r));
      t.notMatch(r.stderr, /node_modules|Node\.js v/, `${what}: no internals`, diag(r));
      const ip = await inProcess(['stamp', file, ...args]);
      t.equal(ip.threw, undefined, `${what}: main() does not throw`, { threw: String((ip.threw as Error | undefined)?.message ?? '') });
      t.equal(ip.code, EXIT.error, `${what}: main() returns 1`);
      t.match(ip.err, /Give exactly one of --profile or --pages/, `${what}: main() prints the message to its err`);
    }
    const bad = await ep('stamp', file, '--pages', '0', '--page-size', '3000');
    t.equal(bad.status, EXIT.error, '--page-size 3000: exit 1', diag(bad));
    t.notMatch(bad.stderr, /^\s+at /m, '--page-size 3000: no stack trace', diag(bad));
    t.equal(sha(file), before, 'the file is unchanged');
  });

  t.test('stamping 20 times leaves the bytes and PT_LOAD count of the first stamp', async (t) => {
    const file = copyOf(f, t.testdir());
    const loadsBefore = loadCount(file);
    t.equal((await ep('stamp', file, '--pages', '0-3')).status, EXIT.ok, 'first stamp');
    const first = sha(file);
    const loads = loadCount(file);
    t.ok(loads >= loadsBefore && loads <= loadsBefore + 1, `${loadsBefore} PT_LOADs became ${loads}`);
    let changed = 0;
    for (let i = 2; i <= 20; i++) {
      const r = await ep('stamp', file, '--pages', '0-3');
      if (r.status !== EXIT.ok) t.fail(`stamp ${i} exits ${r.status}`, diag(r));
      if (sha(file) !== first) changed++;
    }
    t.equal(changed, 0, 'stamps 2 to 20 change no byte');
    t.equal(loadCount(file), loads, 'the PT_LOAD count is that of the first stamp');
    t.equal((await ep('verify', file)).status, EXIT.ok, 'still valid');
  });

  t.test('two copies stamped alike are byte-identical', async (t) => {
    const dir = t.testdir();
    const a = copyOf(f, path.join(dir, 'a'), 'one');
    const b = copyOf(f, path.join(dir, 'b'), 'two');
    t.equal((await ep('stamp', a, '--pages', '0-2,4')).status, EXIT.ok, 'stamp a');
    t.equal((await ep('stamp', b, '--pages', '0-2,4')).status, EXIT.ok, 'stamp b');
    t.equal(sha(a), sha(b), 'the outputs are the same bytes');
  });

  t.test('stamp --profile', async (t) => {
    const dir = t.testdir();
    const file = copyOf(f, dir);
    const id = buildIdOf(file);
    t.match(id, /^[0-9a-f]{40}$/, `readelf shows build-id ${id}`);
    const profile = (objects: unknown[], extra: Record<string, unknown> = {}): string => {
      const p = path.join(dir, `profile-${Math.random().toString(16).slice(2)}.json`);
      fs.writeFileSync(p, JSON.stringify({ format: 'elfprefetch-profile', version: 1, pageSize: 4096, objects, ...extra }));
      return p;
    };
    const size = fs.statSync(file).size;
    const before = sha(file);

    // Another build: refused, naming both build-ids, nothing written.
    const other = 'ab'.repeat(20);
    let r = await ep('stamp', file, '--profile', profile([{ path: file, buildId: other, size, main: true, pages: '0-3' }]));
    t.equal(r.status, EXIT.error, 'a profile of another build-id exits 1', diag(r));
    t.match(r.stderr, /no pages for this file/, 'says the profile has no pages for this file');
    t.match(r.stderr, new RegExp(id), "names the file's build-id");
    t.match(r.stderr, new RegExp(other), "names the profile's build-id");
    t.equal(sha(file), before, 'the file is unchanged');

    // Invalid profiles: the message names the field.
    const bad: Array<[string, unknown, RegExp]> = [
      ['size as a string', { format: 'elfprefetch-profile', version: 1, pageSize: 4096, objects: [{ path: file, buildId: id, size: 'big', main: true, pages: '0-3' }] }, /objects\.0\.size/],
      ['pageSize as a string', { format: 'elfprefetch-profile', version: 1, pageSize: '4096', objects: [{ path: file, buildId: id, size, main: true, pages: '0-3' }] }, /pageSize/],
      ['pages as a number', { format: 'elfprefetch-profile', version: 1, pageSize: 4096, objects: [{ path: file, buildId: id, size, main: true, pages: 3 }] }, /objects\.0\.pages/],
      ['buildId upper-case', { format: 'elfprefetch-profile', version: 1, pageSize: 4096, objects: [{ path: file, buildId: id.toUpperCase(), size, main: true, pages: '0-3' }] }, /objects\.0\.buildId/],
      ['wrong format', { format: 'perf', version: 1, pageSize: 4096, objects: [{ path: file, buildId: id, size, main: true, pages: '0-3' }] }, /format/],
      ['version 2', { format: 'elfprefetch-profile', version: 2, pageSize: 4096, objects: [{ path: file, buildId: id, size, main: true, pages: '0-3' }] }, /version/],
    ];
    for (const [what, data, field] of bad) {
      const p = path.join(dir, 'bad.json');
      fs.writeFileSync(p, JSON.stringify(data));
      r = await ep('stamp', file, '--profile', p);
      t.equal(r.status, EXIT.error, `${what}: exit 1`, diag(r));
      t.match(r.stderr, field, `${what}: the message names the field`, diag(r));
      t.notMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
    }
    const notJson = path.join(dir, 'not.json');
    fs.writeFileSync(notJson, '{ "format": ');
    r = await ep('stamp', file, '--profile', notJson);
    t.equal(r.status, EXIT.error, 'a profile that is not JSON exits 1', diag(r));
    t.match(r.stderr, /not JSON/, 'and says so');
    t.equal(sha(file), before, 'the file is unchanged after all of these');

    // A good one.
    r = await ep('stamp', file, '--profile', profile([{ path: file, buildId: id, size, main: true, pages: '0-2,4' }], { runs: 3, command: [file, 'alpha'] }), '--json');
    t.equal(r.status, EXIT.ok, 'a valid profile for this build stamps', diag(r));
    const res = JSON.parse(r.stdout);
    t.equal(res.pages, 4, 'the result counts 4 pages');
    t.equal((await ep('verify', file)).status, EXIT.ok, 'the file verifies');
    const d = JSON.parse((await ep('info', file, '--json')).stdout);
    t.same(d.prefetch.objects[0].sets[0].runs, [{ first: 0, count: 3 }, { first: 4, count: 1 }], "the profile's pages are in the note");
    t.equal(d.prefetch.objects[0].buildId, id, 'for this build-id');
    t.equal(runFixture(f, file).stdout, f.expected, 'the program runs as before');
  });

  t.test('exec-shift (--fallback move) maps the given pages by the whole pages inserted', async (t) => {
    // exec-shift inserts whole pages in front of the content. It is opt-in now and only where
    // nothing else applies: here a non-PIE exe without section headers, with 64 KiB pages.
    if (!nopie) return t.fail('no x86-64-nopie fixture: samples/build.sh did not build it');
    const dir = t.testdir();
    const file = copyOf(nopie, dir);
    fs.writeFileSync(file, withoutSectionHeaders(file));
    const size = fs.statSync(file).size;
    const r = await ep('stamp', file, '--pages', '0-3', '--max-page-size', '65536', '--fallback', 'move', '--json');
    t.equal(r.status, EXIT.ok, 'stamp exits 0', diag(r));
    const res = JSON.parse(r.stdout);
    t.equal(res.strategy, 'exec-shift', 'the strategy is exec-shift');
    // Without section tables to rewrite, the file grows by exactly the pages inserted.
    const shift = res.growth;
    t.equal(shift % 4096, 0, `the content moved by ${shift} bytes, whole pages`);
    const p = shift / 4096;
    const d = JSON.parse((await ep('info', file, '--json')).stdout);
    t.same(d.prefetch.objects[0].sets[0].runs, [{ first: 0, count: 1 }, { first: p, count: 4 }], `pages 0-3 of the input are pages ${p}-${p + 3} of the output (and page 0)`, { growth: res.growth, inputSize: size });
    t.equal(runFixture(nopie, file).stdout, nopie.expected, 'the program runs as before');
  });
}
