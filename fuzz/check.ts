// The check of one fuzzed input, run inside a worker thread (fuzz/worker.ts) or in-process.
// Allowed outcomes: the reader refuses it with ElfFormatError ('malformed'); it parses and is
// not a loadable program ('parsed'); the writer plans, the output (applied in memory) parses
// and breaks no layout rule the input kept ('stamped'); the writer refuses with
// PlacementRefusedError or ElfFormatError ('refused'). Anything else is a finding.
import { ElfFormatError, PlacementRefusedError } from '../src/elf/errors';
import * as C from '../src/elf/constants';
import { parseElf } from '../src/elf/read';
import type { ElfFile } from '../src/elf/types';
import { newViolations } from '../src/layout/check';
import type { LayoutPlan } from '../src/layout/plan';
import { contractViolations } from '../src/layout/contract';
import { planStamp } from '../src/layout/planner';
import { encodeNote } from '../src/note/codec';
import { DEFAULT_PAGE_SHIFT, FORMAT_VERSION } from '../src/note/format';

export type Outcome = 'malformed' | 'parsed' | 'stamped' | 'refused';
export type FindingKind = 'reader-exception' | 'planner-exception' | 'bad-plan' | 'output-unparsable' | 'new-violations' | 'hang' | 'oom' | 'worker-crash';

export type CheckResult = { ok: true; outcome: Outcome; strategy?: string } | { ok: false; kind: FindingKind; message: string; stack?: string };

/** Planted bugs, so a test can show the harness catches each kind of failure. */
export type Plant = 'none' | 'typeerror' | 'hang' | 'oom';
export const PLANT_MARKER = 'FUZZ-PLANTED-BUG';

/** Largest output the in-memory applier builds; a plan beyond it is unbounded growth. */
export const MAX_OUTPUT = 256 << 20;

/** The descriptor stampFile would write for a one-set, one-page note (placeholder identity). */
const descriptor = encodeNote({
  version: FORMAT_VERSION,
  pageShift: DEFAULT_PAGE_SHIFT,
  empty: false,
  objects: [{ path: '', buildId: new Uint8Array(64), layoutDigest: 0n, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount: 1, runs: [{ first: 0, count: 1 }] }] }],
});
export const NEEDED = descriptor.length + 16;

function hasMarker(b: Uint8Array): boolean {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).includes(PLANT_MARKER);
}

function describe(e: unknown): { message: string; stack?: string } {
  if (e instanceof Error) return { message: `${e.name}: ${e.message}`, stack: e.stack };
  return { message: `non-Error thrown: ${String(e)}` };
}

/**
 * The output of `plan` in memory, by the rules of src/layout/apply.ts: outputSize bytes of
 * zeros, the copies of the input, the writes on top. Throws a string for an impossible plan.
 */
export function applyInMemory(input: Uint8Array, plan: LayoutPlan): Uint8Array {
  if (plan.outputSize < 0n || plan.outputSize > BigInt(MAX_OUTPUT)) throw `output of ${plan.outputSize} bytes`;
  const size = Number(plan.outputSize);
  const out = new Uint8Array(size);
  for (const c of plan.copies) {
    if (c.length < 0n || c.from < 0n || c.to < 0n || c.from + c.length > BigInt(input.length)) throw `copy ${c.from}+${c.length} reads outside the ${input.length}-byte input`;
    // applyPlan extends the file for a copy past outputSize, then truncates it to outputSize.
    const from = Number(c.from);
    const to = Number(c.to);
    const n = Math.max(0, Math.min(Number(c.length), size - to));
    out.set(input.subarray(from, from + n), to);
  }
  for (const w of plan.writes) {
    if (w.at < 0n || w.at + BigInt(w.bytes.length) > plan.outputSize) throw `write '${w.what}' at ${w.at}+${w.bytes.length} outside the ${size}-byte output`;
    out.set(w.bytes, Number(w.at));
  }
  return out;
}

export function checkInput(bytes: Uint8Array, plant: Plant = 'none'): CheckResult {
  let elf: ElfFile;
  try {
    if (plant !== 'none' && hasMarker(bytes)) {
      if (plant === 'typeerror') throw new TypeError('planted bug: cannot read properties of undefined');
      if (plant === 'hang') for (;;);
      if (plant === 'oom') {
        const hog: number[][] = [];
        for (;;) hog.push(new Array(1 << 20).fill(hog.length));
      }
    }
    elf = parseElf(bytes);
  } catch (e) {
    if (e instanceof ElfFormatError) return { ok: true, outcome: 'malformed' };
    return { ok: false, kind: 'reader-exception', ...describe(e) };
  }
  if (elf.header.type !== C.ET_EXEC && elf.header.type !== C.ET_DYN) return { ok: true, outcome: 'parsed' };
  let plan: LayoutPlan;
  try {
    plan = planStamp(elf, NEEDED);
  } catch (e) {
    if (e instanceof PlacementRefusedError || e instanceof ElfFormatError) return { ok: true, outcome: 'refused' };
    return { ok: false, kind: 'planner-exception', ...describe(e) };
  }
  let output: Uint8Array;
  try {
    output = applyInMemory(bytes, plan);
    if (plan.descCapacity >= descriptor.length && plan.descOffset + BigInt(descriptor.length) <= BigInt(output.length)) {
      output.set(descriptor, Number(plan.descOffset));
    }
  } catch (e) {
    return { ok: false, kind: 'bad-plan', message: `${plan.strategy}: ${typeof e === 'string' ? e : describe(e).message}` };
  }
  let after: ElfFile;
  try {
    after = parseElf(output);
  } catch (e) {
    return { ok: false, kind: 'output-unparsable', message: `${plan.strategy}: ${describe(e).message}`, stack: describe(e).stack };
  }
  let fresh: string[];
  try {
    fresh = newViolations(elf, after);
  } catch (e) {
    return { ok: false, kind: 'reader-exception', message: `checkLayout: ${describe(e).message}`, stack: describe(e).stack };
  }
  if (fresh.length) return { ok: false, kind: 'new-violations', message: `${plan.strategy}: ${fresh.join('; ')}` };
  // The default placements promise more: the contract of docs/DESIGN.md, with the note filled in.
  const breach = plan.keepsLayout ? contractViolations(elf, after, plan) : [];
  if (breach.length) return { ok: false, kind: 'new-violations', message: `${plan.strategy} breaks the contract: ${breach.join('; ')}` };
  return { ok: true, outcome: 'stamped', strategy: plan.strategy };
}
