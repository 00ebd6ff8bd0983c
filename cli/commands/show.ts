import * as fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../run';

interface Args {
  file: string;
  svg?: string;
  device?: string;
  set?: string;
  width: number;
  color: boolean;
}

export function showCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'show <file>',
    describe: 'Picture of a file\'s pages (or a profile\'s): segments, sections, the selected pages and the planned reads',
    builder: (y) =>
      y
        .positional('file', { type: 'string', demandOption: true, describe: 'an ELF file or a profile JSON' })
        .option('svg', { type: 'string', describe: 'also write the picture as an SVG file here' })
        .option('device', { type: 'string', choices: ['hdd', 'ssd', 'nvme', 'net'], describe: 'device class to plan the reads for (default: ELFPREFETCH_DEVICE, else the file\'s device as the shim picks it)' })
        .option('set', { type: 'string', describe: 'page set to show (default "default"; for a profile: all)' })
        .option('width', { type: 'number', default: 64, describe: 'cells per row' })
        .option('color', { type: 'boolean', default: false, describe: 'colour the segment line with ANSI escapes' })
        .check((a) => {
          if (!Number.isInteger(a.width) || a.width < 8 || a.width > 256) throw new Error('--width must be an integer from 8 to 256.');
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { showModel } = await import('../../src/show/model');
          const { renderTerminal } = await import('../../src/show/terminal');
          // as the shim: ELFPREFETCH_DEVICE when it names a class, unless --device says otherwise
          const fromEnv = ['hdd', 'ssd', 'nvme', 'net'].includes(process.env.ELFPREFETCH_DEVICE ?? '') ? process.env.ELFPREFETCH_DEVICE : undefined;
          const objects = showModel(a.file, { device: a.device ?? fromEnv, deviceSource: a.device ? '--device' : 'ELFPREFETCH_DEVICE', set: a.set });
          for (const line of renderTerminal(objects, { width: a.width, color: a.color })) io.out(line);
          if (a.svg) {
            const { renderSvg } = await import('../../src/show/svg');
            fs.writeFileSync(a.svg, renderSvg(objects, { width: a.width }));
            io.out(`wrote ${a.svg}`);
          }
          return EXIT.ok;
        }),
      );
    },
  };
}
