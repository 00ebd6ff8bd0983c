/**
 * `elfprefetch show --svg`: the page picture as a standalone SVG with a legend. The selected
 * pages are what the eye should find: dark cells on pale segment colours. Reads are a thin line
 * under the cells they cover, so a hole read through is visible without drowning the selection.
 * Every file of a picture has the same scale (pages per cell, cell size), so sizes compare.
 */
import { Cell, ShownObject, cells, summary } from './model';

const SEG_FILL: Record<string, string> = { r: '#dbe7f6', x: '#f8e0d2', w: '#d9f0d6', '-': '#eeeeee' };
const SEG_NAME: Record<string, string> = { r: 'read-only segment', x: 'executable segment', w: 'writable segment', '-': 'not loaded' };
const SELECTED = '#0b2545';
const READ = '#d62828';
const TICK = '#444444';
const FONT = 'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace"';
const PITCH = 14;
const SIZE = PITCH - 2;
const ROW = PITCH + 6;
const LEFT = 76;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const kib = (b: number): string => (b >= 10 << 20 ? `${(b / 1048576).toFixed(1)} MiB` : b >= 1 << 20 ? `${(b / 1048576).toFixed(2)} MiB` : `${Math.round(b / 1024)} KiB`);

export interface SvgOptions {
  width?: number;
  maxRows?: number;
}

/** Selected bytes against bytes read: the point of the picture in one line. */
function readLine(o: ShownObject): string {
  const selected = o.selected.reduce((n, r) => n + Math.max(0, Math.min(r.first + r.count, o.pageCount) - r.first), 0) * o.pageSize;
  const read = o.plan.reduce((n, r) => n + r.length, 0);
  if (!o.plan.length) return `${kib(selected)} selected; nothing to read`;
  return `${kib(selected)} selected, read in ${o.plan.length} request${o.plan.length === 1 ? '' : 's'} of ${kib(read)} in all (${kib(Math.max(0, read - selected))} of holes read through, cheaper than a seek on ${o.device.name})`;
}

/** The section a page lies in, for rows where none starts. */
function sectionAt(o: ShownObject, offset: number): string | undefined {
  return o.sections.find((s) => s.offset <= offset && offset < s.offset + s.size)?.name;
}

