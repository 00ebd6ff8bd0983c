// The native fuzz targets of shim/fuzz/ (docs/FUZZING.md, "Native side"): built with clang's
// libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, run for a fixed number of inputs
// from a fixed seed on the seed corpus (real stamped binaries, the FORMAT.md example) and the
// regression corpus, which is also replayed input by input. A planted bug in each target shows
// that a finding fails this test. ELFPREFETCH_NATIVE_FUZZ_RUNS scales the runs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { repoRoot } from './helpers/fixtures';

const fuzzDir = path.join(repoRoot, 'shim', 'fuzz');
const outDir = path.join(repoRoot, 'build', 'fuzz');
const scale = Number(process.env.ELFPREFETCH_NATIVE_FUZZ_RUNS ?? '1');

interface Target {
  name: 'note' | 'file';
  runs: number;
  maxLen: number;
  /** A lower bound of libFuzzer's edge coverage after the run: the target reaches the shim's code. */
  minCov: number;
  /** The stats line printed at exit, and what it must show. */
  stats: RegExp;
  enough: (m: RegExpExecArray) => string | undefined;
}

const targets: Target[] = [
  {
    name: 'note',
    runs: Math.round(80_000 * scale),
    maxLen: 4096,
    minCov: 200,
    stats: /^fuzz_note: stats: (\d+) descriptors, (\d+) accepted, (\d+) plans checked$/m,
    enough: (m) => (Number(m[2]) >= 100 && Number(m[3]) >= 1000 ? undefined : `too few accepted notes or plans: ${m[0]}`),
  },
  {
    name: 'file',
    runs: Math.round(30_000 * scale),
    maxLen: 65536,
    minCov: 350,
    stats: /^fuzz_file: stats: (\d+) shim calls, (\d+) prefetched, (\d+) requests checked$/m,
    enough: (m) => (Number(m[2]) >= 100 && Number(m[3]) >= 100 ? undefined : `too few prefetching calls or requests: ${m[0]}`),
  },
];

/** What a sanitizer, libFuzzer or an oracle prints when something is wrong. */
const FINDING = /ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer)|runtime error:|oracle failed|SUMMARY: /;

const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' };

