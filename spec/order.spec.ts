// `elfprefetch order` (src/order/, cli/commands/order.ts) on profiles recorded from real
// programs: the sample whose start-up code is spread over 128 pages (samples/projects/cmake/
// src/scatter.c), compiled once with -ffunction-sections and linked by lld, gold and GNU ld with
// the order file of each format; the training link (`order --training`) on the sample whose
// start-up functions share pages with code it never runs (samples/projects/cmake/src/mingle.c),
// against the page-grained order, for each linker; a C++ program (mangled names); the touch
// sample for the hottest-first rule; and the errors.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRanges } from '../src/note/pageset';
import { parseProfile, type Profile } from '../src/profile/schema';
import { runCommand, type RunResult } from './helpers/fixtures';
import { buildTouch, repoRoot } from './helpers/touch';

type Test = tap.Test;

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const scatterC = path.join(repoRoot, 'samples', 'projects', 'cmake', 'src', 'scatter.c');
const mingleC = path.join(repoRoot, 'samples', 'projects', 'cmake', 'src', 'mingle.c');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-order-spec-'));
if (!process.env.ELFPREFETCH_KEEP) t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
else t.comment(`keeping ${work}`);

function diag(r: RunResult): Record<string, unknown> {
  return { status: r.status, stdout: r.stdout.slice(-2000), stderr: r.stderr.slice(-2000) };
}

/** Runs argv in the work folder, without tap's NODE_OPTIONS (its loader would change what node loads). */
function run(argv: string[]): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  return runCommand(argv, { cwd: work, env, timeoutMs: 300_000 });
}
const ep = (...args: string[]): Promise<RunResult> => run([process.execPath, cli, ...args]);

async function must(t: Test, argv: string[]): Promise<RunResult> {
  const r = await run(argv);
  if (r.status !== 0) {
    t.fail(`${argv.join(' ')} exited ${r.status}`, diag(r));
    throw new Error(`${argv[0]} failed`);
  }
  return r;
}

/** Records one run of argv into NAME.json and returns the profile. */
async function record(t: Test, name: string, argv: string[], extra: string[] = []): Promise<Profile> {
  const out = path.join(work, `${name}.json`);
  await must(t, [process.execPath, cli, 'record', '-o', out, ...extra, '--', ...argv]);
  return parseProfile(fs.readFileSync(out, 'utf8'), out);
}

/** The program's recorded pages in runs of consecutive pages: [pages, runs]. */
function pagesAndRuns(p: Profile): [number, number] {
  const runs = parseRanges(p.objects.find((o) => o.main)!.pages);
  return [runs.reduce((n, r) => n + r.count, 0), runs.length];
}

/** Addresses of the symbols of `file` whose names match, from nm. */
async function addresses(t: Test, file: string, name: RegExp): Promise<Map<string, bigint>> {
  const r = await must(t, ['nm', file]);
  const out = new Map<string, bigint>();
  for (const l of r.stdout.split('\n')) {
    const [addr, , sym] = l.split(' ');
    if (sym && addr && name.test(sym)) out.set(sym, BigInt(`0x${addr}`));
  }
  return out;
}

/** The modules the scatter sample starts: every fourth of module_100..module_277 (128, octal-named). */
const MODULES: string[] = [];
for (const hi of ['10', '11', '12', '13', '14', '15', '16', '17', '20', '21', '22', '23', '24', '25', '26', '27']) for (let lo = 0; lo < 8; lo++) MODULES.push(`module_${hi}${lo}`);
const STARTED = MODULES.filter((_, i) => i % 4 === 0);
const MINGLE_OUTPUT = 'mingle: 32 modules started, checksum 17888\n';

/** For lld, the lld-rodata script beside ORDER (LINKS.lld links with both), from the same profile. */
async function rodataBeside(t: Test, linker: string, profile: string, order: string): Promise<void> {
  if (linker !== 'lld') return;
  const r = await ep('order', profile, '--format', 'lld-rodata', '-o', `${order}.rodata.ld`);
  t.equal(r.status, 0, 'order --format lld-rodata exits 0', diag(r));
}

