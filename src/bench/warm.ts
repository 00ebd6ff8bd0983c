/*
 * `elfprefetch bench --warm-overhead`: what the shim costs when the page cache is already warm,
 * on a program that carries a note (the common case once a program is stamped: most starts are
 * warm). The program is trained and a copy stamped as for the cold benchmark (unless it carries
 * a valid note); as root the copy is bound over the program's own path in a private mount
 * namespace (build/native/elfprefetch-bindexec), otherwise the copy runs from a temporary folder.
 *
 * Configurations, interleaved round-robin (each round starting one further): the program
 * plain; through each hook (exec wrapper, LD_AUDIT, LD_PRELOAD) with the shim on; and each hook
 * with ELFPREFETCH_DISABLE=1 (hook loaded, shim idle). Each round times `loops` starts of one
 * configuration back to back in the static helper (posix_spawnp + wait4, output to /dev/null),
 * wall time and CPU time (user + system of the start's process tree) of each start. A round's
 * figure is the median of its starts; overheads are paired per round (configuration minus plain
 * of the same round), then the median over rounds is taken, so slow drift of the shared machine
 * cancels. CPU time is what the shim's work costs; wall time on a loaded machine mostly measures
 * waiting for a CPU, so both are given, and the fastest start of each configuration too.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requestFromProfile } from '../ops/from-profile';
import { stampFile } from '../ops/stamp';
import { BINDEXEC, hookCommand, nativeFile, type Hook } from '../native/locate';
import { recordPagemapRun } from '../record/pagemap';
import { resolveCommand } from '../io/spawn';
import { InterruptedError, interruption, throwIfInterrupted } from '../io/interrupt';
import type { BenchResult, BenchRunOptions } from './bench';
import { trainUnlessNoted } from './training';
import { type Stat, stat } from './stat';
import { sumShimLines } from './shim-lines';
import { benchHelper } from './helper';
import { InvalidInputError, RecordingError, ToolError } from '../errors';

export const WARM_CONFIGS = ['plain', 'exec', 'exec-off', 'audit', 'audit-off', 'preload', 'preload-off'] as const;
export type WarmConfig = (typeof WARM_CONFIGS)[number];

export interface WarmOptions extends BenchRunOptions {
  /** Interleaved rounds (default 10). */
  rounds?: number;
  /** Starts timed back to back per configuration and round (default 20). */
  loops?: number;
}

export interface WarmConfigResult {
  config: WarmConfig;
  /** Wall µs per start: over the rounds' medians. */
  usPerRun: Stat;
  /** CPU µs (user + system) per start: over the rounds' medians. */
  cpuUsPerRun: Stat;
  /** The fastest start of all rounds, wall µs. */
  fastestUs: number;
  /** Per round: the median start's wall µs, and CPU µs. */
  samples: number[];
  cpuSamples: number[];
  /** Per round: this configuration minus plain, µs per start; median and range over rounds. */
  vsPlainUs: Stat;
  /** vsPlainUs.median over plain's median, percent. */
  vsPlainPct: number;
  vsPlainCpuUs: Stat;
  vsPlainCpuPct: number;
  /** Fastest start minus plain's fastest, µs. */
  vsPlainFastestUs: number;
  /** Hooks with the shim on: per round, on minus off (the shim's own work), µs per start. */
  shimUs?: Stat;
  shimCpuUs?: Stat;
  /** Starts whose exit status differed from plain's. */
  otherStatus: number;
}

export interface ShimSummary {
  hook: Hook;
  /** The shim's ELFPREFETCH_DEBUG lines of one warm start. */
  lines: string[];
  objects: number;
  /** readahead calls issued, and their bytes. */
  requests: number;
  bytes: number;
  /** Requests left out because their pages were cached already, and their bytes. */
  cached: number;
  cachedBytes: number;
}

export interface WarmResult {
  kind: 'warm-overhead';
  command: string[];
  program: string;
  /** How the stamped program ran: bound over its own path (root), a copy, or the program itself. */
  how: 'bind' | 'copy' | 'itself';
  rounds: number;
  loops: number;
  training: BenchResult['training'];
  shim: ShimSummary[];
  configs: WarmConfigResult[];
  loadAverage: { before: number[]; after: number[] };
  notes: string[];
  date: string;
  kernel: string;
}

