/*
 * Placement survey: stamps a copy of every ELF executable and shared library of this machine
 * and tells which placement strategy applied, what was refused and why, what broke.
 *
 *   npx tsc -p . && npx ts-node --transpile-only bench/placement-survey.ts
 *
 * Options:
 *   --dist DIR      the built library and CLI to survey (default: dist/ of this checkout)
 *   --jobs N        parallelism (default 2)
 *   --work DIR      scratch directory for the outputs (default: mktemp in $TMPDIR or /tmp)
 *   --sample N      stamped executables to run with --version/--help, original vs stamped (default 100)
 *   --max-mb N      skip files larger than this (default 300)
 *   --keep          keep the stamped outputs (they are as big as the inputs)
 *   ROOT...         directories to walk (default /usr/bin /usr/sbin /usr/lib /usr/libexec /usr/local/bin)
 *
 * Phases, in this order:
 *   1. walk: every regular file under the roots, symlinks followed but each file and directory
 *      visited once (by device and inode); ELF by magic; its e_type read from the header.
 *   2. cp:    copies the same files with `cp` (one process per file, as many at once as --jobs),
 *             and again in-process with fs.copyFileSync, to set the stamp time beside.
 *   3. stamp: stampFile(input, pages 0-0, {output}) in --jobs worker processes (node -e), timed.
 *             ET_EXEC and ET_DYN are surveyed; ET_REL and others are stamped too, to see them
 *             refused, but counted apart.
 *   4. verify: `node CLI verify OUT` on every output (must exit 0), --jobs at a time; and the
 *             page set read back from each note must be page 0 plus the input's page 0 where
 *             it landed (page 0 again, or after an exec shift the shift in pages).
 *   5. run:   a sample of stamped executables, run with --version (or --help) as user nobody,
 *             beside an unstamped copy at a path of the same length with the same argv[0]:
 *             stdout and exit status must match.
 * Results per file go to WORK/results.json.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface Job {
  id: number;
  input: string;
  output: string;
}

type Outcome =
  | { kind: 'ok'; strategy: string; growth: number; descUsed: number; descCapacity: number; outSize: number }
  | { kind: 'refused'; message: string; reasons: string[] }
  | { kind: 'malformed'; message: string; code: string }
  | { kind: 'error'; message: string; stack?: string };

interface FileEntry {
  id: number;
  path: string;
  size: number;
  etype: string;
  output: string;
  ms?: number;
  outcome?: Outcome;
  verify?: { code: number | null; out: string };
}

// ---------------------------------------------------------------- worker
// Plain JavaScript, started with `node -e`, so workers need no TypeScript loader.
const WORKER = `
const fs = require('fs'), path = require('path');
const dist = process.argv[1];
const { stampFile } = require(path.join(dist, 'src/ops/stamp'));
const { ElfFormatError, PlacementRefusedError } = require(path.join(dist, 'src/elf/errors'));
const req = { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 1 }] }] };
process.on('message', (m) => {
  if (m.copy) {
    const t0 = process.hrtime.bigint();
    fs.mkdirSync(path.dirname(m.copy.output), { recursive: true });
    fs.copyFileSync(m.copy.input, m.copy.output);
    process.send({ id: m.copy.id, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    return;
  }
  const job = m.job;
  fs.mkdirSync(path.dirname(job.output), { recursive: true });
  const t0 = process.hrtime.bigint();
  let outcome;
  try {
    const r = stampFile(job.input, req, { output: job.output });
    outcome = { kind: 'ok', strategy: r.strategy, growth: Number(r.growth), descUsed: r.descUsed, descCapacity: r.descCapacity, outSize: fs.statSync(job.output).size };
  } catch (e) {
    if (e instanceof PlacementRefusedError || e.name === 'PlacementRefusedError') outcome = { kind: 'refused', message: e.message, reasons: e.reasons || [] };
    else if (e instanceof ElfFormatError || e.name === 'ElfFormatError') outcome = { kind: 'malformed', message: e.message, code: String(e.code) };
    else outcome = { kind: 'error', message: (e && e.name) + ': ' + (e && e.message), stack: String(e && e.stack).split('\\n').slice(1, 6).join('\\n') };
  }
  process.send({ id: job.id, ms: Number(process.hrtime.bigint() - t0) / 1e6, outcome });
});
`;

const args = process.argv.slice(2);

// ---------------------------------------------------------------- helpers
function opt(name: string, dflt?: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
function flag(name: string): boolean {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
}
const sec = (ms: number): string => (ms / 1000).toFixed(1) + ' s';
const median = (a: number[]): number => {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** The wording of a message without its numbers, so like messages aggregate. */
const shape = (s: string): string => s.replace(/0x[0-9a-f]+/gi, 'N').replace(/\d+/g, 'N');

