/*
 * Order files in the form each linker reads (docs/USAGE.md, `order`). All three name input
 * sections or symbols of objects compiled with -ffunction-sections; a name the link does not
 * have is skipped by the linker (lld warns unless --no-warn-symbol-ordering).
 */
import type { RankedSymbol } from './rank';

export const ORDER_FORMATS = ['lld', 'gold', 'gnu-ld'] as const;
export type OrderFormat = (typeof ORDER_FORMATS)[number];

/**
 * The input sections GCC may put function NAME in: .text.NAME, or with a prefix for
 * hot/cold/start-up code (-freorder-functions, main in .text.startup). The cold part GCC
 * splits off (NAME.cold, its own symbol) lies in .text.unlikely.<the function's name>.
 * Exact names, no wildcards: gold looks an exact name up in a table but tries every wildcard
 * line against every input section.
 */
export function sectionsOf(name: string): string[] {
  const cold = /^(.+)\.cold(\.\d+)?$/.exec(name);
  if (cold) return [`.text.unlikely.${cold[1]}`];
  return [`.text.${name}`, `.text.hot.${name}`, `.text.unlikely.${name}`, `.text.startup.${name}`];
}

/**
 * The input sections GCC's -fdata-sections puts variable NAME in: read-only, relocated
 * read-only (RELRO), relocated and plain writable data.
 */
export function dataSectionsOf(name: string): string[] {
  return ['.rodata.', '.data.rel.ro.local.', '.data.rel.ro.', '.data.rel.local.', '.data.rel.', '.data.'].map((p) => `${p}${name}`);
}

/** Names a GNU ld script can carry unquoted in a section pattern (C and mangled C++ names are). */
const SCRIPT_NAME = /^[A-Za-z0-9_.$]+$/;

/** What to order: functions and data symbols, each in start-up order. */
export interface OrderInput {
  functions: RankedSymbol[];
  data: RankedSymbol[];
}

/**
 * The order file's text, and how many symbols it leaves out: names a GNU ld script cannot
 * carry, and for GNU ld the data (its script orders only the code).
 */
export function orderText(input: OrderInput, format: OrderFormat, what: string): { text: string; left: number } {
  const { functions, data } = input;
  // lld places each symbol's section in the order of the file, code and data alike.
  if (format === 'lld') return { text: [...functions, ...data].map((f) => `${f.name}\n`).join(''), left: 0 };
  if (format === 'gold') {
    // gold orders any input section by name, so each function's switch tables come along too:
    // GCC puts them in .rodata.NAME, with no symbol lld could order them by (CPython's exact
    // order: its start-up .rodata in 15 runs instead of 21).
    const seen = new Set<string>();
    const code = functions.flatMap((f) => [...sectionsOf(f.name), ...(/\.cold(\.\d+)?$/.test(f.name) ? [] : [`.rodata.${f.name}`])]);
    const lines = [...code, ...data.flatMap((d) => dataSectionsOf(d.name))].filter((s) => !seen.has(s) && seen.add(s));
    return { text: lines.map((s) => `${s}\n`).join(''), left: 0 };
  }
  // GNU ld before 2.43 has no ordering option: a script that INSERTs one output section of the
  // start-up functions before .text. Given with -T, it adds to the default script (its
  // statements are matched first), it does not replace it. Data stays where it is: an output
  // section of its own for RELRO or writable data would change the segments' layout.
  const usable = functions.filter((f) => SCRIPT_NAME.test(f.name));
  const body = usable.map((f) => `    *(${sectionsOf(f.name).join(' ')})\n`).join('');
  const text =
    `/* elfprefetch order: ${usable.length} start-up functions of ${what.replace(/\*\//g, '* /')}, hottest first.\n` +
    `   Link with -Wl,-T,THIS_FILE (GNU ld): INSERT adds this to the default linker script. */\n` +
    `SECTIONS\n{\n  .text.elfprefetch :\n  {\n${body}  }\n}\nINSERT BEFORE .text;\n`;
  return { text, left: functions.length - usable.length + data.length };
}
