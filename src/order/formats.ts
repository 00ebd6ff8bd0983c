/*
 * Order files in the form each linker reads (docs/USAGE.md, `order`). All three name input
 * sections or symbols of objects compiled with -ffunction-sections; a name the link does not
 * have is skipped by the linker (lld warns unless --no-warn-symbol-ordering).
 */
import type { RankedFunction } from './rank';

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

/** Names a GNU ld script can carry unquoted in a section pattern (C and mangled C++ names are). */
const SCRIPT_NAME = /^[A-Za-z0-9_.$]+$/;

/** The order file's text, and how many functions it leaves out (names a GNU ld script cannot carry). */
export function orderText(functions: RankedFunction[], format: OrderFormat, what: string): { text: string; left: number } {
  if (format === 'lld') return { text: functions.map((f) => `${f.name}\n`).join(''), left: 0 };
  if (format === 'gold') {
    const seen = new Set<string>();
    const lines = functions.flatMap((f) => sectionsOf(f.name)).filter((s) => !seen.has(s) && seen.add(s));
    return { text: lines.map((s) => `${s}\n`).join(''), left: 0 };
  }
  // GNU ld before 2.43 has no ordering option: a script that INSERTs one output section of the
  // start-up functions before .text. Given with -T, it adds to the default script (its
  // statements are matched first), it does not replace it.
  const usable = functions.filter((f) => SCRIPT_NAME.test(f.name));
  const body = usable.map((f) => `    *(${sectionsOf(f.name).join(' ')})\n`).join('');
  const text =
    `/* elfprefetch order: ${usable.length} start-up functions of ${what.replace(/\*\//g, '* /')}, hottest first.\n` +
    `   Link with -Wl,-T,THIS_FILE (GNU ld): INSERT adds this to the default linker script. */\n` +
    `SECTIONS\n{\n  .text.elfprefetch :\n  {\n${body}  }\n}\nINSERT BEFORE .text;\n`;
  return { text, left: functions.length - usable.length };
}
