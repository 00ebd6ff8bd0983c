// The distribution integrations (integrations/debian, integrations/rpm, docs/PACKAGING.md) used as
// a distribution would, on the sample package samples/packaging/hello-epf (a program and its
// private shared library), with the CLI on PATH as `elfprefetch`:
//   Debian: dpkg-buildpackage -b with `dh $@ --with elfprefetch`. The first build, with an empty
//   profile directory, leaves the binaries as built (report: no profile; verify: absent). The
//   extracted program is run and recorded, the profile filed with `profiles add`, and the package
//   rebuilt in the same folder: the same build-ids (the build is reproducible), both binaries
//   stamped before dh_md5sums (the package's md5sums are those of the stamped files), valid,
//   running as before, prefetched by the shim; readelf shows the note. Then dh_elfprefetch on its
//   own: idempotent, no profile directory, sidecar mode, a file with no room (a sidecar), a failed
//   file (fails, or a warning with --ignore-failures), DEB_BUILD_OPTIONS=noelfprefetch.
//   RPM: the same round with rpmbuild -bb --load macros.elfprefetch and rpm2cpio | cpio, and the
//   install-post step's failure policy.
import t from 'tap';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { identify } from '../src/record/objects';
import { repoRoot, runCommand, type RunResult, withoutSectionHeaders } from './helpers/fixtures';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const sample = path.join(repoRoot, 'samples', 'packaging', 'hello-epf');
const debianDir = path.join(repoRoot, 'integrations', 'debian');
const rpmMacros = path.join(repoRoot, 'integrations', 'rpm', 'macros.elfprefetch');
const EXPECTED = 'hello, packager! (libhello-epf 1.0)\nchecksum 74dad7c1\n';
const BIN = 'usr/bin/hello-epf';
const LIB = 'usr/lib/hello-epf/libhello-epf.so.1';
const EXIT_VALID = 0;
const EXIT_ABSENT = 10;
/** A library of this machine with no safe place for a note (as in spec/stamp-tree.spec.ts). */
const REFUSED_LIB = '/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-packaging-'));
if (!process.env.ELFPREFETCH_KEEP) t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
else t.comment(`keeping ${tmp}`);

