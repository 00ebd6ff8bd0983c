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
import { requestFromProfile } from '../ops/from-profile';
import { stampFile } from '../ops/stamp';
import { BINDEXEC, RECORDER_LIBRARY, hookCommand, nativeFile } from '../native/locate';
import { readableElf } from '../record/objects';
import { recordPagemapRun } from '../record/pagemap';
import { lddLibraries, resolveCommand, sh } from '../io/spawn';
import { InterruptedError, interruption, throwIfInterrupted } from '../io/interrupt';
import { IoCgroup, Limits, QueueLimits, deviceRequestBytes, ioThrottleUnavailable, queueLimits, waitUnclaimed } from './device';
import { attachLoop, buildImage, detachLoop, directIo, loopUnavailable, readAheadKb, unmount } from '../io/loop';
import { daemonKind, noteCacheFile, startDaemon } from './daemon';
import type { Stat } from './stat';
import { plannedBy } from './shim-lines';
import { summarize } from './summarize';
import { trainUnlessNoted } from './training';
import { benchHelper, parseUsage } from './helper';
import type { TouchedSet } from './bound';
import { InvalidInputError, RecordingError, ToolError, UnavailableError } from '../errors';

// The strategies and device models are named in their own module, which the CLI reads for its
// option choices without loading the benchmark.
export { STRATEGIES, MODELS } from './strategies';
export type { BenchStrategy, ModelName } from './strategies';
import { MODELS, STRATEGIES } from './strategies';
import type { BenchStrategy, ModelName } from './strategies';

/** What every benchmark takes: training, environment, output, interruption. */
export interface BenchRunOptions {
  /** Runs of the training recording when the program carries no valid note. */
  trainRuns?: number;
  env?: NodeJS.ProcessEnv;
  log?: (s: string) => void;
  progress?: (s: string) => void;
  /** Aborted (by the CLI, on a signal): stops before the next run, cleans up, throws InterruptedError. */
  signal?: AbortSignal;
}

export interface BenchOptions extends BenchRunOptions {
  models?: ModelName[];
  runs?: number;
  /** Only these strategies (default all; ratios to a strategy left out are not given). */
  strategies?: BenchStrategy[];
  raKb?: number;
}

export interface Sample {
  wallMs: number;
  /** User + system CPU time of the whole child tree. */
  cpuMs?: number;
  majflt: number;
  minflt: number;
  bytes: number;
  ios: number;
  status: number;
  signal: number;
  /** elfprefetch strategies: what the shim said it issued (its ELFPREFETCH_DEBUG lines). */
  planned?: { objects: number; requests: number; bytes: number; classes?: string[] };
  /** Why this run may not have been cold (the device held elsewhere, nothing read). */
  suspect?: string;
}

export interface StrategyResult {
  strategy: BenchStrategy;
  runs: number;
  wallMs: Stat;
  cpuMs?: Stat;
  majflt: Stat;
  minflt: Stat;
  bytes: Stat;
  ios: Stat;
  /** elfprefetch strategies: readahead calls the shim planned and issued (its diagnostics). */
  planned?: Stat;
  /** Median wall time over the median wall time of demand, wholefile and warm. */
  ratio: { demand: number; wholefile: number; warm: number };
  /** Median major faults over demand's. */
  majfltToDemand: number;
  /** Median wall time over the model's lower bound (when the touched pages are known). */
  toBound?: number;
  /** Median wall time over the bound with requests no larger than the device takes unsplit (ModelResult.deviceBound). */
  toDeviceBound?: number;
  samples: Sample[];
  /** Samples left out of the figures (suspect: maybe not cold). */
  excluded?: number;
  failures: number;
}

export interface ModelResult {
  model: ModelName;
  limits: Limits;
  describe: string;
  /** ELFPREFETCH_DEVICE given to the shim for this model (unset: the shim's own choice). */
  shimDevice?: string;
  /** The classes the shim planned for and why, as its debug lines say ("ssd: loop device on ..."). */
  shimClasses?: string[];
  /** Warm start + the fewest requests and bytes that read the touched pages, at this model's limits. */
  lowerBound?: { ms: number; requests: number; bytes: number };
  /** The same bound with requests no larger than the device takes in one (see BenchResult.deviceRequestKb). */
  deviceBound?: { ms: number; requests: number };
  strategies: StrategyResult[];
}

