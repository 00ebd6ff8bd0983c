import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { MAX_PAGE_SIZE, powerOfTwo } from '../checks';
import { examples } from '../examples';
import { Io, guard } from '../guard';
import { exitBetweenWrites } from '../signals';
import { DEFAULT_SIDECAR_DIR } from '../../src/ops/sidecar';
import { DEFAULT_SET } from '../../src/note/format';

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
  fallback: 'none' | 'sidecar' | 'move';
  'sidecar-dir': string;
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
        .option('set', { type: 'string', default: DEFAULT_SET, describe: 'name of the page set (with --pages)' })
        .option('output', { alias: 'o', type: 'string', describe: 'write here instead of replacing the file' })
        .option('page-size', { type: 'number', default: 4096, describe: 'bytes per page of the bitmap (power of two)' })
        .option('max-page-size', { type: 'number', describe: 'largest page size of the target machine, overriding the default for its architecture' })
        .option('carry-over', { type: 'boolean', default: false, describe: 'accept a profile of another build of this program: carry its pages over section by section' })
        .option('force', { type: 'boolean', default: false, describe: 'with --carry-over: carry over even a profile that does not look like one of this program' })
        .option('sidecar', { type: 'string', describe: 'leave the file as it is and write the note to this sidecar directory (keyed by build-id; docs/FORMAT.md section 8)' })
        .option('fallback', { choices: ['none', 'sidecar', 'move'] as const, default: 'none' as const, describe: 'where the file has no room for the note without moving anything: refuse (none, exit 3), write the note to --sidecar-dir (sidecar), or move sections to make room (move: breaks separate debug files and core dumps, see docs/DESIGN.md)' })
        .option('sidecar-dir', { type: 'string', default: DEFAULT_SIDECAR_DIR, describe: 'the sidecar directory of --fallback sidecar' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .epilogue(
          examples([
            ['$0 stamp ./app --profile app.profile.json', 'the pages a recording of ./app saw (elfprefetch record)'],
            ['$0 stamp ./app --profile old.json --carry-over', 'a profile of an earlier build of ./app'],
            ['$0 stamp ./app --pages 0-15,20 -o app.stamped', 'pages by hand, into a copy'],
            ['$0 stamp ./app --pages 0-15 --fallback sidecar', 'a sidecar where the file has no room for a note'],
          ]),
        )
        .check((a) => {
          if (a.sidecar !== undefined && a.fallback !== 'none') throw new Error('--sidecar always writes a sidecar; --fallback applies to a note written into the file.');
          if (a.fallback === 'sidecar' && a.output !== undefined) throw new Error('--fallback sidecar leaves the file as it is where it has no room; it cannot be combined with --output.');
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
          {
            const { openElf } = await import('../../src/elf/read');
            const { verifyElf } = await import('../../src/ops/verify');
            const elf = openElf(a.file);
            const before = verifyElf(elf, { content: false });
            elf.source.close();
            // A file an earlier version stamped by moving sections keeps that layout: say so.
            for (const w of before.warnings ?? []) if (/earlier elfprefetch/.test(w)) io.err(`elfprefetch: warning: ${a.file}: ${w.replace(/; `elfprefetch remove`.*$/, '')}; this stamp refills that note in place and cannot move the sections back`);
            // A note written by train names the libraries too; --pages gives the file's own pages only.
            const libs = Math.max(0, (before.note?.objects.length ?? 1) - 1);
            if (a.pages && libs) io.err(`elfprefetch: warning: ${a.file}: its note has page sets for ${libs} ${libs === 1 ? 'library' : 'libraries'} (from train or --profile); --pages writes the file's own pages only, so they are dropped`);
          }
          const { PlacementRefusedError } = await import('../../src/elf/errors');
          const { MOVING } = await import('../../src/layout/plan');
          let r;
          exitBetweenWrites();
          try {
            r = stampFile(a.file, req, { output: a.output, maxPageSize: a['max-page-size'] ? BigInt(a['max-page-size']) : undefined, allowMove: a.fallback === 'move' });
          } catch (e) {
            if (!(e instanceof PlacementRefusedError) || a.fallback !== 'sidecar') throw e;
            const { writeSidecar } = await import('../../src/ops/sidecar');
            const s = writeSidecar(a.file, req, a['sidecar-dir']);
            if (a.json) io.out(JSON.stringify({ ...s, strategy: 'sidecar', reasons: e.reasons, ...(carried ? { carried } : {}) }));
            else io.out(`${a.file}: no room in the file (${e.reasons.join('; ')}); note written to sidecar ${s.output}: ${s.pages} pages, ${s.descUsed} bytes; the file is unchanged${carriedText}`);
            return EXIT.ok;
          }
          if (a.json) io.out(JSON.stringify({ ...r, growth: Number(r.growth), ...(carried ? { carried } : {}) }));
          else if (r.unchanged) io.out(`${r.output}: already current: the note holds these ${r.pages} pages; nothing changed${carriedText}`);
          else io.out(`${r.output}: stamped (${r.strategy}): ${r.pages} pages, note ${r.descUsed} of ${r.descCapacity} bytes, file grew by ${r.growth} bytes${carriedText}`);
          if (MOVING.has(r.strategy)) io.err(`elfprefetch: warning: ${r.output}: sections were moved to make room (--fallback move): a debug file split off before this stamp, core dumps and the kernel's build-id reader (Linux < 6.12) no longer match it (docs/DESIGN.md)`);
          return EXIT.ok;
        }),
      );
    },
  };
}
