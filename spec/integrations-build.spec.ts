// The build-system integrations (integrations/, docs/BUILD-SYSTEMS.md) used as a user would:
// the sample projects of samples/projects/ are configured and built with CMake, Meson and make,
// and cross-built with CMake for aarch64 (run under qemu-user), in a temporary folder, with the
// CLI on PATH as `elfprefetch`. For each:
//   1. a copy of the project without its profiles builds, says the binaries are left unstamped
//      (verify: absent), and they run; this is the reference link. Its train target records a
//      profile into the copy's source tree; a broken profile is a warning (the binary stays as
//      linked), or with strictness an error that removes the binary.
//   2. the project itself, built into the same folder: the binary linked with the reservation
//      is filled in place (strategy reserved; same sections, same bytes outside the note's
//      descriptor as the reference), the other one is stamped after the fact; both verify,
//      have one elfprefetch note, make eu-elflint say nothing the reference did not, run and
//      print what they should, still do (and verify) after strip, and after `install`.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratchWithCli } from './helpers/cli-on-path';
import { runCommand, type RunResult } from './helpers/fixtures';

type Test = tap.Test;

const repoRoot = path.resolve(__dirname, '..');
const PROGRAMS = ['hello-reserved', 'hello-stamped'] as const;
const EXIT_VALID = 0;
const EXIT_ABSENT = 10;
/** What the samples print with no argument (SAMPLE_BUILD_SYSTEM names the build system). */
const expected = (bs: string): string => `hello, WORLD! (${bs})\n7 words, checksum 2b1ba998\n`;
/** eu-elflint does not know our note's owner and type; that line is the note, not a defect. */
const ELFLINT_OURS = /unknown object file note type \d+ with owner name 'elfprefetch'/;

t.jobs = 2;

// The CLI as a user has it: an `elfprefetch` command on PATH.
const { tmp, env } = scratchWithCli('elfprefetch-integrations-');

interface System {
  /** Subtest name; also the folder under tmp. */
  name: string;
  /** Folder under samples/projects/ and under integrations/. */
  project: 'cmake' | 'meson' | 'make';
  /** Commands (argv, run in `build`) that configure the project in `src` into `build`. */
  configure(src: string, build: string, extra: string[]): string[][];
  build(build: string, src: string): string[];
  /** Records the profiles of `trained` into the source tree (not for a cross build). */
  train?: { argv(build: string, src: string): string[]; trained: string[] };
  /** Installs into DESTDIR=dest; the installed programs and libraries are under dest + these. */
  install?: { argv(build: string): string[]; bin: string; lib: string };
  /** Turns on strictness (a failing stamp fails the build): arguments for configure or build. */
  strict?: { configure?: string[]; build?: string[] };
  /** How to run a program of this machine. */
  exec: string[];
  strip: string;
  machine: RegExp;
  /** The source tree's profiles are of another machine: the build leaves the binaries unstamped. */
  foreignProfile?: boolean;
}

const PREFIX = '/opt/elfprefetch-sample';
/**
 * The train targets record one run with the unprivileged method: what is tested is that they
 * record into the source tree and stamp; the methods have their own specs (record.spec.ts), and
 * `exact` would share loop devices and tracefs with whatever else runs as root here.
 */
const TRAIN_ARGS = ['--runs', '1', '--method', 'pagemap'];

const cmake = (extra: string[] = []): Pick<System, 'configure' | 'build'> => ({
  configure: (src, build, more) => [['cmake', '-S', src, '-B', build, '-G', 'Ninja', ...extra, ...more]],
  build: (build) => ['cmake', '--build', build],
});

