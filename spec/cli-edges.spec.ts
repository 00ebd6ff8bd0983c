// The edges of the CLI a new user hits (issue 13): output that cannot be written, FIFOs and
// other non-regular files, repeated options, garbage in numeric options, the messages that
// used to leak internals, misuse that must be refused, the picture vocabulary, completion,
// --quiet, colour, --json everywhere, help examples, and the demo. Each item is checked on
// real files and real commands; the sweeps (every command, every numeric option) read the
// commands' own option definitions, so a new option is covered without editing this file.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { loadFixtures, repoRoot, runCommand, type RunResult } from './helpers/fixtures';
import { benchSvg } from '../src/bench/report';
import type { BenchResult } from '../src/bench/bench';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const isRoot = process.getuid?.() === 0;
const pie = loadFixtures().find((f) => f.name === 'x86-64-pie');

function diag(r: RunResult): Record<string, unknown> {
  return { status: r.status, signal: r.signal, stdout: r.stdout.slice(0, 2000), stderr: r.stderr.slice(0, 2000), ...(r.error ? { error: r.error.message } : {}) };
}

function ep(...args: string[]): Promise<RunResult> {
  return runCommand([process.execPath, cli, ...args], { cwd: repoRoot, timeoutMs: 30_000 });
}

/** Runs main() in this process (for the sweeps: usage errors, refused before any handler runs). */
async function inProcess(...argv: string[]): Promise<RunResult> {
  const { main } = await import('../cli/main');
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { status, signal: null, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** Runs the CLI through a shell, for redirections such as `> /dev/full`. */
function sh(script: string, env: NodeJS.ProcessEnv = process.env): RunResult {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env, timeout: 30_000, cwd: repoRoot });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ...(r.error ? { error: r.error } : {}) };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const E = `${q(process.execPath)} ${q(cli)}`;

/** One line on stderr, no JavaScript stack trace. */
function oneClearLine(t: Test, r: RunResult, what: string): void {
  const lines = r.stderr.trim().split('\n').filter((l) => !/^Run 'elfprefetch --help'/.test(l));
  t.equal(lines.length, 1, `${what}: one line on stderr`, diag(r));
  t.notMatch(r.stderr, /^\s+at |node:internal|Error:|\.js:\d+/m, `${what}: no stack trace`);
}

function copyOf(dir: string, name = 'hello'): string {
  fs.mkdirSync(dir, { recursive: true });
  const to = path.join(dir, name);
  fs.copyFileSync(pie!.path, to);
  fs.chmodSync(to, 0o755);
  for (const l of pie!.libs) fs.copyFileSync(l, path.join(dir, path.basename(l)));
  return to;
}

