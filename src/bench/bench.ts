/*
 * `elfprefetch bench`: cold starts of a command side by side, per device model and strategy.
 *
 * The files the command maps (the recorder's discovery run) are copied to an ext4 image on a
 * read-only loop device with direct I/O and the read-ahead window asked for; every run mounts it
 * afresh (cold page cache), binds each copy over its original path in a private mount namespace
 * (build/native/elfprefetch-bindexec, as the exact recorder does) and runs the command in a
 * cgroup that throttles and counts the device's reads. Strategies are interleaved run by run.
 * The program's copy is stamped with a freshly trained note (the original is never touched)
 * unless the program already carries a valid one.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openElf } from '../elf/read';
import { requestFromProfile } from '../ops/from-profile';
import { stampFile } from '../ops/stamp';
import { verifyElf } from '../ops/verify';
import { hookCommand } from '../shim/native';
import { exactUnavailable } from '../record/exact';
import { BINDEXEC, RECORDER_LIBRARY, nativeFile } from '../record/native';
import { identify } from '../record/objects';
import { recordPagemapRun } from '../record/pagemap';
import { record } from '../record/record';
import { selectPages } from '../record/select';
import { noticingSignals, resolveCommand } from '../record/spawn';
import { IoCgroup, IoCounts, Limits, attachLoop, buildImage, detachLoop, directIo, readAheadKb, sh, unmount } from './device';
import { benchHelper, parseUsage } from './helper';
import { TouchedSet, boundMs, touchedSet } from './bound';

export const STRATEGIES = ['demand', 'wholefile', 'elfprefetch-exec', 'elfprefetch-audit', 'elfprefetch-preload', 'warm'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const MODELS = {
  none: { limits: {}, device: undefined, describe: 'no limit' },
  cloud: { limits: { riops: 1000 }, device: 'hdd', describe: '1000 read IOPS' },
  hdd: { limits: { riops: 100, rbps: 150_000_000 }, device: 'hdd', describe: '100 read IOPS, 150 MB/s' },
  net: { limits: { riops: 100, rbps: 30_000_000 }, device: 'net', describe: '100 read IOPS, 30 MB/s' },
} as const satisfies Record<string, { limits: Limits; device: string | undefined; describe: string }>;
export type ModelName = keyof typeof MODELS;

export interface BenchOptions {
  models?: ModelName[];
  runs?: number;
  raKb?: number;
  /** Runs of the training recording when the program carries no valid note. */
  trainRuns?: number;
  env?: NodeJS.ProcessEnv;
  log?: (s: string) => void;
  progress?: (s: string) => void;
}

export interface Sample {
  wallMs: number;
  majflt: number;
  minflt: number;
  bytes: number;
  ios: number;
  status: number;
  signal: number;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export interface StrategyResult {
  strategy: Strategy;
  runs: number;
  wallMs: Stat;
  majflt: Stat;
  minflt: Stat;
  bytes: Stat;
  ios: Stat;
  /** Median wall time over the median wall time of demand, wholefile and warm. */
  ratio: { demand: number; wholefile: number; warm: number };
  /** Median major faults over demand's. */
  majfltToDemand: number;
  /** Median wall time over the model's lower bound (when the touched pages are known). */
  toBound?: number;
  samples: Sample[];
  failures: number;
}

export interface ModelResult {
  model: ModelName;
  limits: Limits;
  describe: string;
  /** ELFPREFETCH_DEVICE given to the shim for this model (unset: the shim's own choice). */
  shimDevice?: string;
  /** Warm start + the fewest requests and bytes that read the touched pages, at this model's limits. */
  lowerBound?: { ms: number; requests: number; bytes: number };
  strategies: StrategyResult[];
}

export interface BenchResult {
  command: string[];
  program: string;
  files: Array<{ path: string; bytes: number }>;
  runs: number;
  readAheadKb: number;
  directIo?: boolean;
  controller: string;
  training: { trained: boolean; reason: string; method?: string; recordMs?: number; stampMs?: number; pages?: number; objects?: number };
  /** Pages the training recording saw touched (all of them, before selection). */
  touched?: TouchedSet;
  models: ModelResult[];
  notes: string[];
  interrupted?: string;
  /** Set without root: eviction by posix_fadvise(DONTNEED), no loop device, no throttle. */
  approximate?: boolean;
  date: string;
  kernel: string;
}

/** Why bench cannot measure here, or undefined. */
export function benchUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'bench needs Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return (
      'bench needs root: it builds a cold copy of the program on a loop device, mounts it before every run and throttles it with a cgroup. ' +
      'Run it as root; without root `elfprefetch bench` falls back to approximate figures (posix_fadvise(DONTNEED) eviction, --model none only).'
    );
  }
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
    try {
      sh('sh', ['-c', `command -v ${tool} || test -x /sbin/${tool} || test -x /usr/sbin/${tool}`]);
    } catch {
      return `bench needs ${tool} (Debian: util-linux, mount, e2fsprogs)`;
    }
  }
  return undefined;
}

