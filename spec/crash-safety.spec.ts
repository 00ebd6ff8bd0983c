// Crash safety of `elfprefetch stamp` (issue 6): the process is killed at random points
// while it stamps a file, faults are injected (full disk, read-only filesystem, a running
// binary, an input swapped while read, two stamps at once), and attributes and links are
// checked afterwards. In every case the file must be either the original or the complete
// stamped output, never a mixture, never lost. Needs root (mount, chown, setcap) and gcc;
// the parts that need them are skipped otherwise. Figures are in docs/ROBUSTNESS.md.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../cli/main';
import { InvalidInputError } from '../src/errors';
import { stampFile } from '../src/ops/stamp';
import { type Fixture, loadFixtures, repoRoot, runCommand, runFixture, type RunResult } from './helpers/fixtures';
import { prng } from './helpers/prng';
import { needs } from './helpers/capabilities';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const EXIT = { ok: 0, error: 1, absent: 10 };
const PAGES = '0-3';
const SEED = Number(process.env.CRASH_SEED ?? 0x5eed6);
const KILLS = Number(process.env.CRASH_KILLS ?? 40);
const ROUNDS_SWAP = 12;
const TMP_RE = /^\.elfprefetch-\d+-[0-9a-f]+\.tmp$/;

const isRoot = process.getuid?.() === 0;
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function diag(r: RunResult): Record<string, unknown> {
  return { status: r.status, signal: r.signal, stdout: r.stdout.slice(0, 2000), stderr: r.stderr.slice(0, 2000), ...(r.error ? { error: r.error.message } : {}) };
}
/**
 * The environment of the CLI runs, without what tap adds: its NODE_OPTIONS load hooks
 * (processinfo, signal-exit) that catch SIGTERM/SIGINT and slow every start-up.
 */
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)),
);
const ep = (...args: string[]): Promise<RunResult> => runCommand([process.execPath, cli, ...args], { cwd: repoRoot, env: cleanEnv });
/** `verify`'s exit code, run in this process (a subprocess per check would cost ~0.3 s each). */
async function verifyCode(file: string): Promise<number> {
  return main(['verify', file], { out: () => {}, err: () => {} });
}
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const temps = (dir: string): string[] => fs.readdirSync(dir).filter((n) => TMP_RE.test(n));
function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

/** Every file of `dir` but the temporaries and `except`, by name, with its hash, size and mtime. */
function snapshot(dir: string, except: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fs.readdirSync(dir).sort()) {
    if (TMP_RE.test(n) || except.includes(n)) continue;
    const p = path.join(dir, n);
    const st = fs.lstatSync(p);
    out[n] = `${st.isFile() ? sha(p) : st.mode}:${st.size}:${st.mtimeMs}:${st.mode}`;
  }
  return out;
}

/** Stamps `from` into a new file `to` (-o), the expected result of stamping it in place. */
async function expectedStamp(t: Test, from: string, to: string): Promise<string> {
  const r = await ep('stamp', from, '--pages', PAGES, '-o', to);
  if (r.status !== 0) throw new Error(`stamping ${from}: ${JSON.stringify(diag(r))}`);
  t.equal(await verifyCode(to), EXIT.ok, `the reference stamp of ${path.basename(from)} verifies`);
  return sha(to);
}

/** Starts `stamp file` and sends `signal` after `delayMs`, or once a temp file shows up when delayMs is 'temp'. */
function stampAndKill(file: string, signal: NodeJS.Signals, delayMs: number | 'temp'): Promise<{ status: number | null; signal: NodeJS.Signals | null; ms: number; sawTemp: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli, 'stamp', file, '--pages', PAGES], { stdio: 'ignore', env: cleanEnv });
    let sawTemp = false;
    let timer: NodeJS.Timeout;
    if (delayMs === 'temp') {
      const dir = path.dirname(file);
      timer = setInterval(() => {
        if (temps(dir).length > 0) {
          sawTemp = true;
          child.kill(signal);
          clearInterval(timer);
        }
      }, 1);
    } else {
      timer = setTimeout(() => child.kill(signal), delayMs);
    }
    child.on('close', (status, sig) => {
      clearTimeout(timer);
      clearInterval(timer);
      resolve({ status, signal: sig, ms: performance.now() - t0, sawTemp });
    });
  });
}

const fixtures = loadFixtures();
const small = fixtures.find((f) => f.name === 'x86-64-pie');
const other = fixtures.find((f) => f.name === 'x86-64-nopie');
const nodeBinary = fs.realpathSync(process.execPath);

function copyTo(from: string, dir: string, name: string): string {
  const to = path.join(dir, name);
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o755);
  return to;
}

