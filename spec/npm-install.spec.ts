// `npm install -g` of the packed tarball gives the whole tool, as a user gets it: the tree is
// copied and packed with `npm pack` (prepack builds dist/ there, so this spec leaves the checkout's
// dist/ alone), the tarball's contents are checked (the C sources, integrations/, the man pages, no
// build output), and it is installed into a fresh prefix (dependencies from npm's cache where it
// has them). npm's preinstall builds the native parts; from the prefix's bin/ alone, `elfprefetch
// record`, `train`, `run`, `stamp-tree` and `elfprefetch-exec` work on a sample, and the man pages
// are linked. Then the same tarball on a PATH without any C compiler: the install succeeds, the
// message names the missing compiler (npm shows it with --foreground-scripts; the commands that
// need the native parts repeat it), info and stamp work; `npm rebuild` with a compiler mends it.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, runCommand, type RunResult } from './helpers/fixtures';
import { SAMPLE_OUTPUT, compileSample } from './helpers/cold-sample';


const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const hasDaemon = fs.existsSync(path.join(repoRoot, 'shim', 'daemon'));
const NATIVE = ['elfprefetch-exec', 'libelfprefetch-audit.so', 'libelfprefetch-preload.so', 'epf-plan', 'libelfprefetch-record.so', 'elfprefetch-bindexec', 'elfprefetch-benchrun', ...(hasDaemon ? ['elfprefetchd'] : [])];
const NO_COMPILER = /no C compiler found \(looked for cc, gcc and clang on PATH\): the native parts \(elfprefetch-exec, the LD_AUDIT and LD_PRELOAD libraries, the recorder\) were not built/;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-npm-'));
if (!process.env.ELFPREFETCH_KEEP) t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
else t.comment(`keeping ${tmp}`);

