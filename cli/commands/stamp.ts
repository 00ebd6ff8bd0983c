import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { MAX_PAGE_SIZE, powerOfTwo } from '../checks';
import { examples } from '../examples';
import { Io, guard } from '../run';

interface Args {
  file: string;
  profile?: string;
  pages?: string;
  set: string;
  output?: string;
  'page-size': number;
  'max-page-size'?: number;
  json: boolean;
  'carry-over': boolean;
  force: boolean;
  sidecar?: string;
}

export function stampCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'stamp <file>',
    describe: 'Write the page set into the file\'s note (in place, atomically)',
    builder: (y) =>
      y
        .positional('file', { type: 'string', demandOption: true })
        .option('profile', { alias: 'p', type: 'string', describe: 'profile JSON written by `elfprefetch record`' })
        .option('pages', { type: 'string', describe: 'page ranges of the file, e.g. 0-15,20,31-40' })
        .option('set', { type: 'string', default: 'default', describe: 'name of the page set (with --pages)' })
        .option('output', { alias: 'o', type: 'string', describe: 'write here instead of replacing the file' })
        .option('page-size', { type: 'number', default: 4096, describe: 'bytes per page of the bitmap (power of two)' })
        .option('max-page-size', { type: 'number', describe: 'largest page size of the target machine, overriding the default for its architecture' })
        .option('carry-over', { type: 'boolean', default: false, describe: 'accept a profile of another build of this program: carry its pages over section by section' })
        .option('force', { type: 'boolean', default: false, describe: 'with --carry-over: carry over even a profile that does not look like one of this program' })
        .option('sidecar', { type: 'string', describe: 'leave the file as it is and write the note to this sidecar directory (keyed by build-id; docs/FORMAT.md section 8)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .epilogue(
          examples([
            ['$0 stamp ./app --profile app.profile.json', 'the pages a recording of ./app saw (elfprefetch record)'],
            ['$0 stamp ./app --profile old.json --carry-over', 'a profile of an earlier build of ./app'],
            ['$0 stamp ./app --pages 0-15,20 -o app.stamped', 'pages by hand, into a copy'],
          ]),
        )
        .check((a) => {
          if (a.sidecar !== undefined && a.output !== undefined) throw new Error('--sidecar leaves the file as it is; it cannot be combined with --output.');
          if (!a.profile === !a.pages) throw new Error('Give exactly one of --profile or --pages, e.g. `elfprefetch stamp app --pages 0-15`.');
          if (a.force && !a['carry-over']) throw new Error('--force only applies to --carry-over.');
          powerOfTwo('page-size', a['page-size'], 512, 1 << 20);
          powerOfTwo('max-page-size', a['max-page-size'], MAX_PAGE_SIZE.min, MAX_PAGE_SIZE.max);
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { stampFile } = await import('../../src/ops/stamp');
          const { parseRanges } = await import('../../src/note/pageset');
          const { readRegular } = await import('../../src/io/regular');
          const { checkOutput } = await import('../../src/io/output');
          if (a.output !== undefined) checkOutput(a.output);
          const pageShift = Math.log2(a['page-size']);
          // The profile reader (and zod) load only when a profile is used.
          const req = a.pages
            ? { pageShift, sets: [{ name: a.set, runs: parseRanges(a.pages) }] }
            : (await import('../../src/ops/from-profile')).requestFromProfile(a.file, a.profile!, readRegular(a.profile!, 'profile').toString('utf8'), { carryOver: a['carry-over'], force: a.force });
          const carried = 'match' in req && req.match.how === 'carried' ? req.match : undefined;
          const carriedText = carried ? ` (pages carried over from build ${carried.from}${carried.dropped ? `; ${carried.dropped} had no section to go to` : ''})` : '';
          if (a.sidecar !== undefined) {
            const { writeSidecar } = await import('../../src/ops/sidecar');
            const r = writeSidecar(a.file, req, a.sidecar);
            if (a.json) io.out(JSON.stringify({ ...r, strategy: 'sidecar', ...(carried ? { carried } : {}) }));
            else io.out(`${a.file}: note written to sidecar ${r.output}: ${r.pages} pages, ${r.descUsed} bytes; the file is unchanged${carriedText}`);
            return EXIT.ok;
          }
          const r = stampFile(a.file, req, { output: a.output, maxPageSize: a['max-page-size'] ? BigInt(a['max-page-size']) : undefined });
          if (a.json) io.out(JSON.stringify({ ...r, growth: Number(r.growth), ...(carried ? { carried } : {}) }));
          else io.out(`${r.output}: stamped (${r.strategy}): ${r.pages} pages, note ${r.descUsed} of ${r.descCapacity} bytes, file grew by ${r.growth} bytes${carriedText}`);
          return EXIT.ok;
        }),
      );
    },
  };
}
