import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';
import { examples } from '../examples';

interface Args {
  file: string;
  json: boolean;
  sidecar?: string;
}

export function verifyCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'verify <file>',
    describe: 'Check that the note is intact and belongs to this build (exit 0 valid, 10 absent, 11 stale, 12 corrupt)',
    builder: (y) => y.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }).option('sidecar', { type: 'string', describe: 'check the note kept for this file in a sidecar directory instead' })
        .epilogue(
          examples([
            ['$0 verify ./app', 'is the note intact and of this build? (the status says: 0, 10, 11, 12)'],
            ['$0 verify -q ./app || echo "stamp ./app again"', 'in a script: only the status'],
          ]),
        ) as never,
    handler: async (a) => {
      setCode(
        await guard(io, a.file, async () => {
          const { openElf } = await import('../../src/elf/read');
          const { verifyElf } = await import('../../src/ops/verify');
          const elf = openElf(a.file);
          try {
            const r = a.sidecar !== undefined ? (await import('../../src/ops/sidecar')).verifySidecar(elf, a.sidecar) : verifyElf(elf);
            if (a.json) io.out(JSON.stringify({ file: a.file, status: r.status, reason: r.reason, ...(r.warnings ? { warnings: r.warnings } : {}) }));
            else io.out(`${a.file}: ${r.status}: ${r.reason}`);
            if (!a.json) for (const w of r.warnings ?? []) io.err(`elfprefetch: warning: ${a.file}: ${w}`);
            return { valid: EXIT.ok, absent: EXIT.absent, stale: EXIT.stale, corrupt: EXIT.corrupt }[r.status];
          } finally {
            elf.source.close();
          }
        }),
      );
    },
  };
}
