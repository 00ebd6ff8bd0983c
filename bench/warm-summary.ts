/*
 * The warm-start table of docs/BENCHMARKS.md from the JSON files bench/warm-overhead.sh writes:
 * one row per program, each hook's overhead against the plain start for each DIR side by side
 * (e.g. the shim before and after a change), with the readahead calls a warm start issued.
 *
 *   npx ts-node --transpile-only bench/warm-summary.ts DIR...
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WarmResult } from '../src/bench/warm';

const dirs = process.argv.slice(2);
if (!dirs.length) {
  console.error('usage: warm-summary.ts DIR...');
  process.exit(2);
}
const load = (dir: string, name: string): WarmResult | undefined => {
  const f = path.join(dir, `${name}.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as WarmResult) : undefined;
};
const names = [...new Set(dirs.flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => path.basename(f, '.json'))))].sort();
const label = dirs.map((d) => path.basename(d));
const HOOKS = ['exec', 'audit', 'preload'] as const;
const cell = (r: WarmResult | undefined, hook: string): string => {
  const c = r?.configs.find((x) => x.config === hook);
  if (!c) return '-';
  const shim = c.shimCpuUs ? `; shim ${c.shimCpuUs.median.toFixed(0)}` : '';
  return `${c.vsPlainCpuUs.median >= 0 ? '+' : ''}${c.vsPlainCpuUs.median.toFixed(0)} (${c.vsPlainCpuPct.toFixed(1)}%${shim})`;
};
const calls = (r: WarmResult | undefined): string => (r ? HOOKS.map((h) => r.shim.find((s) => s.hook === h)?.requests ?? '-').join(' / ') : '-');
console.log(`| program | plain: CPU ms per start | ${HOOKS.flatMap((h) => label.map((l) => `${h} (${l})`)).join(' | ')} | readahead calls warm, exec / audit / preload (${label.join(' → ')}) | load |`);
console.log(`|---|---|${HOOKS.flatMap(() => label.map(() => '---')).join('|')}|---|---|`);
for (const n of names) {
  const rs = dirs.map((d) => load(d, n));
  const first = rs.find((r) => r);
  const plain = first?.configs.find((c) => c.config === 'plain')?.cpuUsPerRun.median;
  const la = rs.map((r) => (r ? r.loadAverage.before[0]!.toFixed(1) : '-')).join(', ');
  console.log(`| \`${first?.command.join(' ') ?? n}\` | ${plain !== undefined ? (plain / 1000).toFixed(1) : '-'} | ${HOOKS.flatMap((h) => rs.map((r) => cell(r, h))).join(' | ')} | ${rs.map(calls).join(' → ')} | ${la} |`);
}
console.log('');
console.log('CPU µs per start against the plain start of the same round (median of the rounds), % of plain; shim: on minus off (the shim\'s own work).');