const ETYPES: Record<number, string> = { 0: 'NONE', 1: 'REL', 2: 'EXEC', 3: 'DYN', 4: 'CORE' };

function walk(roots: string[], maxBytes: number): { files: { path: string; size: number; etype: string }[]; skipped: Record<string, number> } {
  const seen = new Set<string>();
  const files: { path: string; size: number; etype: string }[] = [];
  const skipped: Record<string, number> = {};
  const skip = (why: string): void => void (skipped[why] = (skipped[why] ?? 0) + 1);
  const head = Buffer.alloc(20);
  const visit = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p); // follows symlinks; each target is visited once, by dev:ino
    } catch {
      skip('dangling symlink or unreadable');
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = fs.readdirSync(p).sort();
      } catch {
        skip('unreadable directory');
        return;
      }
      for (const n of names) visit(path.join(p, n));
      return;
    }
    if (!st.isFile()) return;
    let n = 0;
    try {
      const fd = fs.openSync(p, 'r');
      try {
        n = fs.readSync(fd, head, 0, 20, 0);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      skip('unreadable file');
      return;
    }
    if (n < 20 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) return;
    if (st.size > maxBytes) {
      skip(`ELF larger than ${maxBytes >> 20} MB`);
      return;
    }
    const t = head[5] === 2 ? head.readUInt16BE(16) : head.readUInt16LE(16);
    files.push({ path: p, size: st.size, etype: ETYPES[t] ?? `type ${t}` });
  };
  for (const r of roots) visit(r);
  return { files, skipped };
}

