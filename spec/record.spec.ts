// The recorder, selection and training, driven through the CLI as a user would, against the
// ground truth of the touch sample (samples/touch: page functions whose file pages nm and
// readelf give) and on node itself.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseProfile, type Profile } from '../src/profile/schema';
import { identify } from '../src/record/objects';
import { has, missing, needs } from './helpers/capabilities';
import { runCommand, type RunResult } from './helpers/fixtures';
import { SPARSE, Truth, buildTouch, compare, fmt, profilePages, repoRoot, score, sparseArgs, sparseScores, touchDir } from './helpers/touch';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-record-spec-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

// The exact method needs root, loop devices and tracefs; pagemap's page precision needs
// userfaultfd with WP_ASYNC. Where one is missing (or assumed missing: the recorder then runs
// with --flags nouffd) what needs it is skipped with the reason.
const noExact = needs('tracefs') || undefined;
const noUffd = missing('userfaultfd');
/** The recorder switches of a pagemap recording here. */
const pagemapFlags = (flags: string[] = []): string[] => (noUffd && !flags.includes('nouffd') ? [...flags, 'nouffd'] : flags);

let truth: Truth;
let touch: string;

function diag(r: RunResult): Record<string, unknown> {
  return { status: r.status, signal: r.signal, stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-3000), ...(r.error ? { error: r.error.message } : {}) };
}

/** The environment of the commands: tap's NODE_OPTIONS (its TypeScript loader) would change what node loads. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

function ep(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runCommand([process.execPath, cli, ...args], { cwd: work, env: cleanEnv(env), timeoutMs: 120_000 });
}

let n = 0;
/** Records argv with the CLI; returns the profile and the JSON summary. */
async function rec(t: Test, method: string, argv: string[], opts: { env?: Record<string, string>; extra?: string[] } = {}): Promise<{ profile: Profile; summary: { processes: number[]; notes: string[] }; r: RunResult }> {
  const out = path.join(work, `p${++n}.json`);
  let extra = opts.extra ?? [];
  if (method === 'pagemap') {
    const at = extra.indexOf('--flags');
    const flags = pagemapFlags(at >= 0 ? extra[at + 1]!.split(',') : []);
    const rest = at >= 0 ? [...extra.slice(0, at), ...extra.slice(at + 2)] : extra;
    extra = [...rest, ...(flags.length ? ['--flags', flags.join(',')] : [])];
  }
  const r = await ep(['record', '--method', method, '--json', '-o', out, ...extra, '--', ...argv], opts.env);
  if (r.status !== 0) {
    t.fail(`record ${argv.join(' ')} exited ${r.status}`, diag(r));
    throw new Error('record failed');
  }
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { processes: number[]; notes: string[] };
  return { profile: parseProfile(fs.readFileSync(out, 'utf8'), out), summary, r };
}

t.before(() => {
  truth = buildTouch();
  touch = truth.exe.path;
});

