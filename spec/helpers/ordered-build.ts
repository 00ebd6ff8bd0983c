// The two-stage ordered build (docs/BUILD-SYSTEMS.md "Ordered link") of the sample program
// `scatter` (samples/projects/cmake/src/scatter.c), as a user runs it with one build system and
// `elfprefetch` on PATH, once per linker installed here: build (stock order, no profile), train
// (the profile lands in the source tree), build again (the order file changes, the program is
// relinked in start-up order and stamped from the same profile), build once more (nothing to
// do), then a broken profile (a warning and the stock order; with strictness an error). The
// ordered program runs, its note verifies, and its recorded start-up pages fall in far fewer
// runs than the stock link's.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRanges } from '../../src/note/pageset';
import { parseProfile } from '../../src/profile/schema';
import { onPath } from './capabilities';
import { scratchWithCli } from './cli-on-path';
import { repoRoot, runCommand, type RunResult } from './fixtures';

export const LINKERS = ['lld', 'gold', 'gnu-ld'] as const;
export type Linker = (typeof LINKERS)[number];

/** The program `-fuse-ld=` (or the default) runs for each linker, and its Debian package. */
export const LINKER_PROGRAM: Record<Linker, [string, string]> = { lld: ['ld.lld', 'lld'], gold: ['ld.gold', 'binutils'], 'gnu-ld': ['ld', 'binutils'] };

/** How one build system runs the stages; every command runs in the build folder. */
export interface OrderedBuildSystem {
  /** Subtest name prefix and the folder of its sample (samples/projects/) and integration (integrations/). */
  project: 'cmake' | 'make' | 'meson';
  /** Where the sample keeps scatter's profile, relative to its folder. */
  profile: string;
  /** Commands that configure the sample in `src` into `build` for `linker` (none for make). */
  configure(src: string, build: string, linker: Linker): string[][];
  build(src: string, build: string, linker: Linker): string[];
  /** The train target: records scatter into `profile` (one run). */
  train(src: string, build: string, linker: Linker): string[];
  /** Turns on strictness: commands to run first (a reconfigure), and arguments of the build. */
  strict: { configure?(src: string, build: string): string[][]; build?: string[] };
  /** What a build prints when it links scatter. */
  linking: RegExp;
}

const OUTPUT = 'scatter: 32 modules started, checksum 11936\n';
const EXIT_VALID = 0;
const EXIT_ABSENT = 10;
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');

export const diag = (r: RunResult): Record<string, unknown> => ({ status: r.status, stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-3000) });
export const said = (r: RunResult): string => r.stdout + r.stderr;

/** Pages and runs of consecutive pages of the program in a profile. */
export function pagesAndRuns(file: string): [number, number] {
  const p = parseProfile(fs.readFileSync(file, 'utf8'), file);
  const runs = parseRanges(p.objects.find((o) => o.main)!.pages);
  return [runs.reduce((n, r) => n + r.count, 0), runs.length];
}

/**
 * Copies the sample of `project` (without profiles) and its integration into `home`, laid out as in
 * the repository: the samples reach ../../../integrations and ../cmake/src. Returns the sample's folder.
 */
export function copySample(home: string, project: OrderedBuildSystem['project']): string {
  const src = path.join(home, 'samples', 'projects', project);
  const noProfiles = (p: string): boolean => !p.endsWith('.profile.json');
  fs.cpSync(path.join(repoRoot, 'samples', 'projects', project), src, { recursive: true, filter: noProfiles });
  fs.cpSync(path.join(repoRoot, 'samples', 'projects', 'cmake', 'src'), path.join(home, 'samples', 'projects', 'cmake', 'src'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'integrations', project), path.join(home, 'integrations', project), { recursive: true });
  return src;
}

/** A runner of commands in `cwd` that must succeed: a failed one is a failed check, and stops the subtest. */
export function mustIn(t: tap.Test, run: (argv: string[], cwd: string) => Promise<RunResult>, cwd: string): (what: string, argv: string[]) => Promise<RunResult> {
  return async (what, argv) => {
    const r = await run(argv, cwd);
    t.equal(r.status, 0, what, diag(r));
    if (r.status !== 0) throw new Error(`${what} failed`);
    return r;
  };
}

