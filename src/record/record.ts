import type { StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Profile } from '../profile/schema';
import { recordExact, exactUnavailable } from './exact';
import { RECORDER_LIBRARY, nativeDir, nativeFile } from '../native/locate';
import { readableElf } from './objects';
import { recordPagemapRun } from './pagemap';
import { throwIfInterrupted } from '../io/interrupt';
import { lddLibraries, resolveCommand } from '../io/spawn';
import { buildProfile } from './profile';
import type { Method, RunRecord } from './types';
import { InvalidInputError, RecordingError } from '../errors';

export interface RecordOptions {
  method?: Method | 'auto';
  runs?: number;
  windowMs?: number;
  /** Recorder switches for measurements (pagemap method): noaudit, nouffd, nozap, random. */
  flags?: string[];
  /** The file that is the program, when the command's own executable is a wrapper. */
  main?: string;
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
  /** Keep the pagemap method's raw results in DIR/run-N. */
  rawDir?: string;
  /**
   * The exact method first runs the command once under the pagemap recorder to learn which
   * files it maps (default). Without: the program (--main, else the command's executable) and
   * the libraries ldd lists are traced, and the command runs only `runs` times.
   */
  discovery?: boolean;
  log?: (s: string) => void;
  /** Aborted (by the CLI, on a signal): no new run starts; record throws its InterruptedError. */
  signal?: AbortSignal;
}

export interface RecordResult {
  profile: Profile;
  method: Method;
  runs: RunRecord[];
  skipped: Array<{ path: string; reason: string }>;
  notes: string[];
}

/** The method `auto` stands for here: exact when it can run (root, tracefs, loop devices), else pagemap. */
export function resolveMethod(method: Method | 'auto' = 'auto'): { method: Method; why?: string } {
  if (method !== 'auto') return { method };
  const why = exactUnavailable();
  return why ? { method: 'pagemap', why } : { method: 'exact' };
}

/** Records `runs` runs of argv and builds their profile (per-page counts over the runs). */
export async function record(argv: string[], opts: RecordOptions = {}): Promise<RecordResult> {
  if (argv.length === 0) throw new InvalidInputError('name the command to record after --');
  const runs = opts.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new InvalidInputError(`--runs must be a positive whole number, not ${runs}`);
  const log = opts.log ?? (() => {});
  const { method, why } = resolveMethod(opts.method);
  if (opts.method === 'auto' || opts.method === undefined) log(`method: ${method}${why ? ` (exact: ${why.replace(/^the exact method /, '')})` : ''}`);
  const discover = opts.discovery !== false;
  if (method === 'exact') {
    // Said before it happens: a command with side effects (a build, a download) runs once more.
    log(
      discover
        ? `exact: the command runs ${runs + 1} times: once to find the files it maps, then ${runs} traced cold run${runs === 1 ? '' : 's'} (--no-discovery: ${runs} run${runs === 1 ? '' : 's'} only, tracing the program and the libraries ldd lists)`
        : `exact: no discovery run; tracing the program and the libraries ldd lists (libraries it loads with dlopen are not seen)`,
    );
  }
  const lib = nativeFile(RECORDER_LIBRARY);
  const notes: string[] = [];
  const records: RunRecord[] = [];
  const pagemapRun = (i: number): Promise<RunRecord> =>
    recordPagemapRun(argv, { windowMs: opts.windowMs, flags: opts.flags, stdio: opts.stdio, env: opts.env, rawDir: opts.rawDir ? `${opts.rawDir}/run-${i}` : undefined });
  const signal = opts.signal;
  const interrupted = (): boolean => signal?.aborted === true;
  await (async () => {
    if (method === 'pagemap') {
      for (let i = 1; i <= runs && !interrupted(); i++) records.push(await pagemapRun(i));
      return;
    }
    if (!discover) {
      const main = opts.main ?? resolveCommand(argv[0]!, opts.env);
      if (!main || !readableElf(main)) throw new InvalidInputError(`--no-discovery: cannot tell which program ${argv[0]} is; name it with --main`);
      const files = [main, ...lddLibraries(main).filter((f) => f !== main && readableElf(f))];
      log(`exact: tracing ${main}${files.length > 1 ? ` and the ${files.length - 1} libraries ldd lists` : ' only'}`);
      for (const r of await recordExact(argv, files, runs, { windowMs: opts.windowMs, stdio: opts.stdio, env: opts.env, log, signal })) records.push({ ...r, main });
      return;
    }
    // A pagemap run first, to learn which files the command's processes map.
    const discovery = await pagemapRun(0);
    if (interrupted()) return;
    const files = [...discovery.files.keys()].filter((f) => f !== lib && readableElf(f));
    let main = discovery.main;
    if (!main) {
      // A static program loads no recorder: the exact method still sees its own file.
      main = resolveCommand(argv[0]!, opts.env);
      if (!main || !readableElf(main)) throw new RecordingError(`cannot tell which program the command runs: ${discovery.notes.join('; ')}`);
      files.push(main);
      // Go programs end with exit_group: the recorder's exit handler never runs, although
      // ld.so mapped libraries. ldd names them (it runs ld.so, not the program).
      const libs = lddLibraries(main).filter((f) => !files.includes(f) && readableElf(f));
      files.push(...libs);
      log(`exact: the recorder saw no process (a static program, or one that ends without exit handlers, like Go); tracing ${main}${libs.length ? ` and the ${libs.length} libraries ldd lists` : ' only'}`);
    } else log(`exact: a pagemap run found ${files.length} ELF files`);
    const exact = await recordExact(argv, files, runs, { windowMs: opts.windowMs, stdio: opts.stdio, env: opts.env, log, signal });
    for (const r of exact) records.push({ ...r, main });
  })();
  throwIfInterrupted(signal);
  records.forEach((r, i) => {
    const tag = runs > 1 ? `run ${i + 1}: ` : '';
    if (r.signal) notes.push(`${tag}the command was killed by ${r.signal}`);
    else if (r.code) notes.push(`${tag}the command exited with status ${r.code}`);
    for (const n of r.notes) notes.push(tag + n);
  });
  // Status 126/127 is the loader or the shell failing to start the program (a library or
  // the program not found): such a run recorded a failure, not the program's start-up.
  const started = records.filter((r) => r.signal || (r.code !== 126 && r.code !== 127));
  if (started.length === 0) {
    throw new RecordingError(`no run started the program (${[...new Set(notes)].join('; ')}): a missing library or program? Nothing was recorded`);
  }
  if (started.length < records.length) notes.push(`${records.length - started.length} of ${records.length} runs did not start the program (status 126/127) and were left out`);
  records.splice(0, records.length, ...started);
  if (records.every((r) => r.files.size === 0)) {
    throw new RecordingError(`nothing recorded: ${[...new Set(notes)].join('; ') || 'no pages'}`);
  }
  // Our own native files (the recorder, the shim when it is preloaded) are not the program's.
  const ours = fs.readdirSync(nativeDir()).map((f) => path.join(nativeDir(), f));
  const built = buildProfile(records, { command: argv, method, windowMs: opts.windowMs, main: opts.main, exclude: [lib, ...ours] });
  return { profile: built.profile, method, runs: records, skipped: built.skipped, notes: [...new Set(notes)] };
}