t.test('the touch sample: one page per function, pages from the symbol table', async (t) => {
  t.equal(truth.exe.f.length, 256);
  t.equal(truth.exe.d.length, 64);
  t.equal(truth.lib.g.length, 64);
  // consecutive, distinct pages: each function or data page sits alone in its page
  for (const [name, pages] of [['f', truth.exe.f], ['d', truth.exe.d], ['g', truth.lib.g]] as const) {
    t.ok(pages.every((p, i) => i === 0 || p === pages[i - 1]! + 1), `${name} pages are consecutive`);
  }
  t.ok(truth.exe.d[0]! > truth.exe.f[255]!, 'data after code');
  const r = spawnSync(touch, ['f:0-3', 'd:1', 'l:2', 'fork:f:9', 'exec:f:10', 'spawn:d:7', 'envexec:l:9'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /touch ok \d+/);
});

for (const method of ['pagemap', 'exact']) {
  const skip = method === 'exact' && noExact ? noExact : false;
  t.test(`${method}: the recorded pages cover the known pages`, { skip }, async (t) => {
    const { args, env } = sparseArgs();
    const { profile, summary } = await rec(t, method, [touch, ...args], { env });
    const s = sparseScores(truth, profile);
    t.comment(`${method}: program code ${fmt(s.f)}`);
    t.comment(`${method}: program data ${fmt(s.d)}`);
    t.comment(`${method}: library code (constructor and main) ${fmt(s.g)}`);
    t.ok(s.f.recall >= 0.99 && s.d.recall >= 0.99 && s.g.recall >= 0.99, `recall >= 0.99 in every region (${fmt(s.all)})`);
    const recorderSaw = summary.notes.find((x) => /no userfaultfd/.test(x));
    if (method === 'exact') t.ok(s.all.precision >= 0.95, `exact precision >= 0.95 (${s.all.precision.toFixed(3)})`);
    else if (noUffd || recorderSaw) {
      t.ok(recorderSaw, 'the recorder says it had no userfaultfd');
      t.pass('pagemap precision >= 0.95 (needs fault-around off)', { skip: noUffd ?? recorderSaw });
    } else t.ok(s.all.precision >= 0.95, `pagemap precision >= 0.95 with fault-around off (${s.all.precision.toFixed(3)})`);
    t.equal(profile.objects.find((o) => o.main)?.path, touch, 'the program is the main object');
    t.ok(profile.objects.some((o) => o.path === truth.lib.path && !o.main), 'the library is an object of its own');
    const lib = profile.objects.find((o) => o.path === truth.lib.path)!;
    const id = identify(truth.lib.path)!;
    t.same({ buildId: lib.buildId, layoutDigest: lib.layoutDigest, size: lib.size }, { buildId: id.buildId, layoutDigest: id.layoutDigest, size: id.size }, "the library's identity");
  });

  t.test(`${method}: children are followed and merged`, { skip }, async (t) => {
    const { profile, summary } = await rec(t, method, [touch, 'f:1', 'fork:f:50', 'exec:f:100', 'spawn:f:150', 'envexec:f:200']);
    const exe = profilePages(profile).get(touch);
    for (const [i, how] of [[1, 'itself'], [50, 'fork'], [100, 'fork+exec'], [150, 'posix_spawn'], [200, 'exec with an empty environment']] as const) {
      t.ok(exe?.has(truth.exe.f[i]!), `f${i} (${how}) recorded`);
    }
    t.ok(summary.processes[0]! >= 4, `${summary.processes[0]} processes merged`);
    const s = score(exe, truth.exe.f, [1, 50, 100, 150, 200]);
    t.comment(`${method}, five processes: ${fmt(s)}`);
  });

  t.test(`${method}: a window leaves out what comes after it`, { skip }, async (t) => {
    const argv = [touch, 'f:2', 'd:2', 'sleep:2000', 'f:220', 'd:60'];
    const windowed = profilePages((await rec(t, method, argv, { extra: ['--window-ms', '600'] })).profile).get(touch);
    const whole = profilePages((await rec(t, method, argv)).profile).get(touch);
    t.ok(windowed?.has(truth.exe.f[2]!) && windowed.has(truth.exe.d[2]!), 'pages touched within the window are in');
    t.notOk(windowed?.has(truth.exe.f[220]!) || windowed?.has(truth.exe.d[60]!), 'pages touched only after the window are out');
    t.ok(whole?.has(truth.exe.f[220]!) && whole.has(truth.exe.d[60]!), 'without a window they are in');
  });
}

t.test('the exact method refuses to run without root, the pagemap method works', async (t) => {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => fs.existsSync(f));
  if (!setpriv || !has('root')) {
    t.pass('exact refused and pagemap as nobody', { skip: `needs root and setpriv to become nobody: ${missing('root') ?? 'no setpriv'}` });
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-nobody-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o777);
  const nobody = [setpriv, '--reuid=65534', '--regid=65534', '--clear-groups'];
  const run = (args: string[]): Promise<RunResult> =>
    runCommand([...nobody, process.execPath, cli, ...args], { cwd: dir, env: cleanEnv({ HOME: dir, TMPDIR: dir }), timeoutMs: 60_000 });
  const exact = await run(['record', '--method', 'exact', '-o', path.join(dir, 'x.json'), '--', touch, 'f:1']);
  t.equal(exact.status, 1, 'exit 1');
  t.match(exact.stderr, /exact method needs root/, 'says why');
  t.notOk(fs.existsSync(path.join(dir, 'x.json')), 'no profile written');
  const { args, env } = sparseArgs();
  const out = path.join(dir, 'pm.json');
  const flags = pagemapFlags();
  const pm = await runCommand([...nobody, process.execPath, cli, 'record', '--method', 'pagemap', ...(flags.length ? ['--flags', flags.join(',')] : []), '-o', out, '--', touch, ...args], {
    cwd: dir,
    env: cleanEnv({ ...env, HOME: dir, TMPDIR: dir }),
    timeoutMs: 60_000,
  });
  t.equal(pm.status, 0, 'pagemap runs as nobody', diag(pm));
  if (pm.status === 0) {
    const s = sparseScores(truth, parseProfile(fs.readFileSync(out, 'utf8')));
    t.comment(`pagemap as nobody: ${fmt(s.all)}`);
    t.ok(s.all.recall >= 0.99, 'recall >= 0.99');
    if (noUffd) t.pass('precision >= 0.95 (userfaultfd in user mode)', { skip: noUffd });
    else t.ok(s.all.precision >= 0.95, 'precision >= 0.95 (userfaultfd in user mode needs no privilege)');
  }
});

