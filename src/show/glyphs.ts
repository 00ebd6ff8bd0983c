/**
 * The one picture vocabulary of `info` and `show`: a cell is a page or a group of pages.
 * ░ appears only where reads are planned (show): pages read but not selected.
 */
export const GLYPH = { all: '█', some: '▓', readOnly: '░', none: '·' } as const;

const ANSI: Record<string, string> = { '█': '\x1b[1;34m', '▓': '\x1b[34m', '░': '\x1b[33m', '·': '\x1b[90m' };

/** The glyph of a cell of `pages` pages with `selected` selected and `read` read. */
export function cellGlyph(pages: number, selected: number, read = 0): string {
  if (selected >= pages) return GLYPH.all;
  if (selected > 0) return GLYPH.some;
  if (read > 0) return GLYPH.readOnly;
  return GLYPH.none;
}

/** A row of glyphs, coloured on request. */
export function paint(glyphs: string, color: boolean): string {
  if (!color) return glyphs;
  return glyphs.replace(/(█+|▓+|░+|·+)/g, (g) => `${ANSI[g[0]!]}${g}\x1b[0m`);
}

/** The legend under a picture; `reads` adds ░ (show plans reads, info does not). */
export function glyphLegend(per: number, reads: boolean): string {
  const cell = `one cell = ${per} page${per > 1 ? 's' : ''}`;
  const read = reads ? `, ${GLYPH.readOnly} read but not selected (a hole merged into a read)` : '';
  return `${cell}: ${GLYPH.all} selected, ${GLYPH.some} partly selected${read}, ${GLYPH.none} not ${reads ? 'read' : 'selected'}`;
}

/** Colour by default on a terminal, unless NO_COLOR is set (https://no-color.org). */
export function colorByDefault(stream: { isTTY?: boolean } = process.stdout): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR;
}
