/**
 * What `elfprefetch show` draws: per object, its pages, the PT_LOAD segments and sections
 * over them, the selected pages of a page set and the reads the shim would issue for them.
 */
import * as fs from 'node:fs';
import * as C from '../elf/constants';
import { openElf } from '../elf/read';
import { hasElfMagic } from '../elf/sniff';
import type { ElfFile } from '../elf/types';
import { buildIdOf } from '../note/identity';
import { Run, pageTotal, parseRanges } from '../note/pageset';
import { DEFAULT_SET } from '../note/format';
import { verifyElf } from '../ops/verify';
import { parseProfile } from '../profile/schema';
import { DeviceParams, ReadRequest, planReads } from '../readplan/coalesce';
import { DeviceChoice, capText, chooseDevice } from '../readplan/device';
import { readHead, readRegular } from '../io/regular';
import { InvalidInputError } from '../errors';
import { toIndex } from '../elf/errors';

export type SegmentKind = 'r' | 'x' | 'w';

export interface ShownSegment {
  kind: SegmentKind;
  /** e.g. "LOAD R X" */
  label: string;
  offset: number;
  size: number;
}

export interface ShownSection {
  name: string;
  offset: number;
  size: number;
}

export interface ShownObject {
  /** Path (or what the object is). */
  title: string;
  /** One-line facts: status of the note, sizes. */
  notes: string[];
  fileSize: number;
  pageSize: number;
  pageCount: number;
  segments: ShownSegment[];
  sections: ShownSection[];
  setName: string;
  selected: Run[];
  device: DeviceParams;
  /** How the class was chosen: as the shim detects it (and what that assumed), or set. */
  deviceWhy: string;
  /** Largest request planned: the largest the file's device takes, as the shim reads it. */
  cap: number;
  plan: ReadRequest[];
}

export interface ShowOptions {
  /** Device class to plan for (default: detected from the file's device, as the shim does). */
  device?: string;
  /** What set `device`, for the output (default --device). */
  deviceSource?: string;
  /** Page set name (default "default"). */
  set?: string;
}

const kindOf = (flags: number): SegmentKind => (flags & C.PF_W ? 'w' : flags & C.PF_X ? 'x' : 'r');

function layoutOf(elf: ElfFile): { segments: ShownSegment[]; sections: ShownSection[] } {
  const segments = elf.programHeaders
    .filter((p) => p.type === C.PT_LOAD && p.filesz > 0n)
    .map((p) => ({
      kind: kindOf(p.flags),
      label: `LOAD ${p.flags & C.PF_R ? 'R' : ''}${p.flags & C.PF_W ? 'W' : ''}${p.flags & C.PF_X ? 'X' : ''}`,
      offset: toIndex(p.offset, 'offset'),
      size: toIndex(p.filesz, 'segment size'),
    }));
  const sections = elf.sections
    .filter((s) => s.type !== C.SHT_NOBITS && s.type !== C.SHT_NULL && s.size > 0n)
    .map((s) => ({ name: s.name || `[${s.index}]`, offset: toIndex(s.offset, 'offset'), size: toIndex(s.size, 'size') }))
    .sort((a, b) => a.offset - b.offset);
  return { segments, sections };
}