const SYSTEMS: System[] = [
  {
    name: 'cmake',
    project: 'cmake',
    ...cmake([`-DELFPREFETCH_TRAIN_ARGS=${TRAIN_ARGS.join(';')}`, `-DCMAKE_INSTALL_PREFIX=${PREFIX}`]),
    train: { argv: (build) => ['cmake', '--build', build, '--target', 'hello-stamped-elfprefetch-train'], trained: ['profiles/hello-stamped.profile.json'] },
    install: { argv: (build) => ['cmake', '--install', build], bin: `${PREFIX}/bin`, lib: `${PREFIX}/lib` },
    strict: { configure: ['-DELFPREFETCH_STRICT=ON'] },
    exec: [],
    strip: 'strip',
    machine: /X86-64/,
  },
  {
    name: 'meson',
    project: 'meson',
    configure: (src, build, more) => [
      ['meson', 'setup', '--buildtype=release', `--prefix=${PREFIX}`, '--libdir=lib', `-Delfprefetch_train_args=${TRAIN_ARGS.join(',')}`, ...more, build, src],
    ],
    build: (build) => ['ninja', '-C', build],
    train: { argv: (build) => ['ninja', '-C', build, 'hello-reserved-elfprefetch-train'], trained: ['hello-reserved.profile.json'] },
    install: { argv: (build) => ['meson', 'install', '-C', build, '--no-rebuild'], bin: `${PREFIX}/bin`, lib: `${PREFIX}/lib` },
    strict: { configure: ['--reconfigure', '-Delfprefetch_strict=true'] },
    exec: [],
    strip: 'strip',
    machine: /X86-64/,
  },
  {
    name: 'make',
    project: 'make',
    configure: (_src, build) => [['mkdir', '-p', build]],
    build: (_build, src) => ['make', '-f', path.join(src, 'Makefile')],
    train: {
      argv: (_build, src) => ['make', '-f', path.join(src, 'Makefile'), 'train', `ELFPREFETCH_TRAIN_ARGS=${TRAIN_ARGS.join(' ')}`],
      trained: ['hello-reserved.profile.json', 'hello-stamped.profile.json'],
    },
    strict: { build: ['ELFPREFETCH_STRICT=1'] },
    exec: [],
    strip: 'strip',
    machine: /X86-64/,
  },
  {
    name: 'cmake-aarch64',
    project: 'cmake',
    configure: (src, build, more) => [
      ['cmake', '-S', src, '-B', build, '-G', 'Ninja', `-DCMAKE_TOOLCHAIN_FILE=${path.join(src, 'toolchain-aarch64-linux-gnu.cmake')}`, ...more],
    ],
    build: (build) => ['cmake', '--build', build],
    exec: ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu'],
    strip: 'aarch64-linux-gnu-strip',
    machine: /AArch64/,
    // The profiles in the source tree were recorded on x86-64: they do not carry over to
    // another machine, so the build warns and the binaries are stamped by pages instead.
    foreignProfile: true,
  },
];

function diag(r: RunResult): Record<string, unknown> {
  return { status: r.status, signal: r.signal, error: r.error?.message, stdout: r.stdout.slice(-4000), stderr: r.stderr.slice(-4000) };
}

