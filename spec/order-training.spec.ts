// The training link of the build integrations (docs/BUILD-SYSTEMS.md "Ordered link": CMake's
// ELFPREFETCH_ORDER_TRAINING, make's ELFPREFETCH_ORDER_TRAINING, the --training order step of
// Meson's elfprefetch.py) on their samples' `mingle` (samples/projects/cmake/src/mingle.c), whose
// started modules share their pages with helpers start-up never runs, as a user runs it, once per
// build system and final linker: the two-stage build from a profile of the stock link
// (page-grained: the order keeps the helpers), then a training link, train, and the ordered build
// again from its profile. The program runs, its note verifies, and its recorded start-up falls
// from the page-grained order's ~32 runs to a few.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseProfile } from '../src/profile/schema';
import { onPath } from './helpers/capabilities';
import { scratchWithCli } from './helpers/cli-on-path';
import { repoRoot, runCommand, type RunResult } from './helpers/fixtures';
import { LINKERS, LINKER_PROGRAM, copySample, diag, mustIn, pagesAndRuns, said, type Linker } from './helpers/ordered-build';

const OUTPUT = 'mingle: 32 modules started, checksum 17888\n';
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const { tmp, env } = scratchWithCli('elfprefetch-order-training-');
delete env.NODE_OPTIONS;
const run = (argv: string[], cwd: string): Promise<RunResult> => runCommand(argv, { cwd, env, timeoutMs: 300_000 });

/** How one build system runs the stages; every command runs in the build folder. */
interface TrainingBuildSystem {
  /** Its sample (samples/projects/) and integration (integrations/). */
  project: 'cmake' | 'make' | 'meson';
  /** Where the sample keeps mingle's profile, relative to its folder. */
  profile: string;
  /** Commands that (re)configure the sample for `linker`, with the training link or without; `first` is the first time. */
  configure(src: string, build: string, linker: Linker, training: boolean, first: boolean): string[][];
  build(src: string, build: string, linker: Linker, training: boolean): string[];
  /** Records mingle into its profile (one run). */
  train(src: string, build: string, linker: Linker, training: boolean): string[];
  /** What a build prints when it links mingle, and when it compiles something. */
  linking: RegExp;
  compiling: RegExp;
}
const makeArgs = (src: string, linker: Linker, training: boolean): string[] => [
  'make', '-f', path.join(src, 'Makefile'), `ELFPREFETCH_ORDER_LINKER=${linker}`, ...(training ? ['ELFPREFETCH_ORDER_TRAINING=1'] : []),
];
const SYSTEMS: TrainingBuildSystem[] = [
  {
    project: 'cmake',
    profile: 'profiles/mingle.profile.json',
    configure: (src, build, linker, training) => [
      ['cmake', '-S', src, '-B', build, '-G', 'Ninja', `-DSAMPLE_ORDERED_LINK=${linker}`, '-DELFPREFETCH_TRAIN_ARGS=--runs;1', `-DELFPREFETCH_ORDER_TRAINING=${training ? 'ON' : 'OFF'}`],
    ],
    build: (_src, build) => ['cmake', '--build', build],
    train: (_src, build) => ['cmake', '--build', build, '--target', 'mingle-elfprefetch-train'],
    linking: /Linking C executable mingle/,
    compiling: /Building C object/,
  },
  {
    project: 'make',
    profile: 'mingle.profile.json',
    configure: () => [],
    build: (src, _build, linker, training) => [...makeArgs(src, linker, training), 'mingle'],
    train: (src, _build, linker, training) => [...makeArgs(src, linker, training), 'mingle-train', 'ELFPREFETCH_TRAIN_ARGS=--runs 1'],
    linking: /-o mingle mingle\.o/,
    compiling: / -c /,
  },
  {
    project: 'meson',
    profile: 'mingle.profile.json',
    configure: (src, build, linker, training, first) =>
      first
        ? [['meson', 'setup', `-Dsample_ordered_link=${linker}`, `-Dsample_order_training=${training}`, '-Delfprefetch_train_args=--runs,1', build, src]]
        : [['meson', 'configure', `-Dsample_order_training=${training}`, build]],
    build: (_src, build) => ['ninja', '-C', build],
    train: (_src, build) => ['ninja', '-C', build, 'mingle-elfprefetch-train'],
    linking: /Linking target mingle/,
    compiling: /Compiling C object/,
  },
];

