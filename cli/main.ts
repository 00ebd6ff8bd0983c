#!/usr/bin/env node
import yargs from 'yargs';
import type { CommandModule } from 'yargs';
import { EXIT } from './exit';
import { Io, processIo } from './guard';
import { errnoText } from '../src/io/errno';
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
import { orderCommand } from './commands/order';
import { completionScript } from './completion';
import { examples } from './examples';

/** Bad usage: wrong or contradictory options. */
class UsageError extends Error {}

/** Options every command takes. */
const GLOBAL = ['--help', '--quiet', '-q'];

/** An option meant once, given several times (`--pages 1 --pages 2`): which, and its values. */
function repeated(argv: Record<string, unknown>, opts: { key: Record<string, boolean>; array: string[] }): string | undefined {
  for (const k of Object.keys(opts.key)) {
    const v = argv[k];
    if (Array.isArray(v) && !opts.array.includes(k)) return `--${k} was given ${v.length} times (${v.join(', ')}); give it once.`;
  }
  return undefined;
}

/** The CLI, with argv and output passed in so tests can run it in-process. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const setCode = (c: number): void => {
    code = c;
  };
  // --quiet: errors only, and what --json asks for; the exit status tells the rest.
  const wanted = { quiet: false, json: false };
  const cio: Io = {
    out: (s) => (!wanted.quiet || wanted.json) && io.out(s),
    err: io.err,
    note: (s) => !wanted.quiet && (io.note ?? io.err)(s),
  };
  const commands = [
    infoCommand(cio, setCode),
    stampCommand(cio, setCode),
    stampTreeCommand(cio, setCode),
    profilesCommand(cio, setCode),
    verifyCommand(cio, setCode),
    removeCommand(cio, setCode),
    reserveCommand(cio, setCode),
    recordCommand(cio, setCode),
    selectCommand(cio, setCode),
    trainCommand(cio, setCode),
    runCommand(cio, setCode),
    showCommand(cio, setCode),
    benchCommand(cio, setCode),
    orderCommand(cio, setCode),
  ] as Array<CommandModule<object, never>>;
  const parser = yargs(argv)
    .scriptName('elfprefetch')
    .usage('$0 <command> [options]\n\nKeeps the pages a program needs at start-up as a note in its ELF file, so they can be prefetched at the next cold start.')
    .epilogue(
      examples([
        ['$0 train --runs 3 -- ./app --flag', 'record 3 runs, keep the pages most used, stamp ./app'],
        ['$0 show ./app', 'the pages its note selects and the reads the shim will issue'],
        ['$0 run -- ./app --flag', 'start it with its pages prefetched'],
        ['$0 COMMAND --help', 'the options of a command, with examples'],
      ]),
    )
    .option('quiet', { alias: 'q', type: 'boolean', global: true, describe: 'print only errors (and what --json asks for); the exit status tells the rest' })
    .command({
      command: 'completion',
      describe: 'Print a bash completion script (eval "$(elfprefetch completion)" in ~/.bashrc; zsh: after bashcompinit)',
      handler: () => io.out(completionScript(commands, GLOBAL).trimEnd()),
    });
  for (const c of commands) parser.command(c);
  parser
    .demandCommand(1, 'Name a command.')
    .strict()
    .recommendCommands()
    .check((a) => {
      const r = repeated(a, (parser as unknown as { getOptions(): never }).getOptions());
      if (r) throw new Error(r);
      wanted.quiet = a.quiet === true;
      wanted.json = a.json === true;
      return true;
    }, true)
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
  // `elfprefetch info big | head`: a closed pipe ends the output quietly. Any other failure to
  // write (a full disk, /dev/full) is one line on stderr and status 1, not a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    process.stderr.write(`elfprefetch: cannot write the output: ${errnoText(e)}\n`, () => process.exit(EXIT.error));
  });
  process.stderr.on('error', () => process.exit(process.exitCode || EXIT.error));
  main(process.argv.slice(2)).then((c) => {
    process.exitCode = c;
    // One more turn of the event loop: a signal that arrived while a file was being replaced
    // (deferred by cli/signals.ts) is handled now and ends the process with 128 + N.
    setImmediate(() => {});
  });
}
