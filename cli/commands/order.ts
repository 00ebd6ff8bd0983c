import type { CommandModule } from 'yargs';
import { examples } from '../examples';
import { EXIT } from '../exit';
import { Io, guard, note } from '../guard';
import { InvalidInputError } from '../../src/errors';
import { ORDER_FORMATS } from '../../src/order/formats';

interface Args {
  profiles?: string[];
  output?: string;
  format?: string;
  object?: string;
  training?: boolean;
}

export function orderCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'order [profiles..]',
    describe: "Write a linker order file that puts a program's start-up functions together, from its profile",
    builder: (y) =>
      y
        .positional('profiles', {
          type: 'string',
          array: true,
          describe: 'a profile (`record`, `select`, `train -o`); more profiles of other links of the program drop the functions they did not see run',
        })
        .option('output', { alias: 'o', type: 'string', describe: 'the order file to write (default: standard output)' })
        .option('format', {
          type: 'string',
          choices: [...ORDER_FORMATS],
          describe: 'lld: --symbol-ordering-file; lld-rodata: a script for lld -T beside it (switch tables and string literals); gold: --section-ordering-file; gnu-ld: a script for -T (INSERT)',
        })
        .option('training', {
          type: 'boolean',
          describe: 'write the linker script of a training link instead (GNU ld: every function on a page of its own), whose profile makes an exact order',
        })
        .option('object', { type: 'string', describe: 'the object to order, by path or build-id (default: the program)' })
        .epilogue(
          examples([
            ['$0 order app.profile.json --format lld -o app.order', 'then link with -fuse-ld=lld -Wl,--symbol-ordering-file=app.order'],
            ['$0 order app.profile.json --format lld-rodata -o app-rodata.ld', 'and add -Wl,-T,app-rodata.ld: the switch tables and string literals, which no symbol orders'],
            ['$0 order app.profile.json --format gold -o app.order', 'then link with -fuse-ld=gold -Wl,--section-ordering-file=app.order'],
            ['$0 order app.profile.json --format gnu-ld -o app-order.ld', 'then link with -Wl,-T,app-order.ld'],
            ['$0 order stock.json ordered.json --format lld -o app.order', 'the order of stock.json, without what the ordered link did not run'],
            ['$0 order --training -o training.ld', 'link with -fuse-ld=bfd -Wl,-T,training.ld, record that link, then `order` its profile: just the functions start-up ran'],
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
          if (a.output !== undefined) checkOutput(a.output, 'output');
          const profiles = a.profiles ?? [];
          if (a.training) {
            if (profiles.length || a.format !== undefined || a.object !== undefined) {
              throw new InvalidInputError("--training writes the training link's linker script and takes no profile, --format or --object");
            }
            const { trainingScript } = await import('../../src/order/training');
            if (a.output === undefined) process.stdout.write(trainingScript());
            else writeFileAtomically(a.output, trainingScript());
            note(io, `the training link's script${a.output !== undefined ? `: wrote ${a.output}` : ''}; link with -fuse-ld=bfd -Wl,-T,FILE, record the program, then \`elfprefetch order\` its profile`);
            return EXIT.ok;
          }
          if (!profiles.length) throw new InvalidInputError("give a profile to order (or --training for the training link's script)");
          if (a.format === undefined) throw new InvalidInputError(`give --format: ${ORDER_FORMATS.join(', ')}`);
          const { rankSymbols, seenInAll } = await import('../../src/order/rank');
          const ranks = profiles.map((file) => {
            const profile = parseProfile(readRegular(file, 'profile').toString('utf8'), file);
            const object = pickObject(profile, a.object);
            const rank = (symbols: typeof object.functions) => rankSymbols(symbols ?? [], object, profile.pageSize, profile.runs);
            return { file, profile, object, functions: rank(object.functions), data: rank(object.data) };
          });
          const { file, profile, object } = ranks[0]!;
          const others = ranks.slice(1);
          const functions = seenInAll(ranks[0]!.functions, others.map((r) => r.functions));
          const data = seenInAll(ranks[0]!.data, others.map((r) => r.data));
          if (functions.length === 0) {
            throw new InvalidInputError(
              others.length
                ? `no function of ${file} lies on the recorded pages of every profile given`
                : `${file}: none of the functions it keeps of ${object.path} lies on its recorded pages`,
            );
          }
          const { orderText } = await import('../../src/order/formats');
          const { text, left } = orderText({ functions, data }, a.format as never, object.path);
          if (a.output === undefined) process.stdout.write(text);
          else writeFileAtomically(a.output, text);
          const hottest = functions[0]!.runs;
          const always = functions.filter((f) => f.runs === hottest).length;
          const dropped = ranks[0]!.functions.length + ranks[0]!.data.length - functions.length - data.length;
          note(
            io,
            `${functions.length} functions and ${data.length} data symbols of ${object.path} (${always} functions touched in ${hottest} of ${profile.runs} runs), hottest first` +
              `${others.length ? ` (${dropped} left out that another profile did not see used)` : ''}` +
              `${left ? `; ${left} left out (names a GNU ld script cannot carry)` : ''}` +
              `${a.output !== undefined ? `: wrote ${a.output}` : ''}`,
          );
          return EXIT.ok;
        }),
      );
    },
  };
}