// Selection is checked page by page: it needs a page-exact recording, pagemap with userfaultfd
// or else the exact method.
const pageExact = !noUffd ? 'pagemap' : !noExact ? 'exact' : undefined;
t.test(`selection over runs with different arguments (${pageExact ?? 'no page-exact method'})`, { skip: pageExact ? false : `needs a page-exact recording: ${noUffd}; and ${noExact}` }, async (t) => {
  const a = await rec(t, pageExact!, [touch, 'f:0-9']);
  const b = await rec(t, pageExact!, [touch, 'f:0-4']);
  const c = await rec(t, pageExact!, [touch, 'f:0-2,100']);
  const files = [a, b, c].map((x, i) => {
    const f = path.join(work, `sel-in-${i}.json`);
    fs.writeFileSync(f, JSON.stringify(x.profile));
    return f;
  });
  const select = async (extra: string[]): Promise<{ profile: Profile; pages: Set<number>; json: { overBudget: number } }> => {
    const out = path.join(work, `sel-${++n}.json`);
    const r = await ep(['select', ...files, '-o', out, '--json', ...extra]);
    t.equal(r.status, 0, `select ${extra.join(' ')}`, diag(r));
    const profile = parseProfile(fs.readFileSync(out, 'utf8'));
    return { profile, pages: profilePages(profile).get(touch) ?? new Set(), json: JSON.parse(r.stdout) };
  };
  const f = (idx: number[]): number[] => idx.map((i) => truth.exe.f[i]!);
  const inRegion = (s: Set<number>): number[] => truth.exe.f.filter((p) => s.has(p));

  const half = await select(['--min-share', '0.5']);
  t.equal(half.profile.runs, 3, 'three runs merged');
  t.same(inRegion(half.pages), f([0, 1, 2, 3, 4]), 'share 0.5: the pages of at least two runs of three');
  const third = await select(['--min-share', '0.3']);
  t.same(inRegion(third.pages), f([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]), 'share 0.3: every page any run touched');
  const all = await select(['--min-share', '1']);
  t.same(inRegion(all.pages), f([0, 1, 2]), 'share 1: the pages every run touched');

  // A budget keeps the most-used pages: no page left out was used more often than one kept.
  const budget = 96 * 4096;
  const cut = await select(['--min-share', '0', '--budget', String(budget)]);
  const merged = await select(['--min-share', '0']);
  const countsOf = (p: Profile): Map<string, number> => {
    const m = new Map<string, number>();
    for (const o of p.objects) {
      const pages = profilePages({ ...p, objects: [o] }).get(o.path)!;
      [...pages].sort((x, y) => x - y).forEach((pg, i) => m.set(`${o.path}:${pg}`, o.counts![i]!));
    }
    return m;
  };
  const keptCounts = countsOf(cut.profile);
  const allCounts = countsOf(merged.profile);
  const selectedBytes = [...keptCounts.keys()].length * 4096;
  t.ok(selectedBytes <= budget, `within the budget (${selectedBytes} <= ${budget})`);
  t.equal(selectedBytes, budget, 'the budget is filled');
  t.ok(cut.json.overBudget > 0, `${cut.json.overBudget} pages over the budget`);
  const minKept = Math.min(...keptCounts.values());
  const maxDropped = Math.max(...[...allCounts].filter(([k]) => !keptCounts.has(k)).map(([, c]) => c));
  t.ok(minKept >= maxDropped, `most-used first (least kept ${minKept}, most left out ${maxDropped})`);
  t.same(cut.profile.selection, { minShare: 0, budget, merged: 3 }, 'the profile says how it was selected');
});

