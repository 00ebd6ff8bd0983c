import type { CommandModule } from 'yargs';
import { examples } from '../examples';
import { EXIT } from '../exit';
import { Io, guard, note } from '../run';
import { ORDER_FORMATS } from '../../src/order/formats';

interface Args {
  profile: string;
  output?: string;
  format: string;
  object?: string;
}

export function orderCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'order <profile>',
    describe: "Write a linker order file that puts a program's start-up functions together, from its profile",
    builder: (y) =>
      y
        .positional('profile', { type: 'string', demandOption: true, describe: 'a profile written by `elfprefetch record`, `select` or `train -o`' })
        .option('output', { alias: 'o', type: 'string', describe: 'the order file to write (default: standard output)' })
        .option('format', {
          type: 'string',
          choices: [...ORDER_FORMATS],
          demandOption: true,
          describe: 'lld: --symbol-ordering-file; gold: --section-ordering-file; gnu-ld: a script for -T (INSERT)',
        })
        .option('object', { type: 'string', describe: 'the object to order, by path or build-id (default: the program)' })
        .epilogue(
          examples([
            ['$0 order app.profile.json --format lld -o app.order', 'then link with -fuse-ld=lld -Wl,--symbol-ordering-file=app.order'],
            ['$0 order app.profile.json --format gold -o app.order', 'then link with -fuse-ld=gold -Wl,--section-ordering-file=app.order'],
            ['$0 order app.profile.json --format gnu-ld -o app-order.ld', 'then link with -Wl,-T,app-order.ld'],
          ]),
        ) as never,
    handler: async (a) => {
      setCode(
        await guard(io, undefined, async () => {
          const { parseProfile } = await import('../../src/profile/schema');
          const { readRegular } = await import('../../src/io/regular');
          const { checkOutput } = await import('../../src/io/output');
          const { writeFileAtomically } = await import('../../src/io/atomic');
          const { pickObject } = await import('../../src/order/pick');
          const { rankFunctions } = await import('../../src/order/rank');
          if (a.output !== undefined) checkOutput(a.output, 'output');
          const profile = parseProfile(readRegular(a.profile, 'profile').toString('utf8'), a.profile);
          const object = pickObject(profile, a.object);
          const ranked = rankFunctions(object, profile.pageSize, profile.runs);
          if (ranked.length === 0) throw new Error(`${a.profile}: none of the functions it keeps of ${object.path} lies on its recorded pages`);
          const { orderText } = await import('../../src/order/formats');
          const { text, left } = orderText(ranked, a.format as never, object.path);
          if (a.output === undefined) process.stdout.write(text);
          else writeFileAtomically(a.output, text);
          const hottest = ranked[0]!.runs;
          const always = ranked.filter((f) => f.runs === hottest).length;
          note(
            io,
            `${ranked.length} functions of ${object.path} (${always} touched in ${hottest} of ${profile.runs} runs), hottest first` +
              `${left ? `; ${left} left out (names a GNU ld script cannot carry)` : ''}${a.output !== undefined ? `: wrote ${a.output}` : ''}`,
          );
          return EXIT.ok;
        }),
      );
    },
  };
}
