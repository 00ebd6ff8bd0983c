/**
 * The page picture in the terminal: `elfprefetch show` (two text lines per row of cells:
 * segments, pages) and `elfprefetch info` (one set's pages alone).
 */
import type { Run } from '../note/pageset';
import { ShownObject, cells, summary } from './model';
import { cellGlyph, glyphLegend, paint } from './glyphs';

export interface TerminalOptions {
  width?: number;
  maxRows?: number;
  /** ANSI colours for the segment kinds and the page glyphs. */
  color?: boolean;
}

const SEG_COLOR: Record<string, string> = { r: '\x1b[34m', x: '\x1b[31m', w: '\x1b[32m', '-': '\x1b[90m' };
const RESET = '\x1b[0m';

export function renderTerminal(objects: ShownObject[], opts: TerminalOptions = {}): string[] {
  const width = opts.width ?? 64;
  const maxRows = opts.maxRows ?? 24;
  const out: string[] = [];
  for (const o of objects) {
    out.push(`${o.title}: ${o.fileSize} bytes, ${o.pageCount} pages of ${o.pageSize} bytes`);
    for (const n of o.notes) out.push(`  ${n}`);
    out.push(`  ${summary(o)}`);
    if (o.pageCount === 0) {
      out.push('');
      continue;
    }
    const { per, cells: cs } = cells(o, width * maxRows);
    out.push('');
    for (let i = 0; i < cs.length; i += width) {
      const row = cs.slice(i, i + width);
      const seg = row.map((c) => (opts.color ? `${SEG_COLOR[c.kind]}${c.kind}${RESET}` : c.kind)).join('');
      const pages = paint(row.map((c) => cellGlyph(c.pages, c.selected, c.read)).join(''), !!opts.color);
      const names = row.flatMap((c) => c.starts);
      const pad = ' '.repeat(Math.min(width, cs.length) - row.length);
      let label = '';
      for (const [k, n] of names.entries()) {
        if (label.length + n.length > 60) {
          label += ` (+${names.length - k})`;
          break;
        }
        label += (label ? ' ' : '') + n;
      }
      out.push(`  ${String(row[0]!.first).padStart(7)} ${seg}${pad}`);
      out.push(`  ${''.padStart(7)} ${pages}${pad}${label ? '  ' + label : ''}`);
    }
    out.push('');
    out.push(`  upper line: segment r read-only, x executable, w writable, - not loaded; right: sections starting there`);
    out.push(`  lower line: ${glyphLegend(per, true)}`);
    if (o.plan.length > 0) {
      out.push('');
      out.push(`  reads (${o.device.name}):`);
      const shown = o.plan.slice(0, 40);
      for (const [k, r] of shown.entries()) {
        const p0 = Math.floor(r.offset / o.pageSize);
        const p1 = Math.ceil((r.offset + r.length) / o.pageSize) - 1;
        out.push(`    ${String(k + 1).padStart(4)}  offset 0x${r.offset.toString(16).padEnd(9)} ${String(r.length).padStart(8)} bytes  pages ${p0 === p1 ? p0 : `${p0}-${p1}`}`);
      }
      if (o.plan.length > shown.length) out.push(`    ... and ${o.plan.length - shown.length} more`);
    }
    if (o.segments.length > 0) {
      out.push('');
      out.push('  segments:');
      for (const s of o.segments) {
        const p0 = Math.floor(s.offset / o.pageSize);
        const p1 = Math.max(p0, Math.ceil((s.offset + s.size) / o.pageSize) - 1);
        out.push(`    ${s.label.padEnd(9)} offset 0x${s.offset.toString(16).padEnd(8)} size 0x${s.size.toString(16).padEnd(8)} pages ${p0 === p1 ? p0 : `${p0}-${p1}`}`);
      }
    }
    if (o.sections.length > 0) {
      out.push('');
      out.push('  sections:');
      const shown = o.sections.slice(0, 80);
      const items = shown.map((s) => {
        const p0 = Math.floor(s.offset / o.pageSize);
        const p1 = Math.max(p0, Math.ceil((s.offset + s.size) / o.pageSize) - 1);
        return `${s.name} ${p0 === p1 ? p0 : `${p0}-${p1}`}`;
      });
      let line = '   ';
      for (const item of items) {
        if (line.length + item.length + 3 > 100) {
          out.push(line);
          line = '   ';
        }
        line += ` ${item};`;
      }
      if (line.trim()) out.push(line);
      if (o.sections.length > shown.length) out.push(`    ... and ${o.sections.length - shown.length} more`);
    }
    out.push('');
  }
  return out;
}

/** One page set alone (`info`): rows of cells by how many of their pages are selected, and the legend. */
export function renderPageSet(selected: Run[], pageCount: number, opts: TerminalOptions = {}): string[] {
  if (pageCount === 0) return [];
  const width = opts.width ?? 64;
  const { per, cells: cs } = cells({ pageCount, pageSize: 1, selected, plan: [], segments: [], sections: [] }, width * (opts.maxRows ?? 16));
  const rows: string[] = [];
  for (let i = 0; i < cs.length; i += width) {
    const row = cs.slice(i, i + width);
    rows.push(`${String(row[0]!.first).padStart(8)} ${paint(row.map((c) => cellGlyph(c.pages, c.selected)).join(''), !!opts.color)}`);
  }
  rows.push(`${''.padStart(8)} ${glyphLegend(per, false)}`);
  return rows;
}
