// The two-stage ordered build of the CMake integration (elfprefetch_order in
// integrations/cmake/ElfPrefetch.cmake, docs/BUILD-SYSTEMS.md "Ordered link") on the CMake
// sample's `scatter` (-DSAMPLE_ORDERED_LINK=lld|gold|gnu-ld), as a user runs it, with
// `elfprefetch` on PATH: build (stock order, no profile), train (the profile lands in the source
// tree), build again (the order file changes, the program is relinked in start-up order and
// stamped from the same profile), build once more (nothing to do). The ordered program runs, its
// note verifies, and its recorded start-up pages fall in far fewer runs than the stock link's.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRanges } from '../src/note/pageset';
import { parseProfile } from '../src/profile/schema';
import { scratchWithCli } from './helpers/cli-on-path';
import { runCommand, type RunResult } from './helpers/fixtures';

const repoRoot = path.resolve(__dirname, '..');
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const EXIT_VALID = 0;
const EXIT_ABSENT = 10;
const OUTPUT = 'scatter: 32 modules started, checksum 11936\n';

// The CLI as a user has it: an `elfprefetch` command on PATH.
const { tmp, env } = scratchWithCli('elfprefetch-order-cmake-');
delete env.NODE_OPTIONS;

const run = (argv: string[], cwd: string): Promise<RunResult> => runCommand(argv, { cwd, env, timeoutMs: 300_000 });
const diag = (r: RunResult): Record<string, unknown> => ({ status: r.status, stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-3000) });

/** Pages and runs of consecutive pages of the program in a profile. */
function pagesAndRuns(file: string): [number, number] {
  const p = parseProfile(fs.readFileSync(file, 'utf8'), file);
  const runs = parseRanges(p.objects.find((o) => o.main)!.pages);
  return [runs.reduce((n, r) => n + r.count, 0), runs.length];
}

for (const linker of ['lld', 'gold', 'gnu-ld']) {
  t.test(`two-stage build with ${linker}`, async (t) => {
    const home = path.join(tmp, linker);
    // Laid out as in the repository: the sample includes ../../../integrations/cmake.
    const src = path.join(home, 'samples', 'projects', 'cmake');
    fs.cpSync(path.join(repoRoot, 'samples', 'projects', 'cmake'), src, { recursive: true, filter: (p) => !p.endsWith('.profile.json') });
    fs.cpSync(path.join(repoRoot, 'integrations', 'cmake'), path.join(home, 'integrations', 'cmake'), { recursive: true });
    const build = path.join(home, 'build');
    const exe = path.join(build, 'scatter');
    const profile = path.join(src, 'profiles', 'scatter.profile.json');
    const must = async (what: string, argv: string[], cwd = build): Promise<RunResult> => {
      const r = await run(argv, cwd);
      t.equal(r.status, 0, what, diag(r));
      if (r.status !== 0) throw new Error(`${what} failed`);
      return r;
    };
    fs.mkdirSync(build);
    await must('configure', ['cmake', '-S', src, '-B', build, '-G', 'Ninja', `-DSAMPLE_ORDERED_LINK=${linker}`, '-DELFPREFETCH_TRAIN_ARGS=--runs;1']);

    // Stage 1: no profile yet, the stock link.
    const b1 = await must('the first build', ['cmake', '--build', build]);
    t.match(b1.stdout, /no profile \S+scatter\.profile\.json: scatter linked in stock order/, 'it says scatter is linked in stock order');
    t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the stock link runs');
    t.equal((await run([process.execPath, cli, 'verify', exe], build)).status, EXIT_ABSENT, 'and has no note');

    // Record: the train target writes the profile into the source tree (and stamps the stock link).
    await must('the train target', ['cmake', '--build', build, '--target', 'scatter-elfprefetch-train']);
    t.ok(fs.existsSync(profile), 'the profile is in the source tree');
    const [stockPages, stockRuns] = pagesAndRuns(profile);
    t.ok(stockRuns >= 30, `the stock link's start-up: ${stockPages} pages in ${stockRuns} runs`);

    // Stage 2: the order file changes, the program is relinked in start-up order and stamped.
    const b2 = await must('the second build', ['cmake', '--build', build]);
    t.match(b2.stdout, /\d+ functions and \d+ data symbols of \S+scatter .*hottest first.*: wrote \S+scatter\.order\.new/, 'the order file is made from the profile');
    t.match(b2.stdout, /Linking C executable scatter/, 'scatter is relinked');
    t.match(b2.stdout, /scatter: stamped .*pages carried over from build/, 'and stamped from the same profile, carried over');
    t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'the ordered link runs as the stock one');
    const v = await run([process.execPath, cli, 'verify', exe], build);
    t.equal(v.status, EXIT_VALID, 'its note verifies', diag(v));
    const recorded = path.join(home, 'ordered.json');
    await must('recording the ordered link', [process.execPath, cli, 'record', '-o', recorded, '--', exe, 'started']);
    const [pages, runs] = pagesAndRuns(recorded);
    t.ok(runs <= 4, `the ordered link's start-up: ${pages} pages in ${runs} runs`);
    t.ok(pages <= stockPages + 3, `about as many pages as the stock link (${pages} against ${stockPages})`);

    // Nothing changed: no relink (the order file is rewritten only when it changes).
    const before = fs.statSync(exe).mtimeMs;
    const b3 = await must('a third build', ['cmake', '--build', build]);
    t.notMatch(b3.stdout, /Linking/, 'nothing is relinked', diag(b3));
    t.equal(fs.statSync(exe).mtimeMs, before, 'the program is left as it was');

    // A profile order cannot use: a warning, the stock order, the build goes on.
    fs.writeFileSync(profile, '{"not": "a profile"}');
    const b4 = await must('a build with a broken profile', ['cmake', '--build', build]);
    t.match(b4.stdout + b4.stderr, /no order for scatter from\s+\S+\s+\(1\); linking it in stock order/, 'it warns and links in stock order');
    t.equal((await run([exe, 'started'], build)).stdout, OUTPUT, 'that link runs too');
  });
}
