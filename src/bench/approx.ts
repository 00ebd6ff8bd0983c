/*
 * `elfprefetch bench` without root: APPROXIMATE figures. No loop device, no mount namespace, no
 * throttle (model none only): before every cold run the clean page-cache pages of every file the
 * command maps are dropped with posix_fadvise(DONTNEED), which cannot evict pages some other
 * process has mapped (libc, ld.so: they stay warm) nor pages of files we did not list. Bytes read
 * are the child tree's ru_inblock (blocks read from storage, all devices); requests are unknown.
 * The program is trained (pagemap method) and a stamped copy in a temporary folder is run for
 * every strategy, unless the program already carries a valid note.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requestFromProfile } from '../ops/from-profile';
import { stampFile } from '../ops/stamp';
import { RECORDER_LIBRARY, hookCommand, nativeFile } from '../native/locate';
import { readableElf } from '../record/objects';
import { recordPagemapRun } from '../record/pagemap';
import { lddLibraries, resolveCommand } from '../io/spawn';
import { InterruptedError, interruption, throwIfInterrupted } from '../io/interrupt';
import { BenchOptions, BenchResult, STRATEGIES, Sample, BenchStrategy, run } from './bench';
import { summarize } from './summarize';
import { trainUnlessNoted } from './training';
import { benchHelper, parseUsage } from './helper';
import { InvalidInputError, RecordingError, ToolError, UnavailableError } from '../errors';

export async function benchApprox(argv: string[], opts: BenchOptions = {}): Promise<BenchResult> {
  if (argv.length === 0) throw new InvalidInputError('name the command to benchmark after --');
  const models = opts.models?.length ? [...new Set(opts.models)] : ['none'];
  if (models.some((m) => m !== 'none')) throw new UnavailableError('device models other than none need root (a cgroup throttle on a loop device); without root bench measures only --model none, approximately');
  const runs = opts.runs ?? 3;
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const notes = [
    'APPROXIMATE (not root): pages evicted with posix_fadvise(DONTNEED) before each cold run; pages other processes map (libc, ld.so, ...) stay cached; no throttle; bytes are the child tree\'s ru_inblock; requests unknown',
  ];
  log('not root: approximate figures (posix_fadvise(DONTNEED) eviction, no loop device, no throttle)');
  const helper = benchHelper();
  const recorderLib = nativeFile(RECORDER_LIBRARY);
  const discovery = await recordPagemapRun(argv, { stdio: 'ignore', env });
  throwIfInterrupted(opts.signal);
  const program = discovery.main ?? resolveCommand(argv[0]!, env);
  if (!program) throw new RecordingError(`cannot tell which program ${argv[0]} runs: ${discovery.notes.join('; ')}`);
  const targets = [...new Set([...discovery.files.keys(), program, ...lddLibraries(program)].filter((f) => f !== recorderLib && readableElf(f)).map((f) => fs.realpathSync(f)))];
  const files = targets.map((f) => ({ path: f, bytes: fs.statSync(f).size }));
  const training: BenchResult['training'] = { trained: false, reason: '' };
  let touched: BenchResult['touched'];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-bench-'));
  let cmd = argv;
  try {
    const trained = await trainUnlessNoted(argv, program, { trainRuns: opts.trainRuns, env, method: 'pagemap', signal: opts.signal });
    Object.assign(training, trained.training);
    if (trained.profileText) {
      const copy = path.join(work, path.basename(program));
      fs.copyFileSync(program, copy);
      fs.chmodSync(copy, fs.statSync(program).mode & 0o777);
      const t1 = Date.now();
      stampFile(copy, requestFromProfile(copy, 'the training selection', trained.profileText));
      training.stampMs = Date.now() - t1;
      training.reason = `the program's note is ${trained.status}: trained (pagemap, 1 run) and stamped a copy, ${copy}, which every strategy runs`;
      touched = trained.touched;
      cmd = [copy, ...argv.slice(1)];
      targets.push(copy);
    }
    const usageFile = path.join(work, 'usage');
    // Not the daemon: fanotify needs root.
    const strategies = STRATEGIES.filter((s) => !s.startsWith('daemon'));
    const samples = new Map<BenchStrategy, Sample[]>(strategies.map((s) => [s, []]));
    let interruptedBy: NodeJS.Signals | undefined;
    await (async () => {
      let done = 0;
      for (let round = 0; round < runs; round++) {
        for (const s of strategies.map((_, i) => strategies[(i + round) % strategies.length]!)) {
          if ((interruptedBy = interruption(opts.signal)?.signal)) return;
          progress(`[${++done}/${runs * strategies.length}] none (approximate) round ${round + 1}/${runs}: ${s}`);
          let full = cmd;
          let e: NodeJS.ProcessEnv = env;
          if (s === 'wholefile') full = [helper, 'prefetch', ...targets, '--', ...cmd];
          else if (s.startsWith('elfprefetch-')) ({ argv: full, env: e } = hookCommand(s.slice('elfprefetch-'.length) as 'exec', cmd, env));
          if (s === 'warm') await run(cmd, env);
          else await run([helper, 'evict', ...targets], env);
          fs.rmSync(usageFile, { force: true });
          const r = await run([helper, 'run', '-', usageFile, '--', ...full], e);
          if (r.code !== 0) throw new ToolError(`the benchmark helper failed (exit ${r.code}): ${r.stderr.trim()}`);
          const u = parseUsage(fs.readFileSync(usageFile, 'utf8'));
          samples.get(s)!.push({ wallMs: u.wallNs / 1e6, majflt: u.majflt, minflt: u.minflt, bytes: u.inblock * 512, ios: NaN, status: u.status, signal: u.signal });
        }
      }
    })();
    if (interruptedBy) throw new InterruptedError(interruptedBy);
    return {
      command: argv,
      program,
      files,
      runs,
      readAheadKb: NaN,
      controller: 'none (approximate: not root)',
      approximate: true,
      training,
      ...(touched ? { touched } : {}),
      models: [summarize('none', samples, touched)],
      notes,
      date: new Date().toISOString(),
      kernel: os.release(),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