const run = (argv: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
  runCommand(argv, { cwd, env: { ...env, ...extraEnv }, timeoutMs: 120_000 });

const ep = (cwd: string, ...args: string[]): Promise<RunResult> => run(['elfprefetch', ...args], cwd);

function readelf(args: string[], file: string): Promise<RunResult> {
  return run(['readelf', ...args, file], path.dirname(file));
}

interface Section {
  name: string;
  offset: number;
  size: number;
}

/** The section table as readelf -SW prints it (names, types, addresses, offsets, sizes, flags). */
async function sectionTable(file: string): Promise<{ text: string; sections: Section[] }> {
  const r = await readelf(['-SW'], file);
  const lines = r.stdout.split('\n').filter((l) => /^\s+\[\s*\d+\]/.test(l));
  const sections = lines.flatMap((l) => {
    const m = /\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(l);
    return m ? [{ name: m[1]!, offset: parseInt(m[2]!, 16), size: parseInt(m[3]!, 16) }] : [];
  });
  return { text: lines.join('\n'), sections };
}

/** eu-elflint's complaints about `file`, its name taken out, our note's own line left out. */
async function elflint(file: string): Promise<{ status: number | null; lines: string[] }> {
  const r = await run(['eu-elflint', '--gnu-ld', file], path.dirname(file));
  const lines = (r.stdout + r.stderr)
    .split('\n')
    .map((l) => l.split(file).join('FILE').trim())
    .filter((l) => l && l !== 'No errors' && !ELFLINT_OURS.test(l));
  return { status: r.status, lines };
}

function copyTree(from: string, to: string, keep: (p: string) => boolean): void {
  fs.cpSync(from, to, { recursive: true, filter: keep });
}

async function checkSystem(t: Test, sys: System): Promise<void> {
  const home = path.join(tmp, sys.name);
  const build = path.join(home, 'build');
  const src = path.join(repoRoot, 'samples', 'projects', sys.project);
  const runProgram = (file: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}) => run([...sys.exec, file, ...args], path.dirname(file), extra);
  /** Configures (unless `configureExtra` is null: the build folder is configured already) and builds. */
  const build_ = async (t: Test, what: string, srcDir: string, configureExtra: string[] | null = [], buildExtra: string[] = []): Promise<RunResult | undefined> => {
    fs.mkdirSync(build, { recursive: true });
    let log = '';
    for (const argv of configureExtra ? sys.configure(srcDir, build, configureExtra) : []) {
      const r = await run(argv, build);
      if (r.status !== 0) {
        t.fail(`${what}: ${argv.join(' ')} fails`, diag(r));
        return undefined;
      }
      log += r.stdout + r.stderr;
    }
    const r = await run([...sys.build(build, srcDir), ...buildExtra], build);
    return { ...r, stdout: log + r.stdout };
  };

  // The project keeps a profile for each program in its source tree.
  const profiles: Record<string, string> = {
    'hello-reserved': path.join(src, 'hello-reserved.profile.json'),
    'hello-stamped': path.join(src, sys.project === 'cmake' ? 'profiles/hello-stamped.profile.json' : 'hello-stamped.profile.json'),
  };
  for (const p of PROGRAMS) {
    const text = fs.existsSync(profiles[p]!) ? fs.readFileSync(profiles[p]!, 'utf8') : '{}';
    const prof = JSON.parse(text) as { format?: string; objects?: Array<{ main?: boolean; pages?: string; sections?: unknown[] }> };
    const main = prof.objects?.find((o) => o.main);
    t.ok(prof.format === 'elfprefetch-profile' && main?.pages && main.sections?.length, `the source tree has a profile for ${p} with its pages and sections`, { file: profiles[p] });
  }

  // 1. A copy of the project without profiles, laid out as in the repository (the build files
  //    include ../../../integrations/...): the reference link.
  const plainRoot = path.join(home, 'plain');
  const plain = path.join(plainRoot, 'samples', 'projects', sys.project);
  copyTree(src, plain, (p) => !p.endsWith('.profile.json'));
  copyTree(path.join(repoRoot, 'integrations', sys.project), path.join(plainRoot, 'integrations', sys.project), () => true);

  const r0 = await build_(t, 'the copy without profiles', plain);
  if (!r0) return;
  t.equal(r0.status, 0, 'the copy without profiles builds', diag(r0));
  if (r0.status !== 0) return;
  for (const p of PROGRAMS) t.match(r0.stdout + r0.stderr, new RegExp(`no profile \\S+: \\S*${p} left unstamped`), `its build says ${p} is left unstamped`);
  const ref = path.join(home, 'ref');
  fs.mkdirSync(ref);
  for (const p of PROGRAMS) {
    const f = path.join(build, p);
    const h = await readelf(['-hW'], f);
    t.match(h.stdout, sys.machine, `${p} is built for ${sys.machine.source}`);
    const v = await ep(build, 'verify', f);
    t.equal(v.status, EXIT_ABSENT, `unstamped ${p}: verify exits ${EXIT_ABSENT} (absent)`, diag(v));
    const o = await runProgram(f);
    t.equal(o.stdout, expected(sys.project), `unstamped ${p} runs and prints its text`, diag(o));
    fs.copyFileSync(f, path.join(ref, p));
  }
  if (sys.project === 'cmake') {
    // The reservation object comes from the target's compiler (elfprefetch reserve --cc).
    const h = await readelf(['-hW'], path.join(build, 'elfprefetch', 'hello-reserved-note.o'));
    t.match(h.stdout, sys.machine, `the reservation object is for ${sys.machine.source} too`, diag(h));
  }

  if (sys.train) {
    const r = await run(sys.train.argv(build, plain), build);
    t.equal(r.status, 0, `the train target runs: ${sys.train.argv(build, plain).join(' ')}`, diag(r));
    for (const rel of sys.train.trained) {
      const file = path.join(plain, rel);
      const ok = fs.existsSync(file);
      t.ok(ok, `it wrote ${rel} into the (copied) source tree`);
      if (!ok) continue;
      const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
      const main = prof.objects.find((o: { main?: boolean }) => o.main);
      t.match(main, { path: path.join(build, path.basename(rel, '.profile.json')), pages: /^0/ }, `${rel} has the program's pages`);
      const v = await ep(build, 'verify', main.path);
      t.equal(v.status, EXIT_VALID, `the trained program verifies`, diag(v));
    }

    // A profile the stamp cannot use: a warning, the binary stays exactly as linked.
    const bad = path.join(plain, 'hello-reserved.profile.json');
    fs.writeFileSync(bad, '{ "format": "not a profile" }\n');
    const exe = path.join(build, 'hello-reserved');
    fs.rmSync(exe);
    const w = await build_(t, 'with a broken profile', plain, null);
    if (w) {
      t.equal(w.status, 0, 'with a broken profile the build still succeeds', diag(w));
      t.match(w.stdout + w.stderr, /warning[\s\S]*stamping\s+\S*hello-reserved\s+from\s+\S+\s+failed/i, 'and warns that the stamp failed');
      t.same(fs.existsSync(exe) && fs.readFileSync(exe).equals(fs.readFileSync(path.join(ref, 'hello-reserved'))), true, 'the binary is exactly the unstamped link');
    }
    if (sys.strict) {
      fs.rmSync(exe, { force: true });
      const s = await build_(t, 'strict, with a broken profile', plain, sys.strict.configure ?? null, sys.strict.build);
      if (s) {
        t.not(s.status, 0, 'with strictness a broken profile fails the build', diag(s));
        t.notOk(fs.existsSync(exe), 'and the unstamped binary is removed (the next build links it again)');
      }
    }
  }

  // 2. The project itself, built into the same folder.
  fs.rmSync(build, { recursive: true, force: true });
  const r1 = await build_(t, 'the project', src);
  if (!r1) return;
  const log = r1.stdout + r1.stderr;
  t.equal(r1.status, 0, 'the project builds', diag(r1));
  if (r1.status !== 0) return;
  if (sys.foreignProfile) {
    t.match(log, /recorded on a X86_64 build.*this file is for AARCH64/, 'a profile of another machine is refused, with the reason', { log });
    for (const p of PROGRAMS) {
      const v = await ep(build, 'verify', path.join(build, p));
      t.equal(v.status, 10, `${p} is left without a note (verify exits 10)`, diag(v));
      const st = await ep(build, 'stamp', path.join(build, p), '--pages', '0-2');
      t.equal(st.status, 0, `${p}: stamped by pages instead`, diag(st));
    }
  } else {
    t.match(log, /hello-reserved: stamped \(reserved\)/, 'hello-reserved is filled in place (strategy reserved)', { log });
    t.match(log, /hello-stamped: stamped \((gap|after-load)\)/, 'hello-stamped is stamped after the fact, beside its segments (gap or after-load): nothing moves', { log });
    t.notMatch(log, /warning|no profile/i, 'no warning, no missing profile');
  }
  if (sys.project === 'cmake' && !sys.foreignProfile) {
    // CMake's RUNPATH names the build folder, so this build's build-id is not the recorded one.
    t.match(log, /hello-reserved: stamped .*carried over from build [0-9a-f]+/, 'the profile of another build is carried over (--carry-over)');
  }

  for (const p of PROGRAMS) {
    const f = path.join(build, p);
    const v = await ep(build, 'verify', f);
    t.equal(v.status, EXIT_VALID, `${p}: verify exits 0 (valid)`, diag(v));
    const n = await readelf(['-nW'], f);
    t.equal((n.stdout.match(/^\s+elfprefetch\s+0x/gm) ?? []).length, 1, `${p}: readelf -n shows one elfprefetch note`, { notes: n.stdout });
    const o = await runProgram(f);
    t.equal(o.stdout, expected(sys.project), `${p} runs and prints its text`, diag(o));
    t.equal(o.status, 0, `${p} exits 0`);
    const o2 = await runProgram(f, ['cache']);
    t.match(o2.stdout, /^hello, CACHE! /, `${p} cache: uses its argument and the shared library`, diag(o2));

    const [before, after] = await Promise.all([elflint(path.join(ref, p)), elflint(f)]);
    t.same(after.lines.filter((l) => !before.lines.includes(l)), [], `${p}: eu-elflint --gnu-ld says nothing it did not say of the unstamped link`, { before, after });

    const [sBefore, sAfter] = await Promise.all([sectionTable(path.join(ref, p)), sectionTable(f)]);
    if (p === 'hello-reserved') {
      t.equal(sAfter.text, sBefore.text, 'hello-reserved: the section table equals the unstamped link');
      const a = fs.readFileSync(f);
      const b = fs.readFileSync(path.join(ref, p));
      t.equal(a.length, b.length, 'hello-reserved: the size equals the unstamped link');
      const note = sAfter.sections.find((s) => s.name === '.note.elfprefetch');
      t.ok(note, 'hello-reserved has the reserved .note.elfprefetch section');
      if (note && a.length === b.length) {
        const desc = note.offset + 24; // namesz, descsz, type, "elfprefetch\0"
        const end = note.offset + note.size;
        const changed: number[] = [];
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && (i < desc || i >= end)) changed.push(i);
        t.same(changed.slice(0, 8), [], `hello-reserved: no byte outside the descriptor [0x${desc.toString(16)}, 0x${end.toString(16)}) differs from the unstamped link (${changed.length} do)`);
        t.notOk(a.subarray(desc, end).equals(b.subarray(desc, end)), 'and the descriptor was filled');
      }
    } else {
      t.notOk(sBefore.sections.some((s) => s.name === '.note.elfprefetch'), 'the unstamped hello-stamped has no note section');
      t.ok(sAfter.sections.some((s) => s.name === '.note.elfprefetch'), 'hello-stamped got a .note.elfprefetch section');
      const names = (x: Section[]) => x.map((s) => s.name).filter((s) => s !== '.note.elfprefetch');
      t.same(names(sAfter.sections).sort(), names(sBefore.sections).sort(), 'and kept every section of the link');
    }

    // strip: next to the original, so RUNPATH $ORIGIN still finds libshout.so.
    const stripped = `${f}-stripped`;
    const s = await run([sys.strip, '-o', stripped, f], build);
    t.equal(s.status, 0, `${sys.strip} ${p}`, diag(s));
    const so = await runProgram(stripped);
    t.equal(so.stdout, expected(sys.project), `stripped ${p} runs and prints its text`, diag(so));
    const sv = await ep(build, 'verify', stripped);
    t.equal(sv.status, EXIT_VALID, `stripped ${p} still verifies`, diag(sv));
  }

  if (sys.exec.length === 0) {
    // The prefetching exec wrapper starts it the same.
    const r = await ep(build, 'run', '--', path.join(build, 'hello-reserved'));
    t.equal(r.stdout, expected(sys.project), 'elfprefetch run -- hello-reserved prints its text', diag(r));
  }

  if (sys.install) {
    const dest = path.join(home, 'destdir');
    const r = await run(sys.install.argv(build), build, { DESTDIR: dest });
    t.equal(r.status, 0, `installs: ${sys.install.argv(build).join(' ')}`, diag(r));
    for (const p of PROGRAMS) {
      const f = path.join(dest, sys.install.bin, p);
      const v = await ep(home, 'verify', f);
      t.equal(v.status, EXIT_VALID, `installed ${p} verifies (stamped again after its RPATH was rewritten)`, diag(v));
      const o = await runProgram(f, [], { LD_LIBRARY_PATH: path.join(dest, sys.install.lib) });
      t.equal(o.stdout, expected(sys.project), `installed ${p} runs and prints its text`, diag(o));
    }
  }
}

for (const sys of SYSTEMS) t.test(sys.name, (t) => checkSystem(t, sys));