t.test('record --runs counts, page by page, the runs that touched it', async (t) => {
  const { profile } = await rec(t, 'pagemap', [touch, 'f:0-3'], { extra: ['--runs', '3'] });
  t.equal(profile.runs, 3);
  const main = profile.objects.find((o) => o.main)!;
  const pages = [...profilePages({ ...profile, objects: [main] }).get(touch)!].sort((a, b) => a - b);
  const count = new Map(pages.map((p, i) => [p, main.counts![i]!]));
  for (const i of [0, 1, 2, 3]) t.equal(count.get(truth.exe.f[i]!), 3, `f${i} in all 3 runs`);
});

t.test('train stamps the program and, with --libs, its own library, never system files', async (t) => {
  const dir = fs.mkdtempSync(path.join(work, 'train-'));
  for (const f of ['touch', 'libtouch.so']) fs.copyFileSync(path.join(touchDir, f), path.join(dir, f));
  fs.chmodSync(path.join(dir, 'touch'), 0o755);
  const exe = path.join(dir, 'touch');
  const lib = path.join(dir, 'libtouch.so');
  const libc = '/usr/lib/x86_64-linux-gnu/libc.so.6';
  const libcHash = fs.existsSync(libc) ? createHash('sha256').update(fs.readFileSync(libc)).digest('hex') : '';
  const before = spawnSync(exe, ['f:0-9', 'l:0-3'], { encoding: 'utf8' }).stdout;
  const r = await ep(['train', '--method', 'pagemap', '--runs', '2', '--libs', '--json', '--', exe, 'f:0-9', 'l:0-3']);
  t.equal(r.status, 0, 'train', diag(r));
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runs: number; stamps: Array<{ path: string; kind: string; skipped?: string; strategy?: string }>; objects: Array<{ path: string; selected: number }> };
  t.equal(out.runs, 2, 'two runs merged');
  t.ok(out.stamps.some((s) => s.path === exe && s.kind === 'program' && s.strategy), 'the program is stamped');
  t.ok(out.stamps.some((s) => s.path === lib && s.kind === 'library' && s.strategy), 'its library is stamped');
  const sys = out.stamps.filter((s) => s.path.startsWith('/usr/'));
  t.ok(sys.length > 0 && sys.every((s) => /system file/.test(s.skipped ?? '')), 'system libraries are skipped');
  if (libcHash) t.equal(createHash('sha256').update(fs.readFileSync(libc)).digest('hex'), libcHash, 'libc unchanged');
  for (const f of [exe, lib]) t.equal((await ep(['verify', f])).status, 0, `${path.basename(f)} verifies`);
  t.equal(spawnSync(exe, ['f:0-9', 'l:0-3'], { encoding: 'utf8' }).stdout, before, 'the program prints the same');
  // The program's note names the library as it is now (stamping it may change its layout digest).
  const info = JSON.parse((await ep(['info', '--json', exe])).stdout) as { prefetch: { objects: Array<{ path: string; layoutDigest: string }> } };
  const entry = info.prefetch.objects.find((o) => o.path === lib);
  t.equal(entry?.layoutDigest, identify(lib)!.layoutDigest, "the program's note has the stamped library's layout digest");
  // The program's own set holds the pages of the functions it ran.
  const set = JSON.parse((await ep(['info', '--json', exe])).stdout).prefetch.objects[0].sets[0].runs as Array<{ first: number; count: number }>;
  const inSet = (p: number): boolean => set.some((x) => p >= x.first && p < x.first + x.count);
  t.ok([0, 5, 9].every((i) => inSet(truth.exe.f[i]!)), 'the note holds the pages of f0-f9');
  t.notOk(inSet(truth.exe.f[100]!), 'and not f100');
});

t.test('train leaves a system program alone', async (t) => {
  const file = '/usr/bin/true';
  const hash = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const r = await ep(['train', '--method', 'pagemap', '--', file]);
  t.equal(r.status, 1, 'exit 1');
  t.match(r.stderr, /system file/, 'says why');
  t.equal(createHash('sha256').update(fs.readFileSync(file)).digest('hex'), hash, 'unchanged');
});

