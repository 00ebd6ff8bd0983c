import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';
import { examples } from '../examples';
import { colorByDefault } from '../../src/show/glyphs';

interface Args {
  file: string;
  json: boolean;
  color?: boolean;
}

export function infoCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'info <file>',
    describe: 'Show headers, segments, sections, notes and the prefetch note with a picture of its pages',
    builder: (y) => y.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false, describe: 'print the same as JSON' })
        .option('color', { type: 'boolean', describe: 'colour the page picture (default: on a terminal, unless NO_COLOR is set)' })
        .epilogue(examples([['$0 info /usr/bin/git', 'headers, notes and the picture of the pages its note selects']])) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { openElf } = await import('../../src/elf/read');
          const { describeElf } = await import('../../src/ops/describe');
          const { renderPageSet } = await import('../../src/show/terminal');
          const { ISA } = await import('elfinfo');
          const machineName = (m: number): string => (ISA as unknown as Record<number, string>)[m] ?? `EM_${m}`;
          const elf = openElf(a.file);
          let d;
          try {
            d = describeElf(elf, machineName);
          } finally {
            elf.source.close();
          }
          if (a.json) {
            io.out(JSON.stringify(d, null, 2));
            return EXIT.ok;
          }
          io.out(`${a.file}: ${d.class} ${d.byteOrder}-endian ${d.type} for ${d.machine}, ${d.size} bytes, entry ${d.entry}${d.buildId ? `, build-id ${d.buildId}` : ''}`);
          io.out(`\nSegments (${d.segments.length}):`);
          io.out('  type            flags offset     vaddr              filesz     memsz      align');
          for (const s of d.segments) io.out(`  ${s.type.padEnd(15)} ${s.flags.padEnd(5)} ${s.offset.padEnd(10)} ${s.vaddr.padEnd(18)} ${s.filesz.padEnd(10)} ${s.memsz.padEnd(10)} ${s.align}`);
          io.out(`\nSections (${d.sections.length}):`);
          d.sections.forEach((s, i) => io.out(`  [${String(i).padStart(2)}] ${s.name.padEnd(24)} ${s.type.padEnd(12)} ${s.addr.padEnd(18)} off ${s.offset.padEnd(10)} size ${s.size}`));
          io.out(`\nNotes (${d.notes.length}):`);
          for (const n of d.notes) io.out(`  ${n.owner.padEnd(12)} type ${n.type} at ${n.offset}, ${n.descSize} bytes, ${n.align}-aligned`);
          io.out(`\nPrefetch note: ${d.prefetch.status}: ${d.prefetch.reason}`);
          for (const o of d.prefetch.objects) {
            io.out(`  ${o.path} build-id ${o.buildId || '(none)'} layout ${o.layoutDigest}`);
            for (const s of o.sets) {
              io.out(`    set '${s.name}': ${s.pages} of ${s.pageCount} pages of ${d.prefetch.pageSize} bytes in ${s.runs.length} extent${s.runs.length === 1 ? '' : 's'}`);
              for (const line of renderPageSet(s.runs, s.pageCount, { color: a.color ?? colorByDefault() })) io.out(`    ${line}`);
            }
          }
          return EXIT.ok;
        }),
      );
    },
  };
}