// The CLI as a distribution has it: `elfprefetch` on PATH; dh_elfprefetch and its add-on too.
const binDir = path.join(tmp, 'bin');
fs.mkdirSync(binDir);
fs.writeFileSync(path.join(binDir, 'elfprefetch'), `#!/bin/sh\nexec '${process.execPath}' '${cli}' "$@"\n`, { mode: 0o755 });
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)));
for (const v of ['DESTDIR', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'CC', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS', 'DEB_BUILD_OPTIONS', 'DEB_BUILD_PROFILES', 'DH_VERBOSE', 'DH_OPTIONS', 'ELFPREFETCH', 'ELFPREFETCH_PROFILES', 'ELFPREFETCH_SIDECAR', 'ELFPREFETCH_IGNORE_FAILURES', 'ELFPREFETCH_DEBUG'])
  delete env[v];
env.PATH = `${binDir}:${debianDir}:${process.env.PATH ?? ''}`;
env.PERL5LIB = [debianDir, process.env.PERL5LIB].filter(Boolean).join(':');

const BUILD_TIMEOUT = 120_000;
const run = (argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> =>
  runCommand(argv, { cwd: opts.cwd ?? tmp, env: { ...env, ...opts.env }, timeoutMs: BUILD_TIMEOUT });
const ep = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => run(['elfprefetch', ...args], opts);
const show = (r: RunResult): string => `status ${r.status}${r.error ? ` (${r.error.message})` : ''}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
const digest = (alg: string, f: string): string => createHash(alg).update(fs.readFileSync(f)).digest('hex');

interface TreeReport {
  counts: Record<string, number>;
  files: Array<{ path: string; outcome: string; buildId?: string; reason?: string; sidecar?: string; strategy?: string }>;
}
const readReport = (f: string): TreeReport => JSON.parse(fs.readFileSync(f, 'utf8')) as TreeReport;
/** Outcome and build-id of each file of a report, by its path inside the package. */
function outcomes(r: TreeReport, root: string): Record<string, { outcome: string; buildId?: string; strategy?: string; sidecar?: string }> {
  return Object.fromEntries(r.files.map((f) => [path.relative(root, f.path), { outcome: f.outcome, buildId: f.buildId, strategy: f.strategy, sidecar: f.sidecar }]));
}

/** Files a profile of `file` (pages 0-3, touched in both of 2 runs) into `pdir`, as record would. */
function fileSyntheticProfile(file: string, pdir: string, work: string): Promise<RunResult> {
  const id = identify(file)!;
  const profile = path.join(work, `${path.basename(file)}.synthetic.json`);
  const object = { path: file, buildId: id.buildId, layoutDigest: id.layoutDigest, size: id.size, main: true, pages: '0-3', counts: [2, 2, 2, 2], sections: id.sections, set: 'default' };
  fs.writeFileSync(profile, JSON.stringify({ format: 'elfprefetch-profile', version: 1, pageSize: 4096, runs: 2, objects: [object] }));
  return ep(['profiles', 'add', pdir, profile]);
}

/** Runs the extracted program with its extracted library. */
function runExtracted(root: string, extra: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run([path.join(root, BIN)], { env: { LD_LIBRARY_PATH: path.join(root, path.dirname(LIB)), ...extra } });
}

/**
 * A user's machine: the extracted program runs, `elfprefetch record` records it, and the
 * profile is filed into `pdir`. Returns the build-ids filed.
 */
async function recordAndFile(t: Test, root: string, pdir: string): Promise<string[]> {
  const profile = path.join(tmp, `${path.basename(root)}.profile.json`);
  const rec = await ep(['record', '-o', profile, '--', path.join(root, BIN)], { env: { LD_LIBRARY_PATH: path.join(root, path.dirname(LIB)) } });
  t.equal(rec.status, 0, `record runs the extracted program`, { output: show(rec) });
  t.match(rec.stdout, EXPECTED, 'and the program prints what it should while recorded');
  const add = await ep(['profiles', 'add', pdir, profile]);
  t.equal(add.status, 0, `profiles add`, { output: show(add) });
  const list = await ep(['profiles', 'list', pdir]);
  t.equal(list.status, 0, 'profiles list');
  return list.stdout
    .split('\n')
    .map((l) => l.split(/\s+/)[0]!)
    .filter((x) => /^[0-9a-f]+$/.test(x));
}

/** Checks an extracted package tree; `stamped` says whether its binaries should carry a note. */
async function checkExtracted(t: Test, root: string, stamped: boolean): Promise<void> {
  for (const f of [BIN, LIB]) {
    const v = await ep(['verify', path.join(root, f)]);
    t.equal(v.status, stamped ? EXIT_VALID : EXIT_ABSENT, `${f}: verify says ${stamped ? 'valid' : 'absent'}`, { output: show(v) });
    const notes = await run(['readelf', '-n', path.join(root, f)]);
    t.equal(notes.status, 0, `readelf -n ${f}`);
    if (stamped) t.match(notes.stdout, /Displaying notes found in: \.note\.elfprefetch\n\s+Owner.*\n\s+elfprefetch\s+0x[0-9a-f]+/, `${f}: readelf -n shows the elfprefetch note`);
    else t.notMatch(notes.stdout, /elfprefetch/, `${f}: readelf -n shows no elfprefetch note`);
  }
  const r = await runExtracted(root);
  t.equal(r.status, 0, `the extracted program runs`, { output: show(r) });
  t.equal(r.stdout, EXPECTED, 'and prints what it should');
  if (stamped) {
    // The shim uses the packaged note: the program's own pages are prefetched.
    const shim = await ep(['run', '--', path.join(root, BIN)], { env: { LD_LIBRARY_PATH: path.join(root, path.dirname(LIB)), ELFPREFETCH_DEBUG: '1' } });
    t.equal(shim.status, 0, `elfprefetch run`, { output: show(shim) });
    t.equal(shim.stdout, EXPECTED, 'prints the same under the shim');
    t.match(shim.stderr, `elfprefetch: ${path.join(root, BIN)}: prefetched`, 'the shim prefetches the program from its packaged note');
  }
}

/** A package build: how to run it, where its stamp-tree report and staging tree are, how to unpack it. */
interface PackageBuild {
  build(): Promise<RunResult>;
  report: string;
  root: string;
  extract(name: string): Promise<string>;
  pdir: string;
}

/**
 * A distribution's round trip, the same for every packaging system: built with an empty profile
 * directory (nothing stamped), the packaged program recorded on a test machine and its profile
 * filed by build-id, then rebuilt reproducibly (both files stamped). `afterFirst` checks where the
 * hook ran. Undefined when a build failed (already reported).
 */
async function buildRecordRebuild(t: Test, pkg: PackageBuild, afterFirst: (b1: RunResult) => void) {
  const b1 = await pkg.build();
  t.equal(b1.status, 0, `first build (empty profile directory)`, { output: show(b1) });
  if (b1.status !== 0) return undefined;
  afterFirst(b1);
  t.match(b1.stdout, /no profile\s+2\n/, 'its summary: 2 files without a profile');
  const first = outcomes(readReport(pkg.report), pkg.root);
  t.same(Object.keys(first).sort(), [BIN, LIB], 'the report lists the program and the library');
  t.same([first[BIN]!.outcome, first[LIB]!.outcome], ['no-profile', 'no-profile'], 'both: no profile');
  const x1 = await pkg.extract('x1');
  await checkExtracted(t, x1, false);

  const filed = await recordAndFile(t, x1, pkg.pdir);
  t.ok(filed.includes(first[BIN]!.buildId!) && filed.includes(first[LIB]!.buildId!), `the profile directory has the program's and the library's build-ids (${filed.join(', ')})`);

  const b2 = await pkg.build();
  t.equal(b2.status, 0, `second build`, { output: show(b2) });
  if (b2.status !== 0) return undefined;
  t.match(b2.stdout, /stamped\s+2\n/, 'its summary: 2 files stamped');
  const second = outcomes(readReport(pkg.report), pkg.root);
  t.equal(second[BIN]!.buildId, first[BIN]!.buildId, 'the program has the same build-id as in the first build (reproducible build)');
  t.equal(second[LIB]!.buildId, first[LIB]!.buildId, 'the library too');
  t.same([second[BIN]!.outcome, second[LIB]!.outcome], ['stamped', 'stamped'], 'both stamped');
  const x2 = await pkg.extract('x2');
  await checkExtracted(t, x2, true);
  return { first, x1, x2 };
}

t.test('Debian: dpkg-buildpackage with dh --with elfprefetch', async (t) => {
  const work = path.join(tmp, 'deb');
  const src = path.join(work, 'hello-epf-1.0');
  const pdir = path.join(work, 'profiles');
  fs.mkdirSync(pdir, { recursive: true });
  fs.cpSync(sample, src, { recursive: true });
  fs.rmSync(path.join(src, 'hello-epf.spec'));
  const arch = (await run(['dpkg', '--print-architecture'])).stdout.trim();
  const deb = path.join(work, `hello-epf_1.0_${arch}.deb`);
  const report = path.join(src, 'debian', '.debhelper', 'generated', 'hello-epf', 'elfprefetch-report.json');
  const pkgRoot = path.join(src, 'debian', 'hello-epf');
  const build = () => run(['dpkg-buildpackage', '-b', '-us', '-uc'], { cwd: src, env: { ELFPREFETCH_PROFILES: pdir } });
  const extract = async (name: string): Promise<string> => {
    const dir = path.join(work, name);
    const x = await run(['dpkg-deb', '-x', deb, dir]);
    t.equal(x.status, 0, `dpkg-deb -x`, { output: show(x) });
    return dir;
  };

  // 1. No profiles yet: built exactly as without the add-on. 2. A test machine records the
  // packaged program and files its profile by build-id. 3. Rebuilt: the profiles apply.
  const round = await buildRecordRebuild(t, { build, report, root: pkgRoot, extract, pdir }, (b1) =>
    t.match(b1.stdout, /dh_strip(?: -a)?\n\s+dh_elfprefetch\n/, 'dh runs dh_elfprefetch right after dh_strip'),
  );
  if (!round) return;
  const { first, x1, x2 } = round;

  const info = await run(['dpkg-deb', '--info', deb]);
  t.equal(info.status, 0, 'dpkg-deb --info');
  t.match(info.stdout, new RegExp(`Package: hello-epf\\n[^]*Version: 1\\.0\\n[^]*Architecture: ${arch}\\n[^]*Depends: [^\\n]*libc6`), 'control: package, version, architecture, shlibs dependency on libc6');
  const contents = await run(['dpkg-deb', '--contents', deb]);
  t.equal(contents.status, 0, 'dpkg-deb --contents');
  t.match(contents.stdout, /-rwxr-xr-x root\/root\s+\d+ [^\n]* \.\/usr\/bin\/hello-epf\n/, 'the program, root-owned, mode 755');
  t.match(contents.stdout, /-rw-r--r-- root\/root\s+\d+ [^\n]* \.\/usr\/lib\/hello-epf\/libhello-epf\.so\.1\n/, 'the library, root-owned, mode 644');
  t.notMatch(contents.stdout, /\.elfprefetch-|var\/lib\/elfprefetch/, 'no temporary files, no sidecars');
  // dh_md5sums ran after the stamp: the package's checksums are those of the stamped files.
  const ctrl = path.join(work, 'ctrl');
  t.equal((await run(['dpkg-deb', '-e', deb, ctrl])).status, 0, 'dpkg-deb -e');
  const md5sums = fs.readFileSync(path.join(ctrl, 'md5sums'), 'utf8');
  for (const f of [BIN, LIB]) t.match(md5sums, `${digest('md5', path.join(x2, f))}  ${f}\n`, `md5sums has the stamped ${f}`);

  // 4. dh_elfprefetch on its own, in the built source tree (debian/hello-epf is the stamped tree).
  const dh = (args: string[], extra: NodeJS.ProcessEnv = {}) => run(['dh_elfprefetch', ...args], { cwd: src, env: { ELFPREFETCH_PROFILES: pdir, ...extra } });
  const again = await dh([]);
  t.equal(again.status, 0, `run again`, { output: show(again) });
  t.same(Object.values(outcomes(readReport(report), pkgRoot)).map((o) => o.outcome), ['current', 'current'], 'run again: both current, nothing rewritten');
  const none = await dh([], { ELFPREFETCH_PROFILES: '' });
  t.equal(none.status, 0, 'no profile directory: success');
  t.match(none.stdout, /no profile directory .*nothing to stamp/, 'no profile directory: says there is nothing to do');
  const missing = await dh(['--profiles', path.join(work, 'nowhere')]);
  t.equal(missing.status, 0, 'a missing profile directory: success');
  t.match(missing.stdout, /nowhere does not exist: nothing to stamp/, 'a missing profile directory: says so');
  const off = await dh([], { DEB_BUILD_OPTIONS: 'noelfprefetch' });
  t.equal(off.status, 0, 'DEB_BUILD_OPTIONS=noelfprefetch: success');
  t.match(off.stdout, /noelfprefetch/, 'DEB_BUILD_OPTIONS=noelfprefetch: says so');

  // Sidecar mode on the unstamped tree of the first build: files unchanged, notes beside them.
  fs.rmSync(pkgRoot, { recursive: true });
  fs.cpSync(x1, pkgRoot, { recursive: true });
  const before = [BIN, LIB].map((f) => digest('sha256', path.join(pkgRoot, f)));
  const side = await dh(['--sidecar']);
  t.equal(side.status, 0, `--sidecar`, { output: show(side) });
  t.same([BIN, LIB].map((f) => digest('sha256', path.join(pkgRoot, f))), before, '--sidecar: the files are unchanged');
  const sidecarDir = path.join(pkgRoot, 'var', 'lib', 'elfprefetch', 'sidecar');
  for (const f of [BIN, LIB]) {
    const id = first[f]!.buildId!;
    const note = path.join(sidecarDir, id.slice(0, 2), `${id.slice(2)}.note`);
    t.ok(fs.existsSync(note), `--sidecar: ${f} has its sidecar under /var/lib/elfprefetch/sidecar/hh/rest.note in the package`);
    if (fs.existsSync(note)) t.equal(fs.statSync(note).mode & 0o777, 0o644, 'mode 644 (the shim ignores group- or world-writable sidecars)');
    const v = await ep(['verify', '--sidecar', sidecarDir, path.join(pkgRoot, f)]);
    t.equal(v.status, EXIT_VALID, `--sidecar: verify --sidecar says valid for ${f}`, { output: show(v) });
  }
  fs.rmSync(path.join(pkgRoot, 'var'), { recursive: true });

  // A file with no room for a note beside its segments (a library without section headers):
  // dh_elfprefetch falls back to a sidecar in the package, and the file stays as it was.
  t.ok(fs.existsSync(REFUSED_LIB), `${REFUSED_LIB} (libpcre2-8-0, as in spec/stamp-tree.spec.ts) exists`);
  const refusedCopy = path.join(pkgRoot, 'usr', 'lib', 'hello-epf', path.basename(REFUSED_LIB));
  fs.writeFileSync(refusedCopy, withoutSectionHeaders(REFUSED_LIB));
  t.equal((await fileSyntheticProfile(refusedCopy, pdir, work)).status, 0, 'a profile for the library without section headers');
  const refusedSha = digest('sha256', refusedCopy);
  const refused = await dh([]);
  t.equal(refused.status, 0, `a file with no room does not fail the build`, { output: show(refused) });
  t.notMatch(refused.stderr, /refused/, 'and is no refusal');
  const got = outcomes(readReport(report), pkgRoot)[path.relative(pkgRoot, refusedCopy)];
  t.equal(got?.outcome, 'stamped', 'the report says it was done');
  t.equal(got?.strategy, 'sidecar', 'by a sidecar');
  t.match(got?.sidecar ?? '', /\/var\/lib\/elfprefetch\/sidecar\/[0-9a-f]{2}\/[0-9a-f]+\.note$/, 'inside the package, where the shim looks');
  t.equal(digest('sha256', refusedCopy), refusedSha, 'the library itself is untouched');
  t.same([BIN, LIB].map((f) => outcomes(readReport(report), pkgRoot)[f]!.outcome), ['stamped', 'stamped'], 'the other files are stamped');
  fs.rmSync(path.join(pkgRoot, 'var'), { recursive: true, force: true });
  fs.rmSync(refusedCopy);

  // A malformed ELF file: the build fails, unless told otherwise.
  const broken = path.join(pkgRoot, 'usr', 'bin', 'hello-epf-truncated');
  fs.writeFileSync(broken, fs.readFileSync(path.join(x1, BIN)).subarray(0, 200), { mode: 0o755 });
  const fail = await dh([]);
  t.not(fail.status, 0, `a failed file fails the build`, { output: show(fail) });
  t.match(fail.stderr, /dh_elfprefetch: error: .*stamp-tree .* returned exit code 1/, 'with debhelper\'s error message');
  t.match(fail.stdout, /failed:\n\s+\S+hello-epf-truncated: malformed ELF/, 'the summary names the file');
  for (const [how, args, extra] of [
    ['--ignore-failures', ['--ignore-failures'], {}],
    ['ELFPREFETCH_IGNORE_FAILURES=1', [], { ELFPREFETCH_IGNORE_FAILURES: '1' }],
  ] as const) {
    const ign = await dh([...args], extra);
    t.equal(ign.status, 0, `${how}: a failed file is not fatal`, { output: show(ign) });
    t.match(ign.stderr, /warning: hello-epf: some files could not be stamped/, `${how}: it is a warning`);
    t.equal(outcomes(readReport(report), pkgRoot)['usr/bin/hello-epf-truncated']?.outcome, 'failed', `${how}: the report says failed`);
  }
  fs.rmSync(broken);
});

t.test('RPM: rpmbuild with macros.elfprefetch', async (t) => {
  const work = path.join(tmp, 'rpm');
  const top = path.join(work, 'top');
  const pdir = path.join(work, 'profiles');
  for (const d of ['SOURCES', 'SPECS']) fs.mkdirSync(path.join(top, d), { recursive: true });
  fs.mkdirSync(pdir);
  const tar = await run(['tar', '-C', path.dirname(sample), '--exclude=debian', '--transform', 's,^hello-epf,hello-epf-1.0,', '-czf', path.join(top, 'SOURCES', 'hello-epf-1.0.tar.gz'), 'hello-epf']);
  t.equal(tar.status, 0, `source tarball`, { output: show(tar) });
  const spec = path.join(top, 'SPECS', 'hello-epf.spec');
  fs.copyFileSync(path.join(sample, 'hello-epf.spec'), spec);
  const arch = (await run(['rpm', '--eval', '%{_arch}'])).stdout.trim();
  const rpm = path.join(top, 'RPMS', arch, `hello-epf-1.0-1.${arch}.rpm`);
  const report = path.join(top, 'BUILD', `elfprefetch-hello-epf-1.0-1.${arch}.json`);
  const buildroot = path.join(top, 'BUILDROOT', `hello-epf-1.0-1.${arch}`);
  // --nodeps: BuildRequires name packages of an RPM distribution; this machine's rpm database
  // is empty. No debuginfo packages on this rpm (Debian's rpm does not turn them on).
  const build = () => run(['rpmbuild', '-bb', '--nodeps', '--define', `_topdir ${top}`, '--load', rpmMacros, spec], { env: { ELFPREFETCH_PROFILES: pdir } });
  const extract = async (name: string): Promise<string> => {
    const dir = path.join(work, name);
    fs.mkdirSync(dir);
    const x = await run(['sh', '-c', `rpm2cpio '${rpm}' | cpio -idm --quiet`], { cwd: dir });
    t.equal(x.status, 0, `rpm2cpio | cpio -idm`, { output: show(x) });
    return dir;
  };

  const round = await buildRecordRebuild(t, { build, report, root: buildroot, extract, pdir }, (b1) =>
    t.match(b1.stderr, /\+ \/usr\/lib\/rpm\/brp-strip [^\n]*\n(?:[^\n]*\n)*?\+ elfprefetch stamp-tree /, 'the stamp runs after brp-strip, in %__os_install_post'),
  );
  if (!round) return;
  const { x1, x2 } = round;

  // The package's file digests are those of the stamped files (the stamp ran before rpm read them).
  const dump = await run(['rpm', '-qp', '--dump', rpm]);
  t.equal(dump.status, 0, 'rpm -qp --dump');
  for (const f of [BIN, LIB]) t.match(dump.stdout, `/${f} ${fs.statSync(path.join(x2, f)).size} `, `the package has the stamped ${f}: size`);
  for (const f of [BIN, LIB]) t.match(dump.stdout, ` ${digest('sha256', path.join(x2, f))} `, `the package has the stamped ${f}: sha256`);
  const qi = await run(['rpm', '-qpi', rpm]);
  t.match(qi.stdout, /Name\s+: hello-epf\n[^]*Version\s+: 1\.0\n[^]*Release\s+: 1\n/, 'rpm -qpi: name, version, release');

  // The install-post step's policy, run as rpmbuild runs it (sh -e) on a small buildroot.
  const step = await run(['rpm', '--load', rpmMacros, '--define', `_topdir ${top}`, '--define', 'name policy', '--define', 'version 1', '--define', 'release 1', '--eval', '%{__elfprefetch_install_post}']);
  t.equal(step.status, 0, 'the step expands');
  const stepFile = path.join(work, 'step.sh');
  fs.writeFileSync(stepFile, step.stdout);
  const root = path.join(work, 'policy-root');
  fs.mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
  fs.copyFileSync(path.join(x1, BIN), path.join(root, BIN));
  const policyReport = path.join(top, 'BUILD', `elfprefetch-policy-1-1.${arch}.json`);
  const runStep = (extra: NodeJS.ProcessEnv) => run(['sh', '-e', stepFile], { env: { RPM_BUILD_ROOT: root, ELFPREFETCH_PROFILES: pdir, ...extra } });
  const ok = await runStep({});
  t.equal(ok.status, 0, `the step on a good tree`, { output: show(ok) });
  t.equal(outcomes(readReport(policyReport), root)[BIN]?.outcome, 'stamped', 'stamps it');
  // Sidecar mode: the files unchanged, their notes in the sidecar directory of the buildroot.
  const sideRoot = path.join(work, 'sidecar-root');
  fs.mkdirSync(path.join(sideRoot, 'usr', 'bin'), { recursive: true });
  fs.copyFileSync(path.join(x1, BIN), path.join(sideRoot, BIN));
  const sideDir = path.join(sideRoot, 'var', 'lib', 'elfprefetch', 'sidecar');
  const sideStep = await run(['rpm', '--load', rpmMacros, '--define', `_topdir ${top}`, '--define', `_elfprefetch_sidecar ${sideDir}`, '--define', 'name sidecar', '--define', 'version 1', '--define', 'release 1', '--eval', '%{__elfprefetch_install_post}']);
  fs.writeFileSync(path.join(work, 'sidecar-step.sh'), sideStep.stdout);
  const before = digest('sha256', path.join(sideRoot, BIN));
  const side = await run(['sh', '-e', path.join(work, 'sidecar-step.sh')], { env: { RPM_BUILD_ROOT: sideRoot, ELFPREFETCH_PROFILES: pdir } });
  t.equal(side.status, 0, '_elfprefetch_sidecar: the step succeeds', { output: show(side) });
  t.equal(digest('sha256', path.join(sideRoot, BIN)), before, '_elfprefetch_sidecar: the file is unchanged');
  const sideVerify = await ep(['verify', '--sidecar', sideDir, path.join(sideRoot, BIN)]);
  t.equal(sideVerify.status, EXIT_VALID, '_elfprefetch_sidecar: verify --sidecar says valid', { output: show(sideVerify) });

  const none = await runStep({ ELFPREFETCH_PROFILES: path.join(work, 'nowhere') });
  t.equal(none.status, 0, 'a missing profile directory: success');
  t.match(none.stdout, /nowhere does not exist: nothing to stamp/, 'a missing profile directory: says so');
  // A library with no room beside its segments (no section headers): a sidecar in the buildroot.
  const refusedCopy = path.join(root, 'usr', 'lib', path.basename(REFUSED_LIB));
  fs.mkdirSync(path.dirname(refusedCopy), { recursive: true });
  fs.writeFileSync(refusedCopy, withoutSectionHeaders(REFUSED_LIB));
  t.equal((await fileSyntheticProfile(refusedCopy, pdir, work)).status, 0, 'a profile for the library without section headers');
  const refused = await runStep({});
  t.equal(refused.status, 0, `a file with no room does not fail the build`, { output: show(refused) });
  const got = outcomes(readReport(policyReport), root)[path.relative(root, refusedCopy)];
  t.equal(got?.strategy, 'sidecar', 'the report says it got a sidecar');
  t.match(got?.sidecar ?? '', new RegExp(`^${root}/var/lib/elfprefetch/sidecar/`), 'in the buildroot, where the package installs it');
  fs.writeFileSync(path.join(root, 'usr', 'bin', 'truncated'), fs.readFileSync(path.join(x1, BIN)).subarray(0, 200), { mode: 0o755 });
  const fail = await runStep({});
  t.equal(fail.status, 1, `a failed file fails the build`, { output: show(fail) });
  t.match(fail.stderr, /error: elfprefetch stamp-tree failed \(exit status 1\)/, 'with a message');
  const step2 = await run(['rpm', '--load', rpmMacros, '--define', `_topdir ${top}`, '--define', '_elfprefetch_ignore_failures 1', '--define', 'name policy', '--define', 'version 1', '--define', 'release 1', '--eval', '%{__elfprefetch_install_post}']);
  fs.writeFileSync(stepFile, step2.stdout);
  const ign = await runStep({});
  t.equal(ign.status, 0, `_elfprefetch_ignore_failures 1: not fatal`, { output: show(ign) });
  t.match(ign.stderr, /warning: elfprefetch: some files could not be stamped/, '_elfprefetch_ignore_failures 1: a warning');
  const off = await run(['rpm', '--load', rpmMacros, '--define', '_without_elfprefetch 1', '--eval', '%{__elfprefetch_install_post}']);
  t.notMatch(off.stdout, /stamp-tree/, '_without_elfprefetch: no step');
});
