// `elfprefetch profiles add` and `elfprefetch stamp-tree` (issue 5, distro packaging), on a
// package-like tree of real files: cross-built fixtures (x86-64 and aarch64), a real program
// of this machine, a refused library, a debug file, a file without build-id, a truncated ELF,
// hard links and symlinks. Also: idempotence, dry run, sidecar mode, file capabilities, and
// SIGKILL / SIGTERM while the tree is stamped (every file the original or completely stamped).
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { identify } from '../src/record/objects';
import { fixture, repoRoot, runCommand, runFixture, withoutSectionHeaders } from './helpers/fixtures';
import { prng } from './helpers/prng';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)));
const ep = (...args: string[]) => runCommand([process.execPath, cli, ...args], { cwd: repoRoot, env: cleanEnv });
const sha = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const TMP_RE = /^\.elfprefetch-\d+-[0-9a-f]+\.tmp$/;
const isRoot = process.getuid?.() === 0;

/** A profile of `file` as `record` writes one: its identity, pages 0-3 touched in both of 2 runs. */
function syntheticProfile(file: string, pages = '0-3', counts = [2, 2, 2, 2]): object {
  const id = identify(file)!;
  return {
    format: 'elfprefetch-profile',
    version: 1,
    pageSize: 4096,
    runs: 2,
    objects: [{ path: file, buildId: id.buildId, layoutDigest: id.layoutDigest, size: id.size, main: true, pages, counts, sections: id.sections, set: 'default' }],
  };
}

