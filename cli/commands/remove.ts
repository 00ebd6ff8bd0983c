import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { examples } from '../examples';
import { Io, guard } from '../guard';
import { exitBetweenWrites } from '../signals';

interface Args {
  file: string;
  output?: string;
  json: boolean;
}

export function removeCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'remove <file>',
    describe: 'Take the note out again (a linked-in reservation goes back to empty)',
    builder: (y) =>
      y
        .positional('file', { type: 'string', demandOption: true })
        .option('output', { alias: 'o', type: 'string', describe: 'write here instead of replacing the file' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
        .epilogue(examples([['$0 remove ./app', 'take the note out of ./app in place']])) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { removeNote } = await import('../../src/ops/stamp');
          const { checkOutput } = await import('../../src/io/output');
          if (a.output !== undefined) checkOutput(a.output);
          exitBetweenWrites();
          const r = removeNote(a.file, { output: a.output });
          if (a.json) io.out(JSON.stringify({ file: a.file, output: r.output, removed: r.removed }));
          else io.out(r.removed ? `${r.output}: note removed` : `${a.file}: no note to remove`);
          return EXIT.ok;
        }),
      );
    },
  };
}