function capture(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => reject(new Error(`cannot run ${argv[0]}: ${e.message}`)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The shim's lines of one warm start, summed (src/bench/shim-lines.ts). */
export function shimSummary(hook: Hook, stderr: string): ShimSummary {
  const lines = stderr.split('\n').filter((l) => l.startsWith('elfprefetch: '));
  const { objects, requests, bytes, cached, cachedBytes } = sumShimLines(lines);
  return { hook, lines, objects, requests, bytes, cached, cachedBytes };
}

export async function benchWarmOverhead(argv: string[], opts: WarmOptions = {}): Promise<WarmResult> {
  if (argv.length === 0) throw new InvalidInputError('name the command to benchmark after --');
  const rounds = opts.rounds ?? 10;
  const loops = opts.loops ?? 20;
  if (!Number.isInteger(rounds) || rounds < 1) throw new InvalidInputError(`--runs must be a positive whole number, not ${rounds}`);
  if (!Number.isInteger(loops) || loops < 1) throw new InvalidInputError(`--loops must be a positive whole number, not ${loops}`);
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const notes: string[] = [];
  const helper = benchHelper();
  const root = typeof process.getuid !== 'function' || process.getuid() === 0;

  log('finding the program (a recorder run)');
  const discovery = await recordPagemapRun(argv, { stdio: 'ignore', env });
  throwIfInterrupted(opts.signal);
  const found = discovery.main ?? resolveCommand(argv[0]!, env);
  if (!found) throw new RecordingError(`cannot tell which program ${argv[0]} runs: ${discovery.notes.join('; ')}`);
  const program = fs.realpathSync(found);
  const { training, profileText } = await trainUnlessNoted(argv, program, { trainRuns: opts.trainRuns, env, log, method: root ? 'auto' : 'pagemap', signal: opts.signal });

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-warm-'));
  const loadBefore = os.loadavg();
  const results: WarmConfigResult[] = [];
  const shim: ShimSummary[] = [];
  let how: WarmResult['how'] = 'itself';
  let interruptedBy: NodeJS.Signals | undefined;
  try {
    let cmd = argv;
    let wrap: string[] = [];
    const configArgv = (c: WarmConfig): { argv: string[]; env: NodeJS.ProcessEnv } => {
      const base: NodeJS.ProcessEnv = { ...env };
      delete base.ELFPREFETCH_DISABLE;
      delete base.ELFPREFETCH_DEBUG;
      if (c === 'plain') return { argv: cmd, env: base };
      const [hook, off] = c.split('-') as [Hook, string | undefined];
      const h = hookCommand(hook, cmd, base);
      return { argv: h.argv, env: off ? { ...h.env, ELFPREFETCH_DISABLE: '1' } : h.env };
    };
    const loop = async (c: WarmConfig, n: number): Promise<Array<{ wallUs: number; cpuUs: number; status: number }>> => {
      const { argv: a, env: e } = configArgv(c);
      const r = await capture([...wrap, helper, 'loop', String(n), '--', ...a], e);
      const starts = r.stdout
        .trim()
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => l.trim().split(/\s+/).map(Number));
      if (r.code !== 0 || starts.length !== n || starts.some((f) => f.length < 3 || f.some((x) => !Number.isFinite(x)))) {
        throw new ToolError(`${c}: the benchmark helper failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`);
      }
      return starts.map((f) => ({ wallUs: f[0]! / 1000, cpuUs: f[1]!, status: f[2]! }));
    };

    await (async () => {
      if (profileText) {
        // the copy keeps the name the command was called by (llvm-readelf-14 is llvm-readobj by another name)
        const copy = path.join(work, root ? path.basename(program) : path.basename(argv[0]!));
        fs.copyFileSync(program, copy);
        fs.chmodSync(copy, fs.statSync(program).mode & 0o777);
        const t0 = Date.now();
        stampFile(copy, requestFromProfile(copy, 'the training selection', profileText));
        training.stampMs = Date.now() - t0;
        if (root) {
          how = 'bind';
          wrap = [nativeFile(BINDEXEC), copy, program, '--'];
          training.reason += ` (bound over ${program} in a private mount namespace)`;
        } else {
          how = 'copy';
          cmd = [copy, ...argv.slice(1)];
          training.reason += ` (${copy}, run in place of ${argv[0]})`;
        }
      }

      // what the shim does on a warm start (one start per hook, diagnostics on)
      for (const hook of ['exec', 'audit', 'preload'] as Hook[]) {
        const { argv: a, env: e } = configArgv(hook);
        const r = await capture([...wrap, ...a], { ...e, ELFPREFETCH_DEBUG: '1' });
        const s = shimSummary(hook, r.stderr);
        shim.push(s);
        if (!s.objects) notes.push(`${hook}: the shim prefetched nothing (${s.lines.join(' | ').slice(0, 300) || 'no diagnostics'})`);
      }
      // warm every configuration once
      const status = new Map<WarmConfig, number>();
      for (const c of WARM_CONFIGS) status.set(c, (await loop(c, 1))[0]!.status);
      for (const c of WARM_CONFIGS) if (status.get(c) !== status.get('plain')) notes.push(`${c}: exit status ${status.get(c)}, plain ${status.get('plain')}`);
      const wall = new Map<WarmConfig, number[]>(WARM_CONFIGS.map((c) => [c, []]));
      const cpu = new Map<WarmConfig, number[]>(WARM_CONFIGS.map((c) => [c, []]));
      const fastest = new Map<WarmConfig, number>(WARM_CONFIGS.map((c) => [c, Infinity]));
      const other = new Map<WarmConfig, number>(WARM_CONFIGS.map((c) => [c, 0]));
      let done = 0;
      for (let round = 0; round < rounds; round++) {
        for (const c of WARM_CONFIGS.map((_, i) => WARM_CONFIGS[(i + round) % WARM_CONFIGS.length]!)) {
          if ((interruptedBy = interruption(opts.signal)?.signal)) return;
          progress(`[${++done}/${rounds * WARM_CONFIGS.length}] warm round ${round + 1}/${rounds}: ${c} x ${loops}`);
          const starts = await loop(c, loops);
          wall.get(c)!.push(stat(starts.map((x) => x.wallUs)).median);
          cpu.get(c)!.push(stat(starts.map((x) => x.cpuUs)).median);
          fastest.set(c, Math.min(fastest.get(c)!, ...starts.map((x) => x.wallUs)));
          other.set(c, other.get(c)! + starts.filter((x) => x.status !== status.get('plain')).length);
        }
      }
      const plain = wall.get('plain')!;
      const plainCpu = cpu.get('plain')!;
      for (const c of WARM_CONFIGS) {
        const xs = wall.get(c)!;
        const cs = cpu.get(c)!;
        const d = stat(xs.map((x, i) => x - plain[i]!));
        const dc = stat(cs.map((x, i) => x - plainCpu[i]!));
        const hook = c === 'exec' || c === 'audit' || c === 'preload';
        const off = hook ? wall.get(`${c}-off` as WarmConfig)! : undefined;
        const offCpu = hook ? cpu.get(`${c}-off` as WarmConfig)! : undefined;
        results.push({
          config: c,
          usPerRun: stat(xs),
          cpuUsPerRun: stat(cs),
          fastestUs: fastest.get(c)!,
          samples: xs,
          cpuSamples: cs,
          vsPlainUs: d,
          vsPlainPct: (d.median / stat(plain).median) * 100,
          vsPlainCpuUs: dc,
          vsPlainCpuPct: (dc.median / stat(plainCpu).median) * 100,
          vsPlainFastestUs: fastest.get(c)! - fastest.get('plain')!,
          ...(off ? { shimUs: stat(xs.map((x, i) => x - off[i]!)) } : {}),
          ...(offCpu ? { shimCpuUs: stat(cs.map((x, i) => x - offCpu[i]!)) } : {}),
          otherStatus: other.get(c)!,
        });
      }
    })();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (interruptedBy) throw new InterruptedError(interruptedBy);
  return {
    kind: 'warm-overhead',
    command: argv,
    program,
    how,
    rounds,
    loops,
    training,
    shim,
    configs: results,
    loadAverage: { before: loadBefore, after: os.loadavg() },
    notes,
    date: new Date().toISOString(),
    kernel: os.release(),
  };
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(Math.abs(x) < 100 ? 1 : 0) : '-');

export function warmLines(r: WarmResult): string[] {
  const out: string[] = [];
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
  out.push(`warm-start overhead of the shim: ${r.command.join(' ')} (program ${r.program}), ${r.rounds} interleaved rounds x ${r.loops} starts per configuration, load average ${la(r.loadAverage.before)} -> ${la(r.loadAverage.after)}`);
  out.push(`note: ${r.training.reason}${r.training.recordMs !== undefined ? ` (record ${(r.training.recordMs / 1000).toFixed(1)} s, stamp ${r.training.stampMs ?? '-'} ms, ${r.training.pages ?? '-'} pages in ${r.training.objects ?? '-'} objects)` : ''}`);
  for (const s of r.shim) out.push(`shim (${s.hook}), warm: ${s.objects} objects prefetched, ${(s.bytes / 1048576).toFixed(1)} MiB in ${s.requests} readahead calls; ${s.cached ?? 0} requests (${((s.cachedBytes ?? 0) / 1048576).toFixed(1)} MiB) left out as cached`);
  const rows = [['config', 'wall us/start', 'vs plain us [range]', '%', 'fastest', 'vs plain', 'CPU us/start', 'vs plain us [range]', '%', 'shim CPU us (on - off)']];
  for (const c of r.configs) {
    const p = c.config === 'plain';
    rows.push([
      c.config + (c.otherStatus ? ` (${c.otherStatus} other exit)` : ''),
      f1(c.usPerRun.median),
      p ? '' : `${f1(c.vsPlainUs.median)} [${f1(c.vsPlainUs.min)}..${f1(c.vsPlainUs.max)}]`,
      p ? '' : c.vsPlainPct.toFixed(1),
      f1(c.fastestUs),
      p ? '' : f1(c.vsPlainFastestUs),
      f1(c.cpuUsPerRun.median),
      p ? '' : `${f1(c.vsPlainCpuUs.median)} [${f1(c.vsPlainCpuUs.min)}..${f1(c.vsPlainCpuUs.max)}]`,
      p ? '' : c.vsPlainCpuPct.toFixed(1),
      c.shimCpuUs ? `${f1(c.shimCpuUs.median)} [${f1(c.shimCpuUs.min)}..${f1(c.shimCpuUs.max)}]` : '',
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  for (const row of rows) out.push(row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd());
  const plain = r.configs.find((c) => c.config === 'plain')?.usPerRun.median ?? NaN;
  out.push(`medians over rounds of each round's median start; 'vs plain' paired per round; fastest: the quickest start of all rounds`);
  out.push(`goal: overhead < 2% of a warm start (${f1(plain * 0.02)} us here) or < 200 us`);
  for (const n of r.notes) out.push(`warning: ${n}`);
  return out;
}
