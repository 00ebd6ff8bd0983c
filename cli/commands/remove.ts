import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../run';

interface Args {
  file: string;
  output?: string;
}

export function removeCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'remove <file>',
    describe: 'Take the note out again (a linked-in reservation goes back to empty)',
    builder: (y) => y.positional('file', { type: 'string', demandOption: true }).option('output', { alias: 'o', type: 'string', describe: 'write here instead of replacing the file' }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { removeNote } = await import('../../src/ops/stamp');
          const r = removeNote(a.file, { output: a.output });
          io.out(r.removed ? `${r.output}: note removed` : `${a.file}: no note to remove`);
          return EXIT.ok;
        }),
      );
    },
  };
}
