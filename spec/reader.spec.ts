// The ELF reader on hand-built images (spec/helpers/elf-builder.ts): both classes and byte
// orders, files without section headers, extended numbering, note segments with hundreds of
// notes, note alignment, malformed input (always ElfFormatError with a code and an offset,
// never another exception) and a 3 GiB sparse file read without loading it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openElf, parseElf } from '../src/elf/read';
import { ElfFormatError } from '../src/elf/errors';
import type { ElfFile } from '../src/elf/types';
import {
  BuiltElf,
  EM_386,
  EM_AARCH64,
  EM_PPC,
  EM_PPC64,
  EM_X86_64,
  ET_DYN,
  ET_EXEC,
  ET_REL,
  ElfSpec,
  NoteSpec,
  PT_LOAD,
  PT_NOTE,
  SHF_ALLOC,
  SHT_NOBITS,
  SHT_NOTE,
  SHT_PROGBITS,
  buildElf,
  elfSizes,
  headerField,
  notesBlob,
  prng,
  putUint,
  sampleNotes,
} from './helpers/elf-builder';

/** `bytes` at the start of a sparse file of `size` bytes: big files without the disk space. */
function writeSparse(file: string, bytes: Uint8Array, size: bigint): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, 0);
    fs.ftruncateSync(fd, Number(size));
  } finally {
    fs.closeSync(fd);
  }
}

type Test = tap.Test;

const GiB = 1n << 30n;

const KINDS = [
  { is64: true, littleEndian: true, machine: EM_X86_64, label: 'ELF64 LE' },
  { is64: true, littleEndian: false, machine: EM_PPC64, label: 'ELF64 BE' },
  { is64: false, littleEndian: true, machine: EM_386, label: 'ELF32 LE' },
  { is64: false, littleEndian: false, machine: EM_PPC, label: 'ELF32 BE' },
] as const;

const gnuBuildId = (le: boolean): NoteSpec => ({
  name: 'GNU',
  type: 3,
  desc: Uint8Array.from({ length: 20 }, (_, i) => (i * 37 + (le ? 1 : 2)) & 0xff),
});
const abiTag: NoteSpec = { name: 'GNU', type: 1, desc: Uint8Array.of(0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0) };

/** A small executable-like image: notes, text, data, bss, one PT_LOAD, one PT_NOTE. */
function standardSpec(k: { is64: boolean; littleEndian: boolean; machine: number }, extra: Partial<ElfSpec> = {}, notes?: NoteSpec[], noteAlign: 4 | 8 = 4): ElfSpec {
  const blob = notesBlob(notes ?? [gnuBuildId(k.littleEndian), abiTag], noteAlign, k.littleEndian);
  const text = Uint8Array.from({ length: 96 }, (_, i) => (i * 7) & 0xff);
  return {
    is64: k.is64,
    littleEndian: k.littleEndian,
    machine: k.machine,
    type: ET_DYN,
    entry: 0x400100n,
    flags: 0x12,
    sections: [
      { name: '.note.test', type: SHT_NOTE, flags: SHF_ALLOC, addralign: BigInt(noteAlign), data: blob.bytes },
      { name: '.text', type: SHT_PROGBITS, flags: SHF_ALLOC | 0x4n, addralign: 16n, data: text },
      { name: '.data', type: SHT_PROGBITS, flags: SHF_ALLOC | 0x1n, addralign: 8n, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), link: 0, info: 0 },
      { name: '.bss', type: SHT_NOBITS, flags: SHF_ALLOC | 0x1n, addralign: 8n, size: 0x100n },
      { name: '.comment', type: SHT_PROGBITS, data: Buffer.from('builder\0'), entsize: 1n, link: 2, info: 7 },
    ],
    segments: [
      { type: PT_LOAD, flags: 5, wholeFile: true },
      { type: PT_NOTE, flags: 4, sections: ['.note.test'], align: BigInt(noteAlign) },
    ],
    ...extra,
  };
}

/** Notes placed in `built`, by file offset, from the blob of section `.note.test`. */
function expectedNotes(built: BuiltElf, notes: NoteSpec[], align: 4 | 8, container: { kind: 'segment' | 'section'; index: number }) {
  const sec = built.section('.note.test');
  const { placed } = notesBlob(notes, align, built.littleEndian);
  return placed.map((p) => ({
    name: p.name,
    type: p.type,
    offset: sec.offset + BigInt(p.offset),
    descOffset: sec.offset + BigInt(p.descOffset),
    descSize: p.desc.length,
    align,
    container,
  }));
}

