/*
 * Two runs of bench/cold-start.sh side by side (e.g. the shim before and after a change, each
 * selected with ELFPREFETCH_NATIVE_DIR): per program and model, the exec wrapper's ratios to
 * demand paging and whole-file preload, its requests, bytes and major faults, its time over the
 * lower bounds (requests of <= 1 MiB, and of <= the bench's deviceRequestKb), and the device
 * class (and request cap) the shim planned for.
 *
 *   npx ts-node --transpile-only bench/cold-compare.ts DIR_A DIR_B
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BenchResult, ModelResult } from '../src/bench/bench';

const dirs = process.argv.slice(2);
if (dirs.length !== 2) {
  console.error('usage: cold-compare.ts DIR_A DIR_B');
  process.exit(2);
}
const [a, b] = dirs.map((d) => path.basename(d));
const load = (dir: string, name: string): BenchResult | undefined => {
  const f = path.join(dir, `${name}.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as BenchResult) : undefined;
};
const names = fs.readdirSync(dirs[0]!).filter((f) => f.endsWith('.json')).map((f) => path.basename(f, '.json')).sort();
const f2 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : '-');
const mib = (x: number | undefined): string => (x !== undefined ? (x / 1048576).toFixed(1) : '-');
const row = (m: ModelResult | undefined): string[] => {
  const s = (n: string) => m?.strategies.find((x) => x.strategy === n);
  const e = s('elfprefetch-exec');
  return [
    (m?.shimClasses ?? [m?.shimDevice ?? '-']).join('; '),
    `${s('demand')?.wallMs.median.toFixed(0) ?? '-'} / ${s('wholefile')?.wallMs.median.toFixed(0) ?? '-'} / ${e?.wallMs.median.toFixed(0) ?? '-'} / ${s('warm')?.wallMs.median.toFixed(0) ?? '-'}`,
    f2(e?.ratio.demand),
    f2(e?.ratio.wholefile),
    `${s('demand')?.ios.median ?? '-'} / ${s('wholefile')?.ios.median ?? '-'} / ${e?.ios.median ?? '-'} (${e?.planned?.median ?? '-'})`,
    `${mib(s('wholefile')?.bytes.median)} / ${mib(e?.bytes.median)}`,
    `${s('demand')?.majflt.median ?? '-'} → ${e?.majflt.median ?? '-'}`,
    `${f2(e?.toBound)} / ${f2(e && m?.deviceBound ? e.wallMs.median / m.deviceBound.ms : undefined)}`,
  ];
};
console.log(`| program | model | run | shim planned for | wall ms demand / whole-file / exec / warm | exec / demand | exec / whole-file | requests demand / whole-file / exec (planned) | MiB whole-file / exec | major faults demand → exec | exec / bound (1 MiB / device's) |`);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const n of names) {
  const ra = load(dirs[0]!, n);
  const rb = load(dirs[1]!, n);
  for (const m of ra?.models ?? []) {
    for (const [label, r] of [[a, ra], [b, rb]] as const) {
      const mm = r?.models.find((x) => x.model === m.model);
      console.log(`| \`${(r ?? ra)!.command.join(' ')}\` | ${m.model} | ${label} | ${row(mm).join(' | ')} |`);
    }
  }
}