/** Runs jobs on `n` worker processes; a worker that does not answer within `timeoutMs` is killed and replaced. */
async function pool<T, R>(
  n: number,
  items: T[],
  script: string,
  workerArgs: string[],
  message: (t: T) => object,
  timeoutMs: number,
  onTimeout: (t: T) => R,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runOne = (): Promise<void> =>
    new Promise((resolve) => {
      let w: ChildProcess;
      let current = -1;
      let timer: NodeJS.Timeout | undefined;
      const start = (): void => {
        w = spawn(process.execPath, ['-e', script, ...workerArgs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        w.on('message', (m: R) => {
          clearTimeout(timer);
          results[current] = m;
          feed();
        });
        w.on('exit', (code, signal) => {
          if (current >= 0 && results[current] === undefined) {
            results[current] = onTimeout(items[current]!);
            (results[current] as { crash?: string }).crash = `worker exited (${code ?? signal})`;
            start();
            feed();
          }
        });
      };
      const feed = (): void => {
        if (next >= items.length) {
          current = -1;
          w.removeAllListeners('exit');
          w.disconnect();
          resolve();
          return;
        }
        current = next++;
        const mine = current;
        timer = setTimeout(() => {
          if (current === mine && results[mine] === undefined) w.kill('SIGKILL');
        }, timeoutMs);
        w.send(message(items[current]!));
      };
      start();
      feed();
    });
  await Promise.all(Array.from({ length: n }, runOne));
  return results;
}

/** Runs shell-free commands, `n` at a time. */
async function spawnAll(n: number, cmds: { file: string; args: string[] }[]): Promise<{ code: number | null; out: string }[]> {
  const res: { code: number | null; out: string }[] = new Array(cmds.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cmds.length) {
      const i = next++;
      res[i] = await new Promise((resolve) => {
        const c = spawn(cmds[i]!.file, cmds[i]!.args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        c.on('close', (code) => resolve({ code, out: out.trim() }));
        c.on('error', (e) => resolve({ code: -1, out: String(e) }));
      });
    }
  };
  await Promise.all(Array.from({ length: n }, lane));
  return res;
}

function timeSync(label: string): number {
  const t0 = Date.now();
  spawnSync('sync');
  const ms = Date.now() - t0;
  void label;
  return ms;
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  const here = path.resolve(__dirname, '..');
  const dist = path.resolve(opt('--dist', path.join(here, 'dist'))!);
  const jobs = Number(opt('--jobs', '2'));
  const sampleN = Number(opt('--sample', '100'));
  const maxBytes = Number(opt('--max-mb', '300')) << 20;
  const keep = flag('--keep');
  const work = path.resolve(opt('--work') ?? fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'placement-survey.')));
  const roots = args.length ? args : ['/usr/bin', '/usr/sbin', '/usr/lib', '/usr/libexec', '/usr/local/bin'];
  const cli = path.join(dist, 'cli/main.js');
  fs.mkdirSync(work, { recursive: true });
  fs.chmodSync(work, 0o755); // the sample runs as nobody
  const version = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`elfprefetch ${version} from ${dist}; node ${process.version}; ${os.cpus().length} CPUs; jobs ${jobs}; work ${work}`);
  console.log(`load average at the start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (anything else running skews the times)`);

  // 1. walk
  let t0 = Date.now();
  const { files: found, skipped } = walk(roots, maxBytes);
  const walkMs = Date.now() - t0;
  const entries: FileEntry[] = found.map((f, id) => ({ ...f, id, output: path.join(work, 'out', String(id), path.basename(f.path)) }));
  const byType: Record<string, { n: number; bytes: number }> = {};
  for (const e of entries) {
    byType[e.etype] ??= { n: 0, bytes: 0 };
    byType[e.etype]!.n++;
    byType[e.etype]!.bytes += e.size;
  }
  console.log(`\n1. walk of ${roots.join(' ')}: ${entries.length} ELF files in ${sec(walkMs)}`);
  for (const [t, v] of Object.entries(byType)) console.log(`   ET_${t.padEnd(5)} ${String(v.n).padStart(6)} files ${(v.bytes / 2 ** 20).toFixed(0).padStart(7)} MiB`);
  for (const [why, n] of Object.entries(skipped)) console.log(`   skipped: ${why}: ${n}`);
  const totalBytes = entries.reduce((n, e) => n + e.size, 0);

  // 2. cp, the reference: one cp per file, `jobs` at a time; then fs.copyFileSync in `jobs` workers.
  const cpDir = path.join(work, 'cp');
  const cpRun = async (): Promise<{ ms: number; syncMs: number }> => {
    fs.rmSync(cpDir, { recursive: true, force: true });
    for (const e of entries) fs.mkdirSync(path.join(cpDir, String(e.id)), { recursive: true });
    timeSync('');
    const t = Date.now();
    const r = await spawnAll(jobs, entries.map((e) => ({ file: 'cp', args: [e.path, path.join(cpDir, String(e.id), path.basename(e.path))] })));
    const ms = Date.now() - t;
    const syncMs = timeSync('');
    const bad = r.filter((x) => x.code !== 0);
    if (bad.length) console.log(`   cp failed on ${bad.length} files, e.g. ${bad[0]!.out}`);
    return { ms, syncMs };
  };
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] cp\n`);
  const cp1 = await cpRun();
  fs.rmSync(cpDir, { recursive: true, force: true });
  timeSync('');
  t0 = Date.now();
  await pool(jobs, entries, WORKER, [dist], (e) => ({ copy: { id: e.id, input: e.path, output: path.join(cpDir, String(e.id), path.basename(e.path)) } }), 600_000, () => ({}));
  const copyFileMs = Date.now() - t0;
  const copyFileSyncMs = timeSync('');
  fs.rmSync(cpDir, { recursive: true, force: true });
  timeSync('');

  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] stamp\n`);
  // 3. stamp
  t0 = Date.now();
  const res = await pool(
    jobs,
    entries,
    WORKER,
    [dist],
    (e) => ({ job: { id: e.id, input: e.path, output: e.output } }),
    300_000,
    (): { ms: number; outcome: Outcome } => ({ ms: NaN, outcome: { kind: 'error', message: 'timeout or crash of the worker' } }),
  );
  const stampMs = Date.now() - t0;
  const stampSyncMs = timeSync('');
  res.forEach((r: { ms: number; outcome: Outcome; crash?: string }, i) => {
    entries[i]!.ms = r.ms;
    entries[i]!.outcome = r.crash ? { kind: 'error', message: `${r.crash}: ${r.outcome.kind === 'error' ? r.outcome.message : ''}` } : r.outcome;
  });

  // cp again, now that every input is in the page cache for both
  const cp2 = await cpRun();
  fs.rmSync(cpDir, { recursive: true, force: true });

  const loadAfter = os.loadavg().map((x) => x.toFixed(2)).join(' ');

  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] verify\n`);
  // 4. verify every output with the CLI
  const oks = entries.filter((e) => e.outcome!.kind === 'ok');
  t0 = Date.now();
  const ver = await spawnAll(jobs, oks.map((e) => ({ file: process.execPath, args: [cli, 'verify', e.output] })));
  const verifyMs = Date.now() - t0;
  oks.forEach((e, i) => (e.verify = ver[i]));

  // 4b. the page set in each note: pages 0-0 asked for, so page 0 (headers and note) and the
  // input's page 0 where it landed: page 0 too, or, after an exec shift, the shift in pages.
  const pageBad = checkPageSets(oks, dist);

  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] run\n`);
  // 5. run a sample: original (an unstamped copy) vs stamped, same argv[0], as nobody
  const runReport = runSample(entries, work, sampleN, dist);

  // ------------------------------------------------------------ report
  const surveyed = entries.filter((e) => e.etype === 'EXEC' || e.etype === 'DYN');
  const others = entries.filter((e) => !(e.etype === 'EXEC' || e.etype === 'DYN'));
  const count = (list: FileEntry[], f: (e: FileEntry) => string | undefined): [string, number][] => {
    const m = new Map<string, number>();
    for (const e of list) {
      const k = f(e);
      if (k !== undefined) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return [...m].sort((a, b) => b[1] - a[1]);
  };
  console.log(`\n2.-4. stamp (pages 0-0, in-process stampFile, ${jobs} workers) of ${surveyed.length} ET_EXEC/ET_DYN files`);
  for (const [k, n] of count(surveyed, (e) => e.outcome!.kind)) console.log(`   ${k.padEnd(10)} ${n}`);
  console.log('   strategies (ET_EXEC / ET_DYN):');
  for (const [k, n] of count(surveyed, (e) => (e.outcome!.kind === 'ok' ? (e.outcome as { strategy: string }).strategy : undefined))) {
    const of = (t: string): number => surveyed.filter((e) => e.etype === t && e.outcome!.kind === 'ok' && (e.outcome as { strategy: string }).strategy === k).length;
    const growth = surveyed.filter((e) => e.outcome!.kind === 'ok' && (e.outcome as { strategy: string }).strategy === k).map((e) => (e.outcome as { growth: number }).growth);
    console.log(`     ${k.padEnd(13)} ${String(n).padStart(5)}  (${of('EXEC')} / ${of('DYN')})  growth bytes: median ${median(growth)}, max ${Math.max(...growth)}`);
  }
  const sizeBad = surveyed.filter((e) => e.outcome!.kind === 'ok' && (e.outcome as { outSize: number; growth: number }).outSize !== e.size + (e.outcome as { growth: number }).growth);
  if (sizeBad.length) console.log(`   output size != input size + growth: ${sizeBad.map((e) => e.path).join(', ')}`);
  const refused = surveyed.filter((e) => e.outcome!.kind === 'refused');
  const firstReason = (e: FileEntry): string => {
    const o = e.outcome as { reasons: string[]; message: string };
    return shape(o.reasons[0] ?? o.message);
  };
  if (refused.length) {
    console.log('   refused (exit 3), by first reason:');
    for (const [k, n] of count(refused, firstReason)) {
      const ex = refused.find((e) => firstReason(e) === k)!;
      console.log(`     ${String(n).padStart(5)}  ${k}\n            e.g. ${ex.path}: ${(ex.outcome as { message: string }).message}`);
    }
  }
  const malformed = surveyed.filter((e) => e.outcome!.kind === 'malformed');
  if (malformed.length) {
    console.log('   malformed (exit 2):');
    for (const e of malformed) console.log(`     ${e.path}: ${(e.outcome as { message: string }).message}`);
  }
  const errors = entries.filter((e) => e.outcome!.kind === 'error');
  console.log(`   errors (exit 1, bugs): ${errors.length}`);
  for (const e of errors) console.log(`     ${e.path} [ET_${e.etype}]: ${(e.outcome as { message: string }).message}\n${((e.outcome as { stack?: string }).stack ?? '').replace(/^/gm, '        ')}`);
  console.log(`   other ELF types (not surveyed, stamped to see them refused): ${others.length}`);
  for (const [k, n] of count(others, (e) => `ET_${e.etype} ${e.outcome!.kind}${e.outcome!.kind === 'refused' || e.outcome!.kind === 'malformed' ? ': ' + shape((e.outcome as { message: string }).message) : ''}`)) console.log(`     ${String(n).padStart(5)}  ${k}`);
  const vBad = oks.filter((e) => e.verify!.code !== 0);
  console.log(`   verify (CLI) of the ${oks.length} outputs: ${oks.length - vBad.length} exit 0, ${vBad.length} not, in ${sec(verifyMs)}`);
  for (const e of vBad) console.log(`     ${e.path} -> ${e.output}: exit ${e.verify!.code}: ${e.verify!.out}`);
  console.log(`   page set in the note (asked: page 0 of the input; expected: page 0 and that page where it landed): ${oks.length - pageBad.length} as expected, ${pageBad.length} not`);
  for (const b of pageBad) console.log(`     ${b}`);
  const slow = [...entries].filter((e) => !Number.isNaN(e.ms)).sort((a, b) => b.ms! - a.ms!).slice(0, 5);
  console.log(`   slowest stamps: ${slow.map((e) => `${path.basename(e.path)} (${(e.size / 2 ** 20).toFixed(0)} MiB) ${e.ms!.toFixed(0)} ms`).join(', ')}`);

  console.log(`\n   load average after the stamp and cp phases: ${loadAfter}`);
  console.log(`\n   time for the tree: ${entries.length} files, ${(totalBytes / 2 ** 20).toFixed(0)} MiB, ${jobs} at a time`);
  console.log(`     cp, one process per file (first run)    ${sec(cp1.ms).padStart(9)}   + sync after: ${sec(cp1.syncMs)}`);
  console.log(`     fs.copyFileSync in ${jobs} workers            ${sec(copyFileMs).padStart(9)}   + sync after: ${sec(copyFileSyncMs)}`);
  console.log(`     stampFile in ${jobs} workers (fsyncs each)    ${sec(stampMs).padStart(9)}   + sync after: ${sec(stampSyncMs)}`);
  console.log(`     cp, one process per file (second run)   ${sec(cp2.ms).padStart(9)}   + sync after: ${sec(cp2.syncMs)}`);
  console.log(`     stamp / cp (second run)                 ${(stampMs / cp2.ms).toFixed(2)}`);
  console.log(`     stamp / (cp + sync) (second run)        ${(stampMs / (cp2.ms + cp2.syncMs)).toFixed(2)}`);
  console.log(`     sum of per-file stamp times ${sec(entries.reduce((n, e) => n + (e.ms ?? 0), 0))}, median ${median(entries.map((e) => e.ms!)).toFixed(1)} ms; by file size:`);
  for (const [label, lo, hi] of [['< 1 MB', 0, 1e6], ['1-10 MB', 1e6, 1e7], ['> 10 MB', 1e7, Infinity]] as [string, number, number][]) {
    const g = entries.filter((e) => e.size >= lo && e.size < hi && !Number.isNaN(e.ms));
    if (!g.length) continue;
    const ms = g.reduce((n, e) => n + e.ms!, 0);
    const bytes = g.reduce((n, e) => n + e.size, 0);
    console.log(`       ${label.padEnd(8)} ${String(g.length).padStart(5)} files ${(bytes / 2 ** 20).toFixed(0).padStart(6)} MiB  ${sec(ms).padStart(8)}  ${(ms / g.length).toFixed(1).padStart(6)} ms/file  ${(bytes / 2 ** 20 / (ms / 1000)).toFixed(0).padStart(5)} MiB/s`);
  }

  console.log(`\n5. run, original vs stamped (--version or --help, as nobody, 3 s limit)`);
  console.log(runReport.text);

  fs.writeFileSync(path.join(work, 'results.json'), JSON.stringify({ dist, version, jobs, roots, skipped, walkMs, cp1, copyFileMs, copyFileSyncMs, stampMs, stampSyncMs, cp2, verifyMs, run: runReport.rows, entries }, null, 1));
  console.log(`\nper-file results: ${path.join(work, 'results.json')}`);
  if (!keep) {
    fs.rmSync(path.join(work, 'out'), { recursive: true, force: true });
    fs.rmSync(path.join(work, 'ctl'), { recursive: true, force: true });
  }
}