function panel(o: ShownObject, y0: number, opts: Required<SvgOptions>, per: number, parts: string[]): { height: number; width: number } {
  let y = y0;
  parts.push(`<text x="16" y="${y + 14}" ${FONT} font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  y += 22;
  for (const line of [`${o.fileSize} bytes, ${o.pageCount} pages of ${o.pageSize} bytes`, ...o.notes, summary(o), readLine(o)]) {
    parts.push(`<text x="16" y="${y + 11}" ${FONT} font-size="11" fill="#333">${esc(line)}</text>`);
    y += 15;
  }
  y += 8;
  if (o.pageCount === 0) return { height: y - y0, width: 600 };
  const { cells: cs } = cells(o, opts.width * opts.maxRows, per);
  const cols = opts.width;
  const rows = Math.ceil(cs.length / cols);
  const gridRight = LEFT + cols * PITCH;
  const x = (i: number): number => LEFT + (i % cols) * PITCH;
  const yOf = (i: number): number => y + Math.floor(i / cols) * ROW;
  let labelsWidth = 0;
  for (let r = 0; r < rows; r++) {
    const row = cs.slice(r * cols, (r + 1) * cols);
    parts.push(`<text x="${LEFT - 8}" y="${y + r * ROW + SIZE - 2}" ${FONT} font-size="10" fill="#666" text-anchor="end">${row[0]!.first}</text>`);
    // The largest sections first: .text and .rodata say more than a row of small tables.
    const sizeOf = (n: string): number => o.sections.find((s) => s.name === n)?.size ?? 0;
    const names = row.flatMap((c) => c.starts).sort((a, b) => sizeOf(b) - sizeOf(a));
    const inside = names.length ? undefined : sectionAt(o, row[0]!.first * o.pageSize);
    let text = names.length ? names.slice(0, 3).join(' ') + (names.length > 3 ? ` +${names.length - 3} smaller` : '') : inside ? `(${inside})` : '';
    if (text.length > 60) text = text.slice(0, 57) + '...';
    if (text) {
      labelsWidth = Math.max(labelsWidth, text.length * 6.2);
      parts.push(`<text x="${gridRight + 10}" y="${y + r * ROW + SIZE - 2}" ${FONT} font-size="10" fill="${inside ? '#999' : '#333'}">${esc(text)}</text>`);
    }
  }
  cs.forEach((c: Cell, i) => {
    const tip = `pages ${c.first}${c.pages > 1 ? `-${c.first + c.pages - 1}` : ''}: ${SEG_NAME[c.kind]}, ${c.selected} selected, ${c.read} read${c.starts.length ? `; ${c.starts.join(' ')} starts here` : ''}`;
    parts.push(`<rect x="${x(i)}" y="${yOf(i)}" width="${SIZE}" height="${SIZE}" fill="${SEG_FILL[c.kind]}"><title>${esc(tip)}</title></rect>`);
    if (c.selected > 0) {
      const h = c.selected >= c.pages ? SIZE : Math.max(3, Math.round((SIZE * c.selected) / c.pages));
      parts.push(`<rect x="${x(i)}" y="${yOf(i) + SIZE - h}" width="${SIZE}" height="${h}" fill="${SELECTED}"/>`);
    }
  });
  // Where each section starts: a tick at its first byte.
  for (const s of o.sections) {
    const page = s.offset / o.pageSize;
    const i = Math.floor(page / per);
    if (i >= cs.length) continue;
    const within = (page - i * per) / per;
    const tx = x(i) + Math.min(SIZE, within * PITCH);
    parts.push(`<line x1="${tx.toFixed(1)}" y1="${yOf(i) - 2}" x2="${tx.toFixed(1)}" y2="${yOf(i) + SIZE + 1}" stroke="${TICK}" stroke-width="1"><title>${esc(s.name)}</title></line>`);
  }
  // The planned reads: a thin line under the cells each read covers, a gap between reads.
  for (const r of o.plan) {
    const c0 = Math.floor(Math.floor(r.offset / o.pageSize) / per);
    const c1 = Math.floor((Math.ceil((r.offset + r.length) / o.pageSize) - 1) / per);
    for (let c = c0; c <= c1; ) {
      const rowEnd = Math.min(c1, (Math.floor(c / cols) + 1) * cols - 1);
      const x0 = x(c) + (c === c0 ? 1 : 0);
      const x1 = x(rowEnd) + SIZE - (rowEnd === c1 ? 1 : -2);
      parts.push(`<rect x="${x0}" y="${yOf(c) + SIZE + 2}" width="${Math.max(2, x1 - x0)}" height="2" fill="${READ}"/>`);
      c = rowEnd + 1;
    }
  }
  y += rows * ROW + 4;
  return { height: y - y0, width: gridRight + 16 + labelsWidth };
}

function legend(y: number, per: number, pageSize: number, parts: string[]): number {
  const items: Array<[string, string]> = [
    [`<rect width="12" height="12" fill="#eeeeee"/><rect width="12" height="12" fill="${SELECTED}"/>`, 'selected pages (a part-filled cell: some of its pages)'],
    ...(['r', 'x', 'w', '-'] as const).map((k): [string, string] => [`<rect width="12" height="12" fill="${SEG_FILL[k]}"/>`, `not selected, ${SEG_NAME[k]}`]),
    [`<rect y="5" width="24" height="2" fill="${READ}"/>`, 'one read the shim issues (at most 1 MiB); under a pale cell: a hole read through'],
    [`<line x1="6" y1="0" x2="6" y2="13" stroke="${TICK}"/>`, 'a section starts here (names at the right; in brackets: the section the row is in)'],
  ];
  parts.push(`<text x="16" y="${y + 12}" ${FONT} font-size="12" font-weight="bold">Legend: one cell = ${per} page${per > 1 ? 's' : ''} (${per * pageSize} bytes) in every file above</text>`);
  y += 20;
  items.forEach(([sw, label], i) => {
    parts.push(`<g transform="translate(16,${y + i * 18})">${sw}<text x="32" y="10" ${FONT} font-size="11">${esc(label)}</text></g>`);
  });
  return y + items.length * 18 + 8;
}

export function renderSvg(objects: ShownObject[], opts: SvgOptions = {}): string {
  const o = { width: opts.width ?? 64, maxRows: opts.maxRows ?? 32 };
  const per = Math.max(1, ...objects.map((obj) => Math.ceil(obj.pageCount / (o.width * o.maxRows))));
  const parts: string[] = [];
  let y = 12;
  let width = 680;
  for (const obj of objects) {
    const p = panel(obj, y, o, per, parts);
    y += p.height + 10;
    width = Math.max(width, p.width);
  }
  y = legend(y, per, objects[0]?.pageSize ?? 4096, parts);
  width = Math.ceil(width);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">`,
    `<rect width="${width}" height="${y}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