/** Notes with their container as the model documents it: kind and index. */
function plain(notes: ElfFile['notes']) {
  return notes.map((n) => ({ ...n, container: { kind: n.container.kind, index: n.container.index } }));
}

function checkParsed(t: Test, elf: ElfFile, built: BuiltElf, what: string): void {
  const h = elf.header;
  const sz = elfSizes(built.is64);
  t.equal(h.is64, built.is64, `${what}: class`);
  t.equal(h.littleEndian, built.littleEndian, `${what}: byte order`);
  t.equal(h.type, built.spec.type ?? ET_DYN, `${what}: e_type`);
  t.equal(h.machine, built.spec.machine, `${what}: e_machine`);
  t.equal(h.version, 1, `${what}: e_version`);
  t.equal(h.entry, built.spec.entry ?? 0x400000n, `${what}: e_entry`);
  t.equal(h.phoff, BigInt(built.phoff), `${what}: e_phoff`);
  t.equal(h.shoff, BigInt(built.shoff), `${what}: e_shoff`);
  t.equal(h.flags, built.spec.flags ?? 0, `${what}: e_flags`);
  t.equal(h.ehsize, sz.ehdr, `${what}: e_ehsize`);
  t.equal(h.phnum, built.phnum, `${what}: e_phnum`);
  t.equal(h.shnum, built.shnum, `${what}: e_shnum`);
  t.equal(h.shstrndx, built.shstrndx, `${what}: e_shstrndx`);
  t.equal(elf.sections.length, built.sections.length, `${what}: section count`);
  for (const s of built.sections) {
    const got = elf.sections[s.index];
    t.same(
      got && { index: got.index, name: got.name, nameOffset: got.nameOffset, type: got.type, flags: got.flags, addr: got.addr, offset: got.offset, size: got.size, link: got.link, info: got.info, addralign: got.addralign, entsize: got.entsize },
      { index: s.index, name: s.name, nameOffset: s.nameOffset, type: s.type, flags: s.flags, addr: s.addr, offset: s.offset, size: s.size, link: s.link, info: s.info, addralign: s.addralign, entsize: s.entsize },
      `${what}: section ${s.index} (${s.name || 'NULL'})`,
    );
  }
  t.equal(elf.programHeaders.length, built.segments.length, `${what}: program header count`);
  for (const p of built.segments) {
    const got = elf.programHeaders[p.index];
    t.same(
      got,
      { index: p.index, type: p.type, flags: p.flags, offset: p.offset, vaddr: p.vaddr, paddr: p.paddr, filesz: p.filesz, memsz: p.memsz, align: p.align },
      `${what}: program header ${p.index}`,
    );
  }
}

/** parseElf must throw an ElfFormatError with this code (and offset, and path part). */
function expectFormatError(t: Test, bytes: Uint8Array, code: string, offset: bigint | number | undefined, what: string, pathPart?: string | number): void {
  let err: unknown;
  try {
    parseElf(bytes);
  } catch (e) {
    err = e;
  }
  if (!(err instanceof ElfFormatError)) {
    t.fail(`${what}: expected ElfFormatError [${code}], got ${err === undefined ? 'a parsed file' : String((err as Error)?.stack ?? err)}`);
    return;
  }
  t.equal(err.code, code, `${what}: code ${code}`, { message: err.message });
  if (offset !== undefined) t.equal(err.offset, BigInt(offset), `${what}: offset 0x${BigInt(offset).toString(16)}`, { message: err.message });
  if (pathPart !== undefined) t.ok(err.path.includes(pathPart), `${what}: path names ${pathPart}`, { path: err.path });
  t.match(err.message, new RegExp(`\\[${code}\\]`), `${what}: the message names the code`);
}

/** readelf (binutils) reads the same image without a warning: checks the builder itself. */
function readelfAgrees(t: Test, file: string, built: BuiltElf, noteCount: number, what: string): void {
  const r = spawnSync('readelf', ['-hSlnW', file], { encoding: 'utf8' });
  if (r.error) {
    t.skip(`readelf is not available: ${r.error.message}`);
    return;
  }
  t.equal(r.status, 0, `${what}: readelf exits 0`, { stderr: r.stderr });
  // The builder puts test values in sh_link / sh_info of sections that do not use them.
  const warnings = r.stderr.split('\n').filter((l) => l && !/Unexpected value \(\d+\) in (info|link) field/.test(l));
  t.same(warnings, [], `${what}: readelf has no warnings`);
  for (const s of built.sections.slice(1)) t.match(r.stdout, new RegExp(`\\]\\s+${s.name.replace(/\./g, '\\.')}\\s`), `${what}: readelf lists ${s.name}`);
  const owners = r.stdout.split('\n').filter((l) => /^\s+\S*\s+0x[0-9a-f]{8}\t/.test(l));
  t.equal(owners.length, noteCount, `${what}: readelf shows ${noteCount} notes`);
}

