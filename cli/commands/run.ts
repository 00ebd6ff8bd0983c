import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';
import { examples } from '../examples';
import { forwardingSignals, statusAfter } from '../signals';

interface Args {
  hook: string;
  cmd?: string[];
  '--'?: string[];
}

export function runCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'run [cmd..]',
    describe: 'Run CMD with its note prefetched (exec: a wrapper that prefetches, then execs; audit: LD_AUDIT; preload: LD_PRELOAD)',
    builder: (y) =>
      y
        .usage('$0 run [--hook exec|audit|preload] -- CMD [ARGS...]')
        .positional('cmd', { type: 'string', array: true, describe: 'the command and its arguments (after --)' })
        .option('hook', { type: 'string', choices: ['exec', 'audit', 'preload'], default: 'exec', describe: 'how the prefetch runs' })
        .parserConfiguration({ 'populate--': true, 'unknown-options-as-args': false })
        .epilogue(
          examples([
            ['$0 run -- ./app --flag', 'start ./app with its note prefetched (the exec wrapper)'],
            ['$0 run --hook audit -- ./app', 'the same through LD_AUDIT'],
          ]),
        )
        .check((a) => {
          const cmd = [...((a.cmd as string[] | undefined) ?? []), ...((a['--'] as string[] | undefined) ?? [])];
          if (cmd.length === 0) throw new Error('Name the command to run, e.g. `elfprefetch run -- node -e 0`.');
          return true;
        }) as never,
    handler: async (a) => {
      const cmd = [...(a.cmd ?? []), ...(a['--'] ?? [])].map(String);
      setCode(
        await guard(io, undefined, async () => {
          const { spawn } = await import('node:child_process');
          const { hookCommand } = await import('../../src/native/locate');
          const { argv, env } = hookCommand(a.hook as 'exec' | 'audit' | 'preload', cmd);
          return await new Promise<number>((resolve) => {
            const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
            // The child gets the terminal's signals itself; we only wait for it.
            const stopForwarding = forwardingSignals(child);
            const done = (code: number): void => {
              stopForwarding();
              resolve(code);
            };
            child.on('error', (e: NodeJS.ErrnoException) => {
              io.err(`elfprefetch: ${cmd[0]}: ${e.code === 'ENOENT' ? 'command not found' : e.message}`);
              done(e.code === 'ENOENT' ? 127 : 126);
            });
            child.on('exit', (status, signal) => {
              if (signal) done(statusAfter(signal));
              else done(status ?? EXIT.error);
            });
          });
        }),
      );
    },
  };
}