export interface BenchResult {
  command: string[];
  program: string;
  files: Array<{ path: string; bytes: number }>;
  runs: number;
  readAheadKb: number;
  /**
   * The largest read the loop device takes as one request when the page cache reads 4 KiB pages
   * (min(max_sectors_kb, max_segments x 4 KiB)); larger readahead calls are split, and the
   * throttle counts (and charges) each part.
   */
  deviceRequestKb?: number;
  queue?: QueueLimits;
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
  const noLoop = loopUnavailable();
  if (noLoop) return `bench needs a loop device for the cold copy of the program: ${noLoop}`;
  const noThrottle = ioThrottleUnavailable();
  if (noThrottle) return `bench needs a cgroup that throttles and counts the loop device's reads: ${noThrottle}`;
  return undefined;
}

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Lines of stderr that start with "elfprefetch: " (the shim's diagnostics), at most 2000. */
  shimLines: string[];
}

/** Runs argv with its output discarded, keeping the end of stderr for messages. */
export function run(argv: string[], env: NodeJS.ProcessEnv): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let partial = '';
    const shimLines: string[] = [];
    child.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr = (stderr + text).slice(-4000);
      const lines = (partial + text).split('\n');
      partial = lines.pop()!.slice(-4000);
      for (const l of lines) if (l.startsWith('elfprefetch: ') && shimLines.length < 2000) shimLines.push(l);
    });
    child.on('error', (e) => reject(new Error(`cannot run ${argv[0]}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (partial.startsWith('elfprefetch: ') && shimLines.length < 2000) shimLines.push(partial);
      resolve({ code, signal, stderr, shimLines });
    });
  });
}

/**
 * One benchmark, start to end. It stays one function of about 190 lines on purpose: its steps
 * (discovery, training, the image, the loop device, the cgroup, the measuring loop) share the
 * state that the one `finally` below must undo whatever happened (mounted, loop device, cgroup,
 * work folder); `mount`, `umount` and `measure` are its steps, closures over that state.
 */
export async function bench(argv: string[], opts: BenchOptions = {}): Promise<BenchResult> {
  if (argv.length === 0) throw new InvalidInputError('name the command to benchmark after --');
  const why = benchUnavailable();
  if (why) throw new UnavailableError(why);
  const models = opts.models?.length ? [...new Set(opts.models)] : (['none', 'hdd'] as ModelName[]);
  for (const m of models) if (!(m in MODELS)) throw new InvalidInputError(`unknown device model ${m}: one of ${Object.keys(MODELS).join(', ')}`);
  const runs = opts.runs ?? 3;
  if (!Number.isInteger(runs) || runs < 1) throw new InvalidInputError(`--runs must be a positive whole number, not ${runs}`);
  for (const s of opts.strategies ?? []) if (!(STRATEGIES as readonly string[]).includes(s)) throw new InvalidInputError(`unknown strategy ${s}: one of ${STRATEGIES.join(', ')}`);
  const chosen: BenchStrategy[] = opts.strategies?.length ? STRATEGIES.filter((s) => opts.strategies!.includes(s)) : [...STRATEGIES];
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
  throwIfInterrupted(opts.signal);
  const program = discovery.main ?? resolveCommand(argv[0]!, env);
  if (!program) throw new RecordingError(`cannot tell which program ${argv[0]} runs: ${discovery.notes.join('; ')}`);
  // ldd adds what a process that never runs its destructors (Go's exit_group) did not report
  const loaded = [...discovery.files.keys(), program, ...lddLibraries(program)].filter((f) => f !== recorderLib && readableElf(f));
  const targets = [...new Set(loaded.map((f) => fs.realpathSync(f)))];
  const mainIndex = targets.indexOf(fs.realpathSync(program));
  const files = targets.map((f) => ({ path: f, bytes: fs.statSync(f).size }));
  log(`${targets.length} files, ${(files.reduce((n, f) => n + f.bytes, 0) / 1048576).toFixed(1)} MiB; program ${program}`);

  // 2. a note for the program's copy, unless the program carries a valid one
  const { training, profileText, touched } = await trainUnlessNoted(argv, program, { trainRuns: opts.trainRuns, env, log, signal: opts.signal });
  if (training.trained) training.reason += ' on the loop device';

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-bench-'));
  const mnt = path.join(work, 'mnt');
  let cg: IoCgroup | undefined;
  let loopDev: string | undefined;
  let mounted = false;
  let queue: BenchResult['queue'];
  const results: ModelResult[] = [];
  let interruptedBy: NodeJS.Signals | undefined;
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
    await (async () => {
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
      queue = queueLimits(loop);
      const dio = directIo(loop);
      if (dio === false) notes.push('the loop device fell back to buffered I/O: the backing file may be cached');
      log(`${loop.dev} (${loop.majmin}), read-ahead ${ra} KiB, direct I/O ${dio === undefined ? 'unknown' : dio ? 'on' : 'off'}, ${cg.controller}`);
      const binds = targets.flatMap((f, i) => [path.join(mnt, String(i)), f]);
      // A process elsewhere that unshares its mount namespace while the image is mounted (a
      // recorder, a container, another bench) keeps a copy of the mount, and with it the file
      // system and its page cache, after our umount; mounting again would reuse that warm
      // superblock. So before each mount wait until nothing holds the device (an O_EXCL open
      // succeeds), and say so if that never happens.
      let claimedWaitMs = 0;
      const mount = async (): Promise<boolean> => {
        const t0 = Date.now();
        const free = await waitUnclaimed(loop.dev, 30_000);
        claimedWaitMs += Date.now() - t0;
        sh('mount', ['-o', 'ro,noload', loop.dev, mnt]);
        mounted = true;
        return free;
      };
      const umount = (): void => {
        unmount(mnt);
        mounted = false;
      };
      const total = models.length * runs * chosen.length;
      let done = 0;
      const usageFile = path.join(work, 'usage');
      const measure = async (strategy: BenchStrategy, shimDevice: string | undefined): Promise<Sample> => {
        let cmd: string[] = argv;
        let cmdEnv: NodeJS.ProcessEnv = { ...env };
        if (strategy === 'wholefile') cmd = [helper, 'prefetch', ...targets, '--', ...argv];
        else if (strategy.startsWith('elfprefetch-')) {
          const h = hookCommand(strategy.slice('elfprefetch-'.length) as 'exec' | 'audit' | 'preload', argv, env);
          cmd = h.argv;
          cmdEnv = h.env;
          if (shimDevice && !env.ELFPREFETCH_DEVICE) cmdEnv.ELFPREFETCH_DEVICE = shimDevice;
          // the shim's one line per object (what it planned and issued): microseconds of writes
          cmdEnv.ELFPREFETCH_DEBUG = '1';
        }
        const full = [helper, 'run', cg!.procs, usageFile, '--', bindexec, ...binds, '--', ...cmd];
        if (strategy === 'warm') {
          const w = await run([bindexec, ...binds, '--', ...argv], env);
          if (w.code !== 0 && w.code !== discovery.code) notes.push(`warm-up run: exit ${w.code}: ${w.stderr.trim().slice(-200)}`);
        }
        fs.rmSync(usageFile, { force: true });
        // elfprefetchd watching the fresh mount, already listening when the command starts
        const kind = daemonKind(strategy);
        const daemon = kind ? await startDaemon([bindexec, ...binds, '--'], mnt, shimDevice, cg!.procs, work, kind.mode, kind.noteCache) : undefined;
        const before = cg!.counts(loop.majmin);
        let r: Spawned;
        try {
          r = await run(full, cmdEnv);
        } catch (e) {
          await daemon?.stop();
          throw e;
        }
        // its lines are the shim's: what it planned and issued
        if (daemon) {
          r.shimLines = await daemon.stop();
          // A cached strategy whose run did not use the note cache measures the uncached one.
          if (kind?.noteCache && daemon.noteCacheHits() === 0) {
            const msg = `${strategy}: a run did not take the program's note from the note cache (the figures are those of a first exec)`;
            if (!notes.includes(msg)) notes.push(msg);
          }
        }
        const after = cg!.counts(loop.majmin);
        if (r.code !== 0) throw new ToolError(`the benchmark helper failed (exit ${r.code}): ${r.stderr.trim()}`);
        const u = parseUsage(fs.readFileSync(usageFile, 'utf8'));
        if ((u.status !== 0 && u.status !== discovery.code) || u.signal) {
          const msg = `${strategy}: the command ended with ${u.signal ? `signal ${u.signal}` : `status ${u.status}`}${r.stderr.trim() ? `: ${r.stderr.trim().slice(-300)}` : ''}`;
          if (!notes.includes(msg)) notes.push(msg);
        }
        const sample: Sample = { wallMs: u.wallNs / 1e6, cpuMs: (u.utimeUs + u.stimeUs) / 1000, majflt: u.majflt, minflt: u.minflt, bytes: after.bytes - before.bytes, ios: after.ios - before.ios, status: u.status, signal: u.signal };
        if (strategy.startsWith('elfprefetch-') || daemon) sample.planned = plannedBy(r.shimLines);
        return sample;
      };
      // The daemons' note cache: filled by one run of the command under a daemon, before any
      // measured run (and cold again after it: the next mount is a fresh one).
      if (chosen.some((s) => daemonKind(s)?.noteCache)) {
        await mount();
        try {
          const d = await startDaemon([bindexec, ...binds, '--'], mnt, undefined, cg!.procs, work, 'notify', true);
          await run([bindexec, ...binds, '--', ...argv], env);
          await d.stop();
        } finally {
          umount();
        }
        const kept = fs.existsSync(noteCacheFile(work)) ? fs.statSync(noteCacheFile(work)).size : 0;
        // 32 bytes: the file's header alone
        if (kept <= 32) notes.push(`daemon, daemon-permission: the filling run kept no note (${kept ? 'an empty note cache' : 'no note cache file'}): the program has no usable note of its own`);
        notes.push(`daemon, daemon-permission: the daemon's note cache was filled by one run before the measured ones (${kept} bytes), as on a machine where the program ran before; the -uncached ones have none, as at the first exec after an install`);
      }
      for (const model of models) {
        const m = MODELS[model];
        cg.setLimits(loop.majmin, m.limits);
        const samples = new Map<BenchStrategy, Sample[]>(chosen.map((s) => [s, []]));
        for (let round = 0; round < runs; round++) {
          // round-robin, starting one further each round, so drift hits every strategy alike
          const order = chosen.map((_, i) => chosen[(i + round) % chosen.length]!);
          for (const s of order) {
            if ((interruptedBy = interruption(opts.signal)?.signal)) return;
            progress(`[${++done}/${total}] ${model} round ${round + 1}/${runs}: ${s}`);
            const free = await mount();
            try {
              const sample = await measure(s, m.device);
              if (!free) sample.suspect = 'the device was still held by another mount namespace: the run may have been warm';
              else if (s !== 'warm' && sample.bytes === 0) sample.suspect = 'a cold run read nothing from the device';
              if (sample.suspect) {
                const msg = `${model} ${s} round ${round + 1}: ${sample.suspect}`;
                notes.push(msg);
              }
              samples.get(s)!.push(sample);
            } finally {
              umount();
            }
          }
        }
        cg.setLimits(loop.majmin, {});
        results.push(summarize(model, samples, touched, deviceRequestBytes(queue)));
      }
      if (claimedWaitMs > 1000) notes.push(`waited ${(claimedWaitMs / 1000).toFixed(1)} s in all for other mount namespaces to let go of the device`);
      out = result();
      out.directIo = dio;
      out.readAheadKb = ra;
      if (queue) {
        out.queue = queue;
        out.deviceRequestKb = deviceRequestBytes(queue) / 1024;
      }
    })();
  } catch (e) {
    // A run the signal cut short fails in its own words: the interruption is the news.
    if (!(interruptedBy = interruption(opts.signal)?.signal)) throw e;
  } finally {
    if (mounted) unmount(mnt);
    if (loopDev) detachLoop(loopDev);
    (cg as IoCgroup | undefined)?.remove();
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (interruptedBy) throw new InterruptedError(interruptedBy, 'loop device, mounts and cgroup removed');
  return out ?? result();
}