t.test('both classes and byte orders parse with the right fields', async (t) => {
  const dir = t.testdir();
  for (const k of KINDS) {
    const notes = [gnuBuildId(k.littleEndian), abiTag];
    const built = buildElf(standardSpec(k, { type: k.is64 ? ET_DYN : ET_EXEC }));
    const elf = parseElf(built.bytes);
    checkParsed(t, elf, built, k.label);
    t.same(
      plain(elf.notes),
      expectedNotes(built, notes, 4, { kind: 'segment', index: 1 }),
      `${k.label}: notes of the PT_NOTE with names, types and offsets`,
    );
    const id = elf.notes[0]!;
    t.same(Buffer.from(elf.source.read(id.descOffset, id.descSize)), Buffer.from(notes[0]!.desc), `${k.label}: build-id bytes at descOffset`);
    const file = path.join(dir, k.label.replace(/ /g, '-'));
    fs.writeFileSync(file, built.bytes);
    const opened = openElf(file);
    try {
      checkParsed(t, opened, built, `${k.label} (openElf)`);
      t.same(opened.notes, elf.notes, `${k.label}: openElf finds the same notes`);
    } finally {
      opened.source.close();
    }
    readelfAgrees(t, file, built, notes.length, k.label);
  }
});

t.test('a file with no section headers', async (t) => {
  for (const k of KINDS) {
    const notes = sampleNotes(prng(7), 5);
    const blob = notesBlob(notes, 4, k.littleEndian);
    // Program headers only: the notes sit right after the table.
    const sz = elfSizes(k.is64);
    const noteAt = BigInt(Math.ceil(sz.ehdr / 8) * 8 + 2 * sz.phdr);
    const spec: ElfSpec = {
      is64: k.is64,
      littleEndian: k.littleEndian,
      machine: k.machine,
      type: ET_EXEC,
      noSectionHeaders: true,
      segments: [
        { type: PT_LOAD, offset: 0n, filesz: noteAt + BigInt(blob.bytes.length) },
        { type: PT_NOTE, offset: noteAt, filesz: BigInt(blob.bytes.length), align: 4n },
      ],
    };
    const built = buildElf(spec);
    const bytes = new Uint8Array(Number(noteAt) + blob.bytes.length);
    bytes.set(built.bytes);
    bytes.set(blob.bytes, Number(noteAt));
    const elf = parseElf(bytes);
    t.equal(elf.header.shoff, 0n, `${k.label}: e_shoff 0`);
    t.equal(elf.header.shnum, 0, `${k.label}: no sections`);
    t.equal(elf.header.shstrndx, 0, `${k.label}: no name table`);
    t.same(elf.sections, [], `${k.label}: sections []`);
    t.equal(elf.programHeaders.length, 2, `${k.label}: two program headers`);
    t.same(
      elf.notes.map((n) => [n.name, n.type, n.offset, n.descOffset, n.descSize]),
      blob.placed.map((p) => [p.name, p.type, noteAt + BigInt(p.offset), noteAt + BigInt(p.descOffset), p.desc.length]),
      `${k.label}: the notes come from the PT_NOTE`,
    );
  }
  // Neither program headers nor sections: an empty but valid file.
  const bare = buildElf({ is64: true, littleEndian: true, machine: EM_X86_64, type: ET_REL, noSectionHeaders: true });
  const elf = parseElf(bare.bytes);
  t.same([elf.programHeaders, elf.sections, elf.notes], [[], [], []], 'a bare header parses to nothing');
  // Sections but no program headers: the notes come from SHT_NOTE sections.
  const rel = buildElf(standardSpec(KINDS[1], { type: ET_REL, segments: [] }));
  const relElf = parseElf(rel.bytes);
  t.same(plain(relElf.notes), expectedNotes(rel, [gnuBuildId(false), abiTag], 4, { kind: 'section', index: rel.section('.note.test').index }), 'without program headers, notes come from SHT_NOTE sections');
});

