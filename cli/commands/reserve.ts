import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';
import { powerOfTwo } from '../checks';
import { examples } from '../examples';

interface Args {
  capacity: number;
  output?: string;
  cc: string;
  'page-size': number;
  json: boolean;
}

export function reserveCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'reserve',
    describe: 'Emit an assembler file (or object, with -o x.o) that reserves the note at link time',
    builder: (y) =>
      y
        .option('capacity', { type: 'number', default: 4096, describe: 'descriptor bytes to reserve (multiple of 4)' })
        .option('output', { alias: 'o', type: 'string', describe: 'write here; a name ending in .o is assembled with --cc' })
        .option('cc', { type: 'string', default: 'cc', describe: 'the target\'s C compiler, used to assemble an object (e.g. aarch64-linux-gnu-gcc)' })
        .option('page-size', { type: 'number', default: 4096, describe: 'page size recorded in the empty note' })
        .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON (with the assembler text when there is no -o)' })
        .epilogue(
          examples([
            ['$0 reserve -o epf-note.o', 'an object to link into a program of this machine'],
            ['$0 reserve -o epf-note.o --cc aarch64-linux-gnu-gcc', 'the same for an aarch64 program'],
            ['$0 reserve > epf-note.S', 'the assembler text, for a build that assembles it itself'],
          ]),
        )
        .check((a) => {
          if (!Number.isInteger(a.capacity) || a.capacity < 64 || a.capacity > 1 << 20 || a.capacity % 4 !== 0) throw new Error(`--capacity must be a multiple of 4 from 64 to 1048576, not ${String(a.capacity)}.`);
          powerOfTwo('page-size', a['page-size'], 512, 1 << 20);
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.output, async () => {
          const { reservationAssembly, writeReservation } = await import('../../src/ops/reserve');
          const pageShift = Math.log2(a['page-size']);
          if (!a.output) {
            const text = reservationAssembly(a.capacity, pageShift);
            io.out(a.json ? JSON.stringify({ capacity: a.capacity, pageSize: a['page-size'], assembly: text }) : text);
            return EXIT.ok;
          }
          const { checkOutput } = await import('../../src/io/output');
          checkOutput(a.output);
          writeReservation(a.output, a.capacity, pageShift, a.cc);
          if (a.json) io.out(JSON.stringify({ output: a.output, capacity: a.capacity, pageSize: a['page-size'], object: a.output.endsWith('.o') }));
          else io.out(`${a.output}: reserves a note of ${a.capacity} bytes; link it into the program or library`);
          return EXIT.ok;
        }),
      );
    },
  };
}
