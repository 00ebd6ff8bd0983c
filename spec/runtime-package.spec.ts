// The Debian runtime package elfprefetch-runtime (packaging/debian-runtime), as CI and a user have
// it: built by build-deb.sh; its files, modes, control data, conffiles and maintainer scripts
// checked with dpkg-deb; lintian clean; installed with dpkg on this machine. The installed
// /usr/bin/elfprefetch-exec and the installed audit library start a stamped sample cold and
// prefetch its pages (pages no start reads are resident afterwards); the installed shim reads a
// sidecar from the packaged /var/lib/elfprefetch/sidecar. With the daemon in the tree
// (shim/daemon/), the package must hold it, its unit, configuration (a conffile) and man page,
// and the installed daemon, started in the foreground, prefetches the sample at a plain cold exec.
// Then the package is removed and purged and nothing of it is left. The purge also runs when a
// check fails (teardown), so the machine is left as it was found.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, runCommand, type RunResult } from './helpers/fixtures';
import { escapeRegExp } from './helpers/shim';
import { SAMPLE_OUTPUT, type Tail, addUnreadTail, compileProbe, compileSample, evict, tailResident, waitTailResident } from './helpers/cold-sample';

type Test = tap.Test;

const PKG = 'elfprefetch-runtime';
const buildScript = path.join(repoRoot, 'packaging', 'debian-runtime', 'build-deb.sh');
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const hasDaemon = fs.existsSync(path.join(repoRoot, 'shim', 'daemon'));
const isRoot = process.getuid?.() === 0;
const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
const multiarch = spawnSync('dpkg-architecture', ['-qDEB_HOST_MULTIARCH'], { encoding: 'utf8' }).stdout.trim();
const libDir = `/usr/lib/${multiarch}/elfprefetch`;
const SIDECAR_DIR = '/var/lib/elfprefetch/sidecar';
/** debian/rules links the wrapper with musl where musl-gcc is there (musl-tools), else with glibc. */
const withMusl = spawnSync('sh', ['-c', 'command -v musl-gcc'], { encoding: 'utf8' }).status === 0;
/** The source package and version of a build dependency, as Built-Using names it. */
const builtUsing = (pkg: string): string => spawnSync('dpkg-query', ['-f', '${source:Package} (= ${source:Version})', '-W', pkg], { encoding: 'utf8' }).stdout;

/** path inside the package -> mode string of `dpkg-deb -c`, for every regular file. */
const FILES: Record<string, string> = {
  '/usr/bin/elfprefetch-exec': '-rwxr-xr-x',
  [`${libDir}/libelfprefetch-audit.so`]: '-rw-r--r--',
  [`${libDir}/libelfprefetch-preload.so`]: '-rw-r--r--',
  '/usr/share/man/man1/elfprefetch-exec.1.gz': '-rw-r--r--',
  [`/usr/share/doc/${PKG}/copyright`]: '-rw-r--r--',
  [`/usr/share/doc/${PKG}/changelog.gz`]: '-rw-r--r--',
  [`/usr/share/lintian/overrides/${PKG}`]: '-rw-r--r--',
  ...(hasDaemon
    ? {
        '/usr/sbin/elfprefetchd': '-rwxr-xr-x',
        '/lib/systemd/system/elfprefetchd.service': '-rw-r--r--',
        '/etc/elfprefetch/elfprefetchd.conf': '-rw-r--r--',
        '/usr/share/man/man8/elfprefetchd.8.gz': '-rw-r--r--',
      }
    : {}),
};
/** Its directories: some may be there before (other work on this machine makes the sidecar directory). */
const DIRS = [libDir, SIDECAR_DIR, '/var/lib/elfprefetch', '/etc/elfprefetch', `/usr/share/doc/${PKG}`, ...(hasDaemon ? ['/var/cache/elfprefetch'] : [])];
/** Every file below `dir` (absolute paths). */
const filesBelow = (dir: string): string[] =>
  fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)).filter((f) => fs.lstatSync(f).isFile()) : [];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-runtime-'));
