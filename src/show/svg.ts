/** `elfprefetch show --svg`: the page picture as a standalone SVG with a legend. */
import { Cell, ShownObject, cells, summary } from './model';

const SEG_FILL: Record<string, string> = { r: '#cfe0f5', x: '#f6d2c0', w: '#cdeccb', '-': '#e6e6e6' };
const SEG_NAME: Record<string, string> = { r: 'read-only segment', x: 'executable segment', w: 'writable segment', '-': 'not loaded' };
const SELECTED = '#1d3557';
const HOLE = '#f0a030';
const READ = '#d62828';
const FONT = 'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface SvgOptions {
  width?: number;
  maxRows?: number;
}

function panel(o: ShownObject, y0: number, opts: Required<SvgOptions>, parts: string[]): { height: number; width: number } {
  const left = 76;
  let y = y0;
  parts.push(`<text x="16" y="${y + 14}" ${FONT} font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  y += 22;
  for (const line of [`${o.fileSize} bytes, ${o.pageCount} pages of ${o.pageSize} bytes`, ...o.notes, summary(o)]) {
    parts.push(`<text x="16" y="${y + 11}" ${FONT} font-size="11" fill="#333">${esc(line)}</text>`);
    y += 15;
  }
  y += 8;
  if (o.pageCount === 0) return { height: y - y0, width: 600 };
  const { per, cells: cs } = cells(o, opts.width * opts.maxRows);
  const cols = Math.min(opts.width, cs.length);
  const pitch = cols <= 16 ? 28 : 14;
  const size = pitch - 2;
  const rowH = pitch + 6;
  const rows = Math.ceil(cs.length / cols);
  const gridRight = left + cols * pitch;
  const x = (i: number): number => left + (i % cols) * pitch;
  const yOf = (i: number): number => y + Math.floor(i / cols) * rowH;
  let labelsWidth = 0;
  for (let r = 0; r < rows; r++) {
    const row = cs.slice(r * cols, (r + 1) * cols);
    parts.push(`<text x="${left - 8}" y="${y + r * rowH + size - 2}" ${FONT} font-size="10" fill="#666" text-anchor="end">${row[0]!.first}</text>`);
    const names = row.flatMap((c) => c.starts);
    if (names.length) {
      let text = names.join(' ');
      if (text.length > 70) text = text.slice(0, 67) + '...';
      labelsWidth = Math.max(labelsWidth, text.length * 6.2);
      parts.push(`<text x="${gridRight + 10}" y="${y + r * rowH + size - 2}" ${FONT} font-size="10" fill="#555">${esc(text)}</text>`);
    }
  }
  cs.forEach((c: Cell, i) => {
    const tip = `pages ${c.first}${c.pages > 1 ? `-${c.first + c.pages - 1}` : ''}: ${SEG_NAME[c.kind]}, ${c.selected} selected, ${c.read} read`;
    parts.push(`<rect x="${x(i)}" y="${yOf(i)}" width="${size}" height="${size}" fill="${SEG_FILL[c.kind]}"><title>${esc(tip)}</title></rect>`);
    const inner = size - 4;
    if (c.selected > 0) {
      const h = Math.max(2, Math.round((inner * c.selected) / c.pages));
      parts.push(`<rect x="${x(i) + 2}" y="${yOf(i) + 2 + inner - h}" width="${inner}" height="${h}" fill="${SELECTED}"/>`);
    } else if (c.read > 0) {
      parts.push(`<rect x="${x(i) + 2}" y="${yOf(i) + 2}" width="${inner}" height="${inner}" fill="${HOLE}" fill-opacity="0.75"/>`);
    }
  });
  // The planned reads: a bar under the cells each read covers, with a gap between reads.
  for (const r of o.plan) {
    const firstPage = Math.floor(r.offset / o.pageSize);
    const lastPage = Math.ceil((r.offset + r.length) / o.pageSize) - 1;
    const c0 = Math.floor(firstPage / per);
    const c1 = Math.floor(lastPage / per);
    for (let c = c0; c <= c1; ) {
      const rowEnd = Math.min(c1, (Math.floor(c / cols) + 1) * cols - 1);
      const x0 = x(c) + (c === c0 ? 1 : 0);
      const x1 = x(rowEnd) + size - (rowEnd === c1 ? 1 : -2);
      parts.push(`<rect x="${x0}" y="${yOf(c) + size + 1}" width="${Math.max(2, x1 - x0)}" height="3" fill="${READ}"/>`);
      c = rowEnd + 1;
    }
  }
  y += rows * rowH + 8;
  parts.push(`<text x="16" y="${y + 10}" ${FONT} font-size="10" fill="#666">one cell = ${per} page${per > 1 ? 's' : ''} (${per * o.pageSize} bytes); left: first page of the row; right: sections starting in the row</text>`);
  y += 18;
  return { height: y - y0, width: gridRight + 16 + labelsWidth };
}

function legend(y: number, parts: string[]): number {
  const items: Array<[string, string]> = [
    ...(['r', 'x', 'w', '-'] as const).map((k): [string, string] => [`<rect width="12" height="12" fill="${SEG_FILL[k]}"/>`, SEG_NAME[k]!]),
    [`<rect width="12" height="12" fill="#e6e6e6"/><rect x="2" y="2" width="8" height="8" fill="${SELECTED}"/>`, 'selected page (height: share selected)'],
    [`<rect width="12" height="12" fill="#e6e6e6"/><rect x="2" y="2" width="8" height="8" fill="${HOLE}" fill-opacity="0.75"/>`, 'read through a merged hole'],
    [`<rect y="5" width="24" height="3" fill="${READ}"/>`, 'one readahead request (at most 1 MiB)'],
  ];
  parts.push(`<text x="16" y="${y + 12}" ${FONT} font-size="12" font-weight="bold">Legend</text>`);
  y += 20;
  items.forEach(([sw, label], i) => {
    const col = i % 2;
    const row = Math.floor(i / 2);
    const lx = 16 + col * 330;
    const ly = y + row * 18;
    parts.push(`<g transform="translate(${lx},${ly})">${sw}<text x="32" y="10" ${FONT} font-size="11">${esc(label)}</text></g>`);
  });
  return y + Math.ceil(items.length / 2) * 18 + 8;
}

export function renderSvg(objects: ShownObject[], opts: SvgOptions = {}): string {
  const o = { width: opts.width ?? 64, maxRows: opts.maxRows ?? 32 };
  const parts: string[] = [];
  let y = 12;
  let width = 680;
  for (const obj of objects) {
    const p = panel(obj, y, o, parts);
    y += p.height + 10;
    width = Math.max(width, p.width);
  }
  y = legend(y, parts);
  width = Math.ceil(width);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">`,
    `<rect width="${width}" height="${y}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
