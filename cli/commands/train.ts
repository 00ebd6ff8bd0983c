import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard, note } from '../guard';
import { share, size } from '../checks';
import { examples } from '../examples';
import { noticingSignals, statusAfter } from '../signals';
import { interruption } from '../../src/io/interrupt';
import { parseSize } from '../../src/profile/size';
import { RecordArgs, recordOptions, recordOpts } from './record';

interface Args extends RecordArgs {
  'min-share': number;
  budget?: string;
  libs: boolean;
  system: boolean;
  profile?: string;
}

export function trainCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'train',
    describe: 'Record runs, select pages and stamp the program (and, with --libs, its libraries) in one step',
    builder: (y) =>
      recordOptions(
        y
          .usage('$0 train [--runs N] [--libs] [--min-share S] [--budget B] -- CMD [ARGS...]')
          .option('min-share', { type: 'number', default: 0.5, describe: 'keep pages touched in at least this share of the runs (0 to 1)' })
          .option('budget', { type: 'string', describe: 'at most this many bytes over all objects (e.g. 4M)' })
          .option('libs', { type: 'boolean', default: false, describe: 'also stamp each library with a note of its own (not system files unless --system)' })
          .option('system', { type: 'boolean', default: false, describe: 'allow rewriting system files (under /usr, /lib, ... or from a package)' })
          .option('profile', { alias: 'o', type: 'string', describe: 'also write the selected profile here' })
          .option('json', { type: 'boolean', default: false, describe: 'print what was done as JSON' })
          .epilogue(
            examples([
              ['$0 train --runs 3 -- ./app --flag', 'record 3 runs, keep the pages most used, stamp ./app'],
              ['$0 train --libs --profile app.json -- ./app', 'also stamp its (non-system) libraries; keep the profile'],
            ]),
          )
          .check((a) => {
            share('min-share', a['min-share']);
            size('budget', a.budget, parseSize);
            return true;
          }),
      ) as never,
    handler: async (a) => {
      setCode(
        await guard(io, undefined, async () => {
          const { train } = await import('../../src/ops/train');
          const { selectionLines, stampLines } = await import('../report');
          const cmd = (a['--'] ?? []).map(String);
          const { preflight } = await import('../../src/record/preflight');
          preflight({ output: a.profile, main: a.main, method: a.method as never });
          // A signal during the recording ends it (record throws); one during the stamps, which
          // are synchronous, is noticed after them: the files are complete, the status 128+N.
          let stoppedBy: NodeJS.Signals | undefined;
          const r = await noticingSignals(async (signal) => {
            const r = await train(cmd, {
              ...recordOpts(a, io),
              signal,
              minShare: Number(a['min-share']),
              budget: a.budget !== undefined ? parseSize(String(a.budget)) : undefined,
              libs: a.libs,
              system: a.system,
              profileOut: a.profile,
            });
            stoppedBy = interruption(signal)?.signal;
            return r;
          });
          if (stoppedBy) return statusAfter(stoppedBy);
          for (const n of r.record.notes) note(io, `warning: ${n}`);
          if (a.json) {
            io.out(
              JSON.stringify({
                method: r.record.method,
                runs: r.selection.runs,
                minShare: Number(a['min-share']),
                objects: r.selection.objects,
                stamps: r.stamps.map((s) => ({ path: s.path, kind: s.kind, skipped: s.skipped, ...(s.result ? { strategy: s.result.strategy, pages: s.result.pages, growth: Number(s.result.growth) } : {}) })),
              }),
            );
          } else {
            io.out(`trained on ${r.selection.runs} run${r.selection.runs === 1 ? '' : 's'} of ${cmd.join(' ')} (method ${r.record.method}), pages used in at least ${Math.round(Number(a['min-share']) * 100)}% of them:`);
            for (const line of selectionLines(r.selection, r.selection.profile.pageSize)) io.out(line);
            for (const line of stampLines(r.stamps)) io.out(line);
            if (a.profile) io.out(`wrote ${a.profile}`);
          }
          return EXIT.ok;
        }),
      );
    },
  };
}