// No npm or tap settings of the test run leak into the npm under test.
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(npm_|_?TAP|NODE_OPTIONS$|ELFPREFETCH_|CC$|CFLAGS$|MAKEFLAGS$)/i.test(k)),
);
baseEnv.npm_config_update_notifier = 'false';
baseEnv.npm_config_fund = 'false';
baseEnv.npm_config_audit = 'false';
const run = (argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> =>
  runCommand(argv, { cwd: opts.cwd ?? tmp, env: { ...baseEnv, ...opts.env }, timeoutMs: 300_000 });
const show = (r: RunResult): string => `status ${r.status}${r.error ? ` (${r.error.message})` : ''}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

/** A copy of the working tree (what git would commit or has), with the checkout's node_modules. */
function copyTree(to: string): void {
  const files = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: repoRoot, encoding: 'utf8' }).stdout.split('\0').filter((f) => f && !f.startsWith('node_modules'));
  for (const f of files) {
    const from = path.join(repoRoot, f);
    if (!fs.existsSync(from)) continue; // deleted, not yet committed
    fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    fs.cpSync(from, path.join(to, f), { verbatimSymlinks: true });
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(to, 'node_modules'));
}

/** /usr/bin without any C compiler: a folder of links to everything else. */
function pathWithoutCompilers(dir: string): string {
  fs.mkdirSync(dir);
  const compiler = /(^|-)(gcc|cc|clang|c89|c99|tcc|cpp)(-[\d.]+)?$|^clang|^(c|g|clang)\+\+/;
  for (const name of fs.readdirSync('/usr/bin')) if (!compiler.test(name)) fs.symlinkSync(path.join('/usr/bin', name), path.join(dir, name));
  return dir;
}

let tarball = '';

t.test('npm pack: the tarball holds the whole tool', async (t) => {
  const src = path.join(tmp, 'src');
  copyTree(src);
  const p = await run(['npm', 'pack', '--pack-destination', tmp], { cwd: src });
  if (!t.equal(p.status, 0, 'npm pack (prepack builds dist/)', { output: show(p) })) return;
  tarball = path.join(tmp, `elfprefetch-${version}.tgz`);
  t.ok(fs.existsSync(tarball), 'the tarball');
  const list = await run(['tar', 'tzf', tarball]);
  const files = new Set(list.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')));
  for (const f of [
    'package.json', 'README.md', 'dist/cli/main.js', 'dist/src/index.js', 'scripts/install-native.sh',
    'shim/Makefile', 'recorder/Makefile', 'docs/USAGE.md', 'docs/DEPLOYMENT.md', 'docs/man/elfprefetch.1', 'docs/man/elfprefetch-exec.1',
    ...(hasDaemon ? ['shim/daemon/elfprefetchd.service', 'shim/daemon/elfprefetchd.conf', 'docs/man/elfprefetchd.8'] : []),
  ])
    t.ok(files.has(f), `has ${f}`);
  // Everything the native build, the build-system hooks and the .deb build need, as the tree has it.
  const below = (d: string): string[] => (fs.readdirSync(path.join(src, d), { recursive: true }) as string[]).map((f) => path.join(d, f)).filter((f) => fs.statSync(path.join(src, f)).isFile());
  for (const d of ['shim', 'recorder', 'integrations', 'packaging', 'docs/man']) {
    const want = below(d);
    t.ok(want.length > 0, `${d}/ has files`);
    t.same(want.filter((f) => !files.has(f)), [], `has every file of ${d}/ (${want.length})`);
  }
  t.same([...files].filter((f) => /^(build|spec|samples|src|cli|node_modules)\//.test(f)), [], 'no build output, specs, samples, TypeScript sources or node_modules');
  t.same([...files].filter((f) => /\.(so|o|a)$/.test(f)), [], 'no native binaries');
  t.notOk(fs.existsSync(path.join(src, 'build')), 'packing built nothing native');
});

t.test('npm install -g into a fresh prefix: every command works from its bin/', async (t) => {
  if (!tarball) return t.fail('no tarball');
  const prefix = path.join(tmp, 'prefix');
  const i = await run(['npm', 'install', '-g', '--prefix', prefix, '--prefer-offline', tarball]);
  if (!t.equal(i.status, 0, 'npm install -g --prefix', { output: show(i) })) return;
  const pkg = path.join(prefix, 'lib', 'node_modules', 'elfprefetch');
  for (const f of NATIVE) t.ok(fs.existsSync(path.join(pkg, 'build', 'native', f)), `built at install: build/native/${f}`);
  t.notOk(fs.existsSync(path.join(pkg, 'build', 'native-missing.txt')), 'nothing reported missing');
  const withMusl = (await run(['sh', '-c', 'command -v musl-gcc'])).status === 0;
  t.match(fs.readFileSync(path.join(pkg, 'build', 'native-build.log'), 'utf8'), withMusl ? /^elfprefetch-exec: linked statically with musl/m : /^elfprefetch-exec: linked statically with the C library of cc$/m, `the wrapper is linked with ${withMusl ? 'musl (musl-gcc is on PATH)' : "cc's C library (no musl-gcc)"}`);
  const bin = path.join(prefix, 'bin');
  t.equal(fs.realpathSync(path.join(bin, 'elfprefetch')), path.join(pkg, 'dist', 'cli', 'main.js'), 'bin/elfprefetch: the CLI');
  t.equal(fs.realpathSync(path.join(bin, 'elfprefetch-exec')), path.join(pkg, 'build', 'native', 'elfprefetch-exec'), 'bin/elfprefetch-exec: the wrapper built at install');
  for (const m of ['man1/elfprefetch.1', 'man1/elfprefetch-exec.1', ...(hasDaemon ? ['man8/elfprefetchd.8'] : [])])
    t.ok(fs.existsSync(path.join(prefix, 'share', 'man', m)), `man page linked: share/man/${m}`);

  // Only the prefix's bin/ and the system's: nothing of the checkout.
  const env = { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` };
  const ep = (args: string[], extra: NodeJS.ProcessEnv = {}) => run(['elfprefetch', ...args], { env: { ...env, ...extra } });
  const v = await ep(['--version']);
  t.equal(v.stdout.trim(), version, 'elfprefetch --version');

  const dir = path.join(tmp, 'work');
  const exe = compileSample(t, dir);
  if (!exe) return;
  const copy = (name: string): string => {
    const to = path.join(dir, name);
    fs.copyFileSync(exe, to);
    fs.chmodSync(to, 0o755);
    return to;
  };
  const trained = copy('trained');
  const tree = path.join(dir, 'tree', 'usr', 'bin');
  fs.mkdirSync(tree, { recursive: true });
  const inTree = path.join(tree, 'sample');
  fs.copyFileSync(exe, inTree);
  fs.chmodSync(inTree, 0o755);

  // --method pagemap: the recorder library built at install, without waiting for the exact
  // method's loop device, which other specs' recordings hold in turn.
  const rec = await ep(['record', '--method', 'pagemap', '-o', path.join(dir, 'sample.json'), '--', exe]);
  t.equal(rec.status, 0, 'elfprefetch record', { output: show(rec) });
  t.match(rec.stdout, SAMPLE_OUTPUT, 'the recorded program prints what it should');

  const tr = await ep(['train', '--method', 'pagemap', '--', trained]);
  t.equal(tr.status, 0, 'elfprefetch train', { output: show(tr) });
  t.equal((await ep(['verify', trained])).status, 0, 'the trained program has a valid note');

  const r = await ep(['run', '--', trained], { ELFPREFETCH_DEBUG: '1' });
  t.equal(r.status, 0, 'elfprefetch run', { output: show(r) });
  t.equal(r.stdout, SAMPLE_OUTPUT, 'elfprefetch run: the output');
  t.match(r.stderr, `elfprefetch: ${trained}: prefetched`, 'elfprefetch run: prefetched');

  const x = await run(['elfprefetch-exec', trained], { env: { ...env, ELFPREFETCH_DEBUG: '1' } });
  t.equal(x.status, 0, 'elfprefetch-exec from PATH', { output: show(x) });
  t.equal(x.stdout, SAMPLE_OUTPUT, 'elfprefetch-exec: the output');
  t.match(x.stderr, `elfprefetch: ${trained}: prefetched`, 'elfprefetch-exec: prefetched');

  const pdir = path.join(dir, 'profiles');
  t.equal((await ep(['profiles', 'add', pdir, path.join(dir, 'sample.json')])).status, 0, 'elfprefetch profiles add');
  const report = path.join(dir, 'report.json');
  const st = await ep(['stamp-tree', path.join(dir, 'tree'), '--profiles', pdir, '--report', report]);
  t.equal(st.status, 0, 'elfprefetch stamp-tree', { output: show(st) });
  const outcomes = (JSON.parse(fs.readFileSync(report, 'utf8')) as { files: Array<{ path: string; outcome: string }> }).files.map((f) => [f.path, f.outcome]);
  t.same(outcomes, [[inTree, 'stamped']], 'stamp-tree: the sample is stamped from its profile (same build-id)');
  t.equal((await ep(['verify', inTree])).status, 0, 'stamp-tree: a valid note');

  const man = await run(['man', '-M', path.join(prefix, 'share', 'man'), '-w', 'elfprefetch-exec']);
  t.equal(man.stdout.trim(), path.join(pkg, 'docs', 'man', 'elfprefetch-exec.1'), 'man -M PREFIX/share/man finds elfprefetch-exec(1) (through the link npm made)');
});