function checkPageSets(oks: FileEntry[], dist: string): string[] {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { openElf } = require(path.join(dist, 'src/elf/read'));
  const { findOurNote } = require(path.join(dist, 'src/layout/planner'));
  const { decodeNote } = require(path.join(dist, 'src/note/codec'));
  const firstLoadVaddr = (elf: { programHeaders: { type: number; vaddr: bigint }[] }): bigint => elf.programHeaders.find((p) => p.type === 1)!.vaddr;
  const bad: string[] = [];
  for (const e of oks) {
    const inp = openElf(e.path);
    const out = openElf(e.output);
    try {
      const shift = (e.outcome as { strategy: string }).strategy === 'exec-shift' ? firstLoadVaddr(inp) - firstLoadVaddr(out) : 0n;
      const ours = findOurNote(out);
      const note = decodeNote(out.source.read(ours.note.descOffset, ours.note.descSize));
      const runs: { first: number; count: number }[] = note.objects[0].pageSets[0].runs;
      const pageSize = 1n << BigInt(note.pageShift);
      const landed = Number(shift / pageSize);
      const want = landed === 0 ? [{ first: 0, count: 1 }] : landed === 1 ? [{ first: 0, count: 2 }] : [{ first: 0, count: 1 }, { first: landed, count: 1 }];
      if (shift % pageSize !== 0n || JSON.stringify(runs) !== JSON.stringify(want)) {
        bad.push(`${e.path} [${(e.outcome as { strategy: string }).strategy}, shift 0x${shift.toString(16)}]: runs ${JSON.stringify(runs)}, expected ${JSON.stringify(want)}`);
      }
    } catch (err) {
      bad.push(`${e.path}: reading the note back: ${(err as Error).message}`);
    } finally {
      inp.source.close();
      out.source.close();
    }
  }
  return bad;
}

