import { ByteView } from '../elf/bytes';
import * as C from '../elf/constants';
import type { ElfFile, Note, ProgramHeader, SectionHeader } from '../elf/types';
import { NOTE_NAME, NOTE_NAMESZ, NT_ELFPREFETCH, SECTION_NAME } from './format';

/** Bytes a note entry takes: header, padded owner name, descriptor. */
export const noteEntrySize = (descCapacity: number): number => 12 + NOTE_NAMESZ + descCapacity;

/** The first PT_LOAD in table order: the segment after whose file content the note may sit. */
export function firstLoad(phdrs: ProgramHeader[]): ProgramHeader | undefined {
  return phdrs.find((p) => p.type === C.PT_LOAD);
}

/**
 * docs/FORMAT.md 1.1: where a note beside the loaded image starts, after the first PT_LOAD (in
 * the file gap, where a stamp puts it) or after the last one (where strip and objcopy put the
 * first non-allocated section): the segment's file end rounded up to 4, in the segment's last
 * page, which start-up reads anyway.
 */
export const besideNoteOffset = (load: ProgramHeader): bigint => (load.offset + load.filesz + 3n) & ~3n;

/** The last PT_LOAD in table order: the segment after whose file content strip puts the note. */
export function lastLoad(phdrs: ProgramHeader[]): ProgramHeader | undefined {
  return [...phdrs].reverse().find((p) => p.type === C.PT_LOAD);
}


/** Reads a note entry header at `at` and returns our note if it is one and fits in `limit`. */
function noteAt(elf: ElfFile, at: bigint, limit: bigint, container: Note['container']): Note | undefined {
  if (at + BigInt(noteEntrySize(0)) > limit) return undefined;
  const v = new ByteView(elf.source.read(at, noteEntrySize(0)), elf.header.littleEndian, at);
  if (v.u32(0) !== NOTE_NAMESZ || v.u32(8) !== NT_ELFPREFETCH) return undefined;
  if (!Buffer.from(v.slice(12, NOTE_NAMESZ)).equals(Buffer.from(NOTE_NAME + '\0', 'latin1'))) return undefined;
  const descsz = v.u32(4);
  if (at + BigInt(noteEntrySize(descsz)) > limit) return undefined;
  return { name: NOTE_NAME, type: NT_ELFPREFETCH, offset: at, descOffset: at + 24n, descSize: descsz, align: 4, container };
}

/**
 * Our note beside the loaded image (FORMAT.md 1.1), found as every loader finds it: right
 * after the first PT_LOAD's file content, else right after the last one's; sharing no byte
 * with any PT_LOAD's file content.
 */
export function besideNoteOf(elf: ElfFile): Note | undefined {
  const places = [firstLoad(elf.programHeaders), lastLoad(elf.programHeaders)];
  for (const load of places) {
    if (!load || load.offset + load.filesz > elf.source.size) continue;
    const n = noteAt(elf, besideNoteOffset(load), elf.source.size, { kind: 'beside', index: load.index });
    if (!n) continue;
    const end = n.descOffset + BigInt(n.descSize);
    if (elf.programHeaders.some((p) => p.type === C.PT_LOAD && p.filesz > 0n && p.offset < end && n.offset < p.offset + p.filesz)) continue;
    return n;
  }
  return undefined;
}

/** Our note in a .note.elfprefetch section that no segment names (FORMAT.md 1.1). */
export function sectionNoteOf(elf: ElfFile): Note | undefined {
  for (const s of elf.sections) {
    if (s.type !== C.SHT_NOTE || (s.flags & C.SHF_ALLOC) !== 0n || s.offset + s.size > elf.source.size) continue;
    const n = noteAt(elf, s.offset, s.offset + s.size, { kind: 'section', index: s.index });
    if (n) return n;
  }
  return undefined;
}

/** Our note as found in a file: the note, its section, the PT_NOTE it is in (if any). */
export interface OurNote {
  note: Note;
  section?: SectionHeader;
  segment?: ProgramHeader;
  /** The PT_NOTE holds nothing but our note. */
  alone: boolean;
  /** The note is the last thing in its PT_NOTE. */
  last: boolean;
  /** Placed by a stamp (so `remove` takes it out), not a reservation placed by a linker. */
  addedByStamp: boolean;
  /** Beside the loaded image (FORMAT.md 1.1), where the default placement puts it: in no segment. */
  beside: boolean;
}

export function findOurNote(elf: ElfFile): OurNote | undefined {
  const note = elf.notes.find((n) => n.name === NOTE_NAME && n.type === NT_ELFPREFETCH) ?? besideNoteOf(elf) ?? sectionNoteOf(elf);
  if (!note) return undefined;
  const segment = note.container.kind === 'segment' ? elf.programHeaders[note.container.index] : undefined;
  const end = note.descOffset + BigInt(note.descSize);
  const section = elf.sections.find((s) => s.type === C.SHT_NOTE && s.size > 0n && s.offset <= note.offset && end <= s.offset + s.size);
  const alone = !!segment && segment.offset === note.offset && segment.filesz === end - note.offset;
  const last = !!segment && segment.offset + segment.filesz === end;
  const beside = !segment && !!section && (section.flags & C.SHF_ALLOC) === 0n;
  const ownSection = !!section && section.name === SECTION_NAME && section.offset === note.offset;
  // Earlier versions appended an allocated section last; this one adds a non-allocated one.
  const addedByStamp = ownSection && (beside || section!.index === elf.sections.length - 1);
  return { note, section, segment, alone, last, addedByStamp, beside };
}