/** The fixture runs as the original does. */
function runsLikeOriginal(t: Test, f: Fixture, exe: string, what: string): void {
  const r = runFixture(f, exe);
  t.ok(r.status === f.status && r.stdout === f.expected, `${what}: still runs and prints what the original prints`, diag(r));
}

if (!small || !other) {
  t.fail('the x86-64-pie and x86-64-nopie fixtures were not built (see samples/build.sh)');
} else if (!fs.existsSync(cli)) {
  t.fail(`${cli} is missing: build first (npx tsc -p .)`);
} else {
  t.test('the API refuses page runs that are not ranges of pages, naming the run, and writes nothing', async (t) => {
    const dir = t.testdir({});
    const exe = copyTo(small.path, dir, 'hello');
    const before = fs.readFileSync(exe);
    for (const [run, what] of [
      [{ first: -40, count: 41 }, 'first -40, count 41'],
      [{ first: 1.5, count: 1 }, 'first 1.5, count 1'],
      [{ first: 1, count: -1 }, 'first 1, count -1'],
      [{ first: Number.NaN, count: 1 }, 'first NaN, count 1'],
    ] as const) {
      t.throws(() => stampFile(exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 2, count: 1 }, run] }] }), new InvalidInputError(`run 1 of set 'default' (${what}) is not a range of pages: both must be whole numbers, at least 0`), what);
    }
    t.ok(fs.readFileSync(exe).equals(before), 'the file is as it was');
    t.same(fs.readdirSync(dir), ['hello'], 'and nothing was left beside it');
  });

  t.test('kill points: SIGKILL at random moments of a stamp', async (t) => {
    const dir = t.testdir({ 'neighbour.txt': 'not to be touched\n', sub: { 'inner.txt': 'nor this\n' } });
    const refDir = path.join(dir, 'ref');
    fs.mkdirSync(refDir);
    const kinds = [
      { name: 'small', from: small.path, file: path.join(dir, 'hello') },
      { name: 'node', from: nodeBinary, file: path.join(dir, 'nodecopy') },
    ].map((k) => ({ ...k, orig: Buffer.alloc(0), stamped: Buffer.alloc(0), ms: 0 }));
    for (const k of kinds) {
      copyTo(k.from, dir, path.basename(k.file));
      k.orig = fs.readFileSync(k.file);
      await expectedStamp(t, k.file, path.join(refDir, k.name));
      // Kept in memory: comparing 100 MB buffers is much faster than hashing them each time.
      k.stamped = fs.readFileSync(path.join(refDir, k.name));
      // How long a whole stamp takes (best of two), to spread the kills over it.
      const times: number[] = [];
      for (let i = 0; i < 2; i++) {
        const scratch = copyTo(k.from, refDir, `${k.name}.timing`);
        const r = await stampAndKill(scratch, 'SIGKILL', 60_000);
        t.equal(r.status, 0, `${k.name}: an undisturbed stamp succeeds`);
        times.push(r.ms);
        fs.rmSync(scratch);
      }
      k.ms = Math.min(...times);
    }
    const before = snapshot(dir, kinds.map((k) => path.basename(k.file)));
    const rand = prng(SEED);
    const tally = { kills: 0, original: 0, stamped: 0, finished: 0, tempsLeft: 0, bad: 0 };
    for (let i = 0; i < KILLS; i++) {
      const k = kinds[i % 2]!;
      // Spread over the whole stamp, a little past its measured end so that some kills land
      // around the fsync and rename too.
      const delay = Math.floor(rand() * k.ms * 1.15);
      const r = await stampAndKill(k.file, 'SIGKILL', delay);
      if (r.signal === 'SIGKILL') tally.kills++;
      else tally.finished++;
      const now = fs.readFileSync(k.file);
      const isOrig = now.equals(k.orig);
      const isStamped = !isOrig && now.equals(k.stamped);
      const ok = isOrig || isStamped;
      if (isOrig) tally.original++;
      else if (isStamped) tally.stamped++;
      else tally.bad++;
      const where = `kill ${i} (${k.name}, seed ${SEED}, after ${delay} ms of ~${Math.round(k.ms)})`;
      if (!ok) t.fail(`${where}: the file is neither the original nor the stamped output`);
      const v = await verifyCode(k.file);
      if (v !== (isStamped ? EXIT.ok : EXIT.absent)) t.fail(`${where}: verify gives ${v}, not valid (stamped) or absent (original)`);
      if (k.name === 'small' && i % 4 === 0) runsLikeOriginal(t, small, k.file, where);
      const left = temps(dir);
      tally.tempsLeft += left.length;
      for (const n of left) fs.rmSync(path.join(dir, n));
      const extra = fs.readdirSync(refDir).filter((n) => !['small', 'node'].includes(n));
      if (extra.length) t.fail(`${where}: stray files in another directory`, { extra });
      const after = snapshot(dir, kinds.map((k) => path.basename(k.file)));
      if (JSON.stringify(after) !== JSON.stringify(before)) t.fail(`${where}: another file of the directory changed`, { before, after });
      // Start from the original again half of the time, so both states get killed.
      if (!isOrig && rand() < 0.5) copyTo(k.from, dir, path.basename(k.file));
    }
    runsLikeOriginal(t, small, kinds[0]!.file, 'after all the kills');
    t.equal(tally.bad, 0, `after ${KILLS} kills every file is the original or the complete stamp`);
    t.ok(tally.kills >= KILLS / 2, `most runs were really killed mid-way (${tally.kills} of ${KILLS})`);
    t.comment(`kill points: ${JSON.stringify({ seed: SEED, timesMs: kinds.map((k) => Math.round(k.ms)), ...tally })}`);
  });

  t.test('SIGTERM and SIGINT while the temporary file is being written', async (t) => {
    const dir = t.testdir();
    const file = copyTo(nodeBinary, dir, 'nodecopy');
    const orig = sha(file);
    const stamped = await expectedStamp(t, file, path.join(dir, 'ref'));
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      for (let i = 0; i < 2; i++) {
        const r = await stampAndKill(file, signal, 'temp');
        const now = sha(file);
        t.ok(now === orig || now === stamped, `${signal} #${i}: the file is the original or the stamped output`);
        t.equal(await verifyCode(file), now === orig ? EXIT.absent : EXIT.ok, `${signal} #${i}: verify agrees (absent or valid)`);
        const left = temps(dir);
        t.comment(`${signal} #${i}: ${JSON.stringify({ ...r, ms: Math.round(r.ms), tempsLeft: left.length })}`);
        if (r.sawTemp) {
          // The signal came while the temporary file existed: replaceAtomically defers
          // SIGINT/SIGTERM/SIGHUP until the replacement is complete.
          t.equal(now, stamped, `${signal} #${i}: the stamp in progress was completed before the process ended`);
          t.same(left, [], `${signal} #${i}: the temporary file is not left behind`);
          t.ok(r.status === 0 || r.status === 128 + (signal === 'SIGTERM' ? 15 : 2), `${signal} #${i}: exit status 0 or 128+signal (got ${r.status}, ${r.signal})`);
        } else {
          t.comment(`${signal} #${i}: no temporary file was seen before the stamp ended`);
        }
        for (const n of left) fs.rmSync(path.join(dir, n));
        if (now !== orig) copyTo(nodeBinary, dir, 'nodecopy');
      }
    }
  });

  t.test('faults', async (t) => {
    const noMount = needs('mount');

    t.test('full disk: every size from just above the input to room for two copies', { skip: noMount }, async (t) => {
      const dir = t.testdir();
      const mnt = path.join(dir, 'mnt');
      fs.mkdirSync(mnt);
      const size = fs.statSync(small.path).size;
      const stamped = await expectedStamp(t, small.path, path.join(dir, 'ref'));
      const orig = sha(small.path);
      const kb = Math.ceil(size / 4096) * 4;
      let failed = 0;
      let succeeded = 0;
      for (let k = kb + 4; k <= 2 * kb + 12; k += 8) {
        sh('mount', ['-t', 'tmpfs', '-o', `size=${k}k`, 'tmpfs', mnt]);
        try {
          const file = copyTo(small.path, mnt, 'hello');
          const r = await ep('stamp', file, '--pages', PAGES);
          const now = sha(file);
          if (r.status === EXIT.ok) {
            succeeded++;
            t.equal(now, stamped, `${k} KiB: stamp succeeds and the file is the complete stamp`);
          } else {
            failed++;
            t.equal(r.status, EXIT.error, `${k} KiB: stamp fails with exit code 1`, diag(r));
            t.match(r.stderr, /ENOSPC|no space left/i, `${k} KiB: the error says the disk is full`);
            t.equal(now, orig, `${k} KiB: the original is unchanged`);
          }
          t.same(temps(mnt), [], `${k} KiB: no temporary file is left`);
          runsLikeOriginal(t, small, file, `${k} KiB`);
        } finally {
          sh('umount', [mnt]);
        }
      }
      t.ok(failed > 0, `the disk was full at least once (${failed} failures, ${succeeded} successes)`);
      t.comment(`full disk: ${failed} clean ENOSPC failures, ${succeeded} successes`);
    });

    t.test('read-only filesystem', { skip: noMount }, async (t) => {
      const dir = t.testdir();
      const mnt = path.join(dir, 'mnt');
      fs.mkdirSync(mnt);
      sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
      try {
        const file = copyTo(small.path, mnt, 'hello');
        const orig = sha(file);
        sh('mount', ['-o', 'remount,ro', mnt]);
        const r = await ep('stamp', file, '--pages', PAGES);
        t.equal(r.status, EXIT.error, 'stamp fails with exit code 1', diag(r));
        t.match(r.stderr, /EROFS|read-only/i, 'the error says the filesystem is read-only');
        t.equal(sha(file), orig, 'the file is unchanged');
        t.same(fs.readdirSync(mnt), ['hello'], 'nothing else appeared');
      } finally {
        sh('umount', [mnt]);
      }
    });

    t.test('a binary that is running', { skip: !has('gcc') && 'needs gcc' }, async (t) => {
      const dir = t.testdir({ 'sleeper.c': '#include <stdio.h>\n#include <unistd.h>\nint main(void){sleep(2);puts("slept");return 0;}\n' });
      const exe = path.join(dir, 'sleeper');
      sh('gcc', ['-O1', '-o', exe, path.join(dir, 'sleeper.c')]);
      const running = runCommand([exe]);
      await new Promise((r) => setTimeout(r, 300));
      const s = await ep('stamp', exe, '--pages', '0-1');
      t.equal(s.status, EXIT.ok, 'stamping a running binary succeeds (a rename, not a write: no ETXTBSY)', diag(s));
      t.equal(await verifyCode(exe), EXIT.ok, 'and the stamped file verifies');
      const r = await running;
      t.ok(r.status === 0 && r.stdout === 'slept\n', 'the running process is unaffected', diag(r));
      const again = await runCommand([exe]);
      t.ok(again.status === 0 && again.stdout === 'slept\n', 'the stamped binary runs', diag(again));
    });

    t.test('the input is replaced while it is read', async (t) => {
      const dir = t.testdir();
      const outDir = path.join(dir, 'out');
      fs.mkdirSync(outDir);
      const a = copyTo(small.path, dir, 'A');
      const b = copyTo(other.path, dir, 'B');
      const want = new Map([
        [await expectedStamp(t, a, path.join(dir, 'A.stamped')), 'A'],
        [await expectedStamp(t, b, path.join(dir, 'B.stamped')), 'B'],
      ]);
      const input = path.join(dir, 'in');
      fs.copyFileSync(a, input);
      // A child swaps A and B in under `in` by rename, as fast as it can.
      const swapper = spawn(
        process.execPath,
        ['-e', `const fs=require('fs');const [a,b,i]=process.argv.slice(1);for(let n=0;;n++){fs.copyFileSync(n%2?a:b,i+'.next');fs.renameSync(i+'.next',i);}`, a, b, input],
        { stdio: 'ignore' },
      );
      const outcomes: Record<string, number> = { A: 0, B: 0, error: 0, mixture: 0 };
      try {
        await new Promise((r) => setTimeout(r, 100));
        for (let i = 0; i < ROUNDS_SWAP; i++) {
          const out = path.join(outDir, `o${i}`);
          const r = await ep('stamp', input, '--pages', PAGES, '-o', out);
          if (r.status === EXIT.ok) {
            const which = want.get(sha(out));
            if (which) outcomes[which]!++;
            else {
              outcomes.mixture!++;
              // The layout is planned from the opened file and the bytes are copied from the
              // same open file (/proc/self/fd), so a file replaced in between cannot mix.
              t.fail(`stamp ${i} succeeded but its output is a stamp of neither input (a mixture)`, {
                verify: await verifyCode(out),
              });
            }
          } else {
            outcomes.error!++;
            t.equal(r.status, EXIT.error, `stamp ${i} fails cleanly`, diag(r));
            t.notOk(fs.existsSync(out), `stamp ${i}: no output after the failure`);
          }
        }
      } finally {
        swapper.kill('SIGKILL');
      }
      t.same(temps(outDir), [], 'no temporary file is left');
      t.comment(`input swapped while read: ${JSON.stringify(outcomes)}`);
    });

    t.test('two stamps of the same file at once', async (t) => {
      const dir = t.testdir();
      const file = path.join(dir, 'hello');
      copyTo(small.path, dir, 'hello');
      const orig = sha(file);
      const stamped = await expectedStamp(t, file, path.join(dir, 'ref'));
      const tally = { bothOk: 0, oneFailed: 0 };
      for (let i = 0; i < 20; i++) {
        copyTo(small.path, dir, 'hello');
        const [r1, r2] = await Promise.all([ep('stamp', file, '--pages', PAGES), ep('stamp', file, '--pages', PAGES)]);
        const codes = [r1.status, r2.status];
        t.ok(codes.includes(EXIT.ok) && codes.every((c) => c === EXIT.ok || c === EXIT.error), `round ${i}: both succeed or one fails cleanly (${codes})`, { r1: diag(r1), r2: diag(r2) });
        if (codes.every((c) => c === EXIT.ok)) tally.bothOk++;
        else tally.oneFailed++;
        const now = sha(file);
        t.ok(now === stamped && now !== orig, `round ${i}: the file is the stamped output`);
        t.equal(await verifyCode(file), EXIT.ok, `round ${i}: and verifies`);
        t.same(temps(dir), [], `round ${i}: no temporary file is left`);
      }
      runsLikeOriginal(t, small, file, 'after the parallel stamps');
      t.comment(`two stamps at once: ${JSON.stringify(tally)}`);
    });
  });

  t.test('attributes and links', async (t) => {
    t.test('setuid/setgid, owner, file capability and a user xattr survive', { skip: !(isRoot && has('setcap') && has('setfattr')) && 'needs root, setcap and setfattr' }, async (t) => {
      const dir = t.testdir();
      const file = copyTo(small.path, dir, 'hello');
      sh('chown', ['nobody:nogroup', file]);
      sh('chmod', ['6755', file]);
      sh('setcap', ['cap_net_raw+ep', file]);
      sh('setfattr', ['-n', 'user.elfprefetch-test', '-v', 'kept', file]);
      const st0 = fs.statSync(file);
      const r = await ep('stamp', file, '--pages', PAGES);
      t.equal(r.status, EXIT.ok, 'stamp succeeds', diag(r));
      const st = fs.statSync(file);
      t.not(st.ino, st0.ino, 'the file is a new inode (replaced by rename)');
      t.equal(st.mode & 0o7777, 0o6755, 'setuid and setgid bits are kept (mode 6755)');
      t.equal(st.uid, st0.uid, 'the owner is kept (nobody)');
      t.equal(st.gid, st0.gid, 'the group is kept (nogroup)');
      const cap = spawnSync('getcap', [file], { encoding: 'utf8' }).stdout;
      t.match(cap, /cap_net_raw[=+]ep/, 'the file capability is kept (getcap)');
      const x = spawnSync('getfattr', ['--only-values', '-n', 'user.elfprefetch-test', file], { encoding: 'utf8' });
      t.equal(x.stdout, 'kept', 'the user xattr is kept');
      t.equal(await verifyCode(file), EXIT.ok, 'the file verifies');
      runsLikeOriginal(t, small, file, 'the setuid copy');
    });

    t.test('a hard link keeps the old content (the rename makes a new inode)', async (t) => {
      const dir = t.testdir();
      const file = copyTo(small.path, dir, 'hello');
      const link = path.join(dir, 'hardlink');
      fs.linkSync(file, link);
      const orig = sha(file);
      const stamped = await expectedStamp(t, file, path.join(dir, 'ref'));
      const r = await ep('stamp', file, '--pages', PAGES);
      t.equal(r.status, EXIT.ok, 'stamp succeeds', diag(r));
      t.equal(sha(file), stamped, 'the named file is stamped');
      t.equal(sha(link), orig, 'the other hard link still has the original content');
      t.not(fs.statSync(file).ino, fs.statSync(link).ino, 'they are no longer the same inode');
      t.equal(fs.statSync(link).nlink, 1, 'the old inode now has one link');
      t.equal(await verifyCode(link), EXIT.absent, 'the hard link is unstamped (absent)');
    });

    t.test('a symlink is followed: the link stays, the target is stamped', async (t) => {
      const dir = t.testdir({ real: {} });
      const target = copyTo(small.path, path.join(dir, 'real'), 'hello');
      const link = path.join(dir, 'link');
      fs.symlinkSync('real/hello', link);
      const stamped = await expectedStamp(t, target, path.join(dir, 'ref'));
      const r = await ep('stamp', link, '--pages', PAGES);
      t.equal(r.status, EXIT.ok, 'stamp through the symlink succeeds', diag(r));
      t.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a symlink');
      t.equal(fs.readlinkSync(link), 'real/hello', 'pointing where it did');
      t.equal(sha(target), stamped, 'the target is stamped');
      t.same(temps(dir), [], 'no temporary file beside the link');
      t.same(temps(path.join(dir, 'real')), [], 'no temporary file beside the target');
      runsLikeOriginal(t, small, link, 'run through the symlink');
    });
  });
}
