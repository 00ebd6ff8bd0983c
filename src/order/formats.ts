/*
 * Order files in the form each linker reads (docs/USAGE.md, `order`). All name input sections or
 * symbols of objects compiled with -ffunction-sections (-fdata-sections for data); a name the
 * link does not have is skipped by the linker (lld warns unless --no-warn-symbol-ordering).
 */
import type { RankedSymbol } from './rank';

export const ORDER_FORMATS = ['lld', 'lld-rodata', 'gold', 'gnu-ld'] as const;
export type OrderFormat = (typeof ORDER_FORMATS)[number];

/** The part of a function GCC splits off as cold: NAME.cold (or NAME.cold.N), its own symbol. */
const COLD = /^(.+)\.cold(\.\d+)?$/;

/**
 * The input sections GCC may put function NAME in: .text.NAME, or with a prefix for
 * hot/cold/start-up code (-freorder-functions, main in .text.startup). The cold part GCC
 * splits off (NAME.cold, its own symbol) lies in .text.unlikely.<the function's name>.
 * Exact names, no wildcards: gold looks an exact name up in a table but tries every wildcard
 * line against every input section.
 */
export function sectionsOf(name: string): string[] {
  const cold = COLD.exec(name);
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

/** GCC's literal sections, .strE.A (E bytes a character, aligned to A: str1.1, str4.8, str1.32...), as a glob both lld and GNU ld take. */
const STRINGS = '.str[0-9].[0-9]*';

/**
 * The read-only data GCC -ffunction-sections puts beside function NAME: its switch tables
 * (.rodata.NAME) and its string literals (.rodata.NAME.strE.A: E bytes a character, aligned to A).
 * Every linker merges all literals of an output section into one block (lld and gold in input
 * order, GNU ld sorted for tail merging), so only an output section of their own keeps the
 * start-up ones together: the scripts of formats lld-rodata and gnu-ld.
 */
export function readOnlyOf(name: string): string[] {
  return [`.rodata.${name}`, `.rodata.${name}${STRINGS}`];
}

/**
 * The constants GCC names after no function or variable: literals of initialised data (type
 * names, tables of names), merged numbers (.rodata.cstN) and switch-lookup tables (CSWTCH.N, a
 * local name every object repeats). Small (CPython: 48 of 500 KB of .rodata) and touched all
 * over at start-up. lld merges them in input order, so together they stay grouped by object;
 * GNU ld sorts merged strings, which would scatter the start-up literals among them, so only
 * the lld script takes them (CPython: lld 15 runs with them; GNU ld 28 with, 25 without).
 */
const UNNAMED_CONSTANTS = [`.rodata${STRINGS}`, '.rodata.cst[0-9]*', '.rodata.CSWTCH.*'];

/** Names a GNU ld script can carry unquoted in a section pattern (C and mangled C++ names are). */
const SCRIPT_NAME = /^[A-Za-z0-9_.$]+$/;

/** What to order: functions and data symbols, each in start-up order. */
export interface OrderInput {
  functions: RankedSymbol[];
  data: RankedSymbol[];
}

/** A cold part has no read-only data of its own: its tables and literals are its function's. */
const isCold = (name: string): boolean => COLD.test(name);

/**
 * The output section .rodata.elfprefetch, INSERTed as `where` says: each start-up function's
 * switch tables and literals, in order, then the read-only data symbols (a writable one matches
 * nothing and stays as linked), then for lld the unnamed constants.
 */
function rodataScript(functions: RankedSymbol[], data: RankedSymbol[], unnamed: boolean, where: string): string {
  const body = [
    ...functions.filter((f) => !isCold(f.name)).map((f) => `    *(${readOnlyOf(f.name).join(' ')})\n`),
    ...data.map((d) => `    *(.rodata.${d.name})\n`),
    ...(unnamed ? [`    *(${UNNAMED_CONSTANTS.join(' ')})\n`] : []),
  ].join('');
  return `SECTIONS\n{\n  .rodata.elfprefetch :\n  {\n${body}  }\n}\nINSERT ${where};\n`;
}

/** The order file's text, and how many symbols it leaves out: names a linker script cannot carry. */
export function orderText(input: OrderInput, format: OrderFormat, what: string): { text: string; left: number } {
  const { functions, data } = input;
  // lld places each symbol's section in the order of the file, code and data alike.
  if (format === 'lld') return { text: [...functions, ...data].map((f) => `${f.name}\n`).join(''), left: 0 };
  if (format === 'gold') {
    // gold orders any input section by name, so each function's switch tables come along too:
    // GCC puts them in .rodata.NAME, with no symbol lld could order them by (CPython's exact
    // order: its start-up .rodata in 14 runs, against 17 by lld's symbol order). Its literals
    // gold merges anyway.
    const seen = new Set<string>();
    const code = functions.flatMap((f) => [...sectionsOf(f.name), ...(isCold(f.name) ? [] : [`.rodata.${f.name}`])]);
    const lines = [...code, ...data.flatMap((d) => dataSectionsOf(d.name))].filter((s) => !seen.has(s) && seen.add(s));
    return { text: lines.map((s) => `${s}\n`).join(''), left: 0 };
  }
  const usable = functions.filter((f) => SCRIPT_NAME.test(f.name));
  const usableData = data.filter((d) => SCRIPT_NAME.test(d.name));
  const left = functions.length - usable.length + data.length - usableData.length;
  const title = what.replace(/\*\//g, '* /');
  if (format === 'lld-rodata') {
    // What lld's symbol order cannot place, which have no symbol: switch tables and literals.
    // lld cannot INSERT relative to an output section that ends up empty, as .rodata does when
    // the script takes all of it (a small program: its literals, crt1.o's constant); .text
    // always keeps crt1.o's _start. So the section goes at the end of the read-only segment,
    // next to the code start-up runs (which the lld order puts first in .text).
    const text =
      `/* elfprefetch order: the read-only data of ${usable.length} start-up functions of ${title}, hottest first,\n` +
      `   then ${usableData.length} data symbols and the unnamed constants.\n` +
      `   Link with lld beside the order of --format lld: -fuse-ld=lld -Wl,--symbol-ordering-file=ORDER -Wl,-T,THIS_FILE */\n` +
      rodataScript(usable, usableData, true, 'BEFORE .text');
    return { text, left };
  }
  // GNU ld before 2.43 has no ordering option: a script that INSERTs output sections of the
  // start-up code before .text and of its read-only data after .rodata. Given with -T, it adds to the
  // default script (its statements are matched first), it does not replace it. Writable data
  // stays where it is: an output section of its own for RELRO or writable data would change the
  // segments' layout. GNU ld's default script has .text and .rodata whether anything is in them
  // or not. The read-only data goes AFTER .rodata: BEFORE it is still within the code's segment
  // (before the script moves to the "rodata-segment"), which would make it executable.
  const body = usable.map((f) => `    *(${sectionsOf(f.name).join(' ')})\n`).join('');
  const text =
    `/* elfprefetch order: ${usable.length} start-up functions of ${title}, hottest first,\n` +
    `   then their read-only data and ${usableData.length} data symbols.\n` +
    `   Link with -Wl,-T,THIS_FILE (GNU ld): INSERT adds this to the default linker script. */\n` +
    `SECTIONS\n{\n  .text.elfprefetch :\n  {\n${body}  }\n}\nINSERT BEFORE .text;\n` +
    rodataScript(usable, usableData, false, 'AFTER .rodata');
  return { text, left };
}