const stat = (xs: number[]): Stat => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return { median: NaN, min: NaN, max: NaN };
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: m, min: s[0]!, max: s[s.length - 1]! };
};

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs argv with its output discarded, keeping the end of stderr for messages. */
export function run(argv: string[], env: NodeJS.ProcessEnv): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', (e) => reject(new Error(`cannot run ${argv[0]}: ${e.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

export async function bench(argv: string[], opts: BenchOptions = {}): Promise<BenchResult> {
  if (argv.length === 0) throw new Error('name the command to benchmark after --');
  const why = benchUnavailable();
  if (why) throw new Error(why);
  const models = opts.models?.length ? [...new Set(opts.models)] : (['none', 'hdd'] as ModelName[]);
  for (const m of models) if (!(m in MODELS)) throw new Error(`unknown device model ${m}: one of ${Object.keys(MODELS).join(', ')}`);
  const runs = opts.runs ?? 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number, not ${runs}`);
  const raKb = opts.raKb ?? 128;
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const notes: string[] = [];

  const helper = benchHelper();
  const bindexec = nativeFile(BINDEXEC);
  const recorderLib = nativeFile(RECORDER_LIBRARY);

  // 1. which files the command maps
  log('finding the files the command maps (a recorder run)');
  const discovery = await recordPagemapRun(argv, { stdio: 'ignore', env });
  const program = discovery.main ?? resolveCommand(argv[0]!, env);
  if (!program) throw new Error(`cannot tell which program ${argv[0]} runs: ${discovery.notes.join('; ')}`);
  // ldd adds what a process that never runs its destructors (Go's exit_group) did not report
  const loaded = [...discovery.files.keys(), program, ...lddFiles(program)].filter((f) => f !== recorderLib && isElf(f));
  const targets = [...new Set(loaded.map((f) => fs.realpathSync(f)))];
  const mainIndex = targets.indexOf(fs.realpathSync(program));
  const files = targets.map((f) => ({ path: f, bytes: fs.statSync(f).size }));
  log(`${targets.length} files, ${(files.reduce((n, f) => n + f.bytes, 0) / 1048576).toFixed(1)} MiB; program ${program}`);

  // 2. a note for the program's copy, unless the program carries a valid one
  const training: BenchResult['training'] = { trained: false, reason: '' };
  let profileText: string | undefined;
  let touched: TouchedSet | undefined;
  const status = noteStatus(program);
  if (status === 'valid') {
    training.reason = 'the program already carries a valid note';
  } else {
    const t0 = Date.now();
    const exact = exactUnavailable();
    log(`training: recording ${argv.join(' ')} (${exact ? 'pagemap' : 'exact'} method)`);
    const rec = await record(argv, { method: 'auto', runs: opts.trainRuns ?? 1, stdio: 'ignore', env });
    const sel = selectPages(rec.profile, { minShare: 0.5 });
    profileText = JSON.stringify(sel.profile);
    touched = touchedSet(rec.profile);
    training.trained = true;
    training.method = rec.method;
    training.recordMs = Date.now() - t0;
    training.objects = sel.profile.objects.filter((o) => o.pages.trim()).length;
    training.pages = sel.objects.reduce((n, o) => n + o.selected, 0);
    training.reason = `the program's note is ${status}: trained (${rec.method}, ${rec.runs.length} run) and stamped its copy on the loop device`;
  }

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-bench-'));
  const mnt = path.join(work, 'mnt');
  let cg: IoCgroup | undefined;
  let loopDev: string | undefined;
  let mounted = false;
  const results: ModelResult[] = [];
  let interruptedBy: string | undefined;
  const result = (): BenchResult => ({
    command: argv,
    program,
    files,
    runs,
    readAheadKb: raKb,
    directIo: undefined,
    controller: cg?.controller ?? '',
    training,
    ...(touched ? { touched } : {}),
    models: results,
    notes,
    ...(interruptedBy ? { interrupted: interruptedBy } : {}),
    date: new Date().toISOString(),
    kernel: os.release(),
  });
  let out: BenchResult | undefined;
  try {
    await noticingSignals(async (interrupted) => {
      // 3. the cold copies
      const image = buildImage(work, targets, (copyOf) => {
        if (!profileText) return;
        const t0 = Date.now();
        const copy = copyOf(mainIndex);
        stampFile(copy, requestFromProfile(copy, 'the training selection', profileText));
        training.stampMs = Date.now() - t0;
      });
      cg = new IoCgroup(`elfprefetch-bench-${process.pid}`);
      const loop = attachLoop(image, true, raKb);
      loopDev = loop.dev;
      const ra = readAheadKb(loop);
      const dio = directIo(loop);
      if (dio === false) notes.push('the loop device fell back to buffered I/O: the backing file may be cached');
      log(`${loop.dev} (${loop.majmin}), read-ahead ${ra} KiB, direct I/O ${dio === undefined ? 'unknown' : dio ? 'on' : 'off'}, ${cg.controller}`);
      const binds = targets.flatMap((f, i) => [path.join(mnt, String(i)), f]);
      const mount = (): void => {
        sh('mount', ['-o', 'ro,noload', loop.dev, mnt]);
        mounted = true;
      };
      const umount = (): void => {
        unmount(mnt);
        mounted = false;
      };
      const total = models.length * runs * STRATEGIES.length;
      let done = 0;
      const usageFile = path.join(work, 'usage');
      const measure = async (strategy: Strategy, shimDevice: string | undefined): Promise<Sample> => {
        let cmd: string[] = argv;
        let cmdEnv: NodeJS.ProcessEnv = { ...env };
        if (strategy === 'wholefile') cmd = [helper, 'prefetch', ...targets, '--', ...argv];
        else if (strategy.startsWith('elfprefetch-')) {
          const h = hookCommand(strategy.slice('elfprefetch-'.length) as 'exec' | 'audit' | 'preload', argv, env);
          cmd = h.argv;
          cmdEnv = h.env;
          if (shimDevice && !env.ELFPREFETCH_DEVICE) cmdEnv.ELFPREFETCH_DEVICE = shimDevice;
        }
        const full = [helper, 'run', cg!.procs, usageFile, '--', bindexec, ...binds, '--', ...cmd];
        if (strategy === 'warm') {
          const w = await run([bindexec, ...binds, '--', ...argv], env);
          if (w.code !== 0 && w.code !== discovery.code) notes.push(`warm-up run: exit ${w.code}: ${w.stderr.trim().slice(-200)}`);
        }
        fs.rmSync(usageFile, { force: true });
        const before = cg!.counts(loop.majmin);
        const r = await run(full, cmdEnv);
        const after = cg!.counts(loop.majmin);
        if (r.code !== 0) throw new Error(`the benchmark helper failed (exit ${r.code}): ${r.stderr.trim()}`);
        const u = parseUsage(fs.readFileSync(usageFile, 'utf8'));
        if ((u.status !== 0 && u.status !== discovery.code) || u.signal) {
          const msg = `${strategy}: the command ended with ${u.signal ? `signal ${u.signal}` : `status ${u.status}`}${r.stderr.trim() ? `: ${r.stderr.trim().slice(-300)}` : ''}`;
          if (!notes.includes(msg)) notes.push(msg);
        }
        return { wallMs: u.wallNs / 1e6, majflt: u.majflt, minflt: u.minflt, bytes: after.bytes - before.bytes, ios: after.ios - before.ios, status: u.status, signal: u.signal };
      };
      for (const model of models) {
        const m = MODELS[model];
        cg.setLimits(loop.majmin, m.limits);
        const samples = new Map<Strategy, Sample[]>(STRATEGIES.map((s) => [s, []]));
        for (let round = 0; round < runs; round++) {
          // round-robin, starting one further each round, so drift hits every strategy alike
          const order = STRATEGIES.map((_, i) => STRATEGIES[(i + round) % STRATEGIES.length]!);
          for (const s of order) {
            if (interrupted()) {
              interruptedBy = interrupted();
              return;
            }
            progress(`[${++done}/${total}] ${model} round ${round + 1}/${runs}: ${s}`);
            mount();
            try {
              samples.get(s)!.push(await measure(s, m.device));
            } finally {
              umount();
            }
          }
        }
        cg.setLimits(loop.majmin, {});
        results.push(summarize(model, samples, touched));
      }
      out = result();
      out.directIo = dio;
      out.readAheadKb = ra;
    });
  } catch (e) {
    if (!interruptedBy || !/^interrupted by/.test((e as Error).message)) throw e;
  } finally {
    if (mounted) unmount(mnt);
    if (loopDev) detachLoop(loopDev);
    (cg as IoCgroup | undefined)?.remove();
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (interruptedBy) throw new Error(`interrupted by ${interruptedBy} (loop device, mounts and cgroup removed)`);
  return out ?? result();
}

