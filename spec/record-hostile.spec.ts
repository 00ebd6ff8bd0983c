// The pagemap recorder inside programs that are hard on it (samples/hostile): _exit from a
// signal handler, also one that lands in the recorder's own exit-time snapshot; _exit, vfork +
// exec, fork and posix_spawn while another thread holds one of ld.so's locks for good. Under
// `elfprefetch record` each must end (a hang is a timeout here) and leave its results: one
// complete raw result per process image, and the profile.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseProfile } from '../src/profile/schema';
import { readRawDir, type RawProcess } from '../src/record/raw';
import { runCommand, type RunResult } from './helpers/fixtures';
import { cc } from './helpers/shim';
import { repoRoot } from './helpers/touch';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const sources = path.join(repoRoot, 'samples', 'hostile');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-hostile-spec-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

const hostile = path.join(work, 'hostile');
const libhold = path.join(work, 'libhold.so');

/** A hang shows as this timeout (a recording of the program takes well under a second). */
const TIMEOUT_MS = 60_000;

t.before(() => {
  const ok = cc(t, libhold, [path.join(sources, 'libhold.c')], ['-fPIC', '-shared'], 'gnu11') && cc(t, hostile, [path.join(sources, 'hostile.c')], ['-ldl', '-lpthread'], 'gnu11');
  if (!ok) throw new Error('the hostile sample does not build');
});

interface Recorded {
  r: RunResult;
  procs: RawProcess[];
  profile: string;
  /** Processes of the program still there after record ended (killed since). */
  left: number[];
}

/** Kills this spec's processes of the program still alive; returns their pids. */
function killLeftovers(): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/exe`) !== hostile) continue;
      process.kill(Number(name), 'SIGKILL');
      pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

let n = 0;
/** Records `hostile ...args` with the pagemap method, keeping the raw results. */
async function record(args: string[], opts: { extra?: string[]; env?: Record<string, string> } = {}): Promise<Recorded> {
  const id = ++n;
  const raw = path.join(work, `raw-${id}`);
  const profile = path.join(work, `p-${id}.json`);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${work}:${process.env.PATH ?? '/usr/bin:/bin'}`, ...opts.env };
  delete env.NODE_OPTIONS; // tap's loader would change what node loads
  // a hung program keeps record's output open after record is killed: end it too
  const watchdog = setTimeout(killLeftovers, TIMEOUT_MS + 2000);
  const r = await runCommand([process.execPath, cli, 'record', '--method', 'pagemap', '--keep-raw', raw, '-o', profile, ...(opts.extra ?? []), '--', hostile, ...args], { env, cwd: work, timeoutMs: TIMEOUT_MS });
  clearTimeout(watchdog);
  const left = killLeftovers();
  const runDir = path.join(raw, 'run-1');
  return { r, procs: fs.existsSync(runDir) ? readRawDir(runDir) : [], profile, left };
}

function diag(x: Recorded): Record<string, unknown> {
  return { status: x.r.status, signal: x.r.signal, error: x.r.error?.message, stdout: x.r.stdout.slice(-2000), stderr: x.r.stderr.slice(-2000), raw: x.procs.map((p) => `${p.pid} ${p.reason}${p.complete ? '' : ' (cut short)'}`) };
}

/** The command ended in time, record succeeded, and the profile has the program with pages. */
function recordedInTime(t: tap.Test, x: Recorded): void {
  t.notOk(x.r.error, 'ends before the timeout', diag(x));
  t.same(x.left, [], 'no process of the program is left behind');
  t.equal(x.r.status, 0, 'record succeeds', diag(x));
  t.ok(x.procs.length > 0 && x.procs.every((p) => p.complete), 'every raw result is complete', diag(x));
  if (!fs.existsSync(x.profile)) {
    t.fail('the profile is written', diag(x));
    return;
  }
  const p = parseProfile(fs.readFileSync(x.profile, 'utf8'), x.profile);
  const main = p.objects.find((o) => o.main);
  t.equal(main?.path, hostile, 'the program is the main object');
  t.ok(main && main.pages.trim().length > 0, 'with pages');
  t.ok(p.objects.some((o) => /\/libc\.so\.6$/.test(o.path) && o.pages.trim()), 'libc has pages');
}

const reasons = (x: Recorded): string[] => x.procs.map((p) => p.reason).sort();

t.test('a signal handler that calls _exit', async (t) => {
  const x = await record(['sigexit']);
  recordedInTime(t, x);
  t.same(reasons(x), ['_exit'], 'one process, ended by _exit', diag(x));
});

t.test('a signal handler that calls _exit while the recorder writes the exit-time result', async (t) => {
  // A 20 µs timer, armed by the program's destructor (which runs just before the recorder's),
  // fires inside the recorder's snapshot: the handler's _exit finds that snapshot in progress on
  // its own thread, which will never resume. Waiting for it (the old way) lost the result.
  const x = await record(['sigexit-atexit']);
  recordedInTime(t, x);
  t.equal(x.procs.length, 1, 'one process', diag(x));
  t.match(x.r.stdout, /sigexit-atexit \d+/);
});

t.test('_exit while another thread is inside dlopen (its constructor never returns)', async (t) => {
  const x = await record(['dlopen-exit', libhold]);
  recordedInTime(t, x);
  t.same(reasons(x), ['_exit'], diag(x));
});

t.test('_exit while another thread is inside dl_iterate_phdr (as an unwinder would be)', async (t) => {
  const x = await record(['iterate-exit']);
  recordedInTime(t, x);
  t.same(reasons(x), ['_exit'], diag(x));
});

t.test('vfork + execvp while another thread is inside dlopen', async (t) => {
  const x = await record(['vfork-exec', libhold]);
  recordedInTime(t, x);
  t.match(x.r.stdout, /vfork-exec child 0/, 'the child ran');
  // the vfork child records nothing itself (its parent's memory); the program it execs does
  t.same(reasons(x), ['_exit', 'exit'], 'the parent and the exec\'d child', diag(x));
  const child = x.procs.find((p) => p.reason === 'exit');
  t.ok(child && child.exe === hostile && !child.forked, 'the child is a new image of the program', diag(x));
});

t.test('posix_spawnp while another thread is inside dlopen', async (t) => {
  const x = await record(['spawn', libhold]);
  recordedInTime(t, x);
  t.match(x.r.stdout, /spawn child 0/, 'the child ran');
  t.same(reasons(x), ['_exit', 'exit'], 'the parent and the spawned child', diag(x));
});

t.test('fork in a threaded program while another thread is inside dl_iterate_phdr', async (t) => {
  const x = await record(['fork-mt']);
  recordedInTime(t, x);
  t.match(x.r.stdout, /fork-mt child 0/, 'the child ran');
  const parent = x.procs.find((p) => !p.forked);
  const child = x.procs.find((p) => p.forked);
  t.ok(parent && child && child.forked === parent.pid, 'the fork child records itself, as forked from the parent', diag(x));
  t.same(reasons(x), ['_exit', '_exit'], diag(x));
});

t.test('the window thread, in the process and in a fork child of a threaded program', async (t) => {
  const x = await record(['fork-mt'], { extra: ['--window-ms', '100'], env: { HOSTILE_LINGER_MS: '1500' } });
  recordedInTime(t, x);
  t.equal(x.procs.length, 2, 'both processes', diag(x));
  t.same(reasons(x), ['window', 'window'], 'each ended by its window, not by its _exit', diag(x));
});