t.test('record, train and run end to end on node -e 0', async (t) => {
  const dir = fs.mkdtempSync(path.join(work, 'node-'));
  const node = path.join(dir, 'node');
  fs.copyFileSync(fs.realpathSync(process.execPath), node);
  fs.chmodSync(node, 0o755);
  const pm = await rec(t, 'pagemap', [node, '-e', '0']);
  const main = pm.profile.objects.find((o) => o.main);
  t.equal(main?.path, node, 'the copy of node is the program');
  t.ok(profilePages(pm.profile).get(node)!.size > 200, `${profilePages(pm.profile).get(node)!.size} pages of node`);
  t.ok(pm.profile.objects.some((o) => /\/libc\.so\.6$/.test(o.path)), 'libc is in the profile');
  if (noExact) t.pass('pagemap agrees with exact on node', { skip: noExact });
  else {
    const ex = await rec(t, 'exact', [node, '-e', '0']);
    const c = compare(profilePages(ex.profile), profilePages(pm.profile));
    t.comment(`node -e 0, pagemap against exact: ${fmt(c)}`);
    t.ok(c.recall >= 0.9 && c.precision >= 0.9, 'pagemap agrees with exact on node');
  }
  const r = await ep(['train', '--method', 'pagemap', '--runs', '2', '--', node, '-e', '0']);
  t.equal(r.status, 0, 'train', diag(r));
  t.match(r.stdout, /stamped program .*node/, 'says it stamped node');
  t.match(r.stdout, /2 runs merged/, 'and how many runs it merged');
  t.equal((await ep(['verify', node])).status, 0, 'verify: valid');
  const direct = spawnSync(node, ['-e', 'console.log(6*7)'], { encoding: 'utf8', env: cleanEnv() });
  t.equal(direct.stdout, '42\n', 'the stamped copy still runs');
  const run = await ep(['run', '--', node, '-e', 'console.log(6*7)'], { ELFPREFETCH_DEBUG: '1' });
  t.equal(run.status, 0, 'elfprefetch run', diag(run));
  t.equal(run.stdout, '42\n', 'prints the same under run');
  t.match(run.stderr, new RegExp(`${path.basename(dir)}/node: prefetched`), 'run prefetched the trained pages');
});

t.test('sparse workload, every method (figures for docs/RECORDING.md)', async (t) => {
  const variants: Array<[string, string, string[]]> = [
    ['naive pagemap (fault-around on)', 'pagemap', ['--flags', 'noaudit,nouffd']],
    ['LD_PRELOAD only', 'pagemap', ['--flags', 'noaudit']],
    ['pagemap (LD_AUDIT + LD_PRELOAD)', 'pagemap', []],
    ...(noExact ? [] : ([['exact', 'exact', []]] as Array<[string, string, string[]]>)),
  ];
  const { args, env } = sparseArgs();
  const results: Record<string, number> = {};
  for (const [name, method, extra] of variants) {
    const { profile } = await rec(t, method, [touch, ...args], { env, extra });
    const s = sparseScores(truth, profile);
    results[name] = s.all.precision;
    t.comment(`${name.padEnd(32)} code ${fmt(s.f)}; data ${fmt(s.d)}; library ${fmt(s.g)}`);
    t.ok(s.all.recall >= 0.99, `${name}: recall >= 0.99`);
  }
  if (noExact) t.pass('exact: recall >= 0.99', { skip: noExact });
  // The measurement can tell inflation: fault-around left on maps cached neighbours.
  if (noUffd) t.pass('turning fault-around off raises precision', { skip: noUffd });
  else t.ok(results['naive pagemap (fault-around on)']! < results['pagemap (LD_AUDIT + LD_PRELOAD)']!, 'turning fault-around off raises precision');
  t.comment(`sparse workload: ${SPARSE.f.length} program code pages, ${SPARSE.d.length} data pages, library pages from main and constructor`);
});

t.test('a program that ends with exit_group (go): its libraries are still recorded', { skip: noExact ?? (!fs.existsSync('/usr/lib/go/bin/go') && 'golang-go is not installed') }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-go-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'go.json');
  const r = await ep(['record', '--method', 'exact', '-o', out, '--', '/usr/lib/go/bin/go', 'version']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /the recorder saw no process .* and the \d+ libraries ldd lists/, 'the recorder saw no exit handler run; ldd named the libraries');
  const p = parseProfile(fs.readFileSync(out, 'utf8'));
  const libc = p.objects.find((o) => /\/libc\.so\.6$/.test(o.path));
  t.ok(libc && libc.pages.length > 0, 'libc.so.6 is in the profile with pages');
  t.ok(p.objects[0]!.main && /go$/.test(p.objects[0]!.path), 'the go program is the main object');
});
