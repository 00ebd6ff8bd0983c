import * as fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard, note } from '../guard';
import { wholeNumber } from '../checks';
import { examples } from '../examples';
import { noticingSignals } from '../signals';
import { MODELS, STRATEGIES } from '../../src/bench/strategies';

interface Args {
  model?: string[];
  strategy?: string[];
  runs?: number;
  'ra-kb': number;
  'warm-overhead': boolean;
  loops: number;
  json: boolean;
  report?: string;
  svg?: string;
  quiet?: boolean;
  '--'?: string[];
}

export function benchCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'bench',
    describe: 'Measure cold starts of a command: demand paging, whole-file preload, each elfprefetch hook and a warm cache, per device model (root)',
    builder: (y) =>
      y
        .usage('$0 bench [--model none|cloud|hdd|net]... [--runs N] [--ra-kb 128] [--report FILE] [--svg FILE] -- CMD [ARGS...]\n$0 bench --warm-overhead [--runs N] [--loops N] [--report FILE] -- CMD [ARGS...]')
        .parserConfiguration({ 'populate--': true, 'parse-positional-numbers': false })
        .epilogue(
          examples([
            ['$0 bench --model hdd -- ./app --version', 'cold starts on a simulated hard disk, each strategy'],
            ['$0 bench --json -- ./app > results.json', 'the results as JSON'],
            ['$0 bench --warm-overhead -- ./app', 'what the shim costs when the cache is warm'],
          ]),
        )
        .option('model', { type: 'string', array: true, choices: Object.keys(MODELS), describe: 'device model (repeatable; default none and hdd): none = no limit, cloud = 1000 read IOPS, hdd = 100 IOPS and 150 MB/s, net = 100 IOPS and 30 MB/s' })
        .option('strategy', { type: 'string', array: true, choices: [...STRATEGIES], describe: 'only these strategies (repeatable; default all)' })
        .option('runs', { type: 'number', describe: 'cold runs of each strategy per model (default 3); with --warm-overhead, interleaved rounds (default 10)' })
        .option('ra-kb', { type: 'number', default: 128, describe: "the loop device's read-ahead window, KiB" })
        .option('json', { type: 'boolean', default: false, describe: 'print the results as JSON instead of the table' })
        .option('report', { type: 'string', describe: 'also write the results as JSON to this file' })
        .option('svg', { type: 'string', describe: 'write a bar chart to this file' })
        .option('warm-overhead', { type: 'boolean', default: false, describe: 'measure instead what the shim costs on a warm start: the stamped program plain, through each hook, and each hook with ELFPREFETCH_DISABLE=1 (root not needed)' })
        .option('loops', { type: 'number', default: 20, describe: 'with --warm-overhead: starts timed back to back per configuration and round' })
        .check((a) => {
          const cmd = (a as { '--'?: unknown[] })['--'] ?? [];
          if (cmd.length === 0) throw new Error('Name the command after --, e.g. `elfprefetch bench -- node -e 0`.');
          wholeNumber('runs', a.runs, 1, 1000);
          wholeNumber('loops', a.loops, 1, 100000);
          if (a['warm-overhead'] && (a.model?.length || a.svg)) throw new Error('--warm-overhead takes no --model and no --svg (the cache is warm; nothing is throttled).');
          wholeNumber('ra-kb', a['ra-kb'], 0, 65536);
          return true;
        }) as never,
    handler: async (a) => {
      setCode(
        await guard(io, undefined, async () => {
          const { bench } = await import('../../src/bench/bench');
          const { benchApprox } = await import('../../src/bench/approx');
          const root = typeof process.getuid !== 'function' || process.getuid() === 0;
          const { benchLines, benchSvg } = await import('../../src/bench/report');
          const tty = process.stderr.isTTY && !a.quiet;
          let last = 0;
          const log = (s: string): void => note(io, s);
          const progress = (s: string): void => {
            if (a.quiet) return;
            if (tty) process.stderr.write(`\r\x1b[K${s}`);
            else if (Date.now() - last > 2000) {
              last = Date.now();
              (io.note ?? io.err)(s);
            }
          };
          if (a['warm-overhead']) {
            const { benchWarmOverhead, warmLines } = await import('../../src/bench/warm');
            const w = await noticingSignals((signal) => benchWarmOverhead((a['--'] ?? []).map(String), { rounds: a.runs === undefined ? undefined : Number(a.runs), loops: Number(a.loops), log, progress, signal }));
            if (tty) process.stderr.write('\r\x1b[K');
            if (a.json) io.out(JSON.stringify(w));
            else for (const line of warmLines(w)) io.out(line);
            if (a.report) fs.writeFileSync(a.report, JSON.stringify(w, null, 2) + '\n');
            return EXIT.ok;
          }
          const r = await noticingSignals((signal) =>
            (root ? bench : benchApprox)((a['--'] ?? []).map(String), {
              models: (a.model ?? []) as never,
              strategies: (a.strategy ?? []) as never,
              runs: Number(a.runs ?? 3),
              raKb: Number(a['ra-kb']),
              log,
              progress,
              signal,
            }),
          );
          if (tty) process.stderr.write('\r\x1b[K');
          if (a.json) io.out(JSON.stringify(r));
          else for (const line of benchLines(r)) io.out(line);
          if (a.report) fs.writeFileSync(a.report, JSON.stringify(r, null, 2) + '\n');
          if (a.svg) fs.writeFileSync(a.svg, benchSvg(r));
          return EXIT.ok;
        }),
      );
    },
  };
}
