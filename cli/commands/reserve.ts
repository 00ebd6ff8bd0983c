import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../run';

interface Args {
  capacity: number;
  output?: string;
  cc: string;
  'page-size': number;
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
        .example('$0 reserve -o epf-note.o --cc aarch64-linux-gnu-gcc', 'an object to link into an aarch64 program')
        .check((a) => {
          if (!Number.isInteger(a.capacity) || a.capacity < 64 || a.capacity > 1 << 20 || a.capacity % 4 !== 0) throw new Error('--capacity must be a multiple of 4 from 64 to 1048576.');
          const ps = a['page-size'];
          if (!Number.isInteger(ps) || ps < 512 || ps > 1 << 20 || (ps & (ps - 1)) !== 0) throw new Error('--page-size must be a power of two from 512 to 1048576.');
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.output, async () => {
          const { reservationAssembly, writeReservation } = await import('../../src/ops/reserve');
          const pageShift = Math.log2(a['page-size']);
          if (!a.output) {
            io.out(reservationAssembly(a.capacity, pageShift));
            return EXIT.ok;
          }
          writeReservation(a.output, a.capacity, pageShift, a.cc);
          io.out(`${a.output}: reserves a note of ${a.capacity} bytes; link it into the program or library`);
          return EXIT.ok;
        }),
      );
    },
  };
}