const LINKS = {
  lld: (order: string) => ['-fuse-ld=lld', `-Wl,--symbol-ordering-file=${order}`, `-Wl,-T,${order}.rodata.ld`],
  gold: (order: string) => ['-fuse-ld=gold', `-Wl,--section-ordering-file=${order}`],
  'gnu-ld': (order: string) => [`-Wl,-T,${order}`],
} as const;

t.test('scatter: each format links its 32 started modules together, in fewer recorded runs', async (t) => {
  const obj = path.join(work, 'scatter.o');
  await must(t, ['gcc', '-O2', '-ffunction-sections', '-c', '-o', obj, scatterC]);
  for (const linker of ['lld', 'gold', 'gnu-ld'] as const) {
    await t.test(linker, async (t) => {
      // The stock link by the same linker, from the same object.
      const stock = path.join(work, `scatter-${linker}-stock`);
      await must(t, ['gcc', ...(linker === 'gnu-ld' ? [] : [`-fuse-ld=${linker}`]), '-o', stock, obj]);
      const stockProfile = await record(t, `scatter-${linker}-stock`, [stock, 'started']);
      const fns = stockProfile.objects.find((o) => o.main)!.functions ?? [];
      t.ok(STARTED.every((m) => fns.some((f) => f.name === m)), 'the profile keeps the started modules among its functions');

      const order = path.join(work, `scatter.${linker}`);
      const o = await ep('order', path.join(work, `scatter-${linker}-stock.json`), '--format', linker, '-o', order);
      t.equal(o.status, 0, 'order exits 0', diag(o));
      t.match(o.stderr, /\d+ functions and \d+ data symbols of \S+scatter-\S+ \(\d+ functions touched in 1 of 1 runs\), hottest first.*: wrote /, 'it says what it wrote');
      const text = fs.readFileSync(order, 'utf8');
      if (linker === 'lld') {
        const lines = text.trimEnd().split('\n');
        t.ok(lines.every((l) => /^[A-Za-z_][\w.$]*$/.test(l)), 'lld: one symbol name per line', { text });
        const listed = lines.filter((l) => STARTED.includes(l));
        t.same(listed, STARTED, 'the started modules, in file order (all touched in the one run)');
        // A module start-up did not run comes along only when its page holds other start-up
        // code (the last one shares its page with .init/.fini): page granularity, at most one.
        const others = lines.filter((l) => MODULES.includes(l) && !STARTED.includes(l));
        t.ok(others.length <= 1, 'at most one module start-up did not run', { others });
        t.ok(lines.includes('modules'), 'the data start-up reads (the table of modules) after the code');
      } else if (linker === 'gold') {
        t.match(text, /^\.text\.module_100\n\.text\.hot\.module_100\n\.text\.unlikely\.module_100\n\.text\.startup\.module_100$/m, 'gold: .text.NAME and its hot/unlikely/startup forms');
        t.match(text, /^\.text\.startup\.module_100\n\.rodata\.module_100$/m, "then the function's switch tables, .rodata.NAME");
        t.match(text, /^\.text\.startup\.main$/m, 'main in .text.startup is named so');
        t.notOk(/[*?[]/.test(text), 'no wildcard lines (gold tries each against every input section)');
        t.match(text, /^\.data\.rel\.ro\.local\.modules$/m, 'data by its -fdata-sections names');
      } else {
        t.match(text, /^SECTIONS\n\{\n {2}\.text\.elfprefetch :\n/m, 'GNU ld: a SECTIONS script');
        t.match(text, /^ {4}\*\(\.text\.module_100 \.text\.hot\.module_100 \.text\.unlikely\.module_100 \.text\.startup\.module_100\)$/m, 'one input statement per function, in order');
        t.match(text, /^INSERT BEFORE \.text;$/m, 'INSERT: it adds to the default script');
        t.match(text, /^ {4}\*\(\.rodata\.module_100 \.rodata\.module_100\.str\[0-9\]\.\[0-9\]\*\)$/m, "then each function's read-only data: its switch tables and string literals");
        t.match(text, /^ {4}\*\(\.rodata\.modules\)$/m, 'and the data symbols, by their read-only name only (writable data stays as linked)');
        t.match(text, /^INSERT AFTER \.rodata;$/m, 'in an output section INSERTed after .rodata');
        t.notMatch(text, /\.data\.rel|\.data\./, 'nothing of the writable segments');
        t.notMatch(o.stderr, /left out/, 'every name fits a script: none left out');
      }

      // scatter's only read-only data is main's literal and crt1.o's constant: the lld script
      // takes both, so .rodata is empty, and the script must not be INSERTed relative to it.
      await rodataBeside(t, linker, path.join(work, `scatter-${linker}-stock.json`), order);
      const ordered = path.join(work, `scatter-${linker}-ordered`);
      const l = await must(t, ['gcc', ...LINKS[linker](order), '-o', ordered, obj]);
      t.notMatch(l.stderr, /warning|error/i, 'the linker takes the order file without a word', diag(l));
      const out = await must(t, [ordered, 'started']);
      t.equal(out.stdout, 'scatter: 32 modules started, checksum 11936\n', 'the ordered link runs as the stock one');

      const at = await addresses(t, ordered, /^module_\d+$/);
      const started = STARTED.map((m) => at.get(m)!).sort((a, b) => (a < b ? -1 : 1));
      t.ok(
        started.every((a, i) => i === 0 || a - started[i - 1]! === 4096n),
        'the started modules are adjacent pages in the ordered link',
        { addresses: started.map((a) => a.toString(16)) },
      );
      const orderedProfile = await record(t, `scatter-${linker}-ordered`, [ordered, 'started']);
      const [sp, sr] = pagesAndRuns(stockProfile);
      const [op, or] = pagesAndRuns(orderedProfile);
      t.ok(sr >= 30, `stock link: ${sp} pages in ${sr} runs (the 32 modules apart)`);
      t.ok(or <= 4, `ordered link: ${op} pages in ${or} runs`);
      // Whole functions that shared a page with start-up code come along: a page or two more at most.
      t.ok(op <= sp + 3, `about as many pages as the stock link (${op} against ${sp})`);

      // A second round: what the ordered link did not use leaves the order.
      const again = await ep('order', path.join(work, `scatter-${linker}-stock.json`), path.join(work, `scatter-${linker}-ordered.json`), '--format', 'lld');
      t.equal(again.status, 0, 'order with the profiles of both links exits 0', diag(again));
      const both = again.stdout.trimEnd().split('\n');
      t.same(both.filter((l) => STARTED.includes(l)), STARTED, 'it keeps the started modules, in the same order');
      const first = (await ep('order', path.join(work, `scatter-${linker}-stock.json`), '--format', 'lld')).stdout.trimEnd().split('\n');
      t.ok(both.length <= first.length && both.every((l) => first.includes(l)), `no name the first round did not have (${both.length} of ${first.length})`);
      // The last module shares its page with what follows it in either link (page granularity).
      t.ok(both.filter((l) => MODULES.includes(l) && !STARTED.includes(l)).length <= 1, 'at most one module start-up did not run');
      t.match(again.stderr, /\(\d+ left out that another profile did not see used\)/, 'it says how many it left out');
    });
  }
});

t.test('mingle: the training link names just the started modules, and its order packs them where the page-grained one cannot', async (t) => {
  const obj = path.join(work, 'mingle.o');
  await must(t, ['gcc', '-O2', '-ffunction-sections', '-fdata-sections', '-c', '-o', obj, mingleC]);
  const script = path.join(work, 'training.ld');
  const s = await ep('order', '--training', '-o', script);
  t.equal(s.status, 0, 'order --training exits 0', diag(s));
  t.match(s.stderr, /the training link's script: wrote \S+training\.ld; link with -fuse-ld=bfd -Wl,-T,FILE/, 'it says how to link');
  const text = fs.readFileSync(script, 'utf8');
  t.match(text, /^ {2}\.text\.elfprefetch_training : SUBALIGN\(4096\)$/m, 'the code: SUBALIGN(4096)');
  t.match(text, /^INSERT BEFORE \.text;$/m, 'INSERTed into the default script');
  t.match(text, /^ {2}\.rodata\.elfprefetch_training : SUBALIGN\(4096\) \{ \*\(\.rodata \.rodata\.\*\) \}$/m, 'the read-only data too');
  const stdout = await ep('order', '--training');
  t.equal(stdout.stdout, text, 'without -o the same script on stdout');

  // The training link: GNU ld (lld and gold take no INSERT script; the names are the same).
  const training = path.join(work, 'mingle-training');
  const l = await must(t, ['gcc', '-fuse-ld=bfd', `-Wl,-T,${script}`, '-o', training, obj]);
  t.notMatch(l.stderr, /warning|error/i, 'GNU ld takes the script without a word', diag(l));
  t.equal((await must(t, [training, 'started'])).stdout, MINGLE_OUTPUT, 'the training link runs');
  const at = await addresses(t, training, /^(module|helper)_\d+$/);
  t.equal(at.size, 256, 'nm lists its 128 modules and 128 helpers');
  t.ok([...at.values()].every((a) => a % 4096n === 0n), 'each on a page of its own');
  const trained = (await record(t, 'mingle-training', [training, 'started'])).objects.find((o) => o.main)!;
  const named = (trained.functions ?? []).map((f) => f.name).filter((n) => /^(module|helper)_/.test(n));
  t.same(named.sort(), [...STARTED].sort(), 'its profile names exactly the 32 started modules, no helper');

  for (const linker of ['lld', 'gold', 'gnu-ld'] as const) {
    await t.test(linker, async (t) => {
      const stock = path.join(work, `mingle-${linker}-stock`);
      await must(t, ['gcc', ...(linker === 'gnu-ld' ? [] : [`-fuse-ld=${linker}`]), '-o', stock, obj]);
      const stockProfile = await record(t, `mingle-${linker}-stock`, [stock, 'started']);
      /** Links with the order `order` makes from PROFILE, records it: its [pages, runs] and the order's lines. */
      const ordered = async (name: string, profile: string): Promise<[number, number, string[]]> => {
        const order = path.join(work, `mingle-${name}.${linker}`);
        const o = await ep('order', profile, '--format', linker, '-o', order);
        t.equal(o.status, 0, `${name}: order exits 0`, diag(o));
        await rodataBeside(t, linker, profile, order);
        const exe = path.join(work, `mingle-${linker}-${name}`);
        const k = await must(t, ['gcc', ...LINKS[linker](order), '-o', exe, obj]);
        t.notMatch(k.stderr, /warning|error/i, `${name}: the linker takes the order file without a word`, diag(k));
        t.equal((await must(t, [exe, 'started'])).stdout, MINGLE_OUTPUT, `${name}: the link runs as the stock one`);
        return [...pagesAndRuns(await record(t, `mingle-${linker}-${name}`, [exe, 'started'])), fs.readFileSync(order, 'utf8').split('\n')];
      };
      const [sp, sr] = pagesAndRuns(stockProfile);
      const [pp, pr, pageOrder] = await ordered('page', path.join(work, `mingle-${linker}-stock.json`));
      const [ep_, er, exactOrder] = await ordered('exact', path.join(work, 'mingle-training.json'));
      const helpers = (lines: string[]): number => lines.filter((l) => /\bhelper_\d+\b/.test(l)).length;
      t.ok(helpers(pageOrder) >= 32, `the page-grained order lists the helpers on the started modules' pages (${helpers(pageOrder)} lines)`);
      t.equal(helpers(exactOrder), 0, 'the exact order lists no helper');
      t.ok(sr >= 30, `stock link: ${sp} pages in ${sr} runs`);
      t.ok(pr >= 30, `page-grained order: ${pp} pages in ${pr} runs (the helpers keep the modules apart)`);
      t.ok(er <= 4, `exact order: ${ep_} pages in ${er} runs`);
      t.ok(ep_ < pp && ep_ < sp, `and fewer pages (${ep_} against ${pp} and ${sp})`);
    });
  }
});

t.test("gnu-ld: the started functions' string literals and switch tables come together in .rodata.elfprefetch", async (t) => {
  // 64 functions, each reading its own 2,000-byte string literal (.rodata.say_N.str1.*, merged
  // with every other string of its output section) and, through a switch, its own jump table
  // (.rodata.say_N); start-up runs every fourth, so the stock link touches 16 literals spread
  // over the 32 pages of all 64. The training link names the 16; the gnu-ld script gathers
  // their literals and tables into an output section of their own.
  const src = path.join(work, 'strings.c');
  const say = (n: number): string =>
    `__attribute__((noipa)) int say_${n}(int x) { const char *s = "${String(n).padStart(3, '0')}${'abcdefghij'.repeat(200)}";\n` +
    `  switch (x & 7) { case 0: return s[x & 1023]; case 1: return ${n}; case 2: return x * ${n}; case 3: return x - ${n};\n` +
    `    case 4: return x ^ ${n}; case 5: return x + 3 * ${n}; case 6: return x / (${n} + 1); default: return s[1999]; } }\n`;
  const n = Array.from({ length: 64 }, (_, i) => i);
  fs.writeFileSync(
    src,
    `${n.map(say).join('')}static int (*const says[64])(int) = {${n.map((i) => `say_${i}`).join(', ')}};\n` +
      `int main(void) { int sum = 0; for (int i = 0; i < 64; i += 4) for (int x = 0; x < 8; x++) sum += says[i](x); return sum == 12345; }\n`,
  );
  const obj = path.join(work, 'strings.o');
  await must(t, ['gcc', '-O2', '-ffunction-sections', '-fdata-sections', '-c', '-o', obj, src]);
  const sections = (await must(t, ['readelf', '-SW', obj])).stdout;
  t.match(sections, /\.rodata\.say_4\.str1\.\d+/, "GCC names each function's literals after it");
  t.match(sections, /\.rodata\.say_4\s/, 'and its jump table');
  const script = path.join(work, 'strings-training.ld');
  await must(t, [process.execPath, cli, 'order', '--training', '-o', script]);
  const training = path.join(work, 'strings-training');
  await must(t, ['gcc', '-fuse-ld=bfd', `-Wl,-T,${script}`, '-o', training, obj]);
  await record(t, 'strings-training', [training]);
  const profile = path.join(work, 'strings-training.json');
  /** The order of FORMAT, checked as a script of .rodata.elfprefetch: its path. */
  const orderScript = async (t: Test, format: 'gnu-ld' | 'lld-rodata'): Promise<string> => {
    const order = path.join(work, `strings.${format}`);
    const o = await ep('order', profile, '--format', format, '-o', order);
    t.equal(o.status, 0, 'order exits 0', diag(o));
    const text = fs.readFileSync(order, 'utf8');
    t.match(text, /^ {2}\.rodata\.elfprefetch :\n/m, 'an output section for the read-only data');
    t.match(text, /^ {4}\*\(\.rodata\.say_4 \.rodata\.say_4\.str\[0-9\]\.\[0-9\]\*\)$/m, "a started function's tables and literals");
    t.notMatch(text, /\.rodata\.say_5\b/, 'none of a function start-up did not run');
    // GNU ld: after .rodata (before it is still the code's segment); lld: before .text, which
    // keeps crt1.o's code when the script empties .rodata.
    const where = format === 'gnu-ld' ? 'AFTER .rodata' : 'BEFORE .text';
    t.match(text, new RegExp(`^INSERT ${where.replace('.', '\\.')};$`, 'm'), `INSERTed ${where}`);
    return order;
  };
  /** The pages and runs the program's start-up touches in output section NAME of a link. */
  const touched = async (t: Test, exe: string, name: string): Promise<[number, number]> => {
    const p = (await record(t, path.basename(exe), [exe])).objects.find((x) => x.main)!;
    const sec = p.sections?.find((x) => x.name === name);
    if (!sec) throw new Error(`${exe} has no ${name}`);
    const first = Math.floor(sec.offset / 4096);
    const last = Math.floor((sec.offset + sec.size - 1) / 4096);
    let pages = 0;
    let runs = 0;
    for (const r of parseRanges(p.pages)) {
      const a = Math.max(r.first, first);
      const b = Math.min(r.first + r.count - 1, last);
      if (a <= b) {
        pages += b - a + 1;
        runs++;
      }
    }
    return [pages, runs];
  };
  /** Links the object with ARGS into NAME; it must link without a word and run. */
  const link = async (t: Test, name: string, args: string[]): Promise<string> => {
    const exe = path.join(work, name);
    const l = await must(t, ['gcc', ...args, '-o', exe, obj]);
    t.notMatch(l.stderr, /warning|error/i, `${name}: the linker takes it without a word`, diag(l));
    t.equal((await run([exe])).status, 0, `${name} runs`);
    return exe;
  };

  /** The flags (R, W, E) of the LOAD segment that holds output section NAME of `exe`. */
  const segmentOf = async (t: Test, exe: string, name: string): Promise<string> => {
    const lines = (await must(t, ['readelf', '-lW', exe])).stdout.split('\n');
    const first = lines.findIndex((l) => l.startsWith('Program Headers:')) + 2;
    const headers: string[] = [];
    for (let i = first; i < lines.length && lines[i]!.trim(); i++) if (!lines[i]!.includes('[Requesting')) headers.push(lines[i]!);
    const map = lines.findIndex((l) => /Section to Segment mapping/.test(l)) + 2;
    for (let i = 0; i < headers.length; i++) {
      const row = lines[map + i]?.trim().split(/\s+/).slice(1) ?? [];
      if (headers[i]!.trim().startsWith('LOAD') && row.includes(name)) return /\s([RWE ]{3})\s+0x[0-9a-f]+\s*$/.exec(headers[i]!)?.[1]!.replace(/ /g, '') ?? '?';
    }
    return 'none';
  };

  await t.test('gnu-ld', async (t) => {
    const order = await orderScript(t, 'gnu-ld');
    const stock = await link(t, 'strings-bfd-stock', ['-fuse-ld=bfd']);
    const ordered = await link(t, 'strings-bfd-ordered', ['-fuse-ld=bfd', `-Wl,-T,${order}`]);
    t.equal(await segmentOf(t, ordered, '.rodata.elfprefetch'), 'R', 'the section is in a read-only segment, not the code');
    for (const flag of ['-no-pie', '-static']) {
      const other = await link(t, `strings-bfd-ordered${flag}`, ['-fuse-ld=bfd', flag, `-Wl,-T,${order}`]);
      t.equal(await segmentOf(t, other, '.rodata.elfprefetch'), 'R', `and with ${flag}`);
    }
    const [sp, sr] = await touched(t, stock, '.rodata');
    const [op, or] = await touched(t, ordered, '.rodata.elfprefetch');
    const [rest] = await touched(t, ordered, '.rodata');
    // GNU ld emits merged strings sorted for tail merging, not in input order, so the stock link
    // may put them on neighbouring pages: count its pages, not its runs.
    t.ok(sp >= 16, `stock link: the 16 literals on ${sp} of the 32 pages of .rodata (${sr} runs)`);
    t.ok(or <= 2 && op <= 10 && op * 2 <= sp, `ordered link: on ${op} pages of .rodata.elfprefetch in ${or} runs`);
    t.ok(rest <= 1, `and at most one page of the rest of .rodata (${rest})`);
  });

  await t.test('lld: the symbol order, and the lld-rodata script beside it', async (t) => {
    const order = path.join(work, 'strings.lld');
    t.equal((await ep('order', profile, '--format', 'lld', '-o', order)).status, 0, 'order --format lld exits 0');
    const rodata = await orderScript(t, 'lld-rodata');
    t.match(fs.readFileSync(rodata, 'utf8'), /^ {4}\*\(\.rodata\.str\[0-9\]\.\[0-9\]\* \.rodata\.cst\[0-9\]\* \.rodata\.CSWTCH\.\*\)$/m, 'then the unnamed constants of every object');
    const lld = ['-fuse-ld=lld', `-Wl,--symbol-ordering-file=${order}`, '-Wl,--no-warn-symbol-ordering'];
    const stock = await link(t, 'strings-lld-stock', ['-fuse-ld=lld']);
    const symbols = await link(t, 'strings-lld-symbols', lld);
    const both = await link(t, 'strings-lld-rodata', [...lld, `-Wl,-T,${rodata}`]);
    t.equal(await segmentOf(t, both, '.rodata.elfprefetch'), 'R', 'the section is in a read-only segment, not the code');
    for (const flag of ['-no-pie', '-static']) {
      const other = await link(t, `strings-lld-rodata${flag}`, [...lld, flag, `-Wl,-T,${rodata}`]);
      t.equal(await segmentOf(t, other, '.rodata.elfprefetch'), 'R', `and with ${flag}`);
    }
    const [sp, sr] = await touched(t, stock, '.rodata');
    const [yp, yr] = await touched(t, symbols, '.rodata');
    const [op, or] = await touched(t, both, '.rodata.elfprefetch');
    const [rest] = await touched(t, both, '.rodata');
    // Every other page: a literal start-up reads, 8 KB apart in input order (the ends of one
    // that crosses a page join two pages in a run).
    t.ok(sp >= 16 && sr >= 8, `stock link: the 16 literals on ${sp} pages of .rodata in ${sr} runs (lld keeps input order)`);
    t.ok(yp >= 16 && yr >= 8, `the symbol order alone leaves them there: ${yp} pages in ${yr} runs`);
    t.ok(or <= 2 && op <= 10, `with the script: ${op} pages of .rodata.elfprefetch in ${or} runs`);
    t.ok(rest <= 1, `and at most one page of the rest of .rodata (${rest})`);
  });
});

t.test('C++: names are the mangled ones of .symtab, which lld and gold take', async (t) => {
  const src = path.join(work, 'names.cc');
  fs.writeFileSync(
    src,
    `#include <cstdio>
#include <string>
namespace app { struct Conf { int n; };
  __attribute__((noinline)) int parse(const std::string &s, Conf &c) { c.n = int(s.size()); return c.n; }
  template <typename T> __attribute__((noinline)) T twice(T x) { return x + x; }
  __attribute__((noinline)) int unused(int x) { return x * 7; } }
int main(int argc, char **argv) { app::Conf c; int n = app::parse(argv[0], c); std::printf("%d\\n", app::twice(n) > 0); return argc > 5 ? app::unused(n) : 0; }
`,
  );
  const obj = path.join(work, 'names.o');
  await must(t, ['g++', '-O2', '-ffunction-sections', '-c', '-o', obj, src]);
  const exe = path.join(work, 'names');
  await must(t, ['g++', '-fuse-ld=lld', '-o', exe, obj]);
  await record(t, 'names', [exe]);
  const o = await ep('order', path.join(work, 'names.json'), '--format', 'lld');
  t.equal(o.status, 0, 'order exits 0', diag(o));
  t.match(o.stdout, /^_ZN3app5parseERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEERNS_4ConfE$/m, 'app::parse as mangled');
  t.match(o.stdout, /^_ZN3app5twiceIiEET_S1_$/m, 'app::twice<int> as mangled');
  t.notMatch(o.stdout, /::|\(/, 'no demangled name');
  fs.writeFileSync(path.join(work, 'names.order'), o.stdout);
  for (const [linker, flag] of [['lld', '--symbol-ordering-file'], ['gold', '--section-ordering-file']] as const) {
    const order = path.join(work, `names.${linker}`);
    await must(t, [process.execPath, cli, 'order', path.join(work, 'names.json'), '--format', linker, '-o', order]);
    const linked = path.join(work, `names-${linker}`);
    const l = await must(t, ['g++', `-fuse-ld=${linker}`, `-Wl,${flag}=${order}`, '-o', linked, obj]);
    t.notMatch(l.stderr, /warning/i, `${linker} finds every name`, diag(l));
    // The linker placed them in the order file's order: it found the mangled names.
    const at = await addresses(t, linked, /^_ZN3app/);
    const inOrder = o.stdout.split('\n').filter((n) => at.has(n));
    t.ok(inOrder.length >= 2, `${linker}: the order lists app's functions`, { inOrder });
    t.ok(
      inOrder.every((n, i) => i === 0 || at.get(n)! > at.get(inOrder[i - 1]!)!),
      `${linker}: placed in the order of the file`,
      { inOrder, addresses: inOrder.map((n) => at.get(n)!.toString(16)) },
    );
  }
});

t.test('hottest first: a function in more runs comes before an earlier one in fewer', async (t) => {
  const truth = buildTouch();
  const touch = truth.exe.path;
  // f<hex>: index 10 is f0a, 200 is fc8. f0a's page lies before fc8's; only fc8 runs in both runs.
  await record(t, 'touch-a', [touch, 'f:10,200']);
  await record(t, 'touch-b', [touch, 'f:200']);
  const merged = path.join(work, 'touch.json');
  await must(t, [process.execPath, cli, 'select', '--min-share', '0', '-o', merged, path.join(work, 'touch-a.json'), path.join(work, 'touch-b.json')]);
  const o = await ep('order', merged, '--format', 'lld');
  t.equal(o.status, 0, 'order exits 0', diag(o));
  const lines = o.stdout.trimEnd().split('\n');
  const f10 = lines.indexOf('f0a');
  const f200 = lines.indexOf('fc8');
  t.ok(f10 >= 0 && f200 >= 0 && f200 < f10, 'fc8 (f:200, 2 of 2 runs) before f0a (f:10, 1 of 2 runs)', { f10, f200 });
  t.ok(lines.indexOf('main') < f10, 'main (in every run) before f0a');
  t.match(o.stderr, /functions touched in 2 of 2 runs/, 'it counts the functions of every run');
});

t.test('errors: a clear message, exit 1, no file written', async (t) => {
  const profile = path.join(work, 'scatter-lld-stock.json');
  const out = path.join(work, 'never.order');
  const fail = async (what: string, args: string[], message: RegExp): Promise<void> => {
    const r = await ep('order', ...args);
    t.equal(r.status, 1, `${what}: exit 1`, diag(r));
    t.match(r.stderr, message, `${what}: says why`);
    t.equal(r.stdout, '', `${what}: prints no order`);
    t.notOk(fs.existsSync(out), `${what}: writes nothing`);
  };
  // A stripped program: its profile has no functions.
  const stripped = path.join(work, 'scatter-stripped');
  fs.copyFileSync(path.join(work, 'scatter-lld-stock'), stripped);
  await must(t, ['strip', stripped]);
  const noFns = await record(t, 'stripped', [stripped, 'started']);
  t.notOk(noFns.objects.find((o) => o.main)!.functions, 'a stripped program leaves the profile without functions');
  await fail('no functions', [path.join(work, 'stripped.json'), '--format', 'lld', '-o', out], /keeps no functions of \S+scatter-stripped, so there is nothing to order\. Record the program unstripped/);
  fs.writeFileSync(path.join(work, 'bad.json'), '{"format": "elfprefetch-profile", "version": 1');
  await fail('not JSON', [path.join(work, 'bad.json'), '--format', 'lld', '-o', out], /bad\.json: not JSON/);
  fs.writeFileSync(path.join(work, 'other.json'), '{"format": "something-else", "version": 1}');
  await fail('not a profile', [path.join(work, 'other.json'), '--format', 'lld', '-o', out], /other\.json: format: /);
  await fail('missing file', [path.join(work, 'gone.json'), '--format', 'lld', '-o', out], /gone\.json: .*(No such file|does not exist)/i);
  await fail('unknown format', [profile, '--format', 'bfd', '-o', out], /Invalid values:\s+Argument: format, Given: "bfd", Choices: "lld", "lld-rodata", "gold", "gnu-ld"/);
  await fail('no format', [profile, '-o', out], /give --format: lld, lld-rodata, gold, gnu-ld/);
  await fail('no profile', ['--format', 'lld', '-o', out], /give a profile to order \(or --training/);
  await fail('--training with a profile', ['--training', profile, '-o', out], /--training writes the training link's linker script and takes no profile, --format or --object/);
  await fail('--training with a format', ['--training', '--format', 'lld', '-o', out], /takes no profile, --format or --object/);
  await fail('unknown object', [profile, '--format', 'lld', '--object', 'libnothing.so', '-o', out], /--object libnothing\.so: no such object in the profile \(it has .*scatter-lld-stock \(the program\)/);
  await fail('a library', [profile, '--format', 'lld', '--object', 'libc.so.6', '-o', out], /keeps no functions of \S+libc\.so\.6.*--main \S+libc\.so\.6/);
  await fail('output is a folder', [profile, '--format', 'lld', '-o', work], /is a directory/);
  // --object by build-id picks the program as well as leaving it out does.
  const p = parseProfile(fs.readFileSync(profile, 'utf8'), profile);
  const id = p.objects.find((o) => o.main)!.buildId;
  const a = await ep('order', profile, '--format', 'lld');
  const b = await ep('order', profile, '--format', 'lld', '--object', id.slice(0, 12));
  t.equal(b.status, 0, '--object BUILDID-PREFIX', diag(b));
  t.equal(b.stdout, a.stdout, 'the same order as the program by default');
});