for (const sys of SYSTEMS) {
  for (const linker of LINKERS) {
    const [program, pkg] = LINKER_PROGRAM[linker];
    // The training link is GNU ld's, whatever the final linker.
    const missing = [program, 'ld.bfd'].find((p) => !onPath(p));
    const skip = missing ? `${missing} is not installed (Debian package ${missing === program ? pkg : 'binutils'}, scripts/setup.sh)` : false;
    t.test(`${sys.project}: training link, then the ordered link with ${linker}`, { skip }, async (t) => {
      const home = path.join(tmp, sys.project, linker);
      const src = copySample(home, sys.project);
      const build = path.join(home, 'build');
      const exe = path.join(build, 'mingle');
      const profile = path.join(src, sys.profile);
      const must = mustIn(t, run, build);
      const configure = async (training: boolean, first = false): Promise<string> => {
        let out = '';
        for (const argv of sys.configure(src, build, linker, training, first)) out += said(await must(`configure: ${argv.join(' ')}`, argv));
        return out;
      };
      const make = (what: string, training: boolean): Promise<RunResult> => must(what, sys.build(src, build, linker, training));
      const train = (training: boolean): Promise<RunResult> => must('the train target', sys.train(src, build, linker, training));
      const recorded = async (name: string): Promise<[number, number]> => {
        const out = path.join(home, `${name}.json`);
        await must(`recording the ${name} link`, [process.execPath, cli, 'record', '-o', out, '--', exe, 'started']);
        return pagesAndRuns(out);
      };
      fs.mkdirSync(build);

      // The two-stage build as before: stock link, train, the order from a profile of the stock link.
      await configure(false, true);
      await make('the first build', false);
      const [sp, sr] = await recorded('stock');
      await train(false);
      const b2 = await make('the build ordered from the stock profile', false);
      t.match(said(b2), /\d+ functions and \d+ data symbols of \S+mingle .*hottest first/, 'the order is made from the stock profile');
      t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'that link runs');
      const [pp, pr] = await recorded('page-grained');

      // The training link: GNU ld with the script, every function on a page of its own.
      const c = await configure(true);
      const b3 = await make('the training build', true);
      t.match(c + said(b3), /mingle is a training link/, 'it says mingle is a training link');
      t.match(said(b3), sys.linking, 'mingle is relinked');
      t.notMatch(said(b3), sys.compiling, 'without compiling again');
      t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the training link runs');
      const nm = await must('nm', ['nm', exe]);
      const at = [...nm.stdout.matchAll(/^([0-9a-f]+) [tT] (?:module|helper)_\d+$/gm)].map((m) => BigInt(`0x${m[1]}`));
      t.equal(at.length, 256, 'nm lists its modules and helpers');
      t.ok(at.every((a) => a % 4096n === 0n), 'each on a page of its own');
      await train(true);
      const trained = parseProfile(fs.readFileSync(profile, 'utf8'), profile).objects.find((o) => o.main)!;
      const named = (trained.functions ?? []).map((f) => f.name).filter((n) => /^(module|helper)_\d+$/.test(n));
      t.equal(named.length, 32, 'its profile names the 32 started modules');
      t.notOk(named.some((n) => n.startsWith('helper_')), 'and no helper');

      // Back to the ordered link: from the training profile, exact.
      await configure(false);
      const b4 = await make('the build ordered from the training profile', false);
      t.match(said(b4), /\d+ functions and \d+ data symbols of \S+mingle .*hottest first/, 'the order is made from the training profile');
      t.match(said(b4), sys.linking, 'mingle is relinked');
      t.match(said(b4), /mingle: stamped .*pages carried over from build/, 'and stamped from the training profile, carried over');
      t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the ordered link runs');
      const v = await run([process.execPath, cli, 'verify', exe], build);
      t.equal(v.status, 0, 'its note verifies', diag(v));
      const [ep, er] = await recorded('exact');
      t.ok(sr >= 30, `stock link: ${sp} pages in ${sr} runs`);
      t.ok(pr >= 30, `ordered from the stock profile: ${pp} pages in ${pr} runs (the helpers keep the modules apart)`);
      t.ok(er <= 4, `ordered from the training profile: ${ep} pages in ${er} runs`);
      t.ok(ep < pp, `and fewer pages (${ep} against ${pp})`);
    });
  }
}
