// Worker thread of spec/corpus.spec.ts: runs the library in-process on one corpus file at
// a time, so the spec's main thread can time each call out (and name the file) when the
// parser or the writer hangs. Answers are plain data (structured clone keeps bigint).
import * as fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import {
  ElfFormatError,
  PlacementRefusedError,
  openElf,
  parseElf,
  stampFile,
  verifyElf,
  type ElfFile,
  type ProgramHeader,
  type SectionHeader,
} from '../../src/index';

export interface HeaderSummary {
  is64: boolean;
  littleEndian: boolean;
  type: number;
  machine: number;
  flags: number;
  entry: bigint;
  phoff: bigint;
  shoff: bigint;
  phnum: number;
  shnum: number;
  shstrndx: number;
}

/** Program headers cross the worker boundary as they are in the model. */
export type SegmentSummary = ProgramHeader;

/** The fields of a section header the spec compares. */
export type SectionSummary = Pick<SectionHeader, 'index' | 'name' | 'type' | 'flags' | 'addr' | 'offset' | 'size'>;

export interface Model {
  header: HeaderSummary;
  segments: SegmentSummary[];
  sections: SectionSummary[];
  notes: number;
}

export interface ErrorSummary {
  /** 'format' = ElfFormatError, 'refused' = PlacementRefusedError, 'other' = anything else. */
  kind: 'format' | 'refused' | 'other';
  name: string;
  message: string;
  code?: string;
  reasons?: string[];
  stack?: string;
}

export type Parsed = { ok: true; model: Model } | { ok: false; error: ErrorSummary };

export interface Inspected {
  parsed: Parsed;
  verify?: { status: string; reason: string; pageShift?: number; sets?: Array<{ name: string; runs: Array<{ first: number; count: number }> }> };
  verifyError?: ErrorSummary;
}

export type StampOutcome =
  | { ok: true; strategy: string; growth: bigint; descUsed: number; descCapacity: number }
  | { ok: false; error: ErrorSummary };

export type Request =
  | { id: number; op: 'parse'; file: string }
  | { id: number; op: 'inspect'; file: string }
  | { id: number; op: 'stamp'; input: string; output: string; runs: Array<{ first: number; count: number }> };

export type Reply = { id: number; result: Parsed | Inspected | StampOutcome };

function describeError(e: unknown): ErrorSummary {
  if (e instanceof ElfFormatError) return { kind: 'format', name: e.name, message: e.message, code: e.code };
  if (e instanceof PlacementRefusedError) return { kind: 'refused', name: e.name, message: e.message, reasons: [...e.reasons] };
  if (e instanceof Error) return { kind: 'other', name: e.name || e.constructor.name, message: e.message, stack: e.stack };
  return { kind: 'other', name: typeof e, message: String(e) };
}

function summarize(elf: ElfFile): Model {
  const h = elf.header;
  return {
    header: {
      is64: h.is64, littleEndian: h.littleEndian, type: h.type, machine: h.machine, flags: h.flags, entry: h.entry,
      phoff: h.phoff, shoff: h.shoff, phnum: h.phnum, shnum: h.shnum, shstrndx: h.shstrndx,
    },
    segments: elf.programHeaders.map((p) => ({
      index: p.index, type: p.type, flags: p.flags, offset: p.offset, vaddr: p.vaddr, paddr: p.paddr, filesz: p.filesz, memsz: p.memsz, align: p.align,
    })),
    sections: elf.sections.map((s) => ({ index: s.index, name: s.name, type: s.type, flags: s.flags, addr: s.addr, offset: s.offset, size: s.size })),
    notes: elf.notes.length,
  };
}

/** openElf and parseElf must agree: both succeed with the same model, or both throw the same. */
function parse(file: string): Parsed {
  let fromFile: Parsed;
  try {
    const elf = openElf(file);
    try {
      fromFile = { ok: true, model: summarize(elf) };
    } finally {
      elf.source.close();
    }
  } catch (e) {
    fromFile = { ok: false, error: describeError(e) };
  }
  let fromBytes: Parsed;
  try {
    fromBytes = { ok: true, model: summarize(parseElf(fs.readFileSync(file))) };
  } catch (e) {
    fromBytes = { ok: false, error: describeError(e) };
  }
  if (fromFile.ok !== fromBytes.ok || (!fromFile.ok && !fromBytes.ok && fromFile.error.message !== fromBytes.error.message)) {
    const say = (p: Parsed): string => (p.ok ? 'parses' : `throws ${p.error.name}: ${p.error.message}`);
    return {
      ok: false,
      error: { kind: 'other', name: 'Disagreement', message: `openElf ${say(fromFile)}, but parseElf ${say(fromBytes)}` },
    };
  }
  return fromFile;
}

function inspect(file: string): Inspected {
  const parsed = parse(file);
  if (!parsed.ok) return { parsed };
  try {
    const elf = openElf(file);
    try {
      const v = verifyElf(elf);
      const self = v.note?.objects[0];
      return {
        parsed,
        verify: {
          status: v.status,
          reason: v.reason,
          pageShift: v.note?.pageShift,
          sets: self?.pageSets.map((s) => ({ name: s.name, runs: s.runs.map((r) => ({ first: r.first, count: r.count })) })),
        },
      };
    } finally {
      elf.source.close();
    }
  } catch (e) {
    return { parsed, verifyError: describeError(e) };
  }
}

function stamp(input: string, output: string, runs: Array<{ first: number; count: number }>): StampOutcome {
  try {
    // The outputs are throwaway copies: durability is spec/crash-safety.spec.ts's to check.
    const r = stampFile(input, { sets: [{ name: 'default', runs }] }, { output, fsync: false });
    return { ok: true, strategy: r.strategy, growth: r.growth, descUsed: r.descUsed, descCapacity: r.descCapacity };
  } catch (e) {
    return { ok: false, error: describeError(e) };
  }
}

parentPort!.on('message', (req: Request) => {
  let result: Reply['result'];
  if (req.op === 'parse') result = parse(req.file);
  else if (req.op === 'inspect') result = inspect(req.file);
  else result = stamp(req.input, req.output, req.runs);
  parentPort!.postMessage({ id: req.id, result } satisfies Reply);
});