t.test('extended numbering: e_shnum 0 with the count in section 0, e_shstrndx SHN_XINDEX with sh_link', async (t) => {
  for (const k of KINDS) {
    const built = buildElf(standardSpec(k, { extendedShnum: true, extendedShstrndx: true, extendedPhnum: true }));
    const elf = parseElf(built.bytes);
    t.equal(elf.header.raw.shnum, 0, `${k.label}: raw e_shnum is 0`);
    t.equal(elf.header.raw.shstrndx, 0xffff, `${k.label}: raw e_shstrndx is SHN_XINDEX`);
    t.equal(elf.header.raw.phnum, 0xffff, `${k.label}: raw e_phnum is PN_XNUM`);
    checkParsed(t, elf, built, `${k.label} extended`);
  }
  // A real overflow: more sections than 0xff00, names and all.
  for (const k of [KINDS[0], KINDS[3]]) {
    const count = 0xff00 + 37;
    const sections = Array.from({ length: count }, (_, i) => ({ name: `.s${i}`, type: SHT_PROGBITS, data: Uint8Array.of(i & 0xff) }));
    const built = buildElf({ is64: k.is64, littleEndian: k.littleEndian, machine: k.machine, type: ET_REL, sections, extendedShnum: true, extendedShstrndx: true });
    const started = Date.now();
    const elf = parseElf(built.bytes);
    t.equal(elf.header.shnum, count + 2, `${k.label}: ${count + 2} sections (NULL, ${count}, .shstrtab)`);
    t.equal(elf.header.shstrndx, count + 1, `${k.label}: the name table is section ${count + 1}`);
    t.equal(elf.sections[count + 1]!.name, '.shstrtab', `${k.label}: the last section is named .shstrtab`);
    t.equal(elf.sections[0xff05]!.name, `.s${0xff05 - 1}`, `${k.label}: a section above 0xff00 has its name`);
    t.equal(elf.sections[0xff05]!.offset, built.sections[0xff05]!.offset, `${k.label}: and its offset`);
    t.ok(Date.now() - started < 10_000, `${k.label}: ${count} sections parse in under 10 s`);
  }
});

t.test('a PT_NOTE with hundreds of notes, 4- and 8-aligned', async (t) => {
  for (const k of KINDS) {
    for (const align of [4, 8] as const) {
      const notes = sampleNotes(prng(1000 + align + (k.is64 ? 1 : 0) + (k.littleEndian ? 2 : 0)), 400);
      const built = buildElf(standardSpec(k, {}, notes, align));
      const elf = parseElf(built.bytes);
      const want = expectedNotes(built, notes, align, { kind: 'segment', index: 1 });
      t.equal(elf.notes.length, 400, `${k.label} ${align}-aligned: 400 notes`);
      t.same(plain(elf.notes), want, `${k.label} ${align}-aligned: every note's name, type, offsets and size`);
      const bad = elf.notes.findIndex((n, i) => !Buffer.from(elf.source.read(n.descOffset, n.descSize)).equals(Buffer.from(notes[i]!.desc)));
      t.equal(bad, -1, `${k.label} ${align}-aligned: every descriptor's bytes are at descOffset`);
      if (align === 8) {
        // The same notes laid out 4-aligned sit elsewhere: the 8-aligned walk is not a 4-aligned one.
        const four = notesBlob(notes, 4, k.littleEndian);
        t.not(four.bytes.length, notesBlob(notes, 8, k.littleEndian).bytes.length, `${k.label}: 8-aligned padding differs from 4-aligned`);
      }
    }
  }
});

t.test('note alignment: 0 to 4 mean 4, 8 means 8, 16 is malformed', async (t) => {
  const k = KINDS[0];
  const notes = sampleNotes(prng(42), 30);
  for (const a of [0n, 1n, 2n, 3n, 4n]) {
    const built = buildElf(standardSpec(k, {}, notes, 4));
    built.setSegment(1, 'p_align', a);
    const elf = parseElf(built.bytes);
    t.same(plain(elf.notes), expectedNotes(built, notes, 4, { kind: 'segment', index: 1 }), `p_align ${a} reads as 4`);
    // The same through SHT_NOTE sections of a file without program headers.
    const rel = buildElf(standardSpec(k, { type: ET_REL, segments: [] }, notes, 4));
    rel.setSection(rel.section('.note.test').index, 'sh_addralign', a);
    t.same(parseElf(rel.bytes).notes.map((n) => n.align), notes.map(() => 4), `sh_addralign ${a} reads as 4`);
  }
  for (const a of [16n, 5n, 7n, 0x1000n]) {
    const built = buildElf(standardSpec(k, {}, notes, 4));
    built.setSegment(1, 'p_align', a);
    expectFormatError(t, built.bytes, 'bad_alignment', built.segments[1]!.offset, `p_align ${a}`, 'align');
    const rel = buildElf(standardSpec(k, { type: ET_REL, segments: [] }, notes, 4));
    const s = rel.section('.note.test');
    rel.setSection(s.index, 'sh_addralign', a);
    expectFormatError(t, rel.bytes, 'bad_alignment', s.offset, `sh_addralign ${a}`);
  }
});