/** Runs a target; fuzz_file's sidecar files go to `sidecarDir` (inside a test folder, removed with it). */
function fuzz(bin: string, args: string[], sidecarDir: string, timeoutMs = 90_000) {
  const r = spawnSync(bin, args, { env: { ...env, EPF_FUZZ_SIDECAR_DIR: sidecarDir }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 << 20 });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}`, error: r.error };
}

const made = spawnSync('make', ['-s', '-C', fuzzDir, 'all', 'plant'], { encoding: 'utf8' });
const seedsRun = made.status === 0 ? spawnSync(process.execPath, [path.join(fuzzDir, 'seeds.js'), path.join(outDir, 'seeds-ci')], { encoding: 'utf8' }) : undefined;

t.test('the harnesses build with libFuzzer and the sanitizers; the seeds are made', async (t) => {
  t.equal(made.status, 0, `make -C shim/fuzz all plant: ${made.stdout}${made.stderr}`);
  t.equal(seedsRun?.status, 0, `seeds.js: ${seedsRun?.stderr}`);
  for (const name of ['note', 'file']) {
    const seeds = fs.readdirSync(path.join(outDir, 'seeds-ci', name));
    t.ok(seeds.length >= 10, `${seeds.length} ${name} seeds`);
  }
  t.ok(fs.existsSync(path.join(outDir, 'seeds-ci', 'note', 'format-example.desc')), 'the FORMAT.md example is a note seed');
  t.ok(fs.existsSync(path.join(outDir, 'seeds-ci', 'file', 'true.stamped')), 'a stamped system binary is a file seed');
});

for (const tg of targets) {
  t.test(`fuzz_${tg.name}: ${tg.runs} inputs from seed 1, no finding`, async (t) => {
    if (made.status !== 0 || seedsRun?.status !== 0) return t.fail('not built');
    const base = t.testdir();
    const corpus = path.join(base, 'corpus');
    fs.mkdirSync(corpus);
    const regress = path.join(fuzzDir, 'regress', tg.name);
    const start = Date.now();
    // New inputs go to the first directory (a temporary one): the tree is not written.
    const r = fuzz(path.join(outDir, `fuzz_${tg.name}`), [
      '-seed=1',
      `-runs=${tg.runs}`,
      '-max_total_time=150', // a bound, not a budget: all runs finish in about 30 s on a quiet machine
      `-max_len=${tg.maxLen}`,
      '-timeout=10',
      '-detect_leaks=0',
      '-close_fd_mask=2',
      `-dict=${path.join(fuzzDir, `${tg.name}.dict`)}`,
      `-artifact_prefix=${corpus}/`,
      corpus,
      path.join(outDir, 'seeds-ci', tg.name),
      regress,
    ], path.join(base, 'sidecar'));
    const done = /^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+)/m.exec(r.out);
    t.comment(`fuzz_${tg.name}: ${done ? `${done[1]} inputs, cov ${done[2]}, ft ${done[3]}` : 'no DONE line'} in ${Date.now() - start} ms`);
    t.equal(r.status, 0, `exit status 0 (${r.signal ?? ''} ${r.error?.message ?? ''})`);
    t.notMatch(r.out, FINDING, `no sanitizer report or oracle failure: ${(FINDING.exec(r.out)?.index ?? -1) >= 0 ? r.out.slice(Math.max(0, r.out.search(FINDING) - 200), r.out.search(FINDING) + 3000) : ''}`);
    t.ok(done, 'libFuzzer finished the run');
    if (done) {
      t.ok(Number(done[1]) >= tg.runs, `all ${tg.runs} inputs ran (${done[1]})`);
      t.ok(Number(done[2]) >= tg.minCov, `coverage ${done[2]} >= ${tg.minCov} edges`);
    }
    const stats = tg.stats.exec(r.out);
    t.ok(stats, 'the target printed its statistics');
    if (stats) t.equal(tg.enough(stats), undefined, 'the oracles had something to check');
    t.same(fs.readdirSync(corpus).filter((f) => /^(crash|leak|timeout|oom)-/.test(f)), [], 'no artifact written');
  });

  t.test(`fuzz_${tg.name}: the regression corpus and the seeds replay cleanly, one by one`, async (t) => {
    if (made.status !== 0 || seedsRun?.status !== 0) return t.fail('not built');
    const regress = path.join(fuzzDir, 'regress', tg.name);
    const files = [
      ...fs.readdirSync(regress).filter((f) => !f.startsWith('.')).map((f) => path.join(regress, f)),
      ...fs.readdirSync(path.join(outDir, 'seeds-ci', tg.name)).map((f) => path.join(outDir, 'seeds-ci', tg.name, f)),
    ];
    // Given files (not directories), libFuzzer runs each once and exits.
    const r = fuzz(path.join(outDir, `fuzz_${tg.name}`), ['-close_fd_mask=2', '-detect_leaks=0', ...files], path.join(t.testdir(), 'sidecar'));
    t.equal(r.status, 0, 'exit status 0');
    t.notMatch(r.out, FINDING, 'no report');
    const ran = (r.out.match(/^Executed .* in \d+ ms$/gm) ?? []).length;
    t.equal(ran, files.length, `every one of the ${files.length} inputs ran`);
  });
}

t.test('a planted bug fails the run: an out-of-bounds read (note) and a request past EOF (file)', async (t) => {
  if (made.status !== 0) return t.fail('not built');
  const dir = t.testdir({ note: { 'planted': 'PLANT' + 'x'.repeat(40) }, file: { 'planted': 'PLANT' + 'x'.repeat(100) } });
  for (const [name, want] of [
    ['note', /ERROR: AddressSanitizer: heap-buffer-overflow[\s\S]*fuzz_note\.c/],
    ['file', /fuzz_file: oracle failed: .*readahead\(\d+, \d+, 4096\) past the end of a file/],
  ] as const) {
    const corpus = path.join(dir, `${name}-corpus`);
    fs.mkdirSync(corpus);
    const r = fuzz(path.join(outDir, `fuzz_${name}_plant`), ['-seed=1', '-runs=1000', '-close_fd_mask=2', '-detect_leaks=0', `-artifact_prefix=${corpus}/`, corpus, path.join(dir, name)], path.join(dir, `${name}-sidecar`));
    t.not(r.status, 0, `${name}: non-zero exit status`);
    t.match(r.out, want, `${name}: the report names the bug`);
    t.match(r.out, FINDING, `${name}: the finding pattern of the runs above matches it`);
    t.ok(fs.readdirSync(corpus).some((f) => f.startsWith('crash-')), `${name}: the input is saved`);
  }
});