if (!process.env.ELFPREFETCH_KEEP) t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^_?TAP/i.test(k) && !k.startsWith('ELFPREFETCH_') && k !== 'NODE_OPTIONS'));
const run = (argv: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): Promise<RunResult> => runCommand(argv, { cwd: tmp, env: { ...env, ...extra }, timeoutMs });
const show = (r: RunResult): string => `status ${r.status}${r.error ? ` (${r.error.message})` : ''}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

/** dpkg with the package database locked by another apt/dpkg (other work on this machine): waits and retries. */
function dpkgSync(args: string[]): { status: number | null; output: string } {
  const until = Date.now() + 300_000;
  for (;;) {
    const r = spawnSync('dpkg', args, { encoding: 'utf8', env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
    const output = `${r.stdout}${r.stderr}`;
    if (r.status === 0 || !/lock/i.test(output) || Date.now() > until) return { status: r.status, output };
    spawnSync('sleep', ['2']);
  }
}
const installed = (): string => spawnSync('dpkg-query', ['-W', '-f', '${Status}', PKG], { encoding: 'utf8' }).stdout;
/** systemd state kept for the unit by deb-systemd-helper (enablement symlinks, state files). */
const unitState = (): string[] =>
  ['/etc/systemd/system', '/var/lib/systemd/deb-systemd-helper-enabled', '/var/lib/systemd/deb-systemd-helper-masked']
    .filter((d) => fs.existsSync(d))
    .flatMap((d) => spawnSync('find', [d, '-name', '*elfprefetchd*'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean));
/** PIDs of processes running the installed daemon (other daemons of build trees do not count). */
const installedDaemons = (): number[] =>
  fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readlinkSync(`/proc/${p}/exe`) === '/usr/sbin/elfprefetchd';
    } catch {
      return false;
    }
  }).map(Number);

let deb = '';
let ctrl = '';

t.test('build-deb.sh builds the package', async (t) => {
  const b = await run(['sh', buildScript, path.join(tmp, 'out')]);
  if (!t.equal(b.status, 0, 'build-deb.sh succeeds', { output: show(b) })) return;
  if (hasDaemon) t.match(b.stdout, /build-deb: with the daemon/, 'says the daemon is in');
  else t.match(b.stdout, /build-deb: NOTE: the daemon is MISSING from this tree \(no shim\/daemon\/\): elfprefetch-runtime is built WITHOUT elfprefetchd/, 'says plainly that the daemon is missing');
  t.match(b.stdout, withMusl ? /^elfprefetch-exec: linked statically with musl/m : /^elfprefetch-exec: linked statically with the C library of /m, `the wrapper is linked with ${withMusl ? 'musl (musl-gcc is there)' : 'glibc (no musl-gcc)'}`);
  if (['amd64', 'arm64'].includes(arch)) t.match(b.stdout, /^libelfprefetch-audit\.so: linked without a C library \(ld\.so only/m, 'the auditor is linked without a C library (AUDIT_LIBC=none on this architecture; the lintian override says why)');
  deb = b.stdout.trim().split('\n').pop()!;
  t.equal(deb, path.join(tmp, 'out', `${PKG}_${version}_${arch}.deb`), 'the last line names the package');
  t.ok(fs.existsSync(deb), 'which exists');
  t.notOk(fs.existsSync(path.join(repoRoot, 'shim', 'native')), 'nothing built inside the source tree');
});

t.test('contents and control data (dpkg-deb -c, -I, -e)', async (t) => {
  if (!deb) return t.fail('no package was built');
  const c = await run(['dpkg-deb', '-c', deb]);
  t.equal(c.status, 0, 'dpkg-deb -c');
  const entries = c.stdout.split('\n').filter(Boolean).map((l) => {
    const f = l.split(/\s+/);
    return { mode: f[0]!, owner: f[1]!, path: f.slice(5).join(' ').replace(/^\./, '').replace(/\/$/, '') || '/' };
  });
  t.same(entries.filter((e) => e.owner !== 'root/root'), [], 'every entry is owned by root');
  const files = Object.fromEntries(entries.filter((e) => !e.mode.startsWith('d')).map((e) => [e.path, e.mode]));
  t.same(files, FILES, `exactly these files, with these modes${hasDaemon ? ' (the daemon, its unit, configuration and man page included)' : ' (no daemon in this tree)'}`);
  t.match(entries.find((e) => e.path === SIDECAR_DIR), { mode: 'drwxr-xr-x' }, `the sidecar directory ${SIDECAR_DIR}, mode 755`);

  const info = await run(['dpkg-deb', '-I', deb]);
  t.equal(info.status, 0, 'dpkg-deb -I');
  t.match(info.stdout, new RegExp(` Package: ${PKG}\\n Version: ${version.replace(/\./g, '\\.')}\\n Architecture: ${arch}\\n`), 'package, version (package.json), architecture');
  t.match(info.stdout, / Depends: libc6 \(>= [\d.]+\)\n/, 'depends on the C library the libraries were linked against (dpkg-shlibdeps)');
  const using = [builtUsing('libc6-dev'), ...(withMusl ? [builtUsing('musl-dev')] : [])].join(', ');
  t.match(using, /^glibc \(= [^)]+\)(, musl \(= [^)]+\))?$/, `the C libraries' source packages: ${using}`);
  t.ok(info.stdout.includes(` Built-Using: ${using}\n`), `Built-Using: the C libraries linked statically into the wrapper and the daemon (${using})`);

  ctrl = path.join(tmp, 'control');
  t.equal((await run(['dpkg-deb', '-e', deb, ctrl])).status, 0, 'dpkg-deb -e');
  const conffiles = path.join(ctrl, 'conffiles');
  t.equal(fs.existsSync(conffiles) ? fs.readFileSync(conffiles, 'utf8') : '', hasDaemon ? '/etc/elfprefetch/elfprefetchd.conf\n' : '', 'conffiles: the daemon configuration, nothing else');
  for (const s of ['preinst', 'postinst', 'prerm', 'postrm']) {
    const f = path.join(ctrl, s);
    if (!fs.existsSync(f)) continue;
    t.equal((await run(['sh', '-n', f])).status, 0, `${s} is valid sh`);
  }
  if (!hasDaemon) {
    t.notOk(['postinst', 'prerm', 'postrm'].some((s) => fs.existsSync(path.join(ctrl, s))), 'no daemon: no maintainer scripts');
    return;
  }
  const postinst = fs.readFileSync(path.join(ctrl, 'postinst'), 'utf8');
  t.match(postinst, /deb-systemd-helper enable 'elfprefetchd\.service'/, 'postinst enables the unit with deb-systemd-helper');
  t.match(postinst, /if \[ -d \/run\/systemd\/system \]; then[^]*deb-systemd-invoke \$_dh_action 'elfprefetchd\.service'/, 'and starts it only where systemd runs');
  t.match(fs.readFileSync(path.join(ctrl, 'prerm'), 'utf8'), /\[ -d \/run\/systemd\/system \][^]*deb-systemd-invoke stop 'elfprefetchd\.service'/, 'prerm stops it where systemd runs');
  t.match(fs.readFileSync(path.join(ctrl, 'postrm'), 'utf8'), /"purge"[^]*deb-systemd-helper purge 'elfprefetchd\.service'/, 'postrm purges its systemd state');
});

