import type { Run } from '../src/note/pageset';
import { cellGlyph, glyphLegend, paint } from '../src/show/glyphs';

/** The page set as rows of cells (the vocabulary of `show`, src/show/glyphs.ts). */
export function pagePicture(extents: Run[], pageCount: number, opts: { width?: number; maxRows?: number; color?: boolean } = {}): string[] {
  const width = opts.width ?? 64;
  if (pageCount === 0) return [];
  const cells = Math.min(pageCount, width * (opts.maxRows ?? 16));
  const per = Math.ceil(pageCount / cells);
  const counts = new Array<number>(Math.ceil(pageCount / per)).fill(0);
  for (const r of extents) for (let p = r.first; p < r.first + r.count && p < pageCount; p++) counts[Math.floor(p / per)]!++;
  const rows: string[] = [];
  for (let i = 0; i < counts.length; i += width) {
    const line = counts
      .slice(i, i + width)
      .map((c, j) => cellGlyph(Math.min(per, pageCount - (i + j) * per), c))
      .join('');
    rows.push(`${String(i * per).padStart(8)} ${paint(line, !!opts.color)}`);
  }
  rows.push(`${''.padStart(8)} ${glyphLegend(per, false)}`);
  return rows;
}
