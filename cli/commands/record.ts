import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard, note } from '../guard';
import { wholeNumber } from '../checks';
import { examples } from '../examples';
import { noticingSignals } from '../signals';

/** The options record and train share (recordOptions). */
export interface RecordArgs {
  method: string;
  runs: number;
  'window-ms'?: number;
  main?: string;
  'keep-raw'?: string;
  flags?: string;
  discovery: boolean;
  json: boolean;
  '--'?: string[];
}

interface Args extends RecordArgs {
  output?: string;
}

/** Options record and train share. */
export function recordOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .parserConfiguration({ 'populate--': true, 'parse-positional-numbers': false, 'parse-numbers': false })
    .option('method', { type: 'string', choices: ['auto', 'pagemap', 'exact'], default: 'auto', describe: 'pagemap: unprivileged (LD_PRELOAD + LD_AUDIT recorder); exact: root, cold copies on a loop device and page-cache tracepoints; auto: exact when it can run' })
    .option('runs', { type: 'number', default: 1, describe: 'how many times to run the command' })
    .option('window-ms', { type: 'number', describe: 'record only the first N milliseconds of each process' })
    .option('main', { type: 'string', describe: "the program's file, when the command is a wrapper (default: the command's executable)" })
    .option('keep-raw', { type: 'string', describe: "keep the pagemap recorder's raw results in this folder" })
    .option('discovery', { type: 'boolean', default: true, describe: 'exact method: run the command once more first, to find the files it maps (--no-discovery: run it only --runs times; the program and the libraries ldd lists are traced)' })
    .option('flags', { type: 'string', hidden: true, describe: 'recorder switches for measurements: noaudit,nouffd,nozap,random' })
    .check((a) => {
      const cmd = (a as { '--'?: unknown[] })['--'] ?? [];
      if (cmd.length === 0) throw new Error('Name the command after --, e.g. `elfprefetch record -- node -e 0`.');
      const o = a as { runs?: unknown; 'window-ms'?: unknown };
      wholeNumber('runs', o.runs, 1, 1000);
      wholeNumber('window-ms', o['window-ms'], 1, 3_600_000);
      return true;
    }) as unknown as Argv<T>;
}

export function recordOpts(a: { method: string; runs: number; 'window-ms'?: number; main?: string; 'keep-raw'?: string; flags?: string; discovery: boolean }, io: Io) {
  return {
    discovery: a.discovery,
    method: a.method as 'auto' | 'pagemap' | 'exact',
    runs: Number(a.runs),
    windowMs: a['window-ms'] !== undefined ? Number(a['window-ms']) : undefined,
    main: a.main,
    rawDir: a['keep-raw'],
    flags: a.flags ? String(a.flags).split(',').filter(Boolean) : undefined,
    log: (s: string) => note(io, s),
  };
}

export function recordCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'record',
    describe: 'Run a command and record which pages of its ELF objects it touches (a profile)',
    builder: (y) =>
      recordOptions(
        y
          .usage('$0 record [-o PROFILE] [--method auto|pagemap|exact] [--runs N] [--window-ms N] -- CMD [ARGS...]')
          .option('output', { alias: 'o', type: 'string', describe: 'profile to write (default: CMD.profile.json in this folder)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
          .epilogue(
            examples([
              ['$0 record -o app.profile.json -- ./app --version', 'the pages one start of ./app touches'],
              ['$0 record --runs 5 -o app.json -- ./app', 'five runs; select keeps the pages most of them used'],
              ['$0 record --main ./app -o app.json -- ./run-app.sh', 'a program started by a wrapper script'],
            ]),
          ),
      ) as never,
    handler: async (a) => {
      setCode(
        await guard(io, undefined, async () => {
          const { record } = await import('../../src/record/record');
          const { selectPages } = await import('../../src/profile/select');
          const { selectionLines } = await import('../report');
          const { profileJson } = await import('../../src/profile/schema');
          const cmd = (a['--'] ?? []).map(String);
          const out = a.output ?? `${path.basename(cmd[0]!)}.profile.json`;
          const { preflight } = await import('../../src/record/preflight');
          preflight({ output: out, main: a.main, method: a.method as never });
          const r = await noticingSignals((signal) => record(cmd, { ...recordOpts(a, io), signal }));
          fs.writeFileSync(out, profileJson(r.profile));
          for (const n of r.notes) note(io, `warning: ${n}`);
          const all = selectPages(r.profile, { minShare: 0 });
          if (a.json) {
            io.out(JSON.stringify({ output: out, method: r.method, runs: r.runs.length, processes: r.runs.map((x) => x.processes), objects: all.objects, skipped: r.skipped, notes: r.notes }));
          } else {
            io.out(`recorded ${r.runs.length} run${r.runs.length === 1 ? '' : 's'} of ${cmd.join(' ')} (method ${r.method}; processes per run: ${r.runs.map((x) => x.processes).join(', ')})`);
            for (const line of selectionLines(all, r.profile.pageSize)) io.out(line);
            io.out(`wrote ${out}`);
          }
          return EXIT.ok;
        }),
      );
    },
  };
}