t.test('malformed input: ElfFormatError with a specific code and offset', async (t) => {
  for (const k of KINDS) {
    const L = k.label;
    const fresh = (extra: Partial<ElfSpec> = {}): BuiltElf => buildElf(standardSpec(k, extra));
    const f = (name: string): number => headerField(k.is64, name).offset;
    const sz = elfSizes(k.is64);

    let b = fresh();
    b.bytes[1] = 0x58;
    expectFormatError(t, b.bytes, 'not_elf', 0, `${L}: bad magic`);
    expectFormatError(t, fresh().bytes.subarray(0, 10), 'not_elf', 0, `${L}: 10 bytes`);
    expectFormatError(t, new Uint8Array(0), 'not_elf', 0, `${L}: empty file`);

    b = fresh();
    b.bytes[4] = 3;
    expectFormatError(t, b.bytes, 'bad_class', 4, `${L}: bad class`);
    b.bytes[4] = 0;
    expectFormatError(t, b.bytes, 'bad_class', 4, `${L}: class 0`);

    b = fresh();
    b.bytes[5] = 0;
    expectFormatError(t, b.bytes, 'bad_encoding', 5, `${L}: bad data encoding`);
    b.bytes[5] = 3;
    expectFormatError(t, b.bytes, 'bad_encoding', 5, `${L}: data encoding 3`);

    b = fresh();
    b.bytes[6] = 2;
    expectFormatError(t, b.bytes, 'bad_version', 6, `${L}: EI_VERSION 2`);
    b = fresh();
    b.setHeader('e_version', 2);
    expectFormatError(t, b.bytes, 'bad_version', 20, `${L}: e_version 2`);

    expectFormatError(t, fresh().bytes.subarray(0, sz.ehdr - 1), 'truncated', 0, `${L}: header cut one byte short`);
    expectFormatError(t, fresh().bytes.subarray(0, 20), 'truncated', 0, `${L}: header cut to 20 bytes`);

    b = fresh();
    const past = BigInt(b.bytes.length + 100);
    b.setHeader('e_phoff', past);
    expectFormatError(t, b.bytes, 'out_of_bounds', past, `${L}: e_phoff past the end`, 'e_phoff');
    b = fresh();
    b.setHeader('e_phoff', b.bytes.length - sz.phdr);
    expectFormatError(t, b.bytes, 'out_of_bounds', b.bytes.length - sz.phdr, `${L}: program header table running past the end`);
    if (k.is64) {
      b = fresh();
      b.setHeader('e_phoff', (1n << 64n) - 8n);
      expectFormatError(t, b.bytes, 'out_of_bounds', (1n << 64n) - 8n, `${L}: e_phoff 2^64-8`);
    }

    b = fresh();
    b.setHeader('e_phentsize', sz.phdr - 1);
    expectFormatError(t, b.bytes, 'bad_entsize', f('e_phentsize'), `${L}: e_phentsize wrong`, 'e_phentsize');
    b = fresh();
    b.setHeader('e_shentsize', sz.shdr + 4);
    expectFormatError(t, b.bytes, 'bad_entsize', f('e_shentsize'), `${L}: e_shentsize wrong`, 'e_shentsize');

    b = fresh();
    b.setHeader('e_shstrndx', b.shnum + 3);
    expectFormatError(t, b.bytes, 'bad_index', f('e_shstrndx'), `${L}: e_shstrndx out of range`, 'e_shstrndx');
    b = fresh({ extendedShstrndx: true });
    b.setSection(0, 'sh_link', 0x7fffffff);
    expectFormatError(t, b.bytes, 'bad_index', f('e_shstrndx'), `${L}: SHN_XINDEX with sh_link out of range`);
    b = fresh();
    b.setSection(b.shstrndx, 'sh_type', SHT_NOBITS);
    expectFormatError(t, b.bytes, 'bad_index', BigInt(b.sections[b.shstrndx]!.headerOffset), `${L}: name table of type SHT_NOBITS`);

    b = fresh();
    b.setHeader('e_shoff', 0);
    expectFormatError(t, b.bytes, 'out_of_bounds', f('e_shnum'), `${L}: sections counted but e_shoff 0`, 'e_shnum');
    b = fresh();
    b.setHeader('e_shoff', b.bytes.length - 8);
    expectFormatError(t, b.bytes, 'truncated', b.bytes.length - 8, `${L}: section header table starting 8 bytes before the end`);

    b = fresh();
    const strtab = b.sections[b.shstrndx]!;
    b.setSection(2, 'sh_name', Number(strtab.size) + 10);
    expectFormatError(t, b.bytes, 'bad_string', strtab.offset, `${L}: name offset past the name table`, 'sh_name');
    b = fresh();
    // The last name loses its NUL: the table is cut one byte short.
    b.setSection(b.shstrndx, 'sh_size', strtab.size - 1n);
    expectFormatError(t, b.bytes, 'bad_string', undefined, `${L}: name not terminated inside the table`);

    b = fresh();
    const note = b.section('.note.test');
    putUint(b.bytes, Number(note.offset) + 4, 4, 0x1000, k.littleEndian);
    expectFormatError(t, b.bytes, 'bad_note', note.offset, `${L}: descsz past the PT_NOTE`, 'notes');
    b = fresh();
    putUint(b.bytes, Number(note.offset) + 4, 4, 0xfffffffc, k.littleEndian);
    expectFormatError(t, b.bytes, 'bad_note', note.offset, `${L}: descsz 0xfffffffc`);
    b = fresh();
    putUint(b.bytes, Number(note.offset), 4, 0xffffffff, k.littleEndian);
    expectFormatError(t, b.bytes, 'bad_note', note.offset, `${L}: namesz 0xffffffff`);
    b = fresh();
    b.setSegment(1, 'p_filesz', note.size + 4n);
    expectFormatError(t, b.bytes, 'bad_note', note.offset + note.size, `${L}: a note header cut short at the end of the PT_NOTE`);

    b = fresh();
    b.setSection(b.shstrndx, 'sh_size', k.is64 ? 1n << 40n : 0xfffffff0n);
    expectFormatError(t, b.bytes, 'too_large', BigInt(strtab.headerOffset), `${L}: huge sh_size of the name table`, 'sh_size');
    b = fresh();
    b.setSection(b.shstrndx, 'sh_size', 1n << 20n);
    expectFormatError(t, b.bytes, 'out_of_bounds', strtab.offset, `${L}: name table sh_size past the end`);
    b = fresh();
    b.setSegment(1, 'p_filesz', k.is64 ? 1n << 50n : 0xfffffff0n);
    expectFormatError(t, b.bytes, 'too_large', note.offset, `${L}: huge p_filesz of the PT_NOTE`);
    b = fresh();
    b.setSegment(1, 'p_filesz', 1n << 20n);
    expectFormatError(t, b.bytes, 'out_of_bounds', note.offset, `${L}: PT_NOTE past the end`);
    b = fresh();
    b.setSegment(1, 'p_offset', k.is64 ? (1n << 64n) - 4n : 0xfffffffcn);
    expectFormatError(t, b.bytes, 'out_of_bounds', k.is64 ? (1n << 64n) - 4n : 0xfffffffcn, `${L}: PT_NOTE offset near the top`);
    const rel = buildElf(standardSpec(k, { type: ET_REL, segments: [] }));
    rel.setSection(rel.section('.note.test').index, 'sh_size', k.is64 ? 1n << 62n : 0xfffffff0n);
    expectFormatError(t, rel.bytes, 'too_large', rel.section('.note.test').offset, `${L}: huge sh_size of an SHT_NOTE section`);

    // Section counts in section 0 beyond what the reader accepts, and beyond the file.
    b = fresh({ extendedShnum: true });
    b.setSection(0, 'sh_size', (1n << 24n) + 1n);
    expectFormatError(t, b.bytes, 'too_large', b.shoff, `${L}: section count 2^24+1`, 'sh_size');
    b = fresh({ extendedShnum: true });
    b.setSection(0, 'sh_size', k.is64 ? 1n << 63n : 0xffffffffn);
    expectFormatError(t, b.bytes, 'too_large', b.shoff, `${L}: section count ${k.is64 ? '2^63' : '2^32-1'}`);
    // Counts under the limit that still do not fit in the file.
    b = fresh({ extendedShnum: true });
    b.setSection(0, 'sh_size', 200000n);
    expectFormatError(t, b.bytes, 'out_of_bounds', b.shoff, `${L}: 200000 sections do not fit in the file`, 'e_shoff');
    b = fresh({ extendedPhnum: true });
    b.setSection(0, 'sh_info', 200000);
    expectFormatError(t, b.bytes, 'out_of_bounds', b.phoff, `${L}: PN_XNUM with a count of 200000 does not fit in the file`, 'e_phoff');
    // Counts past the largest table the reader reads are refused before any read.
    b = fresh({ extendedShnum: true });
    b.setSection(0, 'sh_size', 1n << 24n);
    expectFormatError(t, b.bytes, 'too_large', b.shoff, `${L}: 2^24 sections`, 'sh_size');
    b = fresh({ extendedPhnum: true });
    b.setSection(0, 'sh_info', 0xfffffff0);
    expectFormatError(t, b.bytes, 'too_large', b.shoff, `${L}: PN_XNUM with a count of 0xfffffff0`, 'sh_info');
  }
});