t.test('no C compiler on PATH: the install succeeds, says why, and the TypeScript commands work', async (t) => {
  if (!tarball) return t.fail('no tarball');
  const prefix = path.join(tmp, 'prefix-nocc');
  const bare = pathWithoutCompilers(path.join(tmp, 'bin-without-cc'));
  const env = { PATH: `${path.join(prefix, 'bin')}:/usr/sbin:${bare}` };
  t.equal((await run(['sh', '-c', 'command -v cc gcc clang'], { env })).stdout, '', 'no cc, gcc or clang on this PATH');

  const i = await run(['npm', 'install', '-g', '--prefix', prefix, '--prefer-offline', tarball], { env });
  if (!t.equal(i.status, 0, 'npm install -g succeeds', { output: show(i) })) return;
  const pkg = path.join(prefix, 'lib', 'node_modules', 'elfprefetch');
  const missing = path.join(pkg, 'build', 'native-missing.txt');
  t.match(fs.existsSync(missing) ? fs.readFileSync(missing, 'utf8') : '', NO_COMPILER, 'build/native-missing.txt names the missing compiler');
  t.match(fs.existsSync(missing) ? fs.readFileSync(missing, 'utf8') : '', /apt-get install gcc make libc6-dev[^]*npm rebuild -g elfprefetch/, 'and says what to install and run');
  t.same(fs.readdirSync(path.join(pkg, 'build', 'native')), [], 'nothing native was built');
  t.notOk(fs.existsSync(path.join(prefix, 'bin', 'elfprefetch-exec')), 'no elfprefetch-exec on PATH (npm links no missing file)');

  // npm shows an install script's output with --foreground-scripts (and on failure only).
  const fg = await run(['npm', 'rebuild', '-g', '--prefix', prefix, '--foreground-scripts', 'elfprefetch'], { env });
  t.equal(fg.status, 0, 'npm rebuild --foreground-scripts succeeds', { output: show(fg) });
  t.match(fg.stderr, new RegExp(`elfprefetch: ${NO_COMPILER.source}`), 'and prints the message');

  const dir = path.join(tmp, 'work-nocc');
  const exe = compileSample(t, dir);
  if (!exe) return;
  const ep = (args: string[]) => run(['elfprefetch', ...args], { env });
  const info = await ep(['info', exe]);
  t.equal(info.status, 0, 'elfprefetch info works', { output: show(info) });
  const st = await ep(['stamp', exe, '--pages', '0-3']);
  t.equal(st.status, 0, 'elfprefetch stamp works', { output: show(st) });
  t.equal((await ep(['verify', exe])).status, 0, 'elfprefetch verify: valid');
  for (const cmd of [['run', '--', exe], ['record', '-o', path.join(dir, 'p.json'), '--', exe]]) {
    const r = await ep(cmd);
    t.equal(r.status, 1, `elfprefetch ${cmd[0]} fails`, { output: show(r) });
    t.match(r.stderr, NO_COMPILER, `elfprefetch ${cmd[0]}: names the missing compiler`);
  }

  // With a compiler again (cc and gcc, no musl-gcc), the rebuild the message asks for mends the
  // install: the wrapper is linked with cc's C library instead of musl.
  const ccOnly = path.join(tmp, 'bin-cc');
  fs.mkdirSync(ccOnly);
  for (const c of ['cc', 'gcc']) fs.symlinkSync(path.join('/usr/bin', c), path.join(ccOnly, c));
  const fix = await run(['npm', 'rebuild', '-g', '--prefix', prefix, 'elfprefetch'], { env: { PATH: `${path.join(prefix, 'bin')}:/usr/sbin:${ccOnly}:${bare}` } });
  t.equal(fix.status, 0, 'npm rebuild -g elfprefetch with a compiler', { output: show(fix) });
  t.notOk(fs.existsSync(missing), 'nothing reported missing any more');
  t.match(fs.readFileSync(path.join(pkg, 'build', 'native-build.log'), 'utf8'), /^elfprefetch-exec: linked statically with the C library of cc$/m, 'no musl-gcc on PATH: the wrapper is linked with the C library of cc');
  const x = await run(['elfprefetch-exec', exe], { env: { ...env, ELFPREFETCH_DEBUG: '1' } });
  t.equal(x.stdout, SAMPLE_OUTPUT, 'elfprefetch-exec is on PATH now');
  t.match(x.stderr, `elfprefetch: ${exe}: prefetched`, 'and prefetches');
});