/** The interpreter and shared libraries ld.so would load for `program` (ldd), if any. */
export function lddFiles(program: string): string[] {
  let text: string;
  try {
    text = sh('ldd', [program]);
  } catch {
    return []; // static, or not a dynamic ELF program
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m && fs.existsSync(m[1]!)) out.push(m[1]!);
  }
  return out;
}

function isElf(f: string): boolean {
  try {
    return identify(f) !== undefined;
  } catch {
    return false;
  }
}

function noteStatus(file: string): string {
  try {
    const elf = openElf(file);
    try {
      return verifyElf(elf, { content: false }).status;
    } finally {
      elf.source.close();
    }
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  }
}

export function summarize(model: ModelName, samples: Map<Strategy, Sample[]>, touched?: TouchedSet): ModelResult {
  const m = MODELS[model];
  const warm = stat(samples.get('warm')?.map((x) => x.wallMs) ?? []).median;
  const bound = touched && Number.isFinite(warm) ? { ms: boundMs(warm, touched, m.limits), requests: touched.requests, bytes: touched.bytes } : undefined;
  const base = (s: Strategy): number => stat(samples.get(s)?.map((x) => x.wallMs) ?? []).median;
  const demandMaj = stat(samples.get('demand')?.map((x) => x.majflt) ?? []).median;
  const strategies = STRATEGIES.filter((s) => samples.get(s)?.length).map((s): StrategyResult => {
    const xs = samples.get(s)!;
    const wall = stat(xs.map((x) => x.wallMs));
    return {
      strategy: s,
      runs: xs.length,
      wallMs: wall,
      majflt: stat(xs.map((x) => x.majflt)),
      minflt: stat(xs.map((x) => x.minflt)),
      bytes: stat(xs.map((x) => x.bytes)),
      ios: stat(xs.map((x) => x.ios)),
      ratio: { demand: wall.median / base('demand'), wholefile: wall.median / base('wholefile'), warm: wall.median / base('warm') },
      majfltToDemand: demandMaj ? stat(xs.map((x) => x.majflt)).median / demandMaj : NaN,
      ...(bound ? { toBound: wall.median / bound.ms } : {}),
      samples: xs,
      failures: xs.filter((x) => x.signal || x.status === 126 || x.status === 127).length,
    };
  });
  return { model, limits: m.limits, describe: m.describe, ...(m.device ? { shimDevice: m.device } : {}), ...(bound ? { lowerBound: bound } : {}), strategies };
}

export type { IoCounts };
