import type { Selection } from '../src/profile/select';
import type { StampOutcome } from '../src/ops/train';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const pct = (x: number): string => `${(100 * x).toFixed(x < 0.001 && x > 0 ? 2 : 1)}%`;

/** One line per object: kind, touched and selected pages, bytes, share of the file. */
export function selectionLines(sel: Selection, pageSize: number): string[] {
  const width = Math.min(60, Math.max(...sel.objects.map((o) => o.path.length)));
  const lines = sel.objects.map((o) => {
    const kind = o.main ? 'program' : 'library';
    return `  ${kind.padEnd(7)}  ${o.path.padEnd(width)}  ${String(o.selected).padStart(6)} of ${String(o.touched).padStart(6)} pages  ${formatBytes(o.bytes).padStart(10)}  ${pct(o.share).padStart(6)} of ${formatBytes(o.size)}`;
  });
  const pages = sel.objects.reduce((n, o) => n + o.selected, 0);
  const touched = sel.objects.reduce((n, o) => n + o.touched, 0);
  lines.push(`  total: ${sel.objects.length} objects, ${pages} of ${touched} touched pages selected (${formatBytes(pages * pageSize)}), ${sel.runs} run${sel.runs === 1 ? '' : 's'} merged${sel.overBudget ? `, ${sel.overBudget} pages over the budget left out` : ''}`);
  return lines;
}

export function stampLines(stamps: StampOutcome[]): string[] {
  return stamps.map((s) =>
    s.result
      ? `  stamped ${s.kind} ${s.path} (${s.result.strategy}): ${s.result.pages} pages in its own set, note ${s.result.descUsed} of ${s.result.descCapacity} bytes`
      : `  skipped ${s.kind} ${s.path}: ${s.skipped}`,
  );
}
