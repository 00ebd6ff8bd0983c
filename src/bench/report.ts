/* The benchmark's human table and SVG chart. */
import type { BenchResult, ModelResult } from './bench';
import type { Stat } from './stat';

const num = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
const ms = (s: Stat): string => `${num(s.median, s.median < 100 ? 1 : 0)} [${num(s.min, s.min < 100 ? 1 : 0)}-${num(s.max, s.max < 100 ? 1 : 0)}]`;
const mib = (b: number): string => (Number.isFinite(b) ? (b / 1048576).toFixed(b < 10 * 1048576 ? 2 : 1) : '-');
const ratio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

function pad(rows: string[][]): string[] {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd());
}

export function modelTable(m: ModelResult): string[] {
  const rows = [['strategy', 'wall ms median [range]', 'cpu ms', '/demand', '/wholefile', '/warm', '/bound', 'major', 'minor', 'read MiB', 'requests', 'planned']];
  for (const s of m.strategies) {
    rows.push([
      s.strategy + (s.failures ? ` (${s.failures} failed)` : '') + (s.excluded ? ` (${s.excluded} not cold, left out)` : ''),
      ms(s.wallMs),
      s.cpuMs ? num(s.cpuMs.median, s.cpuMs.median < 100 ? 1 : 0) : '-',
      ratio(s.ratio.demand),
      ratio(s.ratio.wholefile),
      ratio(s.ratio.warm),
      ratio(s.toBound ?? NaN),
      num(s.majflt.median),
      num(s.minflt.median),
      mib(s.bytes.median),
      num(s.ios.median),
      s.planned ? num(s.planned.median) : '',
    ]);
  }
  return pad(rows);
}

export function benchLines(r: BenchResult): string[] {
  const out: string[] = [];
  if (r.approximate) out.push(`APPROXIMATE cold starts of ${r.command.join(' ')} (${r.files.length} files, ${mib(r.files.reduce((n, f) => n + f.bytes, 0))} MiB; not root: pages evicted with posix_fadvise(DONTNEED), which leaves pages other processes map cached; no throttle; bytes from ru_inblock, requests unknown)`);
  else out.push(`cold starts of ${r.command.join(' ')} (${r.files.length} files, ${mib(r.files.reduce((n, f) => n + f.bytes, 0))} MiB on an ext4 loop device, direct I/O ${r.directIo === false ? 'OFF' : 'on'}, read-ahead ${r.readAheadKb} KiB${r.queue ? `, max_sectors_kb ${r.queue.maxSectorsKb}, max_segments ${r.queue.maxSegments}` : ''}, ${r.controller})`);
  if (r.models.some((m) => m.strategies.some((s) => s.planned))) out.push('planned: readahead calls the shim issued (its ELFPREFETCH_DEBUG lines); requests: what the device was sent (the cgroup counts every part of a split request)');
  out.push(`note: ${r.training.reason}${r.training.recordMs !== undefined ? ` (record ${(r.training.recordMs / 1000).toFixed(1)} s, stamp ${r.training.stampMs ?? '-'} ms, ${r.training.pages ?? '-'} pages in ${r.training.objects ?? '-'} objects)` : ''}`);
  for (const m of r.models) {
    out.push('');
    out.push(`model ${m.model} (${m.describe}${m.shimDevice ? `; shim plans for ${m.shimDevice}` : ''}), ${r.runs} run${r.runs === 1 ? '' : 's'} each, medians:`);
    if (m.shimClasses?.length) out.push(`the shim planned for: ${m.shimClasses.join('; ')}${m.shimDevice ? '' : ' (its own detection; ELFPREFETCH_DEVICE=CLASS sets it)'}`);
    out.push(...modelTable(m));
    if (m.lowerBound) out.push(`lower bound: warm + ${m.lowerBound.requests} requests of <= 1 MiB and ${mib(m.lowerBound.bytes)} MiB of touched pages at this model's limits = ${num(m.lowerBound.ms, 1)} ms`);
    if (m.deviceBound && r.deviceRequestKb !== undefined && r.deviceRequestKb < 1024) {
      const against = m.strategies.filter((s) => s.strategy !== 'warm' && s.toDeviceBound !== undefined).map((s) => `${s.strategy} ${ratio(s.toDeviceBound!)}`);
      out.push(`  with requests of <= ${r.deviceRequestKb} KiB (the largest this device takes unsplit): ${m.deviceBound.requests} requests, ${num(m.deviceBound.ms, 1)} ms${against.length ? `; wall / this bound: ${against.join(', ')}` : ''}`);
    }
  }
  for (const n of r.notes) out.push(`warning: ${n}`);
  return out;
}

