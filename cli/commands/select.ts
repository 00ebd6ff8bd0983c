import * as fs from 'node:fs';
import { share, size } from '../checks';
import { examples } from '../examples';
import { parseSize } from '../../src/profile/size';
import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';

interface Args {
  profiles: string[];
  output: string;
  'min-share': number;
  budget?: string;
  json: boolean;
  force: boolean;
}

export function selectCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'select <profiles..>',
    describe: 'Merge profiles of several runs and keep the pages used in enough of them, within a budget',
    builder: (y) =>
      y
        .positional('profiles', { type: 'string', array: true, demandOption: true, describe: 'profiles written by `elfprefetch record`' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the selected profile to write' })
        .option('min-share', { type: 'number', default: 0.5, describe: 'keep pages touched in at least this share of the runs (0 to 1)' })
        .option('budget', { type: 'string', describe: 'at most this many bytes over all objects, most-used pages first (e.g. 4M)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
        .option('force', { type: 'boolean', default: false, describe: 'merge profiles even when they are of different programs' })
        .epilogue(examples([['$0 select run1.json run2.json run3.json -o app.json', 'keep the pages at least half of the three runs used']]))
        .check((a) => {
          share('min-share', a['min-share']);
          size('budget', a.budget, parseSize);
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, undefined, async () => {
          const { parseProfile } = await import('../../src/profile/schema');
          const { mergeProfiles } = await import('../../src/profile/merge');
          const { selectPages } = await import('../../src/profile/select');
          const { selectionLines } = await import('../report');
          const { profileJson } = await import('../../src/profile/schema');
          const { readRegular } = await import('../../src/io/regular');
          const { checkOutput } = await import('../../src/io/output');
          checkOutput(a.output, 'output');
          const profiles = a.profiles.map((p) => parseProfile(readRegular(p, 'profile').toString('utf8'), p));
          if (!a.force) {
            const { differentPrograms } = await import('../../src/profile/merge');
            const why = differentPrograms(profiles.map((p, i) => ({ name: a.profiles[i]!, profile: p })));
            if (why) throw new Error(`${why}: their pages do not make one selection (--force merges them anyway)`);
          }
          const budget = a.budget !== undefined ? parseSize(a.budget) : undefined;
          const sel = selectPages(mergeProfiles(profiles), { minShare: a['min-share'], budget });
          fs.writeFileSync(a.output, profileJson(sel.profile));
          if (a.json) io.out(JSON.stringify({ output: a.output, runs: sel.runs, overBudget: sel.overBudget, objects: sel.objects }));
          else {
            io.out(`selected pages used in at least ${Math.round(a['min-share'] * 100)}% of ${sel.runs} runs${budget !== undefined ? ` within ${a.budget}` : ''}:`);
            for (const line of selectionLines(sel, sel.profile.pageSize)) io.out(line);
            io.out(`wrote ${a.output}`);
          }
          return EXIT.ok;
        }),
      );
    },
  };
}
