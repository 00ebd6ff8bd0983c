// The long fuzz run (docs/FUZZING.md):
//   npm run fuzz -- --inputs 1000000 --seed 1 --time-limit-ms 2000 [--corpus ../shared/corpus]
//                   [--jobs 2] [--duration-s 600] [--findings build/fuzz-findings] [--heap-mb 512]
// Seeds are every file under the corpus folder(s) and build/samples. Exits 1 when there are findings.
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSeeds, parsedTotal, progressLine, runFuzz, Summary } from './harness';

function args(argv: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    m.set(k, [...(m.get(k) ?? []), v]);
  }
  return m;
}

function num(m: Map<string, string[]>, k: string, dflt: number): number {
  const v = m.get(k)?.at(-1);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} ${v} is not a number`);
  return n;
}

export function report(s: Summary): string {
  const lines = [
    `inputs        ${s.inputs} (${s.seeds} seed files)`,
    `parsed        ${parsedTotal(s)}`,
    `  not loadable ${s.outcomes.parsed}`,
    `malformed     ${s.outcomes.malformed} (ElfFormatError)`,
    `stamped       ${s.outcomes.stamped} (${Object.entries(s.strategies).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`,
    `refused       ${s.outcomes.refused} (PlacementRefusedError or ElfFormatError from the writer)`,
    `findings      ${s.findings}${s.findings ? ` (${Object.entries(s.findingsByKind).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`,
    `time          ${s.seconds.toFixed(1)} s, ${s.inputsPerSecond.toFixed(1)} inputs/s`,
  ];
  for (const [sig, v] of Object.entries(s.signatures)) {
    lines.push(`  [${v.count}x] ${sig}`, ...v.files.slice(0, 3).map((f) => `      ${f}`));
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const m = args(process.argv.slice(2));
  const root = path.resolve(__dirname, __dirname.includes(`${path.sep}build${path.sep}`) ? '../../..' : '..');
  const corpora = m.get('corpus') ?? [path.resolve(root, '../shared/corpus')];
  const dirs = [...corpora, path.join(root, 'build/samples')];
  const seeds = loadSeeds(dirs);
  const findingsDir = path.resolve(m.get('findings')?.at(-1) ?? path.join(root, 'build/fuzz-findings'));
  const opts = {
    seeds,
    seed: num(m, 'seed', 1),
    inputs: num(m, 'inputs', 1_000_000),
    durationMs: m.has('duration-s') ? num(m, 'duration-s', 0) * 1000 : undefined,
    timeLimitMs: num(m, 'time-limit-ms', 2000),
    jobs: num(m, 'jobs', Math.max(1, Math.min(os.availableParallelism(), 4))),
    maxOldGenerationSizeMb: num(m, 'heap-mb', 512),
    findingsDir,
    progress: (l: string) => console.log(`[${new Date().toISOString()}] ${l}`),
    progressEveryMs: num(m, 'progress-ms', 10_000),
  };
  console.log(`fuzzing: ${seeds.length} seed files from ${dirs.join(', ')}; seed ${opts.seed}, ${opts.inputs} inputs${opts.durationMs ? ` or ${opts.durationMs / 1000} s` : ''}, ${opts.jobs} jobs, ${opts.timeLimitMs} ms and ${opts.maxOldGenerationSizeMb} MiB per input; findings to ${findingsDir}`);
  const s = await runFuzz(opts);
  console.log(progressLine(s));
  console.log(report(s));
  process.exitCode = s.findings ? 1 : 0;
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(2);
  });
}