/** Each command's options as the CLI defines them (yargs internals, as `completion` reads them). */
async function commandOptions(): Promise<Array<{ name: string; number: string[]; single: string[] }>> {
  const mods = await Promise.all(
    ['info', 'stamp', 'stamp-tree', 'verify', 'remove', 'reserve', 'record', 'select', 'train', 'run', 'show', 'bench'].map(async (n) => {
      const m = (await import(`../cli/commands/${n}`)) as Record<string, (io: unknown, set: unknown) => CommandModule<object, never>>;
      return Object.values(m).find((f) => typeof f === 'function' && /Command$/.test(f.name))!({ out() {}, err() {} }, () => {});
    }),
  );
  return mods.map((m) => {
    const y = yargs([]) as unknown as { getOptions(): { key: Record<string, boolean>; number: string[]; boolean: string[]; array: string[]; count: string[] } };
    (m.builder as (y: unknown) => unknown)(y);
    const o = y.getOptions();
    // Options by their long names: not the positionals (<file>, [cmd..]), not one-letter aliases.
    const positionals = [...String(m.command).matchAll(/[<[](\w+)/g)].map((x) => x[1]!);
    const keys = Object.keys(o.key).filter((k) => k !== 'help' && k !== 'version' && k.length > 1 && !positionals.includes(k));
    return {
      name: String(m.command).split(' ')[0]!,
      number: keys.filter((k) => o.number.includes(k)),
      single: keys.filter((k) => !o.array.includes(k) && !o.boolean.includes(k)),
    };
  });
}

if (!pie) {
  t.fail('the x86-64-pie fixture was not built (see samples/build.sh)');
} else if (!fs.existsSync(cli)) {
  t.fail(`${cli} is missing: build first (npm run build)`);
} else {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-edges-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const hello = copyOf(path.join(work, 'base'));
  const stamped = copyOf(path.join(work, 'stamped'));
  spawnSync(process.execPath, [cli, 'stamp', stamped, '--pages', '0-2']);
  const profile = path.join(work, 'hello.profile.json');
  const rec = spawnSync(process.execPath, [cli, 'record', '--method', 'pagemap', '-o', profile, '--', hello], { encoding: 'utf8' });
  const fifo = path.join(work, 'fifo');
  spawnSync('mkfifo', [fifo]);

  t.test('stdout that fails with ENOSPC: one line, status 1, for every command that prints', async (t) => {
    t.equal(rec.status, 0, 'the profile for these tests was recorded', { stderr: rec.stderr });
    const cases = [
      `info ${q(hello)}`,
      `info ${q(hello)} --json`,
      `verify ${q(stamped)}`,
      `show ${q(stamped)}`,
      `show ${q(profile)} --json`,
      `stamp ${q(hello)} --pages 0 -o ${q(path.join(work, 'full-out'))}`,
      `remove ${q(path.join(work, 'full-out'))} --json`,
      `reserve`,
      `select ${q(profile)} -o ${q(path.join(work, 'sel.json'))}`,
      `profiles add ${q(path.join(work, 'pdir-full'))} ${q(profile)}`,
      `completion`,
      `--help`,
      `stamp --help`,
      `--version`,
    ];
    for (const c of cases) {
      const r = sh(`${E} ${c} > /dev/full`);
      t.equal(r.status, 1, `${c} > /dev/full: status 1`, diag(r));
      t.match(r.stderr, /cannot write the output: no space left on device \(ENOSPC\)/, `${c}: says the output could not be written`);
      oneClearLine(t, r, c);
    }
    // A closed pipe is still a quiet end, as for any Unix tool.
    const p = sh(`set -o pipefail; ${E} info ${q(hello)} | head -c 10 >/dev/null`);
    t.equal(p.stderr, '', 'info | head: nothing on stderr');
  });

  t.test('a FIFO, a directory or a device: refused at once, never opened for a blocking read', async (t) => {
    const pdir = path.join(work, 'pdir-fifo');
    const cases: Array<[string[], RegExp]> = [
      [['info', fifo], /fifo: is a FIFO, not a regular file/],
      [['verify', fifo], /is a FIFO/],
      [['show', fifo], /is a FIFO/],
      [['stamp', fifo, '--pages', '0'], /is a FIFO/],
      [['remove', fifo], /is a FIFO/],
      [['stamp', hello, '--profile', fifo, '-o', path.join(work, 'x')], /profile .*fifo: is a FIFO/],
      [['select', fifo, '-o', path.join(work, 'x.json')], /profile .*fifo: is a FIFO/],
      [['profiles', 'add', pdir, fifo], /profile .*fifo: is a FIFO/],
      [['info', '/dev/zero'], /is a character device/],
      [['show', '/dev/null'], /is a character device/],
      [['info', work], /is a directory/],
      [['stamp', hello, '--profile', work, '-o', path.join(work, 'x')], new RegExp(`profile ${work}: is a directory`)],
    ];
    for (const [args, want] of cases) {
      const r = await ep(...args);
      t.notOk(r.error, `${args.join(' ')}: did not hang`, diag(r));
      t.equal(r.status, 1, `${args.join(' ')}: status 1`, diag(r));
      t.match(r.stderr, want, `${args.join(' ')}: names the file and what it is`);
      oneClearLine(t, r, args.join(' '));
    }
    const dirRun = await ep('info', work);
    t.equal(dirRun.stderr.split(work).length - 1, 1, 'info DIR names the directory once, not twice');
  });

  t.test('an option meant once, given twice, is refused for every command', async (t) => {
    const base: Record<string, string[]> = {
      info: ['info', hello],
      stamp: ['stamp', hello, '--pages', '0'],
      'stamp-tree': ['stamp-tree', work, '-P', work],
      verify: ['verify', hello],
      remove: ['remove', hello],
      reserve: ['reserve'],
      record: ['record', '--', '/nonexistent-epf'],
      select: ['select', profile, '-o', path.join(work, 'x.json')],
      train: ['train', '--', '/nonexistent-epf'],
      run: ['run', '--', '/nonexistent-epf'],
      show: ['show', hello],
      bench: ['bench', '--', '/nonexistent-epf'],
    };
    const values: Record<string, [string, string]> = { method: ['pagemap', 'auto'], hook: ['exec', 'audit'], device: ['hdd', 'ssd'], fallback: ['sidecar', 'move'] };
    let n = 0;
    for (const c of await commandOptions()) {
      for (const opt of c.single) {
        const [a, b] = values[opt] ?? ['1', '2'];
        const argv = [...base[c.name]!];
        const at = argv.indexOf('--') >= 0 ? argv.indexOf('--') : argv.length;
        argv.splice(at, 0, `--${opt}`, a, `--${opt}`, b);
        const r = await inProcess(...argv);
        t.equal(r.status, 1, `${c.name} --${opt} twice: status 1`, diag(r));
        t.match(r.stderr, new RegExp(`--${opt} was given \\d+ times \\((.*, )?${a}, ${b}\\); give it once`), `${c.name} --${opt} twice: says so`);
        n++;
      }
    }
    t.ok(n >= 30, `${n} options checked`);
    const pages = await ep('stamp', hello, '--pages', '1', '--pages', '2');
    t.notMatch(pages.stderr, /split is not a function/, 'stamp --pages 1 --pages 2 no longer says text.split is not a function');
    const p = await ep('stamp-tree', work, '-P', 'a', '-P', 'b');
    t.match(p.stderr, /--profiles was given 2 times \(a, b\)/, '-P a -P b is not "the profile directory a,b"');
  });

  t.test('garbage in any numeric option is refused, naming the option', async (t) => {
    const base: Record<string, string[]> = {
      stamp: ['stamp', hello, '--pages', '0', '-o', path.join(work, 'num-out')],
      'stamp-tree': ['stamp-tree', path.join(work, 'base'), '-P', work, '--dry-run'],
      reserve: ['reserve'],
      record: ['record', '-o', path.join(work, 'num.json'), '--', '/nonexistent-epf'],
      select: ['select', profile, '-o', path.join(work, 'num.json')],
      train: ['train', '--', '/nonexistent-epf'],
      show: ['show', hello],
      bench: ['bench', '--', '/nonexistent-epf'],
    };
    let n = 0;
    for (const c of await commandOptions()) {
      for (const opt of c.number) {
        for (const bad of ['abc', '1.5e999', '-3']) {
          const argv = [...(base[c.name] ?? [c.name])];
          const at = argv.indexOf('--') >= 0 ? argv.indexOf('--') : argv.length;
          argv.splice(at, 0, `--${opt}`, bad);
          const r = await inProcess(...argv);
          t.equal(r.status, 1, `${c.name} --${opt} ${bad}: status 1`, diag(r));
          t.match(r.stderr, new RegExp(`--${opt}`), `${c.name} --${opt} ${bad}: the option is named`);
          n++;
        }
      }
    }
    t.ok(n >= 30, `${n} values checked`);
    for (const v of ['abc', '1', '4097', '3000']) {
      const r = await inProcess('stamp', hello, '--pages', '0', '--max-page-size', v, '-o', path.join(work, 'mps'));
      t.equal(r.status, 1, `--max-page-size ${v} is refused`, diag(r));
      t.match(r.stderr, /--max-page-size must be a power of two from 4096/, `--max-page-size ${v}: says what is allowed`);
    }
    t.notOk(fs.existsSync(path.join(work, 'mps')), 'nothing was written');
  });

  t.test('messages that used to leak internals or mislead', async (t) => {
    const dir = path.join(work, 'msgs');
    fs.mkdirSync(dir);

    let r = await ep('stamp', hello, '--pages', '99999999999999999999', '-o', path.join(dir, 'x'));
    t.match(r.stderr, /page number 99999999999999999999 .* is too large/, '--pages with a huge number says it is too large', diag(r));
    r = await ep('stamp', hello, '--pages', '5-3', '-o', path.join(dir, 'x'));
    t.match(r.stderr, /out of order \(5 > 3\)/, '5-3 is out of order');

    r = await ep('stamp', hello, '--pages', '0', '-o', dir);
    t.equal(r.status, 1, '-o DIR: status 1', diag(r));
    t.match(r.stderr, /output .*msgs is a directory; name the file to write/, '-o DIR says it is a directory');
    t.notMatch(r.stderr, /EISDIR|rename|\.tmp/, '-o DIR: no EISDIR, no rename, no temporary name');
    r = await ep('remove', stamped, '-o', dir);
    t.match(r.stderr, /is a directory; name the file to write/, 'remove -o DIR says the same');

    r = await ep('show', stamped, '--set', 'nosuch');
    t.equal(r.status, 1, 'show --set nosuch: status 1', diag(r));
    t.match(r.stderr, /no page set named 'nosuch' \(the note has 'default'\)/, 'and names the sets there are');
    r = await ep('show', profile, '--set', 'nosuch');
    t.equal(r.status, 1, 'show PROFILE --set nosuch: status 1', diag(r));

    r = await ep('reserve', '--cc', 'nonexistent-cc', '-o', path.join(dir, 'n.o'));
    t.equal(r.status, 1, '--cc nonexistent: status 1', diag(r));
    t.match(r.stderr, /the C compiler nonexistent-cc was not found; name the target's compiler with --cc/, 'says the compiler was not found');
    t.notMatch(r.stderr, /spawnSync|ENOENT/, 'no spawnSync ENOENT');

    const pfile = path.join(dir, 'pdir-is-a-file');
    fs.writeFileSync(pfile, '');
    r = await ep('stamp-tree', path.join(work, 'base'), '-P', pfile);
    t.match(r.stderr, /the profile directory .*pdir-is-a-file is not a directory/, 'a PDIR that is a file is "not a directory"');
    r = await ep('stamp-tree', path.join(work, 'base'), '-P', path.join(dir, 'nope'));
    t.match(r.stderr, /the profile directory .*nope does not exist/, 'a PDIR that is not there "does not exist"');
  });

  t.test('a directory that cannot be written: said in words, before anything is done', { skip: !isRoot && 'needs root (a read-only mount, another user)' }, async (t) => {
    const ro = path.join(work, 'ro');
    fs.mkdirSync(ro);
    t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', ro]).status, 0, 'a tmpfs is mounted');
    t.teardown(() => void spawnSync('umount', [ro]));
    const inside = copyOf(ro);
    t.equal(spawnSync('mount', ['-o', 'remount,ro', ro]).status, 0, 'and made read-only');

    let r = await ep('stamp', hello, '--pages', '0', '-o', path.join(ro, 'out'));
    t.equal(r.status, 1, '-o on a read-only file system: status 1', diag(r));
    t.match(r.stderr, /output .*ro\/out: cannot write in .*ro: read-only file system \(EROFS\)/, 'says the file system is read-only');
    t.notMatch(r.stderr, /copyfile|\/proc\/self|\.tmp/, 'no copyfile, no /proc/self/fd, no temporary name');

    const before = fs.readFileSync(inside);
    r = await ep('stamp', inside, '--pages', '0');
    t.equal(r.status, 1, 'in place on a read-only file system: status 1', diag(r));
    t.match(r.stderr, /cannot write a new file in .*ro .*read-only file system \(EROFS\)/, 'says where and why');
    t.match(r.stderr, /-o OUT writes the result elsewhere; stamp --sidecar DIR leaves the file as it is/, 'and what works');
    t.notMatch(r.stderr, /copyfile|\/proc\/self|\.tmp/, 'no internals');
    t.same(fs.readFileSync(inside), before, 'the file is unchanged');

    // train checks the program before it runs it: the fixture prints when it runs.
    r = await ep('train', '--method', 'pagemap', '--', inside);
    t.equal(r.status, 1, 'train on a program it cannot rewrite: status 1', diag(r));
    t.match(r.stderr, /not writable.*Nothing was recorded/, 'refused before recording');
    t.notMatch(r.stdout, /hello from elfprefetch fixture/, 'the program did not run');

    // Not root: a directory without write permission.
    const locked = path.join(work, 'locked');
    copyOf(locked);
    fs.chmodSync(locked, 0o555);
    fs.chmodSync(work, 0o755);
    const nobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'stamp', path.join(locked, 'hello'), '--pages', '0'], { encoding: 'utf8' });
    t.equal(nobody.status, 1, 'another user in a directory it cannot write: status 1', { stderr: nobody.stderr });
    t.match(nobody.stderr, /cannot write a new file in .*locked .*permission denied \(EACCES\)/, 'says permission denied, in words');
    t.notMatch(nobody.stderr, /copyfile|\/proc\/self|\.tmp/, 'no internals');
    const exact = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'record', '--method', 'exact', '-o', path.join(os.tmpdir(), 'never.json'), '--', 'sh', '-c', `echo ran > ${q(path.join(os.tmpdir(), 'epf-never-ran'))}`], { encoding: 'utf8' });
    t.equal(exact.status, 1, 'record --method exact without root: status 1', { stderr: exact.stderr });
    t.match(exact.stderr, /--method exact cannot run here: .*root/, 'says exact needs root');
    t.notOk(fs.existsSync(path.join(os.tmpdir(), 'epf-never-ran')), 'before running the command');
  });

  t.test('record and train check the output, --main and the method before the command runs', async (t) => {
    const dir = path.join(work, 'upfront');
    fs.mkdirSync(dir);
    const marker = path.join(dir, 'ran');
    const cmd = ['--', 'sh', '-c', `echo ran >> ${q(marker)}`];
    const cases: Array<[string[], RegExp]> = [
      [['record', '--method', 'pagemap', '-o', dir, ...cmd], /profile .*upfront is a directory/],
      [['record', '--method', 'pagemap', '-o', path.join(dir, 'no', 'such', 'p.json'), ...cmd], /its directory .* cannot be used: no such file or directory/],
      [['record', '--method', 'pagemap', '--main', path.join(dir, 'missing'), ...cmd], /missing.*no such file or directory/],
      [['record', '--method', 'pagemap', '--main', profile, ...cmd], /--main .* is not an ELF file/],
      [['record', '--method', 'pagemap', '--main', fifo, ...cmd], /is a FIFO/],
      [['train', '--method', 'pagemap', '--profile', dir, ...cmd], /profile .*upfront is a directory/],
      [['train', '--method', 'pagemap', '--budget', 'lots', ...cmd], /--budget: 'lots' is not a size/],
      [['train', '--method', 'pagemap', '--min-share', '2', ...cmd], /--min-share must be a number from 0 to 1/],
    ];
    for (const [args, want] of cases) {
      const r = await ep(...args);
      t.equal(r.status, 1, `${args.slice(0, 5).join(' ')}: status 1`, diag(r));
      t.match(r.stderr, want, `${args.slice(0, 5).join(' ')}: says what is wrong`);
      t.notOk(fs.existsSync(marker), `${args.slice(0, 5).join(' ')}: the command did not run`);
    }
  });

  t.test('train keeps the recording when it refuses afterwards, and says where', async (t) => {
    // The command is a wrapper that execs a system program: known only after the recording.
    const r = await ep('train', '--method', 'pagemap', '--', 'sh', '-c', 'exec /usr/bin/true');
    t.equal(r.status, 1, 'a system program is refused', diag(r));
    const kept = /the selected profile is kept in (\S+\.profile\.json)/.exec(r.stderr)?.[1];
    t.ok(kept, 'the message says where the recording is');
    if (kept) {
      t.teardown(() => fs.rmSync(path.dirname(kept), { recursive: true, force: true }));
      const p = JSON.parse(fs.readFileSync(kept, 'utf8'));
      t.ok(p.objects.some((o: { main?: boolean; path: string }) => o.main && /true$/.test(o.path)), 'and it holds the program recorded');
    }
    const out = path.join(work, 'kept.json');
    const r2 = await ep('train', '--method', 'pagemap', '--profile', out, '--', 'sh', '-c', 'exec /usr/bin/true');
    t.match(r2.stderr, new RegExp(`kept in ${out}`), 'with --profile, it is kept there');
    t.ok(fs.existsSync(out), 'and written');
  });

  t.test('record --method exact says up front that the command runs once more; --no-discovery runs it once', { skip: !isRoot && 'needs root (exact method)' }, async (t) => {
    const dir = path.join(work, 'exact');
    const exe = copyOf(dir);
    const count = path.join(dir, 'count');
    const cmd = ['--', 'sh', '-c', `echo x >> ${q(count)}; exec ${q(exe)}`];
    let r = await runCommand([process.execPath, cli, 'record', '--method', 'exact', '--runs', '1', '--main', exe, '-o', path.join(dir, 'a.json'), ...cmd], { timeoutMs: 300_000 });
    if (/cannot run here/.test(r.stderr)) return t.skip(`exact unavailable: ${r.stderr.trim()}`);
    t.equal(r.status, 0, 'exact with discovery', diag(r));
    const said = r.stderr.split('\n').findIndex((l) => /the command runs 2 times: once to find the files it maps, then 1 traced cold run \(--no-discovery/.test(l));
    t.ok(said >= 0, 'says the command runs 2 times, and how to avoid it');
    t.ok(said < r.stderr.split('\n').findIndex((l) => /pagemap run found/.test(l)), 'before the first run');
    t.equal(fs.readFileSync(count, 'utf8').split('\n').filter(Boolean).length, 2, 'and it did run twice');
    fs.rmSync(count);
    r = await runCommand([process.execPath, cli, 'record', '--method', 'exact', '--runs', '1', '--no-discovery', '--main', exe, '-o', path.join(dir, 'b.json'), ...cmd], { timeoutMs: 300_000 });
    t.equal(r.status, 0, 'exact --no-discovery', diag(r));
    t.equal(fs.readFileSync(count, 'utf8').split('\n').filter(Boolean).length, 1, '--no-discovery: the command ran once');
    const p = JSON.parse(fs.readFileSync(path.join(dir, 'b.json'), 'utf8'));
    t.ok(p.objects.some((o: { main?: boolean; pages: string }) => o.main && o.pages), 'and the program was recorded');
  });

  t.test('carry-over and select refuse profiles of another program unless forced', async (t) => {
    const dir = path.join(work, 'other');
    fs.mkdirSync(dir);
    // A different program: a copy of a system tool, under another name.
    const other = path.join(dir, 'gitcopy');
    fs.copyFileSync(fs.realpathSync('/usr/bin/ls'), other);
    let r = await ep('stamp', other, '--profile', profile, '--carry-over', '-o', path.join(dir, 'out'));
    t.equal(r.status, 1, "carry-over of another program's profile: status 1", diag(r));
    t.match(r.stderr, /does not look like a profile of this program \(recorded on .*hello, this file is .*gitcopy/, 'says whose profile it is');
    t.match(r.stderr, /add --force/, 'and how to force it');
    t.notOk(fs.existsSync(path.join(dir, 'out')), 'nothing written');
    r = await ep('stamp', other, '--profile', profile, '--carry-over', '--force', '-o', path.join(dir, 'out'));
    t.equal(r.status, 0, '--force carries it over', diag(r));
    r = await ep('stamp', other, '--profile', profile, '--force', '-o', path.join(dir, 'out2'));
    t.match(r.stderr, /--force only applies to --carry-over/, '--force alone is refused');

    // The same program, another build (the nopie build of the same source): carried over.
    const nopie = loadFixtures().find((f) => f.name === 'x86-64-nopie');
    if (nopie) {
      const rebuilt = path.join(dir, 'hello');
      fs.copyFileSync(nopie.path, rebuilt);
      r = await ep('stamp', rebuilt, '--profile', profile, '--carry-over', '-o', path.join(dir, 'rebuilt'));
      t.equal(r.status, 0, 'another build of the same program is carried over without --force', diag(r));
    }

    const otherProfile = path.join(dir, 'ls.json');
    const rec2 = await ep('record', '--method', 'pagemap', '-o', otherProfile, '--', '/usr/bin/ls', '/');
    t.equal(rec2.status, 0, 'a profile of ls', diag(rec2));
    r = await ep('select', profile, otherProfile, '-o', path.join(dir, 'merged.json'));
    t.equal(r.status, 1, 'select of two programs: status 1', diag(r));
    t.match(r.stderr, /hello\.profile\.json is a profile of .*hello, .*ls\.json of .*ls: their pages do not make one selection \(--force merges them anyway\)/, 'names both');
    t.notOk(fs.existsSync(path.join(dir, 'merged.json')), 'nothing written');
    r = await ep('select', profile, otherProfile, '-o', path.join(dir, 'merged.json'), '--force');
    t.equal(r.status, 0, '--force merges them', diag(r));
    r = await ep('select', profile, profile, '-o', path.join(dir, 'same.json'));
    t.equal(r.status, 0, 'two profiles of one program merge as before', diag(r));
  });

  t.test('--quiet, --json on every command that writes, and bench --json on stdout', async (t) => {
    const dir = path.join(work, 'quiet');
    const f = copyOf(dir);
    let r = await ep('stamp', f, '--pages', '0', '-q');
    t.equal(r.status, 0, 'stamp -q', diag(r));
    t.equal(r.stdout + r.stderr, '', 'prints nothing');
    r = await ep('verify', f, '--quiet');
    t.equal(r.status, 0, 'verify --quiet: the status tells');
    t.equal(r.stdout, '', 'and nothing is printed');
    r = await ep('stamp', f, '--pages', '1', '-q', '--json');
    t.equal(JSON.parse(r.stdout).output, f, '--quiet --json still prints the JSON asked for');
    r = await ep('stamp', f, '--pages', 'x', '-q');
    t.equal(r.status, 1, 'an error under --quiet: status 1');
    t.match(r.stderr, /page range 'x'/, 'and still said');

    r = await ep('remove', f, '--json');
    t.same(JSON.parse(r.stdout), { file: f, output: f, removed: true }, 'remove --json');
    r = await ep('remove', f, '--json');
    t.equal(JSON.parse(r.stdout).removed, false, 'remove --json, no note');
    r = await ep('reserve', '--json', '--capacity', '128');
    const res = JSON.parse(r.stdout);
    t.equal(res.capacity, 128, 'reserve --json');
    t.match(res.assembly, /\.note\.elfprefetch/, 'with the assembler text');
    if (spawnSync('cc', ['--version']).status === 0) {
      r = await ep('reserve', '--json', '-o', path.join(dir, 'n.o'));
      t.same(JSON.parse(r.stdout), { output: path.join(dir, 'n.o'), capacity: 4096, pageSize: 4096, object: true }, 'reserve -o x.o --json');
    }
    r = await ep('show', stamped, '--json', '--device', 'hdd');
    const s = JSON.parse(r.stdout);
    t.equal(s.objects[0].selected, '0-2', 'show --json: the selected extents');
    t.equal(s.objects[0].device.name, 'hdd', 'the device planned for');
    t.ok(s.objects[0].reads.length >= 1 && s.objects[0].sections.length > 5, 'the reads and the sections');

    // bench --json prints to stdout like every other --json; --report FILE writes the file.
    const report = path.join(dir, 'warm.json');
    r = await runCommand([process.execPath, cli, 'bench', '--warm-overhead', '--runs', '1', '--loops', '1', '--json', '--report', report, '--', ...pie!.run], { timeoutMs: 300_000 });
    t.equal(r.status, 0, 'bench --warm-overhead --json', diag(r));
    const b = JSON.parse(r.stdout);
    t.same(b, JSON.parse(fs.readFileSync(report, 'utf8')), 'stdout and --report hold the same results');
  });

  t.test('shell completion', async (t) => {
    const r = await ep('completion');
    t.equal(r.status, 0, 'completion exits 0', diag(r));
    t.equal(spawnSync('bash', ['-n'], { input: r.stdout }).status, 0, 'bash -n accepts the script');
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const script = `${r.stdout}\nCOMP_WORDS=(${words.map(q).join(' ')}); COMP_CWORD=${words.length - 1}; _elfprefetch; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: work }).stdout.split('\n').filter(Boolean).sort();
    };
    t.same(complete('elfprefetch sta'), ['stamp', 'stamp-tree'], 'commands');
    t.same(complete('elfprefetch run --hook '), ['audit', 'exec', 'preload'], "an option's values");
    t.ok(complete('elfprefetch stamp --').includes('--carry-over'), "a command's options");
    t.ok(complete('elfprefetch stamp --').includes('--quiet'), 'and the global ones');
    t.same(complete('elfprefetch profiles '), ['add', 'list', ...fs.readdirSync(work)].sort(), 'subcommands and file names');
  });

  t.test('colour on a terminal by default, not in a pipe, not with NO_COLOR', async (t) => {
    const plain = { ...process.env };
    delete plain.NO_COLOR;
    delete plain.FORCE_COLOR;
    const viaTty = (extra: string, env: NodeJS.ProcessEnv = plain): string => spawnSync('script', ['-qec', `${E} show ${q(stamped)} ${extra}`, '/dev/null'], { encoding: 'utf8', env }).stdout;
    if (spawnSync('script', ['-V']).status !== 0) return t.skip('no script(1) to make a terminal');
    t.match(viaTty(''), /\x1b\[[0-9;]+m█/, 'show colours its picture on a terminal');
    t.notMatch(viaTty('', { ...plain, NO_COLOR: '1' }), /\x1b\[/, 'not with NO_COLOR');
    t.notMatch(viaTty('--no-color'), /\x1b\[/, 'not with --no-color');
    const info = spawnSync('script', ['-qec', `${E} info ${q(stamped)}`, '/dev/null'], { encoding: 'utf8', env: plain }).stdout;
    t.match(info, /\x1b\[[0-9;]+m█/, 'info too');
    t.notMatch((await ep('show', stamped)).stdout, /\x1b\[/, 'in a pipe: no escapes');
    t.match((await ep('show', stamped, '--color')).stdout, /\x1b\[/, '--color forces them');
  });

  t.test('one word for page extents, another for runs; one picture vocabulary with a legend', async (t) => {
    const info = (await ep('info', stamped)).stdout;
    const show = (await ep('show', stamped)).stdout;
    t.match(info, /3 of \d+ pages of 4096 bytes in 1 extent\b/, 'info: extents of pages');
    t.match(show, /selected in 1 extent;/, 'show: extents of pages');
    t.notMatch(info + show, /in \d+ runs?\b/, 'neither calls extents runs');
    const sel = (await ep('select', profile, profile, '-o', path.join(work, 'two.json'))).stdout;
    t.match(sel, /of 2 runs/, 'runs are recordings');
    for (const [name, out] of [['info', info], ['show', show]] as const) {
      t.notMatch(out, /▒/, `${name}: no glyph without a meaning`);
      t.match(out, /█ selected, ▓ partly selected/, `${name}: the legend says what █ and ▓ are`);
    }
    t.match(show, /░ read but not selected/, 'show: ░ is a page read but not selected');
    t.notMatch(info, /░/, 'info plans no reads: no ░');
  });

  t.test('help: examples one to a line, never wrapped; every command has some', async (t) => {
    for (const c of ['info', 'stamp', 'stamp-tree', 'verify', 'remove', 'reserve', 'record', 'select', 'train', 'run', 'show', 'bench']) {
      const r = spawnSync(process.execPath, [cli, c, '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '80' } });
      const ex = r.stdout.split('Examples:\n')[1];
      t.ok(ex, `${c} --help has examples`);
      if (!ex) continue;
      const lines = ex.trimEnd().split('\n');
      t.equal(lines.length % 2, 0, `${c}: each example is a command line and a line saying what it does`);
      lines.forEach((l, i) => t.match(l, i % 2 === 0 ? /^ {2}elfprefetch \S/ : /^ {6}\S/, `${c}: ${l.trim().slice(0, 40)}`));
    }
  });

  t.test('show --svg: the selection stands out, sections marked, one scale for every file', async (t) => {
    const svgFile = path.join(work, 'p.svg');
    const r = await ep('show', profile, '--svg', svgFile, '--device', 'hdd');
    t.equal(r.status, 0, 'show PROFILE --svg', diag(r));
    const svg = fs.readFileSync(svgFile, 'utf8');
    t.notMatch(svg, /#f0a030/, 'no orange fill for holes read through');
    t.match(svg, /fill="#0b2545"/, 'selected pages in one dark colour');
    t.match(svg, /one cell = 1 page \(4096 bytes\) in every file above/, 'one scale, said once');
    t.match(svg, /<line [^>]*><title>\.text<\/title><\/line>/, 'a tick where .text starts');
    t.match(svg, /selected, read in \d+ requests? of .* in all \(.* of holes read through/, 'how much is read beside what is selected');
    if (spawnSync('rsvg-convert', ['--version']).status === 0) {
      const png = spawnSync('rsvg-convert', [svgFile, '-o', path.join(work, 'p.png')]);
      t.equal(png.status, 0, 'rsvg-convert renders it', { stderr: String(png.stderr) });
    }
    const chart = benchSvg({
      command: ['app'], readAheadKb: 128, runs: 1,
      models: [{ model: 'hdd', describe: '100 read IOPS', lowerBound: { ms: 120, requests: 9, bytes: 1 << 20 }, strategies: [
        { strategy: 'demand', wallMs: { median: 800, min: 790, max: 810 }, ratio: { demand: 1 }, majflt: { median: 75 }, ios: { median: 84 } },
        { strategy: 'elfprefetch-exec', wallMs: { median: 160, min: 150, max: 170 }, ratio: { demand: 0.2 }, majflt: { median: 0 }, ios: { median: 20 } },
      ] }],
    } as unknown as BenchResult);
    const line = /<line x1="([\d.]+)"[^>]*stroke-dasharray/.exec(chart);
    t.ok(line, 'the bench chart marks the lower bound with a dashed line');
    t.match(chart, /lower bound 120\.0 ms/, 'and labels it');
    const bar = /<rect x="170" y="\d+" width="([\d.]+)"[^>]*fill="#c0392b"/.exec(chart);
    if (line && bar) t.ok(Math.abs(Number(line[1]) - 170 - (Number(bar[1]) * 120) / 800) < 2, 'at 120 ms on the same scale as the bars');
  });

  t.test('npm run demo shows the main job', { skip: !isRoot && 'the demo measures cold starts as root (it only approximates otherwise)' }, async (t) => {
    const r = await runCommand(['bash', path.join(repoRoot, 'samples', 'demo.sh')], { cwd: repoRoot, timeoutMs: 540_000 });
    t.equal(r.status, 0, 'the demo exits 0', diag(r));
    t.match(r.stdout, /trained on 2 runs of build\/demo\/bigstart/, 'it trains the sample');
    t.match(r.stdout, /program .*bigstart\s+\d+ of\s+\d+ pages .* of 6\.0 MiB/, 'a 6 MiB program');
    t.match(r.stdout, /valid: the note is intact/, 'verifies the note');
    t.match(r.stdout, /set 'default': \d+ of 1543 pages selected/, 'shows its page map');
    const m = /demand paging \(no prefetch\)\s+(\d+) ms[\s\S]*prefetched by elfprefetch\s+(\d+) ms/.exec(r.stdout);
    if (m) {
      t.pass(`cold start: ${m[1]} ms demand, ${m[2]} ms prefetched`);
      t.match(r.stdout, /\(\d+ major faults, \d+ read requests\)/, 'with counts beside the times');
    } else t.match(r.stdout, /bench could not measure here: .*\n\(it needs/, 'or says why it could not measure');
  });
}
