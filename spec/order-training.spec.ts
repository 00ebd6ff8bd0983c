// The training link of the CMake integration (ELFPREFETCH_ORDER_TRAINING, integrations/cmake/
// ElfPrefetch.cmake; docs/BUILD-SYSTEMS.md "Ordered link") on the CMake sample's `mingle`
// (samples/projects/cmake/src/mingle.c), whose started modules share their pages with helpers
// start-up never runs, as a user runs it, once per final linker: the two-stage build from a profile
// of the stock link (page-grained: the order keeps the helpers), then a training link, train,
// and the ordered build again from its profile. The program runs, its note verifies, and its
// recorded start-up falls from the page-grained order's ~32 runs to a few.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRanges } from '../src/note/pageset';
import { parseProfile } from '../src/profile/schema';
import { onPath } from './helpers/capabilities';
import { scratchWithCli } from './helpers/cli-on-path';
import { repoRoot, runCommand, type RunResult } from './helpers/fixtures';
import { LINKERS } from './helpers/ordered-build';

const OUTPUT = 'mingle: 32 modules started, checksum 17888\n';
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const { tmp, env } = scratchWithCli('elfprefetch-order-training-');
delete env.NODE_OPTIONS;
const run = (argv: string[], cwd: string): Promise<RunResult> => runCommand(argv, { cwd, env, timeoutMs: 300_000 });
const diag = (r: RunResult): Record<string, unknown> => ({ status: r.status, stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-3000) });
const said = (r: RunResult): string => r.stdout + r.stderr;

/** Pages and runs of consecutive pages of the program in a profile. */
function pagesAndRuns(file: string): [number, number] {
  const p = parseProfile(fs.readFileSync(file, 'utf8'), file);
  const runs = parseRanges(p.objects.find((o) => o.main)!.pages);
  return [runs.reduce((n, r) => n + r.count, 0), runs.length];
}

for (const linker of LINKERS) {
  const program = linker === 'lld' ? 'ld.lld' : linker === 'gold' ? 'ld.gold' : 'ld';
  const skip = !onPath(program) ? `${program} is not installed (scripts/setup.sh)` : !onPath('ld.bfd') ? 'GNU ld (ld.bfd) is not installed' : false;
  t.test(`cmake: training link, then the ordered link with ${linker}`, { skip }, async (t) => {
    const home = path.join(tmp, linker);
    const src = path.join(home, 'samples', 'projects', 'cmake');
    fs.cpSync(path.join(repoRoot, 'samples', 'projects', 'cmake'), src, { recursive: true, filter: (p) => !p.endsWith('.profile.json') });
    fs.cpSync(path.join(repoRoot, 'integrations', 'cmake'), path.join(home, 'integrations', 'cmake'), { recursive: true });
    const build = path.join(home, 'build');
    const exe = path.join(build, 'mingle');
    const profile = path.join(src, 'profiles', 'mingle.profile.json');
    const must = async (what: string, argv: string[]): Promise<RunResult> => {
      const r = await run(argv, build);
      t.equal(r.status, 0, what, diag(r));
      if (r.status !== 0) throw new Error(`${what} failed`);
      return r;
    };
    const configure = (...defs: string[]): Promise<RunResult> =>
      must(`configure ${defs.join(' ')}`, ['cmake', '-S', src, '-B', build, '-G', 'Ninja', `-DSAMPLE_ORDERED_LINK=${linker}`, '-DELFPREFETCH_TRAIN_ARGS=--runs;1', ...defs]);
    const make = (what: string): Promise<RunResult> => must(what, ['cmake', '--build', build]);
    const train = (): Promise<RunResult> => must('the train target', ['cmake', '--build', build, '--target', 'mingle-elfprefetch-train']);
    const recorded = async (name: string): Promise<[number, number]> => {
      const out = path.join(home, `${name}.json`);
      await must(`recording the ${name} link`, [process.execPath, cli, 'record', '-o', out, '--', exe, 'started']);
      return pagesAndRuns(out);
    };
    fs.mkdirSync(build);

    // The two-stage build as before: stock link, train, the order from a profile of the stock link.
    await configure();
    await make('the first build');
    const [sp, sr] = await recorded('stock');
    await train();
    const b2 = await make('the build ordered from the stock profile');
    t.match(said(b2), /\d+ functions and \d+ data symbols of \S+mingle .*hottest first/, 'the order is made from the stock profile');
    t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'that link runs');
    const [pp, pr] = await recorded('page-grained');

    // The training link: GNU ld with the script, every function on a page of its own.
    const c = await configure('-DELFPREFETCH_ORDER_TRAINING=ON');
    t.match(said(c), /mingle is a training link \(ELFPREFETCH_ORDER_TRAINING\): build, run the target mingle-elfprefetch-train/, 'configure says what to do');
    const b3 = await make('the training build');
    t.match(said(b3), /training link script of mingle/, 'the training script is written');
    t.match(said(b3), /Linking C executable mingle/, 'mingle is relinked');
    t.notMatch(said(b3), /Building C object/, 'without compiling again');
    t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the training link runs');
    const nm = await must('nm', ['nm', exe]);
    const at = [...nm.stdout.matchAll(/^([0-9a-f]+) [tT] (?:module|helper)_\d+$/gm)].map((m) => BigInt(`0x${m[1]}`));
    t.equal(at.length, 256, 'nm lists its modules and helpers');
    t.ok(at.every((a) => a % 4096n === 0n), 'each on a page of its own');
    await train();
    const trained = parseProfile(fs.readFileSync(profile, 'utf8'), profile).objects.find((o) => o.main)!;
    const named = (trained.functions ?? []).map((f) => f.name).filter((n) => /^(module|helper)_\d+$/.test(n));
    t.equal(named.length, 32, 'its profile names the 32 started modules');
    t.notOk(named.some((n) => n.startsWith('helper_')), 'and no helper');

    // Back to the ordered link: from the training profile, exact.
    await configure('-DELFPREFETCH_ORDER_TRAINING=OFF');
    const b4 = await make('the build ordered from the training profile');
    t.match(said(b4), /\d+ functions and \d+ data symbols of \S+mingle .*hottest first/, 'the order is made from the training profile');
    t.match(said(b4), /Linking C executable mingle/, 'mingle is relinked');
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