/** A markdown table of every model (for docs/BENCHMARKS.md). */
export function markdownLines(r: BenchResult): string[] {
  const out = ['| model | strategy | wall ms median [range] | CPU ms | /demand | /wholefile | /warm | /bound | major faults | minor faults | read MiB | requests | planned |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const m of r.models) {
    for (const s of m.strategies) {
      out.push(`| ${m.model} | ${s.strategy} | ${ms(s.wallMs)} | ${s.cpuMs ? num(s.cpuMs.median, s.cpuMs.median < 100 ? 1 : 0) : '-'} | ${ratio(s.ratio.demand)} | ${ratio(s.ratio.wholefile)} | ${ratio(s.ratio.warm)} | ${ratio(s.toBound ?? NaN)} | ${num(s.majflt.median)} | ${num(s.minflt.median)} | ${mib(s.bytes.median)} | ${num(s.ios.median)} | ${s.planned ? num(s.planned.median) : ''} |`);
    }
  }
  return out;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const COLORS: Record<string, string> = {
  demand: '#c0392b',
  wholefile: '#e67e22',
  'elfprefetch-exec': '#27ae60',
  'elfprefetch-audit': '#2ecc71',
  'elfprefetch-preload': '#82e0aa',
  warm: '#7f8c8d',
};

/** One panel per model: a bar per strategy (median wall time, range as a whisker). */
export function benchSvg(r: BenchResult): string {
  const W = 920;
  const left = 170;
  const barW = W - left - 290;
  const rowH = 20;
  const parts: string[] = [];
  let y = 30;
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">${esc(`cold start of ${r.command.join(' ')} (read-ahead ${r.readAheadKb} KiB, median of ${r.runs})`)}</text>`);
  for (const m of r.models) {
    y += 10;
    parts.push(`<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${esc(`${m.model}: ${m.describe}`)}</text>`);
    y += 20;
    const max = Math.max(1e-9, ...m.strategies.map((s) => s.wallMs.max), m.lowerBound?.ms ?? 0);
    const top = y;
    for (const s of m.strategies) {
      const w = (s.wallMs.median / max) * barW;
      const x0 = left + (s.wallMs.min / max) * barW;
      const x1 = left + (s.wallMs.max / max) * barW;
      parts.push(`<text x="${left - 6}" y="${y + 14}" font-size="12" text-anchor="end">${esc(s.strategy)}</text>`);
      parts.push(`<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${COLORS[s.strategy] ?? '#3498db'}"/>`);
      parts.push(`<line x1="${x0.toFixed(1)}" y1="${y + rowH / 2}" x2="${x1.toFixed(1)}" y2="${y + rowH / 2}" stroke="#000" stroke-width="1"/>`);
      parts.push(`<text x="${(Math.max(left + w, x1) + 6).toFixed(1)}" y="${y + 14}" font-size="11">${esc(`${num(s.wallMs.median, s.wallMs.median < 100 ? 1 : 0)} ms, ${ratio(s.ratio.demand)}x demand, ${num(s.majflt.median)} major, ${num(s.ios.median)} req`)}</text>`);
      y += rowH;
    }
    if (m.lowerBound && Number.isFinite(m.lowerBound.ms)) {
      // No strategy can beat this: warm time plus reading the touched pages at the model's limits.
      const bx = (left + (m.lowerBound.ms / max) * barW).toFixed(1);
      parts.push(`<line x1="${bx}" y1="${top}" x2="${bx}" y2="${y + 2}" stroke="#000" stroke-width="1.5" stroke-dasharray="4 3"/>`);
      parts.push(`<text x="${bx}" y="${y + 14}" font-size="11" text-anchor="middle">${esc(`lower bound ${num(m.lowerBound.ms, 1)} ms`)}</text>`);
      y += 18;
    }
  }
  y += 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}