t.test('lintian finds no error or warning', async (t) => {
  if (!deb) return t.fail('no package was built');
  const l = await run(['lintian', '--fail-on', 'error,warning', '--pedantic', '--info', deb], {}, 300_000);
  if (l.error && /ENOENT/.test(l.error.message)) return t.fail('lintian is not installed: run scripts/setup.sh');
  t.equal(l.status, 0, 'lintian --fail-on error,warning', { output: show(l) });
  t.notMatch(l.stdout, /^[EW]: /m, 'no E: or W: tag');
});

t.test('installed with dpkg: the shim prefetches, the daemon too; removed and purged without a trace', { skip: !isRoot && 'installing a package needs root' }, async (t) => {
  if (!deb) return t.fail('no package was built');
  const was = installed();
  if (was) return t.fail(`${PKG} is on this machine already (${was}): this spec installs and purges it, so it leaves such a machine alone`);
  const clash = Object.keys(FILES).filter((p) => fs.existsSync(p));
  if (clash.length) return t.fail(`these files exist before the install and would be taken for the package's: ${clash.join(', ')}`);
  const dirsBefore = DIRS.filter((d) => fs.existsSync(d));
  if (dirsBefore.length) t.comment(`there before the install (kept as they are): ${dirsBefore.join(', ')}`);
  t.same(unitState(), [], 'no systemd state for elfprefetchd before the install');

  t.teardown(() => {
    // Also after a failed check: the machine keeps nothing of the package, and the directories
    // that were there before (dpkg removes them with the package when empty) are there again.
    if (installed()) dpkgSync(['--purge', PKG]);
    for (const d of dirsBefore) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  });
  const i = dpkgSync(['-i', deb]);
  if (!t.equal(i.status, 0, `dpkg -i`, { output: i.output })) return;
  t.equal(installed(), 'install ok installed', 'dpkg-query: installed');
  for (const [f, mode] of Object.entries(FILES)) {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    t.ok(st?.isFile(), `${f} is installed`);
    if (st) t.equal((st.mode & 0o777).toString(8), mode === '-rwxr-xr-x' ? '755' : '644', `${f}: mode`);
  }
  const sd = fs.statSync(SIDECAR_DIR, { throwIfNoEntry: false });
  t.ok(sd?.isDirectory() && (sd.mode & 0o777) === 0o755 && sd.uid === 0, `${SIDECAR_DIR}: a root-owned directory, mode 755`);
  const man = await run(['man', '-w', 'elfprefetch-exec']);
  t.equal(man.stdout.trim(), '/usr/share/man/man1/elfprefetch-exec.1.gz', 'man finds elfprefetch-exec(1)');
  if (hasDaemon) {
    const state = unitState();
    t.ok(state.some((f) => /^\/etc\/systemd\/system\/[^/]+\.wants\/elfprefetchd\.service$/.test(f)), 'the unit is enabled: deb-systemd-helper made its .wants link', { state });
    t.ok(state.includes('/var/lib/systemd/deb-systemd-helper-enabled/elfprefetchd.service.dsh-also'), 'and keeps its state, for the purge');
    if (!fs.existsSync('/run/systemd/system')) t.same(installedDaemons(), [], 'systemd does not run here: the daemon was not started');
  }

  // A stamped sample with pages no start of it reads: resident afterwards only if prefetched.
  const dir = path.join(tmp, 'sample');
  const exe = compileSample(t, dir);
  const probe = compileProbe(t, dir);
  const tail = exe && addUnreadTail(t, exe);
  if (!exe || !probe || !tail) return;
  const plainCopy = path.join(dir, 'unstamped');
  fs.copyFileSync(exe, plainCopy);
  fs.chmodSync(plainCopy, 0o755);
  const st = await run([process.execPath, cli, 'stamp', exe, '--pages', tail.pages]);
  if (!t.equal(st.status, 0, `stamp --pages ${tail.pages}`, { output: show(st) })) return;

  t.equal(evict(exe), 0, 'the sample is cold');
  const plain = await run([exe]);
  t.equal(plain.stdout, SAMPLE_OUTPUT, 'a plain start prints what it should');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(tailResident(probe, exe, tail), 0, 'a plain cold start leaves the stamped tail on disk');

  const tryHook = async (what: string, argv: string[], extra: NodeJS.ProcessEnv): Promise<void> => {
    t.equal(evict(exe), 0, `${what}: the sample is cold`);
    const r = await run(argv, { ELFPREFETCH_DEBUG: '1', ...extra });
    t.equal(r.status, 0, `${what}: runs`, { output: show(r) });
    t.equal(r.stdout, SAMPLE_OUTPUT, `${what}: prints what it should`);
    t.match(r.stderr, new RegExp(`^elfprefetch: ${escapeRegExp(exe)}: prefetched \\d+ runs`, 'm'), `${what}: prefetched (ELFPREFETCH_DEBUG)`);
    t.equal(await waitTailResident(probe, exe, tail), tail.length, `${what}: the stamped tail is resident`);
  };
  await tryHook('/usr/bin/elfprefetch-exec', ['/usr/bin/elfprefetch-exec', exe], {});
  await tryHook('elfprefetch-exec from PATH', ['elfprefetch-exec', exe], { PATH: '/usr/bin:/bin' });
  await tryHook(`LD_AUDIT=${libDir}/libelfprefetch-audit.so`, [exe], { LD_AUDIT: `${libDir}/libelfprefetch-audit.so` });

  // The packaged sidecar directory is the shim's compiled-in one.
  const sidecarsBefore = new Set(filesBelow(SIDECAR_DIR));
  const side = await run([process.execPath, cli, 'stamp', plainCopy, '--pages', '0-3', '--sidecar', SIDECAR_DIR]);
  if (t.equal(side.status, 0, `stamp --sidecar ${SIDECAR_DIR}`, { output: show(side) })) {
    const r = await run(['/usr/bin/elfprefetch-exec', plainCopy], { ELFPREFETCH_DEBUG: '1' });
    t.equal(r.stdout, SAMPLE_OUTPUT, 'the unstamped copy runs');
    t.match(r.stderr, new RegExp(`prefetched [^\\n]*\\(sidecar ${SIDECAR_DIR}/[0-9a-f]{2}/[0-9a-f]+\\.note\\)`), 'the installed wrapper reads its sidecar from the packaged directory');
  }
  // Sidecars made on the machine are not the package's: dpkg would leave the directory behind.
  for (const f of filesBelow(SIDECAR_DIR).filter((f) => !sidecarsBefore.has(f))) {
    fs.rmSync(f);
    if (fs.readdirSync(path.dirname(f)).length === 0 && path.dirname(f) !== SIDECAR_DIR) fs.rmdirSync(path.dirname(f));
  }

  if (hasDaemon) await daemonPrefetches(t, exe, probe, tail);

  const r = dpkgSync(['-r', PKG]);
  t.equal(r.status, 0, 'dpkg -r', { output: r.output });
  t.equal(installed(), hasDaemon ? 'deinstall ok config-files' : '', `removed${hasDaemon ? ', the configuration kept' : ''}`);
  t.same(Object.keys(FILES).filter((f) => fs.existsSync(f)), hasDaemon ? ['/etc/elfprefetch/elfprefetchd.conf'] : [], 'only the conffile is left after removal');
  const p = dpkgSync(['--purge', PKG]);
  t.equal(p.status, 0, 'dpkg --purge', { output: p.output });
  t.equal(installed(), '', 'dpkg-query knows it no more');
  t.same(Object.keys(FILES).filter((f) => fs.existsSync(f)), [], 'none of its files is left');
  t.same(DIRS.filter((d) => fs.existsSync(d) && !dirsBefore.includes(d)), [], 'none of its directories is left (but those there before)');
  t.same(unitState(), [], 'no systemd state is left for the unit');
  t.same(fs.readdirSync('/var/lib/dpkg/info').filter((f) => f.startsWith(`${PKG}.`)), [], 'dpkg keeps no control files of it');
});

