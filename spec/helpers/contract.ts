// The contract of docs/DESIGN.md ("What a stamp keeps"), checked with binutils readelf, an
// independent parser: a stamped file against the file it was stamped from.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { openElf } from '../../src/elf/read';
import { findOurNote } from '../../src/note/locate';
import { runCommand } from './fixtures';

type Test = tap.Test;

/** The "Program Headers:" block and the section-to-segment map of `readelf -lW`. */
function programHeaders(out: string): string {
  const at = out.indexOf('Program Headers:');
  if (at < 0) return '';
  const end = out.slice(at).search(/\n(There are \d+ section headers|Section Headers:|Displaying notes)/);
  return (end < 0 ? out.slice(at) : out.slice(at, at + end)).trim();
}

interface Load {
  offset: number;
  filesz: number;
}

function loads(out: string): Load[] {
  const res: Load[] = [];
  for (const m of out.matchAll(/^\s+LOAD\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/gm)) {
    res.push({ offset: parseInt(m[1]!, 16), filesz: parseInt(m[2]!, 16) });
  }
  return res;
}

/**
 * `readelf -SW` allocated sections, each with the name of the section it links to in place of
 * the index (our section is inserted before the non-allocated ones, so an index may change).
 */
function allocatedSections(out: string): string[] {
  const rows = out
    .split('\n')
    .map((l) => /^\s*\[\s*(\d+)\]\s+(\S+)?\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]{2})\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m);
  const names = new Map(rows.map((m) => [m[1]!, m[2] ?? '']));
  return rows.filter((m) => m[8]!.includes('A')).map((m) => [m[2], m[3], m[4], m[5], m[6], m[7], m[8], names.get(m[9]!) ?? m[9], m[10], m[11]].join(' '));
}

/** The ELF header's size (sizeof(Ehdr)) and e_phoff, from `readelf -h`. */
function header(out: string): { ehsize: number; phoff: number } {
  return {
    ehsize: Number(/Size of this header:\s+(\d+)/.exec(out)?.[1] ?? NaN),
    phoff: Number(/Start of program headers:\s+(\d+)/.exec(out)?.[1] ?? NaN),
  };
}

/**
 * The rules of the contract a stamped file breaks against the file it was stamped from, one
 * line each (none: it keeps them all): its program headers and the section-to-segment map are
 * what they were (libdwfl's address_sync, the kernel, ld.so, the layout digest); its allocated
 * sections keep offset, address, size and flags (separate debug files); no loaded byte changed
 * but the ELF header's (core dumps keep page 0 with the table and the build-id note); the
 * kernel's build-id reader before 6.12 finds the same build-id in the first page.
 */
