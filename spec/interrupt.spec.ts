// Interruption is reported by library code and decided by the CLI (docs/DESIGN.md, the map):
// library functions install no signal handlers, take an AbortSignal and throw or report an
// InterruptedError; cli/signals.ts alone turns a real signal into that AbortSignal.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InterruptedError } from '../src/io/interrupt';
import { stampFile } from '../src/ops/stamp';
import { record } from '../src/record/record';
import { stampTree } from '../src/tree/stamp-tree';
import { noticingSignals } from '../cli/signals';
import { fixture } from './helpers/fixtures';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const listeners = (): number[] => SIGNALS.map((s) => process.listenerCount(s));
const pie = fixture('x86-64-shlib');
const aborted = (sig: NodeJS.Signals): AbortSignal => {
  const c = new AbortController();
  c.abort(new InterruptedError(sig));
  return c.signal;
};

t.test('a stamp installs no signal handler', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'hello');
  fs.copyFileSync(pie.path, file);
  const before = listeners();
  const r = stampFile(file, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }] });
  t.equal(r.pages, 2, 'the file was stamped');
  t.same(listeners(), before, 'SIGINT, SIGTERM and SIGHUP listeners as before');
});

t.test('record with an aborted signal runs nothing and throws the InterruptedError', async (t) => {
  const dir = t.testdir();
  const marker = path.join(dir, 'ran');
  const before = listeners();
  const e = await record(['sh', '-c', `touch ${marker}`], { method: 'pagemap', stdio: 'ignore', signal: aborted('SIGTERM') }).catch((x: unknown) => x);
  t.ok(e instanceof InterruptedError, `an InterruptedError (${(e as Error).message})`);
  t.equal((e as InterruptedError).signal, 'SIGTERM', 'naming the signal');
  t.equal((e as Error).message, 'interrupted by SIGTERM', 'in the words the CLI prints');
  t.notOk(fs.existsSync(marker), 'the command never ran');
  t.same(listeners(), before, 'no listener left behind');
});

t.test('stamp-tree with an aborted signal starts no file and says it was interrupted', async (t) => {
  const dir = t.testdir({ tree: {}, profiles: {} });
  const file = path.join(dir, 'tree', 'hello');
  fs.copyFileSync(pie.path, file);
  const was = fs.readFileSync(file);
  const report = await stampTree(path.join(dir, 'tree'), { profiles: path.join(dir, 'profiles'), dryRun: false, minShare: 0.5, jobs: 1, signal: aborted('SIGINT') });
  t.equal(report.elfFiles, 1);
  t.equal(report.files.length, 0, 'no file done');
  t.equal(report.interrupted, true, 'the report says interrupted');
  t.same(fs.readFileSync(file), was, 'the file is untouched');
});

t.test('the CLI turns a real signal into the AbortSignal and removes its listeners after', async (t) => {
  const before = listeners();
  const reason = await noticingSignals(async (signal) => {
    t.same(listeners(), before.map((n) => n + 1), 'one listener per signal while the body runs');
    process.kill(process.pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 200));
    return signal.aborted ? signal.reason : undefined;
  });
  t.ok(reason instanceof InterruptedError && reason.signal === 'SIGHUP', 'aborted with an InterruptedError naming SIGHUP; the process lived on');
  t.same(listeners(), before, 'the listeners are gone');
});

/** The files below `root` that add a process-wide listener (a signal handler, or any other). */
function listenersIn(root: string): string[] {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (f.endsWith('.ts') && /\bprocess\.(on|once|addListener|prependListener)\(/.test(fs.readFileSync(f, 'utf8'))) offenders.push(path.relative(root, f));
    }
  };
  walk(root);
  return offenders.sort();
}

t.test('no file under src/ adds a process-wide listener: signal handlers are cli/signals.ts\'s', async (t) => {
  t.same(listenersIn(path.resolve(__dirname, '..', 'src')), []);
  // The check sees the two places that did it before this rule (src/io/atomic.ts, src/record/spawn.ts).
  const old = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-listeners-'));
  fs.mkdirSync(path.join(old, 'io'));
  fs.writeFileSync(path.join(old, 'io', 'atomic.ts'), "if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(128 + num));\n");
  fs.writeFileSync(path.join(old, 'spawn.ts'), 'for (const s of sigs) process.on(s, note);\n');
  t.same(listenersIn(old), ['io/atomic.ts', 'spawn.ts']);
  fs.rmSync(old, { recursive: true, force: true });
});