/** Starts the installed daemon in the foreground (its installed configuration) and starts the sample plainly, cold. */
async function daemonPrefetches(t: Test, exe: string, probe: string, tail: Tail): Promise<void> {
  t.equal(evict(exe), 0, 'daemon: the sample is cold');
  const d = spawn('/usr/sbin/elfprefetchd', ['--foreground', '--verbose'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  d.stdout.on('data', (b: Buffer) => (log += b.toString()));
  d.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => d.on('close', (status, signal) => resolve({ status, signal })));
  const kill = setTimeout(() => d.kill('SIGKILL'), 60_000);
  try {
    // Ready once it has said something (it logs what it watches before the first event).
    for (let i = 0; i < 100 && !log; i++) await new Promise((r) => setTimeout(r, 100));
    t.ok(log, 'the daemon logs that it started', { log });
    const r = await run([exe]);
    t.equal(r.stdout, SAMPLE_OUTPUT, 'daemon: a plain start of the sample prints what it should');
    t.equal(await waitTailResident(probe, exe, tail), tail.length, 'daemon: after a plain cold start the stamped tail is resident', { log });
  } finally {
    d.kill('SIGTERM');
    const end = await exited;
    clearTimeout(kill);
    t.same(end, { status: 0, signal: null }, 'daemon: SIGTERM stops it cleanly', { log });
  }
  // Read once it has exited: it may log an exec after the reads it asked for have finished.
  t.match(log, exe, 'daemon: its verbose log names the sample');
}

t.test('the source tree has what the package needs', async (t) => {
  t.ok(fs.existsSync(path.join(repoRoot, 'docs', 'man', 'elfprefetch-exec.1')), 'docs/man/elfprefetch-exec.1');
  t.equal(fs.existsSync(path.join(repoRoot, 'docs', 'man', 'elfprefetchd.8')), hasDaemon, 'docs/man/elfprefetchd.8 exactly when the daemon is there');
  // Every man page of the tree renders without a warning.
  for (const f of fs.readdirSync(path.join(repoRoot, 'docs', 'man'))) {
    const g = await run(['groff', '-man', '-Tutf8', '-ww', '-z', path.join(repoRoot, 'docs', 'man', f)]);
    t.equal(`${g.status} ${g.stderr}`, '0 ', `groff -man -ww ${f}: no warning`);
  }
});