function object(
  title: string,
  notes: string[],
  fileSize: number,
  pageSize: number,
  layout: { segments: ShownSegment[]; sections: ShownSection[] },
  setName: string,
  selected: Run[],
  choice: DeviceChoice,
  opts: ShowOptions,
): ShownObject {
  const pageCount = Math.ceil(fileSize / pageSize);
  const device = choice.device;
  const deviceWhy = choice.why ? `detected as the shim does: ${choice.why} (--device or ELFPREFETCH_DEVICE sets it)` : `set by ${opts.deviceSource ?? '--device'}`;
  return { title, notes, fileSize, pageSize, pageCount, ...layout, setName, selected, device, deviceWhy, cap: choice.cap, plan: planReads(selected, pageSize, device, fileSize, choice.cap) };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The layout of a library file if it is there and is the build named (else nothing). */
function libraryLayout(path: string, buildId: string): { layout: { segments: ShownSegment[]; sections: ShownSection[] }; size?: number; note: string } {
  const none = { segments: [], sections: [] };
  if (!fs.existsSync(path)) return { layout: none, note: 'file not found here' };
  let elf: ElfFile;
  try {
    elf = openElf(path);
  } catch (e) {
    return { layout: none, note: `not readable as ELF: ${(e as Error).message}` };
  }
  try {
    const id = hex(buildIdOf(elf));
    if (id !== buildId) return { layout: none, note: `the file here is another build (build-id ${id || 'none'})` };
    return { layout: layoutOf(elf), size: toIndex(elf.source.size, 'file size'), note: 'the file here is this build' };
  } finally {
    elf.source.close();
  }
}

/** An ELF file: its own page set and, after it, the library sets its note names. */
function fromElf(file: string, opts: ShowOptions): ShownObject[] {
  const elf = openElf(file);
  try {
    const size = toIndex(elf.source.size, 'file size');
    const v = verifyElf(elf);
    const setName = opts.set ?? DEFAULT_SET;
    const device = chooseDevice(file, opts.device);
    const pageSize = v.note ? 1 << v.note.pageShift : 4096;
    const self = v.note?.objects[0];
    const set = self?.pageSets.find((s) => s.name === setName);
    const usable = v.status === 'valid';
    if (opts.set !== undefined && !set) {
      const names = self?.pageSets.map((s) => `'${s.name}'`).join(', ');
      throw new InvalidInputError(`no page set named '${opts.set}' (${names ? `the note has ${names}` : `note: ${v.status}: ${v.reason}`})`);
    }
    const notes = [`note: ${v.status}: ${v.reason}`];
    if (v.note && !set) notes.push(`no page set named '${setName}' (sets: ${self?.pageSets.map((s) => s.name).join(', ') || 'none'})`);
    if (v.note && !usable) notes.push('the shim ignores this note: nothing is prefetched');
    const out = [object(file, notes, size, pageSize, layoutOf(elf), setName, usable && set ? set.runs : [], device, opts)];
    if (usable && v.note) {
      for (const lib of v.note.objects.slice(1)) {
        const lset = lib.pageSets.find((s) => s.name === setName);
        const l = libraryLayout(lib.path, hex(lib.buildId));
        const lsize = l.size ?? (lset ? lset.pageCount * pageSize : 0);
        const ldev = fs.existsSync(lib.path) ? chooseDevice(lib.path, opts.device) : device;
        out.push(object(lib.path, [`library set of ${file}; ${l.note}`], lsize, pageSize, l.layout, setName, lset?.runs ?? [], ldev, opts));
      }
    }
    return out;
  } finally {
    elf.source.close();
  }
}

/** A profile: each object's recorded pages. */
function fromProfile(file: string, text: string, opts: ShowOptions): ShownObject[] {
  const p = parseProfile(text, file);
  if (opts.set !== undefined && !p.objects.some((o) => o.set === opts.set)) {
    throw new InvalidInputError(`no page set named '${opts.set}' (the profile has ${[...new Set(p.objects.map((o) => `'${o.set}'`))].join(', ') || 'no objects'})`);
  }
  return p.objects
    .filter((o) => !opts.set || o.set === opts.set)
    .map((o) => {
      const l = libraryLayout(o.path, o.buildId);
      const runs = o.pages.trim() ? parseRanges(o.pages) : [];
      const device = chooseDevice(fs.existsSync(o.path) ? o.path : file, opts.device);
      const notes = [`profile ${file}${o.main ? ', the program' : ''}, ${p.runs} run${p.runs === 1 ? '' : 's'}; ${l.note}`];
      return object(o.path, notes, o.size, p.pageSize, l.layout, o.set, runs, device, opts);
    });
}

/** Reads FILE (an ELF file or a profile JSON) into what show draws. */
export function showModel(file: string, opts: ShowOptions = {}): ShownObject[] {
  if (hasElfMagic(readHead(file, 4))) return fromElf(file, opts);
  return fromProfile(file, readRegular(file).toString('utf8'), opts);
}

/** Per cell of `per` pages: the segment kind, pages selected, pages read. */
export interface Cell {
  first: number;
  pages: number;
  kind: SegmentKind | '-';
  selected: number;
  read: number;
  /** Sections starting in this cell. */
  starts: string[];
}

function countIn(first: number, end: number, ranges: Array<[number, number]>): number {
  let n = 0;
  for (const [a, b] of ranges) {
    const s = Math.max(a, first);
    const e = Math.min(b, end);
    if (s < e) n += e - s;
  }
  return n;
}

/** Groups pages into at most maxCells cells. */
export function cells(o: Pick<ShownObject, 'pageCount' | 'pageSize' | 'selected' | 'plan' | 'segments' | 'sections'>, maxCells: number, fixedPer?: number): { per: number; cells: Cell[] } {
  // fixedPer: one scale for every file of a picture.
  const per = fixedPer ?? Math.max(1, Math.ceil(o.pageCount / maxCells));
  const sel: Array<[number, number]> = o.selected.map((r) => [r.first, Math.min(r.first + r.count, o.pageCount)]);
  const read: Array<[number, number]> = o.plan.map((r) => [Math.floor(r.offset / o.pageSize), Math.ceil((r.offset + r.length) / o.pageSize)]);
  const out: Cell[] = [];
  for (let first = 0; first < o.pageCount; first += per) {
    const end = Math.min(first + per, o.pageCount);
    const lo = first * o.pageSize;
    const hi = end * o.pageSize;
    // The segment holding most of the cell's bytes.
    let kind: SegmentKind | '-' = '-';
    let best = 0;
    for (const s of o.segments) {
      const ov = Math.min(hi, s.offset + s.size) - Math.max(lo, s.offset);
      if (ov > best) {
        best = ov;
        kind = s.kind;
      }
    }
    const starts = o.sections.filter((s) => s.offset >= lo && s.offset < hi).map((s) => s.name);
    out.push({ first, pages: end - first, kind, selected: countIn(first, end, sel), read: countIn(first, end, read), starts });
  }
  return { per, cells: out };
}

export function summary(o: ShownObject): string {
  const bytes = o.plan.reduce((n, r) => n + r.length, 0);
  const d = o.device;
  const ms = (o.plan.length / d.iops + bytes / d.bandwidth) * 1000;
  return (
    `set '${o.setName}': ${pageTotal(o.selected)} of ${o.pageCount} pages selected in ${o.selected.length} extent${o.selected.length === 1 ? '' : 's'}; ` +
    `plan for ${d.name} (${d.iops} IOPS, ${d.bandwidth / 1e6} MB/s): ${o.plan.length} read${o.plan.length === 1 ? '' : 's'}, ${bytes} bytes, about ${ms.toFixed(2)} ms; device class ${o.deviceWhy}; ${capText(o.cap)}, the largest request the device's queue takes (1024 KiB when no queue says)`
  );
}
