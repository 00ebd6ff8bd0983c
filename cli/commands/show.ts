import * as fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { examples } from '../examples';
import { Io, guard } from '../guard';

interface Args {
  file: string;
  svg?: string;
  device?: string;
  set?: string;
  width: number;
  color?: boolean;
  json: boolean;
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
        .option('color', { type: 'boolean', describe: 'colour the picture with ANSI escapes (default: on a terminal, unless NO_COLOR is set)' })
        .option('json', { type: 'boolean', default: false, describe: 'print what the picture shows as JSON: segments, sections, selected extents, planned reads' })
        .epilogue(
          examples([
            ['$0 show ./app', 'the pages of ./app its note selects, and the reads the shim will issue'],
            ['$0 show ./app --device hdd --svg app.svg', 'the same, planned for a hard disk, also as a picture'],
            ['$0 show app.profile.json', 'the pages a recording saw, per object'],
          ]),
        )
        .check((a) => {
          if (!Number.isInteger(a.width) || a.width < 8 || a.width > 256) throw new Error('--width must be a whole number from 8 to 256.');
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { showModel } = await import('../../src/show/model');
          // as the shim: ELFPREFETCH_DEVICE when it names a class, unless --device says otherwise
          const fromEnv = ['hdd', 'ssd', 'nvme', 'net'].includes(process.env.ELFPREFETCH_DEVICE ?? '') ? process.env.ELFPREFETCH_DEVICE : undefined;
          const objects = showModel(a.file, { device: a.device ?? fromEnv, deviceSource: a.device ? '--device' : 'ELFPREFETCH_DEVICE', set: a.set });
          if (a.svg) {
            const { renderSvg } = await import('../../src/show/svg');
            fs.writeFileSync(a.svg, renderSvg(objects, { width: a.width }));
          }
          if (a.json) {
            const { showJson } = await import('../../src/show/json');
            io.out(JSON.stringify(showJson(objects, a.svg)));
            return EXIT.ok;
          }
          const { renderTerminal } = await import('../../src/show/terminal');
          const { colorByDefault } = await import('../../src/show/glyphs');
          for (const line of renderTerminal(objects, { width: a.width, color: a.color ?? colorByDefault() })) io.out(line);
          if (a.svg) io.out(`wrote ${a.svg}`);
          return EXIT.ok;
        }),
      );
    },
  };
}