/** Programs not to start even with --version: they might act on the machine instead. */
const DENY = /^(reboot|halt|poweroff|shutdown|init|telinit|runlevel|kexec|systemd.*|sulogin|agetty|getty|login|su|sudo|passwd|chpasswd|mkfs.*|mke2fs|fdisk|sfdisk|cfdisk|parted|wipefs|blkdiscard|dd|shred|swapoff|swapon|mount|umount|kill|killall|pkill|killall5|pivot_root|switch_root|chroot|nologin|halt|dockerd|containerd.*|docker.*|runc|ctr|nvidia.*|vim?|nano|less|more|top|htop|watch|yes|sleep|cat|tee|script|ssh.*|nc|netcat|socat|python.*|perl.*|node|npm|npx|bash|sh|dash|zsh|busybox|xargs|env|nohup|timeout|setsid|unshare|nsenter|strace|gdb)$/;

function runSample(entries: FileEntry[], work: string, n: number, dist: string): { text: string; rows: object[] } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { openElf } = require(path.join(dist, 'src/elf/read'));
  const isProgram = (p: string): boolean => {
    try {
      const elf = openElf(p);
      try {
        return elf.header.type === 2 || elf.programHeaders.some((h: { type: number }) => h.type === 3 /* PT_INTERP */);
      } finally {
        elf.source.close();
      }
    } catch {
      return false;
    }
  };
  const nobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const scratch = path.join(work, 'run-cwd');
  fs.mkdirSync(scratch, { recursive: true, mode: 0o777 });
  fs.chmodSync(scratch, 0o777);
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: scratch, TERM: 'dumb' };
  const run = (file: string, argv0: string, arg: string): { status: number | null; signal: string | null; stdout: string; stderr: string; ms: number; timedOut: boolean } => {
    const t = Date.now();
    const r = spawnSync(file, [arg], { argv0, cwd: scratch, env, timeout: 3000, killSignal: 'SIGKILL', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'latin1', ...nobody });
    return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - t, timedOut: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' };
  };
  const candidates = entries.filter(
    (e) =>
      e.outcome?.kind === 'ok' &&
      e.verify?.code === 0 &&
      /^\/usr\/(local\/)?bin\//.test(e.path) &&
      !DENY.test(path.basename(e.path)) &&
      isProgram(e.path),
  );
  // Every strategy other than the most common first, then the rest spread evenly.
  const strat = (e: FileEntry): string => (e.outcome as { strategy: string }).strategy;
  const freq = new Map<string, number>();
  for (const e of candidates) freq.set(strat(e), (freq.get(strat(e)) ?? 0) + 1);
  const common = [...freq].sort((a, b) => b[1] - a[1])[0]?.[0];
  const rare = candidates.filter((e) => strat(e) !== common);
  const rest = candidates.filter((e) => strat(e) === common);
  const order = [...rare, ...rest.filter((_, i) => i % Math.max(1, Math.floor(rest.length / n)) === 0), ...rest];
  const rows: object[] = [];
  const lines: string[] = [];
  const seen = new Set<number>();
  let tried = 0;
  let unusable = 0;
  const mismatches: string[] = [];
  const ctlDiffers: string[] = [];
  for (const e of order) {
    if (rows.length >= n) break;
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    tried++;
    // The control: an unstamped copy at a path as long as the stamped one (ctl/ID/NAME vs out/ID/NAME).
    const ctl = path.join(work, 'ctl', String(e.id), path.basename(e.path));
    fs.mkdirSync(path.dirname(ctl), { recursive: true });
    fs.copyFileSync(e.path, ctl);
    fs.chmodSync(ctl, fs.statSync(e.path).mode & 0o7777);
    for (const d of [path.join(work, 'ctl'), path.join(work, 'out'), path.dirname(ctl), path.dirname(e.output)]) fs.chmodSync(d, 0o755);
    let arg = '';
    let a1;
    for (const cand of ['--version', '--help']) {
      const r1 = run(ctl, e.path, cand);
      if (r1.timedOut || r1.ms > 2000 || r1.signal) continue;
      const r2 = run(ctl, e.path, cand);
      if (r2.stdout !== r1.stdout || r2.status !== r1.status) continue; // not deterministic
      if (!r1.stdout.trim() && !r1.stderr.trim()) continue;
      arg = cand;
      a1 = r1;
      break;
    }
    if (!arg || !a1) {
      unusable++;
      fs.rmSync(path.dirname(ctl), { recursive: true, force: true });
      continue;
    }
    const s = run(e.output, e.path, arg);
    const orig = run(e.path, e.path, arg);
    const same = s.stdout === a1.stdout && s.status === a1.status && s.signal === a1.signal;
    const row = { path: e.path, strategy: strat(e), arg, status: a1.status, stampedStatus: s.status, stampedSignal: s.signal, stdoutSame: s.stdout === a1.stdout, stderrSame: s.stderr === a1.stderr, controlSameAsOriginal: orig.stdout === a1.stdout && orig.status === a1.status };
    rows.push(row);
    if (!same) mismatches.push(`${e.path} [${strat(e)}] ${arg}: exit ${a1.status} vs stamped ${s.status}${s.signal ? ' (' + s.signal + ')' : ''}; stdout ${row.stdoutSame ? 'same' : 'differs'}\n        original: ${JSON.stringify(a1.stdout.slice(0, 200))} ${JSON.stringify(a1.stderr.slice(0, 200))}\n        stamped:  ${JSON.stringify(s.stdout.slice(0, 200))} ${JSON.stringify(s.stderr.slice(0, 200))}`);
    if (!row.controlSameAsOriginal) ctlDiffers.push(e.path);
  }
  const byStrat = new Map<string, number>();
  for (const r of rows as { strategy: string }[]) byStrat.set(r.strategy, (byStrat.get(r.strategy) ?? 0) + 1);
  lines.push(`   ${candidates.length} stamped programs in /usr/bin and /usr/local/bin to choose from; tried ${tried}, ${unusable} gave no quick, deterministic output`);
  lines.push(`   compared ${rows.length}: ${[...byStrat].map(([k, v]) => `${k} ${v}`).join(', ')}; --version ${(rows as { arg: string }[]).filter((r) => r.arg === '--version').length}, --help ${(rows as { arg: string }[]).filter((r) => r.arg === '--help').length}`);
  lines.push(`   stdout and exit status differ (bugs): ${mismatches.length}`);
  for (const m of mismatches) lines.push(`     ${m}`);
  const errDiff = (rows as { path: string; stderrSame: boolean }[]).filter((r) => !r.stderrSame);
  lines.push(`   stderr differs (for information): ${errDiff.length}${errDiff.length ? ': ' + errDiff.map((r) => r.path).join(', ') : ''}`);
  lines.push(`   the unstamped copy's output differs from the installed original's (location-dependent, for information): ${ctlDiffers.length}${ctlDiffers.length ? ': ' + ctlDiffers.join(', ') : ''}`);
  return { text: lines.join('\n'), rows };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