/** Registers a subtest per linker that runs the two stages with `sys`. */
export function twoStageBuilds(sys: OrderedBuildSystem): void {
  const { tmp, env } = scratchWithCli(`elfprefetch-order-${sys.project}-`);
  delete env.NODE_OPTIONS;
  const run = (argv: string[], cwd: string): Promise<RunResult> => runCommand(argv, { cwd, env, timeoutMs: 300_000 });
  /** Whether `exe` has the output section of the start-up read-only data (the lld-rodata and gnu-ld scripts). */
  const gathered = async (exe: string): Promise<boolean> => /\s\.rodata\.elfprefetch\s/.test((await run(['readelf', '-SW', exe], path.dirname(exe))).stdout);
  /** The module_NNN functions of `exe` by address: the order the link placed them in. */
  const placed = async (exe: string): Promise<string> => {
    const r = await run(['nm', '-n', exe], path.dirname(exe));
    return [...r.stdout.matchAll(/ [tT] (module_\d+)$/gm)].map((m) => m[1]).join(' ');
  };

  for (const linker of LINKERS) {
    const [program, pkg] = LINKER_PROGRAM[linker];
    const skip = onPath(program) ? false : `${program} is not installed (Debian package ${pkg}, scripts/setup.sh)`;
    t.test(`${sys.project}: two-stage build with ${linker}`, { skip }, async (t) => {
      const home = path.join(tmp, linker);
      const src = copySample(home, sys.project);
      const build = path.join(home, 'build');
      const exe = path.join(build, 'scatter');
      const profile = path.join(src, sys.profile);
      const must = mustIn(t, run, build);
      fs.mkdirSync(build);
      for (const argv of sys.configure(src, build, linker)) await must(`configure: ${argv.join(' ')}`, argv);

      // Stage 1: no profile yet, the stock link.
      const b1 = await must('the first build', sys.build(src, build, linker));
      t.match(said(b1), /no profile \S+scatter\.profile\.json: scatter linked in stock order/, 'it says scatter is linked in stock order');
      t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the stock link runs');
      t.equal((await run([process.execPath, cli, 'verify', exe], build)).status, EXIT_ABSENT, 'and has no note');
      const stockOrder = await placed(exe);
      t.equal(stockOrder.split(' ').length, 128, 'nm lists its 128 modules');

      // Record: the train target writes the profile into the source tree (and stamps the stock link).
      await must('the train target', sys.train(src, build, linker));
      t.ok(fs.existsSync(profile), 'the profile is in the source tree');
      const [stockPages, stockRuns] = pagesAndRuns(profile);
      t.ok(stockRuns >= 30, `the stock link's start-up: ${stockPages} pages in ${stockRuns} runs`);

      // Stage 2: the order file changes, the program is relinked in start-up order and stamped.
      const b2 = await must('the second build', sys.build(src, build, linker));
      t.match(said(b2), /\d+ functions and \d+ data symbols of \S+scatter .*hottest first.*: wrote \S*scatter\.order\.new/, 'the order file is made from the profile');
      t.match(said(b2), sys.linking, 'scatter is relinked');
      t.match(said(b2), /scatter: stamped .*pages carried over from build/, 'and stamped from the same profile, carried over');
      t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the ordered link runs as the stock one');
      t.not(await placed(exe), stockOrder, 'its modules are placed in another order');
      // main's literal in an output section of its own: the script beside lld's order (its
      // integration writes and links it too), GNU ld's script; gold has no script.
      t.equal(await gathered(exe), linker !== 'gold', `${linker === 'gold' ? 'no' : 'a'} .rodata.elfprefetch section`);
      const v = await run([process.execPath, cli, 'verify', exe], build);
      t.equal(v.status, EXIT_VALID, 'its note verifies', diag(v));
      const recorded = path.join(home, 'ordered.json');
      await must('recording the ordered link', [process.execPath, cli, 'record', '-o', recorded, '--', exe, 'started']);
      const [pages, runs] = pagesAndRuns(recorded);
      t.ok(runs <= 4, `the ordered link's start-up: ${pages} pages in ${runs} runs`);
      t.ok(pages <= stockPages + 3, `about as many pages as the stock link (${pages} against ${stockPages})`);

      // Nothing changed: no relink (the order file is rewritten only when it changes).
      const before = fs.statSync(exe).mtimeMs;
      const b3 = await must('a third build', sys.build(src, build, linker));
      t.notMatch(said(b3), sys.linking, 'nothing is relinked', diag(b3));
      t.equal(fs.statSync(exe).mtimeMs, before, 'the program is left as it was');

      // A profile order cannot use: a warning, the stock order, the build goes on.
      fs.writeFileSync(profile, '{"not": "a profile"}');
      const b4 = await must('a build with a broken profile', sys.build(src, build, linker));
      t.match(said(b4), /no order for scatter from\s+\S+\s+\(1\); linking it in stock order/, 'it warns and links in stock order');
      t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'that link runs too');
      t.equal(await placed(exe), stockOrder, 'in the stock order');
      t.notOk(await gathered(exe), 'with no .rodata.elfprefetch section (the scripts that change nothing)');

      // Strict: the same profile is an error.
      for (const argv of sys.strict.configure?.(src, build) ?? []) await must(`strict: ${argv.join(' ')}`, argv);
      const b5 = await run([...sys.build(src, build, linker), ...(sys.strict.build ?? [])], build);
      t.not(b5.status, 0, 'with strictness the build fails', diag(b5));
      t.match(said(b5), /no order for scatter from\s+\S+\s+\(1\)/, 'and says why');
    });
  }
}