/** Every regular file and symlink of a tree: relative path -> hash or link target. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const f = path.join(d, n);
      const st = fs.lstatSync(f);
      if (st.isSymbolicLink()) out.set(path.relative(dir, f), '-> ' + fs.readlinkSync(f));
      else if (st.isDirectory()) walk(f);
      else out.set(path.relative(dir, f), sha(f));
    }
  };
  walk(dir);
  return out;
}

const pie = fixture('x86-64-shlib');
const nopie = fixture('x86-64-nopie');
const arm = fixture('aarch64-shlib');
const nobuildid = fixture('x86-64-nobuildid');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-tree-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const pdir = path.join(work, 'profiles');
// A library with no room for a note that keeps the contract: a system library without its
// section headers (as sstrip leaves files), so nothing can name a note beside its segments.
const REFUSED_LIB = path.join(work, 'libpcre2-8.so.0.11.2');
fs.writeFileSync(REFUSED_LIB, withoutSectionHeaders('/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2'));
const SYSTEM_PROG = '/usr/bin/git';

/** The sample package tree. */
function makeTree(root: string): void {
  const bin = path.join(root, 'usr', 'bin');
  const lib = path.join(root, 'usr', 'lib');
  const dbg = path.join(root, 'usr', 'lib', 'debug');
  for (const d of [bin, lib, dbg]) fs.mkdirSync(d, { recursive: true });
  fs.copyFileSync(pie.path, path.join(bin, 'hello'));
  fs.linkSync(path.join(bin, 'hello'), path.join(bin, 'hello-again'));
  fs.symlinkSync('hello', path.join(bin, 'hello-link'));
  for (const l of pie.libs) fs.copyFileSync(l, path.join(bin, path.basename(l)));
  fs.copyFileSync(nopie.path, path.join(bin, 'hello-nopie'));
  fs.copyFileSync(arm.path, path.join(bin, 'hello-aarch64'));
  fs.mkdirSync(path.join(lib, 'aarch64'));
  for (const l of arm.libs) fs.copyFileSync(l, path.join(lib, 'aarch64', path.basename(l)));
  fs.copyFileSync(nobuildid.path, path.join(bin, 'hello-nobuildid'));
  fs.copyFileSync(SYSTEM_PROG, path.join(bin, 'git'));
  fs.copyFileSync(REFUSED_LIB, path.join(lib, path.basename(REFUSED_LIB)));
  spawnSync('objcopy', ['--only-keep-debug', pie.path, path.join(dbg, 'hello.debug')]);
  fs.writeFileSync(path.join(lib, 'truncated.so'), fs.readFileSync(pie.path).subarray(0, 200));
  fs.writeFileSync(path.join(bin, 'script'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.writeFileSync(path.join(lib, 'libfoo.so'), 'INPUT(libfoo.so.1)\n');
}

t.before(async () => {
  const runs = path.join(work, 'runs');
  fs.mkdirSync(runs);
  // A real recording of the PIE fixture (its libraries too), and synthetic ones of the rest.
  const rec = await ep('record', '-o', path.join(runs, 'pie.json'), '--', ...pie.run.slice(pie.run.indexOf(pie.path)));
  if (rec.status !== 0) throw new Error(`record failed: ${rec.stderr}`);
  const files = [nopie.path, arm.path, SYSTEM_PROG, REFUSED_LIB, ...arm.libs];
  files.forEach((f, i) => fs.writeFileSync(path.join(runs, `s${i}.json`), JSON.stringify(syntheticProfile(f))));
  // A profile without build-id is refused by `profiles add`, never guessed.
  const nb = syntheticProfile(nobuildid.path) as { objects: Array<{ buildId: string }> };
  fs.writeFileSync(path.join(runs, 'nobuildid.json'), JSON.stringify(nb));
  const add = await ep('profiles', 'add', pdir, ...fs.readdirSync(runs).sort().map((f) => path.join(runs, f)), '--json');
  if (add.status !== 0) throw new Error(`profiles add failed: ${add.stderr}`);
});

t.test('profiles add files each object under its build-id and adds up runs', async (t) => {
  const list = await ep('profiles', 'list', pdir, '--json');
  t.equal(list.status, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as Array<{ buildId: string; path: string; runs: number; libraries: number }>;
  const pieId = identify(pie.path)!.buildId;
  const pieRow = rows.find((r) => r.buildId === pieId);
  t.ok(pieRow, 'the recorded program is filed');
  t.ok(pieRow!.libraries >= 1, 'with the libraries it loaded');
  t.notOk(rows.some((r) => r.buildId === ''), 'nothing without a build-id');
  t.ok(fs.existsSync(path.join(pdir, pieId.slice(0, 2), pieId.slice(2) + '.json')), 'PDIR/hh/rest.json');
  // Filing the same profile again adds its runs.
  const again = await ep('profiles', 'add', pdir, path.join(work, 'runs', 's0.json'), '--json');
  const filed = JSON.parse(again.stdout) as Array<{ runs: number }>;
  t.equal(filed[0]!.runs, 4, 'the runs of a build add up');
  // Filed from several jobs at once, no run is lost (each entry is updated under a lock).
  const together = await Promise.all(Array.from({ length: 6 }, () => ep('profiles', 'add', pdir, path.join(work, 'runs', 's0.json'))));
  t.same(together.map((r) => r.status), [0, 0, 0, 0, 0, 0], 'six concurrent adds succeed');
  const after = JSON.parse((await ep('profiles', 'list', pdir, '--json')).stdout) as Array<{ buildId: string; runs: number }>;
  t.equal(after.find((r) => r.buildId === identify(nopie.path)!.buildId)!.runs, 4 + 6 * 2, 'and every run of all six is in the entry');
  const nb = await ep('profiles', 'add', pdir, path.join(work, 'runs', 'nobuildid.json'));
  t.match(nb.stdout, /not filed: no build-id/);
});

t.test('stamp-tree on a package tree', async (t) => {
  const root = path.join(work, 'tree');
  makeTree(root);
  const before = snapshot(root);

  const dry = await ep('stamp-tree', root, '--profiles', pdir, '--dry-run', '--json');
  const dryReport = JSON.parse(dry.stdout);
  t.same(snapshot(root), before, 'a dry run changes nothing');
  t.equal(dry.status, 1, 'a dry run already says that something would fail');
  t.equal(dryReport.counts['would-stamp'], 4 + arm.libs.length + pie.libs.length, 'and what would be stamped: hello (two names), nopie, aarch64 and its library, git');

  const reportFile = path.join(work, 'report.json');
  const r = await ep('stamp-tree', root, '--profiles', pdir, '--report', reportFile);
  t.equal(r.status, 1, `exit 1: the truncated ELF failed\n${r.stdout}${r.stderr}`);
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  const outcome = (rel: string) => report.files.find((f: { path: string }) => f.path === path.join(root, rel));
  t.equal(outcome('usr/bin/hello').outcome, 'stamped');
  for (const l of pie.libs) t.equal(outcome(`usr/bin/${path.basename(l)}`)?.outcome, 'stamped', `the x86-64 library ${path.basename(l)} (filed from the recording)`);
  for (const l of arm.libs) t.equal(outcome(`usr/lib/aarch64/${path.basename(l)}`)?.outcome, 'stamped', `the aarch64 library ${path.basename(l)}`);
  t.same(outcome('usr/bin/hello').links, [path.join(root, 'usr/bin/hello-again')], 'hard links are one file');
  for (const f of ['usr/bin/hello-nopie', 'usr/bin/hello-aarch64', 'usr/bin/git']) t.equal(outcome(f)?.outcome, 'stamped', f);
  t.equal(outcome('usr/bin/hello-nobuildid').outcome, 'skipped');
  t.match(outcome('usr/bin/hello-nobuildid').reason, /no build-id/);
  t.equal(outcome('usr/lib/debug/hello.debug').outcome, 'skipped');
  t.match(outcome('usr/lib/debug/hello.debug').reason, /debug file/);
  t.equal(outcome('usr/lib/libpcre2-8.so.0.11.2').outcome, 'refused');
  t.match(outcome('usr/lib/libpcre2-8.so.0.11.2').reason, /no safe place/);
  t.equal(outcome('usr/lib/truncated.so').outcome, 'failed');
  t.match(outcome('usr/lib/truncated.so').reason, /malformed ELF/);
  t.notOk(outcome('usr/bin/script'), 'a script is not an ELF candidate');
  t.equal(report.symlinks, 1);
  t.match(r.stdout, /stamped\s+\d+/);
  t.match(r.stdout, /refused:\n.*libpcre2-8/);

  const after = snapshot(root);
  for (const f of ['usr/lib/libpcre2-8.so.0.11.2', 'usr/lib/truncated.so', 'usr/bin/script', 'usr/bin/hello-nobuildid', 'usr/lib/debug/hello.debug', 'usr/lib/libfoo.so']) {
    t.equal(after.get(f), before.get(f), `${f} untouched`);
  }
  t.equal(after.get('usr/bin/hello-link'), '-> hello', 'the symlink is still a symlink');
  const st1 = fs.statSync(path.join(root, 'usr/bin/hello'));
  const st2 = fs.statSync(path.join(root, 'usr/bin/hello-again'));
  t.equal(st1.ino, st2.ino, 'the hard link names the stamped file');
  for (const f of ['usr/bin/hello', 'usr/bin/hello-again', 'usr/bin/hello-nopie', 'usr/bin/hello-aarch64', 'usr/bin/git']) {
    const v = await ep('verify', path.join(root, f));
    t.equal(v.status, 0, `${f}: ${v.stdout}`);
  }
  // They run as before: natively, and the aarch64 one under qemu (its libraries beside it, via rpath).
  const hello = runFixture(pie, path.join(root, 'usr/bin/hello'));
  t.equal(hello.stdout, pie.expected, 'the stamped PIE runs');
  // The aarch64 program runs beside its (stamped) library, outside the tree.
  const armBin = path.join(work, 'arm-run', 'hello');
  fs.mkdirSync(path.dirname(armBin), { recursive: true });
  for (const l of arm.libs) fs.copyFileSync(path.join(root, 'usr/lib/aarch64', path.basename(l)), path.join(work, 'arm-run', path.basename(l)));
  fs.copyFileSync(path.join(root, 'usr/bin/hello-aarch64'), armBin);
  fs.chmodSync(armBin, 0o755);
  const armRun = runFixture(arm, armBin);
  t.equal(armRun.stdout, arm.expected, 'the stamped aarch64 program runs under qemu');
  const git = spawnSync(path.join(root, 'usr/bin/git'), ['--version'], { encoding: 'utf8' });
  t.equal(git.stdout, spawnSync(SYSTEM_PROG, ['--version'], { encoding: 'utf8' }).stdout, 'the stamped git runs');

  // Idempotent: a second run finds everything current and changes no byte.
  const r2 = await ep('stamp-tree', root, '--profiles', pdir, '--json');
  const rep2 = JSON.parse(r2.stdout);
  t.equal(rep2.counts.stamped, 0, 'nothing stamped twice');
  t.equal(rep2.counts.current, report.counts.stamped, 'every stamped file is current');
  t.same(snapshot(root), after, 'and no file changed');
  t.same(fs.readdirSync(path.join(root, 'usr/bin')).filter((n) => TMP_RE.test(n)), [], 'no temporary file');

  // A changed profile (another run filed) makes the files out of date again.
  const pieId = identify(pie.path)!.buildId;
  const extra = syntheticProfile(pie.path, '0-1', [5, 5]);
  fs.writeFileSync(path.join(work, 'extra.json'), JSON.stringify(extra));
  await ep('profiles', 'add', pdir, path.join(work, 'extra.json'));
  const r3 = await ep('stamp-tree', root, '--profiles', pdir, '--json', '--jobs', '1');
  const rep3 = JSON.parse(r3.stdout);
  t.equal(rep3.files.find((f: { path: string }) => f.path.endsWith('usr/bin/hello')).outcome, 'stamped', `a new profile of ${pieId} is applied`);
});

t.test('--carry-over: a new build takes the pages of the build recorded at its installed path', async (t) => {
  const dir = path.join(work, 'carry');
  fs.mkdirSync(dir);
  const src = (extra: string) => `#include <stdio.h>\n${extra}int main(void){puts("carried");return 0;}\n`;
  fs.writeFileSync(path.join(dir, 'v1.c'), src(''));
  fs.writeFileSync(path.join(dir, 'v2.c'), src('int unused(int x){return x*3;}\n'));
  for (const v of ['v1', 'v2']) t.equal(spawnSync('gcc', ['-O1', '-o', path.join(dir, v), path.join(dir, `${v}.c`)]).status, 0, `gcc ${v}`);
  // Build 1 was recorded where it is installed, /usr/bin/carried.
  const prof = syntheticProfile(path.join(dir, 'v1'), '0-2', [2, 2, 2]) as { objects: Array<{ path: string }> };
  prof.objects[0]!.path = '/usr/bin/carried';
  const pd = path.join(dir, 'profiles');
  fs.writeFileSync(path.join(dir, 'v1.json'), JSON.stringify(prof));
  t.equal((await ep('profiles', 'add', pd, path.join(dir, 'v1.json'))).status, 0);
  const root = path.join(dir, 'tree');
  fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  fs.copyFileSync(path.join(dir, 'v2'), path.join(root, 'usr/bin/carried'));
  fs.copyFileSync(path.join(dir, 'v2'), path.join(root, 'usr/bin/elsewhere'));
  const plain = JSON.parse((await ep('stamp-tree', root, '--profiles', pd, '--json')).stdout);
  t.equal(plain.counts['no-profile'], 2, 'without --carry-over build 2 has no profile');
  const r = await ep('stamp-tree', root, '--profiles', pd, '--carry-over');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /1 of them with the pages of another build carried over/);
  const again = JSON.parse((await ep('stamp-tree', root, '--profiles', pd, '--carry-over', '--json')).stdout);
  const file = (n: string) => again.files.find((f: { path: string }) => f.path.endsWith(n));
  t.equal(file('usr/bin/carried').outcome, 'current', 'stamped from build 1, and current on the next run');
  t.equal(file('usr/bin/carried').carriedFrom, identify(path.join(dir, 'v1'))!.buildId, 'the report names the build it came from');
  t.equal(file('usr/bin/elsewhere').outcome, 'no-profile', 'only the program at the recorded path');
  t.equal(spawnSync(path.join(root, 'usr/bin/carried'), { encoding: 'utf8' }).stdout, 'carried\n', 'and it runs');
});

t.test('sidecar mode leaves every file as it is', async (t) => {
  const root = path.join(work, 'tree-sidecar');
  makeTree(root);
  const before = snapshot(root);
  const side = path.join(work, 'sidecar');
  const r = await ep('stamp-tree', root, '--profiles', pdir, '--sidecar', side, '--json');
  const report = JSON.parse(r.stdout);
  t.same(snapshot(root), before, 'no file changed');
  t.equal(report.counts.stamped, 5 + arm.libs.length + pie.libs.length, 'notes written, also for the library that cannot take a note of its own');
  for (const f of ['usr/bin/hello', 'usr/bin/git', 'usr/bin/hello-aarch64', 'usr/lib/libpcre2-8.so.0.11.2']) {
    const v = await ep('verify', path.join(root, f), '--sidecar', side);
    t.equal(v.status, 0, `${f}: ${v.stdout}`);
    const own = await ep('verify', path.join(root, f));
    t.equal(own.status, 10, `${f} itself has no note`);
  }
  const r2 = await ep('stamp-tree', root, '--profiles', pdir, '--sidecar', side, '--json');
  t.equal(JSON.parse(r2.stdout).counts.stamped, 0, 'a second run finds the sidecars current');
});

t.test('--fallback sidecar: a file with no room gets a sidecar in the tree, the others their own note', async (t) => {
  const root = path.join(work, 'tree-fallback');
  makeTree(root);
  const side = path.join(root, 'var', 'lib', 'elfprefetch', 'sidecar');
  const lib = 'usr/lib/libpcre2-8.so.0.11.2';
  const before = snapshot(root).get(lib);
  const r = await ep('stamp-tree', root, '--profiles', pdir, '--fallback', 'sidecar', '--sidecar-dir', side, '--report', path.join(work, 'fallback.json'));
  t.equal(r.status, 1, `exit 1: only the truncated ELF failed\n${r.stdout}${r.stderr}`);
  t.match(r.stdout, /1 of them to sidecars in .*--fallback sidecar/, 'the summary says how many went to sidecars');
  const report = JSON.parse(fs.readFileSync(path.join(work, 'fallback.json'), 'utf8'));
  const outcome = (rel: string) => report.files.find((f: { path: string }) => f.path === path.join(root, rel));
  t.equal(outcome(lib).outcome, 'stamped', 'the library with no room is done');
  t.equal(outcome(lib).strategy, 'sidecar', 'by a sidecar');
  t.match(outcome(lib).reason, /no room in the file: .*no section headers/, 'and the report says why');
  t.equal(outcome('usr/bin/git').strategy === 'gap' || outcome('usr/bin/git').strategy === 'after-load', true, 'the others have their own note');
  t.equal(snapshot(root).get(lib), before, 'the library itself is unchanged');
  t.equal((await ep('verify', path.join(root, lib), '--sidecar', side)).status, 0, 'its sidecar verifies');
  const again = await ep('stamp-tree', root, '--profiles', pdir, '--fallback', 'sidecar', '--sidecar-dir', side, '--json');
  const second = JSON.parse(again.stdout);
  t.equal(second.counts.stamped, 0, 'a second run stamps nothing');
  t.equal(second.files.find((f: { path: string }) => f.path === path.join(root, lib)).outcome, 'current', 'the sidecar is found current');
});

t.test('owner, mode and file capabilities survive (one getfattr for the tree)', { skip: !isRoot && 'needs root' }, async (t) => {
  const root = path.join(work, 'tree-caps');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  const f = path.join(root, 'bin', 'hello');
  fs.copyFileSync(pie.path, f);
  fs.chownSync(f, 65534, 65534);
  fs.chmodSync(f, 0o2755);
  const setcap = spawnSync('setcap', ['cap_net_raw+ep', f], { encoding: 'utf8' });
  t.equal(setcap.status, 0, setcap.stderr);
  spawnSync('setfattr', ['-n', 'user.origin', '-v', 'tree test', f]);
  // A dangling symlink (as /usr/lib has) must not make the tree's one getfattr fail, which
  // would fall back to one getfattr per file: count the calls through a wrapper on PATH.
  fs.symlinkSync('gone.so.1', path.join(root, 'bin', 'dangling.so'));
  fs.copyFileSync(nopie.path, path.join(root, 'bin', 'second'));
  const wrapDir = path.join(work, 'getfattr-wrap');
  fs.mkdirSync(wrapDir);
  const calls = path.join(wrapDir, 'calls');
  const real = spawnSync('sh', ['-c', 'command -v getfattr'], { encoding: 'utf8' }).stdout.trim();
  fs.writeFileSync(path.join(wrapDir, 'getfattr'), `#!/bin/sh\necho x >> '${calls}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  const r = await runCommand([process.execPath, cli, 'stamp-tree', root, '--profiles', pdir], { cwd: repoRoot, env: { ...cleanEnv, PATH: `${wrapDir}:${cleanEnv.PATH ?? ''}` } });
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.equal(fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean).length, 1, 'one getfattr for the whole tree, dangling symlink or not');
  t.equal((await ep('verify', f)).status, 0, 'stamped');
  const st = fs.statSync(f);
  t.equal(st.mode & 0o7777, 0o2755, 'mode with setgid');
  t.same([st.uid, st.gid], [65534, 65534], 'owner');
  t.match(spawnSync('getcap', [f], { encoding: 'utf8' }).stdout, /cap_net_raw[=+]ep/, 'capability');
  t.match(spawnSync('getfattr', ['-n', 'user.origin', f], { encoding: 'utf8' }).stdout, /tree test/, 'user xattr');
});

/** Starts stamp-tree and kills it after `ms`; resolves with its exit. */
/**
 * Starts stamp-tree and kills it `ms` after its first temporary file appears in the tree (the
 * first file being stamped), or after `ms` plus 10 s if none does; resolves with its exit.
 */
function killAfter(root: string, ms: number, sig: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'stamp-tree', root, '--profiles', pdir, '--json'], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let timer: NodeJS.Timeout | undefined;
    const fallback = setTimeout(() => child.kill(sig), ms + 10_000);
    const watch = setInterval(() => {
      if (fs.readdirSync(root).some((n) => TMP_RE.test(n))) {
        clearInterval(watch);
        timer = setTimeout(() => child.kill(sig), ms);
      }
    }, 2);
    child.on('exit', (code, signal) => {
      clearInterval(watch);
      clearTimeout(fallback);
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout });
    });
  });
}

t.test('killed while stamping a tree: every file is the original or completely stamped', async (t) => {
  // 24 programs: copies of three builds, each with a profile.
  const ref = path.join(work, 'kill-ref');
  const sources = [pie.path, nopie.path, SYSTEM_PROG];
  const fill = (root: string) => {
    fs.mkdirSync(root, { recursive: true });
    for (let i = 0; i < 24; i++) fs.copyFileSync(sources[i % 3]!, path.join(root, `p${String(i).padStart(2, '0')}`));
  };
  fill(ref);
  const original = snapshot(ref);
  const tFull = Date.now();
  const done = await ep('stamp-tree', ref, '--profiles', pdir);
  const full = Date.now() - tFull;
  t.equal(done.status, 0, done.stderr);
  const stamped = snapshot(ref);
  const t0 = Date.now();
  await ep('stamp-tree', path.join(work, 'kill-empty-dir-does-not-exist'), '--profiles', pdir);
  const startup = Date.now() - t0;
  const rand = prng(0x7ee5);
  let mixed = 0;
  let killed = 0;
  let midway = 0;
  const root = path.join(work, 'kill');
  for (let k = 0; k < 8; k++) {
    fs.rmSync(root, { recursive: true, force: true });
    fill(root);
    // Once the first file is being stamped, within the time a whole run took here just now.
    const r = await killAfter(root, Math.floor(rand() * Math.max(20, full - startup) * 0.5), 'SIGKILL');
    if (r.signal === 'SIGKILL') killed++;
    const now = snapshot(root);
    let asStamped = 0;
    let asOriginal = 0;
    for (const [name, hash] of now) {
      if (TMP_RE.test(path.basename(name))) continue;
      if (hash === stamped.get(name) && hash !== original.get(name)) asStamped++;
      else if (hash === original.get(name)) asOriginal++;
      else mixed++;
    }
    if (r.signal === 'SIGKILL' && asStamped > 0 && asOriginal > 0) midway++;
    t.equal(now.size - [...now.keys()].filter((n) => TMP_RE.test(path.basename(n))).length, 24, `kill ${k}: no file lost`);
    // The next run removes what the killed one left and completes the tree.
    const again = await ep('stamp-tree', root, '--profiles', pdir, '--json');
    t.equal(again.status, 0, again.stderr);
    t.same(snapshot(root), stamped, `kill ${k}: a second run completes the tree exactly`);
  }
  t.equal(mixed, 0, 'never a mixture');
  t.ok(killed >= 4, `most runs were really killed (${killed} of 8)`);
  t.ok(midway >= 2, `several in the middle of the tree, files stamped and files not yet (${midway} of 8)`);

  // SIGTERM: the files in progress are finished, the rest left alone, status 143.
  fs.rmSync(root, { recursive: true, force: true });
  fill(root);
  const term = await killAfter(root, 0, 'SIGTERM');
  const now = snapshot(root);
  t.same([...now.keys()].filter((n) => TMP_RE.test(path.basename(n))), [], 'no temporary file after SIGTERM');
  for (const [name, hash] of now) t.ok(hash === original.get(name) || hash === stamped.get(name), `${name} whole`);
  if (term.code === 0) t.pass('it finished before the signal');
  else {
    t.equal(term.code, 143, 'exit 128 + SIGTERM');
    t.equal(JSON.parse(term.stdout).interrupted, true, 'the report says it was interrupted');
  }
});
