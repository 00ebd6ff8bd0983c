/*
 * Tables for docs/BENCHMARKS.md ("Cold start") from the JSON files bench/cold-start.sh writes:
 * per program, every model as a markdown table; then one summary row per program and model with
 * the exec wrapper's ratios against the issue's goals.
 *
 *   npx ts-node --transpile-only bench/cold-summary.ts DIR [NAME...]
 *
 * NAME defaults to every DIR/*.json of a cold benchmark (not --warm-overhead).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BenchResult, ModelResult, StrategyResult } from '../src/bench/bench';
import { markdownLines } from '../src/bench/report';

const [dir, ...names] = process.argv.slice(2);
if (!dir) {
  console.error('usage: cold-summary.ts DIR [NAME...]');
  process.exit(2);
}
const files = names.length ? names.map((n) => path.join(dir, `${n}.json`)) : fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f));
const results = files.map((f) => ({ name: path.basename(f, '.json'), r: JSON.parse(fs.readFileSync(f, 'utf8')) as BenchResult })).filter((x) => Array.isArray(x.r.models));

/** The issue's goals for the default hook (the exec wrapper), per model: ratio of median wall times. */
const GOALS: Record<string, { demand?: number; wholefile?: number }> = {
  none: { demand: 0.8, wholefile: 1.0 },
  cloud: { demand: 0.25, wholefile: 0.6 },
  hdd: { demand: 0.2, wholefile: 0.7 },
  net: { wholefile: 0.4 },
};

const f2 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : '-');
const n0 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(0) : '-');
const by = (m: ModelResult, s: string): StrategyResult | undefined => m.strategies.find((x) => x.strategy === s);

for (const { name, r } of results) {
  const mib = r.files.reduce((n, f) => n + f.bytes, 0) / 1048576;
  const t = r.training;
  console.log(`#### \`${r.command.join(' ')}\` (${name})\n`);
  console.log(
    `${r.files.length} files, ${mib.toFixed(1)} MiB (program ${r.program}). ` +
      (t.trained ? `Trained (${t.method}, 1 run): record ${((t.recordMs ?? NaN) / 1000).toFixed(1)} s, stamp ${t.stampMs} ms, ${t.pages} pages in ${t.objects} objects. ` : `${t.reason}. `) +
      (r.touched ? `Touched: ${r.touched.pages} pages; fewest requests of <= 1 MiB ${r.touched.requests}, of <= ${r.deviceRequestKb ?? 1024} KiB ${r.touched.requestsBy?.[String((r.deviceRequestKb ?? 1024) * 1024)] ?? '-'}.` : '') +
      (r.notes.length ? ` Warnings: ${r.notes.join('; ')}.` : '') +
      '\n',
  );
  console.log(markdownLines(r).join('\n'));
  console.log('');
}

console.log('#### Summary (exec wrapper unless named; ratios of median wall time)\n');
console.log('| program | model | exec / demand | exec / wholefile | audit / demand | preload / demand | major faults demand → exec | requests demand / wholefile / exec (planned) | fewest ≤1 MiB / ≤512 KiB | exec / bound | goals (exec) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const { name, r } of results) {
  for (const m of r.models) {
    const d = by(m, 'demand');
    const w = by(m, 'wholefile');
    const e = by(m, 'elfprefetch-exec');
    const a = by(m, 'elfprefetch-audit');
    const p = by(m, 'elfprefetch-preload');
    if (!e) continue;
    const g = GOALS[m.model] ?? {};
    const verdict: string[] = [];
    if (g.demand !== undefined) verdict.push(`${e.ratio.demand <= g.demand ? 'met' : 'NOT met'} ≤${g.demand} demand`);
    if (g.wholefile !== undefined) verdict.push(`${e.ratio.wholefile <= g.wholefile ? 'met' : 'NOT met'} ≤${g.wholefile} wholefile`);
    const maj = d && d.majflt.median ? e.majflt.median / d.majflt.median : NaN;
    verdict.push(`${maj <= 0.05 ? 'met' : 'NOT met'} faults ≤5%`);
    const dev = r.touched?.requestsBy?.[String((r.deviceRequestKb ?? 1024) * 1024)];
    console.log(
      `| ${name} | ${m.model} | ${f2(e.ratio.demand)} | ${f2(e.ratio.wholefile)} | ${f2(a?.ratio.demand)} | ${f2(p?.ratio.demand)} | ${n0(d?.majflt.median)} → ${n0(e.majflt.median)} | ${n0(d?.ios.median)} / ${n0(w?.ios.median)} / ${n0(e.ios.median)} (${n0(e.planned?.median)}) | ${n0(r.touched?.requests)} / ${n0(dev)} | ${f2(e.toBound)} | ${verdict.join('; ')} |`,
    );
  }
}
