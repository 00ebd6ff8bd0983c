#!/usr/bin/env node
import yargs from 'yargs';
import { EXIT } from './exit';
import { Io, processIo } from './run';
import { infoCommand } from './commands/info';
import { stampCommand } from './commands/stamp';
import { stampTreeCommand } from './commands/stamp-tree';
import { profilesCommand } from './commands/profiles';
import { verifyCommand } from './commands/verify';
import { removeCommand } from './commands/remove';
import { reserveCommand } from './commands/reserve';
import { recordCommand } from './commands/record';
import { selectCommand } from './commands/select';
import { trainCommand } from './commands/train';
import { runCommand } from './commands/run';
import { showCommand } from './commands/show';
import { benchCommand } from './commands/bench';

/** Bad usage: wrong or contradictory options. */
class UsageError extends Error {}

/** The CLI, with argv and output passed in so tests can run it in-process. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const setCode = (c: number): void => {
    code = c;
  };
  const parser = yargs(argv)
    .scriptName('elfprefetch')
    .usage('$0 <command> [options]\n\nKeeps the pages a program needs at start-up as a note in its ELF file, so they can be prefetched at the next cold start.')
    .command(infoCommand(io, setCode))
    .command(stampCommand(io, setCode))
    .command(stampTreeCommand(io, setCode))
    .command(profilesCommand(io, setCode))
    .command(verifyCommand(io, setCode))
    .command(removeCommand(io, setCode))
    .command(reserveCommand(io, setCode))
    .command(recordCommand(io, setCode))
    .command(selectCommand(io, setCode))
    .command(trainCommand(io, setCode))
    .command(runCommand(io, setCode))
    .command(showCommand(io, setCode))
    .command(benchCommand(io, setCode))
    .demandCommand(1, 'Name a command.')
    .strict()
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      // Throwing stops yargs before it runs a handler; main turns it into a message and exit 1.
      throw new UsageError(err?.message ?? msg);
    })
    .exitProcess(false);
  try {
    await parser.parseAsync();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`elfprefetch: ${e.message}\nRun 'elfprefetch --help' for usage.`);
    return EXIT.error;
  }
  return code;
}

if (require.main === module) {
  // `elfprefetch info big | head`: a closed pipe ends the output, not with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  main(process.argv.slice(2)).then((c) => {
    process.exitCode = c;
    // One more turn of the event loop: a signal that arrived while a file was being replaced
    // (deferred by src/io/atomic.ts) is handled now and ends the process with 128 + N.
    setImmediate(() => {});
  });
}
