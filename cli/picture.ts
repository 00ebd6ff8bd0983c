import type { Run } from '../src/note/pageset';

const SHADES = [' ', '░', '▒', '▓', '█'];

/** The page set as rows of cells, each cell a group of pages shaded by how many are selected. */
export function pagePicture(runs: Run[], pageCount: number, width = 64, maxRows = 16): string[] {
  if (pageCount === 0) return [];
  const cells = Math.min(pageCount, width * maxRows);
  const per = Math.ceil(pageCount / cells);
  const counts = new Array<number>(Math.ceil(pageCount / per)).fill(0);
  for (const r of runs) for (let p = r.first; p < r.first + r.count && p < pageCount; p++) counts[Math.floor(p / per)]!++;
  const rows: string[] = [];
  for (let i = 0; i < counts.length; i += width) {
    const line = counts
      .slice(i, i + width)
      .map((c, j) => {
        const span = Math.min(per, pageCount - (i + j) * per);
        return c === 0 ? '·' : SHADES[Math.max(1, Math.round((c / span) * 4))]!;
      })
      .join('');
    rows.push(`${String(i * per).padStart(8)} ${line}`);
  }
  rows.push(`${''.padStart(8)} one cell = ${per} page${per > 1 ? 's' : ''}; █ all selected, ░ some, · none`);
  return rows;
}