export function invisibleViolations(stamped: string, original: string): string[] {
  const read = (f: string): string => spawnSync('readelf', ['-hlSW', f], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout ?? '';
  const a = read(original);
  const b = read(stamped);
  const out: string[] = [];
  if (programHeaders(b) !== programHeaders(a)) out.push('the program headers or the section-to-segment map changed');
  if (allocatedSections(b).join('\n') !== allocatedSections(a).join('\n')) out.push('an allocated section changed offset, address, size, flags or link');
  const ha = header(a);
  if (JSON.stringify(header(b)) !== JSON.stringify(ha)) out.push('e_phoff or sizeof(Ehdr) changed');
  const before = fs.readFileSync(original);
  const after = Buffer.from(fs.readFileSync(stamped));
  // A note linked in as a reservation is loaded: its descriptor is the one loaded range a stamp fills.
  const desc = descriptorOf(stamped);
  if (desc) {
    after.fill(0, desc.start, desc.end);
    before.fill(0, desc.start, Math.min(desc.end, before.length));
  }
  for (const l of loads(a)) {
    const from = Math.max(l.offset, ha.ehsize);
    if (!before.subarray(from, l.offset + l.filesz).equals(after.subarray(from, l.offset + l.filesz))) out.push(`loaded bytes at 0x${l.offset.toString(16)} changed`);
  }
  if (firstPageBuildId(stamped) !== firstPageBuildId(original)) out.push('the kernel\'s first-page build-id reader (Linux < 6.12) finds another build-id');
  return out;
}

/** Where the stamped file's note descriptor is (by our reader), when it lies in a segment. */
function descriptorOf(file: string): { start: number; end: number } | undefined {
  const elf = openElf(file);
  try {
    const ours = findOurNote(elf);
    if (!ours || ours.note.container.kind !== 'segment') return undefined;
    return { start: Number(ours.note.descOffset), end: Number(ours.note.descOffset) + ours.note.descSize };
  } finally {
    elf.source.close();
  }
}

/** The contract in a spec: readelf reads the file without a new warning, lists our note, and no rule is broken. */
export async function checkInvisible(t: Test, stamped: string, original: string, what: string, opts: { noted?: boolean } = {}): Promise<void> {
  const [a, b] = await Promise.all([runCommand(['readelf', '-hlSnW', original]), runCommand(['readelf', '-hlSnW', stamped])]);
  t.equal(b.status, 0, `readelf -hlSnW ${what} exits 0`, { stderr: b.stderr.slice(0, 2000) });
  if (a.stderr === '') t.equal(b.stderr, '', `readelf has no warnings about ${what}`);
  if (opts.noted !== false) t.match(b.stdout, /^\s+elfprefetch\s+0x[0-9a-f]+\s/m, `readelf -n lists the elfprefetch note of ${what}`);
  t.same(invisibleViolations(stamped, original), [], `${what}: program headers, allocated sections, loaded bytes and the first-page build-id are as they were`);
}

/**
 * The GNU build-id as the kernel's lib/buildid.c read it before Linux 6.12 (perf MMAP2
 * build-ids, BPF stack traces): from the file's first page only, with the program headers
 * taken at sizeof(Ehdr) (not e_phoff) and only notes that lie inside that page. Written here
 * from the kernel's rules, in the file's own byte order (as that machine's kernel reads it).
 */
export function firstPageBuildId(file: string): string {
  const PAGE = 4096;
  const fd = fs.openSync(file, 'r');
  const page = Buffer.alloc(PAGE);
  const got = fs.readSync(fd, page, 0, PAGE, 0);
  fs.closeSync(fd);
  if (got < 52 || page.readUInt32BE(0) !== 0x7f454c46) return '';
  const is64 = page[4] === 2;
  const le = page[5] === 1;
  const u16 = (o: number): number => (le ? page.readUInt16LE(o) : page.readUInt16BE(o));
  const u32 = (o: number): number => (le ? page.readUInt32LE(o) : page.readUInt32BE(o));
  const word = (o: number): number => (is64 ? Number(le ? page.readBigUInt64LE(o) : page.readBigUInt64BE(o)) : u32(o));
  const ehdr = is64 ? 64 : 52;
  const phent = is64 ? 56 : 32;
  const phnum = u16(is64 ? 56 : 44);
  if (phnum > Math.floor((PAGE - ehdr) / phent)) return '';
  for (let i = 0; i < phnum; i++) {
    const ph = ehdr + i * phent;
    if (u32(ph) !== 4) continue; // PT_NOTE
    const off = word(ph + (is64 ? 8 : 4));
    const size = word(ph + (is64 ? 32 : 16));
    if (off + size > PAGE) continue;
    for (let at = off; at + 12 <= off + size; ) {
      const namesz = u32(at);
      const descsz = u32(at + 4);
      const type = u32(at + 8);
      const nameAt = at + 12;
      const descAt = nameAt + ((namesz + 3) & ~3);
      const next = descAt + ((descsz + 3) & ~3);
      if (next > off + size) break;
      if (type === 3 && namesz === 4 && page.toString('latin1', nameAt, nameAt + 4) === 'GNU\0') return page.toString('hex', descAt, descAt + descsz);
      at = next;
    }
  }
  return '';
}