/** Every single-byte change and every truncation of `bytes`: parsed, or ElfFormatError. */
function fuzzOne(bytes: Uint8Array, what: string): { parses: number; errors: number; other: string[] } {
  let parses = 0;
  let errors = 0;
  const other: string[] = [];
  const attempt = (b: Uint8Array, how: string): void => {
    try {
      const elf = parseElf(b);
      // A parsed model must be usable: touch everything.
      for (const n of elf.notes) elf.source.read(n.descOffset, n.descSize);
      parses++;
    } catch (e) {
      if (e instanceof ElfFormatError) errors++;
      else if (other.length < 5) other.push(`${what} ${how}: ${(e as Error)?.stack ?? String(e)}`);
      else other.push('');
    }
  };
  for (let i = 0; i < bytes.length; i++) {
    const orig = bytes[i]!;
    for (const v of new Set([0x00, 0xff, orig ^ 0x01, orig ^ 0x80, orig ^ 0x10])) {
      if (v === orig) continue;
      const b = Uint8Array.from(bytes);
      b[i] = v;
      attempt(b, `byte ${i} = 0x${v.toString(16)}`);
    }
  }
  for (let n = 0; n < bytes.length; n++) attempt(bytes.subarray(0, n), `cut to ${n} bytes`);
  return { parses, errors, other };
}

t.test('never another exception: every single-byte change and truncation', async (t) => {
  const images: Array<[string, Uint8Array]> = [];
  for (const k of KINDS) {
    images.push([`${k.label} standard`, buildElf(standardSpec(k)).bytes]);
    images.push([`${k.label} extended numbering`, buildElf(standardSpec(k, { extendedShnum: true, extendedShstrndx: true, extendedPhnum: true })).bytes]);
    images.push([`${k.label} 8-aligned notes`, buildElf(standardSpec(k, {}, sampleNotes(prng(3), 6), 8)).bytes]);
  }
  images.push(['ELF64 LE without program headers', buildElf(standardSpec(KINDS[0], { type: ET_REL, segments: [] })).bytes]);
  for (const [what, bytes] of images) {
    const r = fuzzOne(bytes, what);
    t.same(r.other.filter(Boolean), [], `${what}: ${r.parses} parsed, ${r.errors} ElfFormatError, ${r.other.length} other exceptions`);
  }
  // Random multi-byte damage to the header and tables, seeded so a failure can be replayed.
  const rand = prng(20240601);
  const other: string[] = [];
  let runs = 0;
  for (const [what, bytes] of images) {
    for (let i = 0; i < 1500; i++) {
      const b = Uint8Array.from(bytes);
      const n = 1 + Math.floor(rand() * 6);
      for (let j = 0; j < n; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      runs++;
      try {
        parseElf(b);
      } catch (e) {
        if (!(e instanceof ElfFormatError) && other.length < 5) other.push(`${what} #${i}: ${(e as Error)?.stack ?? String(e)}`);
      }
    }
  }
  t.same(other, [], `${runs} randomly damaged images: only ElfFormatError`);
});

t.test('a 3 GiB sparse file is read without loading it', async (t) => {
  const dir = t.testdir();
  const k = KINDS[0];
  const notes = sampleNotes(prng(99), 50);
  const built = buildElf(standardSpec(k, {}, notes, 4));
  const file = path.join(dir, 'big.elf');
  const size = 3n * GiB;
  writeSparse(file, built.bytes, size);
  t.teardown(() => fs.rmSync(file, { force: true }));
  t.equal(BigInt(fs.statSync(file).size), size, 'the file is 3 GiB long');

  const rssBefore = process.memoryUsage().rss;
  const started = process.hrtime.bigint();
  const elf = openElf(file);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const grew = process.memoryUsage().rss - rssBefore;
  try {
    t.equal(elf.source.size, size, 'the source knows the size');
    checkParsed(t, elf, built, '3 GiB file');
    t.same(plain(elf.notes), expectedNotes(built, notes, 4, { kind: 'segment', index: 1 }), 'its notes');
    t.ok(ms < 2000, `openElf took ${ms.toFixed(1)} ms (< 2 s)`);
    t.ok(grew < 200 * 2 ** 20, `rss grew by ${(grew / 2 ** 20).toFixed(1)} MiB (< 200 MiB)`);
  } finally {
    elf.source.close();
  }

  // The section header table (and name table) far past 2 GiB: offsets above 2^31.
  const far = size - 65536n;
  const shdrs = built.bytes.subarray(built.shoff);
  const strtab = built.sections[built.shstrndx]!;
  const farStr = far - 4096n;
  const fd2 = fs.openSync(file, 'r+');
  try {
    const hdr = Uint8Array.from(built.bytes.subarray(0, 64));
    putUint(hdr, headerField(true, 'e_shoff').offset, 8, far, true);
    fs.writeSync(fd2, hdr, 0, hdr.length, 0);
    const table = Uint8Array.from(shdrs);
    putUint(table, built.shstrndx * 64 + 24, 8, farStr, true);
    fs.writeSync(fd2, table, 0, table.length, Number(far));
    fs.writeSync(fd2, built.bytes, Number(strtab.offset), Number(strtab.size), Number(farStr));
  } finally {
    fs.closeSync(fd2);
  }
  const started2 = process.hrtime.bigint();
  const farElf = openElf(file);
  const ms2 = Number(process.hrtime.bigint() - started2) / 1e6;
  try {
    t.equal(farElf.header.shoff, far, 'e_shoff past 2^31');
    t.same(farElf.sections.map((s) => s.name), built.sections.map((s) => s.name), 'section names read from a name table past 2^31');
    t.equal(farElf.sections[built.shstrndx]!.offset, farStr, 'the name table offset');
    t.ok(ms2 < 2000, `openElf took ${ms2.toFixed(1)} ms`);
  } finally {
    farElf.source.close();
  }
});

t.test('huge table claims in a 3 GiB sparse file are refused, not read', async (t) => {
  // Counts that fit the (sparse) file but not any real program: the reader must refuse them
  // with ElfFormatError rather than read gigabytes. Run in a child with a time and memory
  // limit, so a reader that does try fails this test instead of the whole file.
  const dir = t.testdir();
  const size = 3n * GiB;
  const cases: Array<{ what: string; patch: (b: BuiltElf) => void }> = [
    {
      what: 'e_phnum PN_XNUM with 40 million program headers in sh_info',
      patch: (b) => {
        b.setHeader('e_phnum', 0xffff);
        b.setSection(0, 'sh_info', 40_000_000);
      },
    },
    {
      what: 'e_shnum 0 with 2^24 sections in section 0',
      patch: (b) => {
        b.setHeader('e_shnum', 0);
        b.setSection(0, 'sh_size', 1n << 24n);
      },
    },
  ];
  for (const c of cases) {
    const built = buildElf(standardSpec(KINDS[0]));
    c.patch(built);
    const file = path.join(dir, 'claims.elf');
    writeSparse(file, built.bytes, size);
    const child = `
      const { openElf } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'src', 'elf', 'read.js'))});
      const before = process.memoryUsage().rss;
      const started = Date.now();
      let out;
      try { const e = openElf(process.argv[1]); e.source.close(); out = { parsed: true }; }
      catch (e) { out = { name: e.name, code: e.code, message: e.message }; }
      out.ms = Date.now() - started;
      out.grewMiB = Math.round((process.memoryUsage().rss - before) / 1048576);
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--max-old-space-size=1024', '-e', child, file], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
    fs.rmSync(file, { force: true });
    let out: Record<string, unknown> = {};
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      /* crashed */
    }
    t.equal(r.signal, null, `${c.what}: the reader is not killed (time limit 10 s)`, { signal: r.signal });
    t.equal(out.name, 'ElfFormatError', `${c.what}: refused with ElfFormatError`, { status: r.status, out, stderr: r.stderr.slice(0, 1500) });
    t.ok(typeof out.grewMiB === 'number' && out.grewMiB < 200, `${c.what}: memory stays small`, { out });
  }
});
