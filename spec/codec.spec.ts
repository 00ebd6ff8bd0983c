// The note descriptor codec (docs/FORMAT.md section 3): round trips of random notes, the
// encoding choice, every single-byte corruption and truncation, the checksum, page ranges.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import * as zlib from 'node:zlib';
import { NoteDecodeError, PrefetchNote, decodeNote, emptyNote, encodeNote } from '../src/note/codec';
import { parseRanges } from '../src/note/pageset';
import { prng } from './helpers/elf-builder';

type Test = tap.Test;
interface Run {
  first: number;
  count: number;
}

const align4 = (n: number): number => Math.ceil(n / 4) * 4;

/** CRC-32 as zlib computes it (the format's own words), not the project's table. */
function zcrc(bytes: Uint8Array): number {
  if (typeof (zlib as { crc32?: unknown }).crc32 === 'function') return (zlib as unknown as { crc32: (b: Uint8Array) => number }).crc32(bytes) >>> 0;
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Sorted, merged runs of a set of pages (this test's own, not the project's). */
function runsOf(pages: Iterable<number>): Run[] {
  const sorted = [...new Set(pages)].sort((a, b) => a - b);
  const out: Run[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && last.first + last.count === p) last.count++;
    else out.push({ first: p, count: 1 });
  }
  return out;
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

const SET_NAMES = ['default', 'warm', 'cold-start', 'ß€t', 'x'.repeat(64)];

/** A random page set: dense (bitmap-friendly), sparse (runs-friendly) or empty. */
function randomRuns(rand: () => number, pageCount: number): Run[] {
  if (pageCount === 0) return [];
  const pages: number[] = [];
  const kind = rand();
  if (kind < 0.4) {
    const density = rand();
    for (let p = 0; p < pageCount; p++) if (rand() < density) pages.push(p);
  } else if (kind < 0.9) {
    const runs = Math.floor(rand() * 8);
    for (let r = 0; r < runs; r++) {
      const first = Math.floor(rand() * pageCount);
      const count = 1 + Math.floor(rand() * Math.min(64, pageCount - first));
      for (let p = first; p < first + count; p++) pages.push(p);
    }
  }
  return runsOf(pages);
}

function randomNote(rand: () => number, maxObjects = 4): PrefetchNote {
  const objects = Array.from({ length: 1 + Math.floor(rand() * maxObjects) }, (_, i) => {
    const idLen = rand() < 0.15 ? 0 : rand() < 0.5 ? 20 : Math.floor(rand() * 65);
    const sets = Array.from({ length: Math.floor(rand() * 3) + (i === 0 ? 1 : 0) }, (_, s) => {
      const pageCount = rand() < 0.1 ? 0 : Math.floor(rand() * (rand() < 0.2 ? 40000 : 3000));
      return { name: SET_NAMES[(s + i) % SET_NAMES.length]!, pageCount, runs: randomRuns(rand, pageCount) };
    });
    return {
      path: i === 0 ? '' : `/usr/lib/x86_64-linux-gnu/lib${i}-${'é'.repeat(i)}.so.${Math.floor(rand() * 10)}`,
      buildId: randomBytes(rand, idLen),
      layoutDigest: BigInt.asUintN(64, (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32))),
      contentSha256: i === 0 ? randomBytes(rand, 32) : new Uint8Array(32),
      pageSets: sets,
    };
  });
  return { version: 1, pageShift: 9 + Math.floor(rand() * 12), empty: false, objects };
}

const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** The records of an encoded descriptor, walked with the format's own rules. */
function records(desc: Uint8Array): Array<{ kind: number; object: number; size: number; body: number }> {
  const out = [];
  let at = u16(desc, 2);
  const used = u32(desc, 4);
  const n = u16(desc, 14);
  for (let i = 0; i < n && at < used; i++) {
    const size = u32(desc, at + 4);
    out.push({ kind: u16(desc, at), object: u16(desc, at + 2), size, body: at + 8 });
    at += 8 + align4(size);
  }
  return out;
}

/** The encoding the format asks for, and the descriptor size it gives. */
function expectedLayout(note: PrefetchNote): { size: number; encodings: number[] } {
  let size = 24;
  const encodings: number[] = [];
  for (const o of note.objects) {
    size += 8 + align4(44 + o.buildId.length + Buffer.byteLength(o.path));
    for (const s of o.pageSets) {
      const runsLen = 4 + 8 * s.runs.length;
      const bitmapLen = align4(Math.ceil(s.pageCount / 8));
      const enc = runsLen <= bitmapLen ? 1 : 0; // smaller wins, runs on a tie
      encodings.push(enc);
      size += 8 + 12 + align4(Buffer.byteLength(s.name)) + (enc === 1 ? runsLen : bitmapLen);
    }
  }
  return { size, encodings };
}

function withCrc(desc: Uint8Array): Uint8Array {
  const used = u32(desc, 4);
  const copy = Uint8Array.from(desc);
  copy.fill(0, 8, 12);
  const c = zcrc(copy.subarray(0, Math.min(used, copy.length)));
  copy[8] = c & 0xff;
  copy[9] = (c >>> 8) & 0xff;
  copy[10] = (c >>> 16) & 0xff;
  copy[11] = c >>> 24;
  return copy;
}

t.test('round trips of random notes', async (t) => {
  const seed = 0x5eed;
  const rand = prng(seed);
  let bad = 0;
  let sawBitmap = 0;
  let sawRuns = 0;
  for (let i = 0; i < 300; i++) {
    const note = randomNote(rand);
    const desc = encodeNote(note);
    const got = decodeNote(desc);
    if (i < 3 || (bad === 0 && !isDeepStrictEqual(got, note))) t.same(got, note, `note ${i} (seed ${seed}) decodes to what was encoded`);
    if (!isDeepStrictEqual(got, note)) bad++;
    // Header fields as the format defines them.
    const want = expectedLayout(note);
    if (i < 50 || desc.length !== want.size) t.equal(desc.length, want.size, `note ${i}: descriptor of exactly ${want.size} bytes`);
    const head = { version: u16(desc, 0), headerSize: u16(desc, 2), used: u32(desc, 4), shift: desc[12], flags: desc[13], objects: u32(desc, 16), reserved: u32(desc, 20) };
    const headWant = { version: 1, headerSize: 24, used: desc.length, shift: note.pageShift, flags: 0, objects: note.objects.length, reserved: 0 };
    if (i < 20 || JSON.stringify(head) !== JSON.stringify(headWant)) t.same(head, headWant, `note ${i}: header fields`);
    const zeroed = Uint8Array.from(desc);
    zeroed.fill(0, 8, 12);
    if (i < 20 || u32(desc, 8) !== zcrc(zeroed)) t.equal(u32(desc, 8), zcrc(zeroed), `note ${i}: crc32 is zlib's CRC-32 of the descriptor with the field zeroed`);
    const encs = records(desc).filter((r) => r.kind === 2).map((r) => desc[r.body]!);
    if (i < 50 || JSON.stringify(encs) !== JSON.stringify(want.encodings)) t.same(encs, want.encodings, `note ${i}: each page set takes the smaller encoding (runs on a tie)`);
    sawBitmap += encs.filter((e) => e === 0).length;
    sawRuns += encs.filter((e) => e === 1).length;
  }
  t.equal(bad, 0, '300 random notes round-trip exactly');
  t.ok(sawBitmap > 20 && sawRuns > 20, `both encodings were exercised (${sawBitmap} bitmaps, ${sawRuns} run lists)`);

  // Boundaries of the encoding choice: runs vs bitmap at the tie and either side of it.
  for (const [pageCount, runCount] of [
    [64, 1], // runs 12 bytes, bitmap 8: bitmap
    [96, 1], // 12 vs 12: a tie, runs
    [97, 1], // 12 vs 16: runs
    [160, 2], // 20 vs 20: runs
    [8, 0], // 4 vs 4: runs
    [1, 0], // 4 vs 4 (1 byte padded): runs
    [0, 0], // 4 vs 0: bitmap
    [1000, 15], // 124 vs 128: runs
    [1000, 16], // 132 vs 128: bitmap
  ] as const) {
    const runs = Array.from({ length: runCount }, (_, r) => ({ first: r * 3, count: 1 }));
    const note: PrefetchNote = { version: 1, pageShift: 12, empty: false, objects: [{ path: '', buildId: new Uint8Array(20), layoutDigest: 1n, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount, runs }] }] };
    const desc = encodeNote(note);
    const rec = records(desc).find((r) => r.kind === 2)!;
    t.equal(desc[rec.body], expectedLayout(note).encodings[0], `${runCount} runs in ${pageCount} pages: encoding ${expectedLayout(note).encodings[0] ? 'runs' : 'bitmap'}`);
    t.same(decodeNote(desc), note, `${runCount} runs in ${pageCount} pages round-trip`);
  }
});

t.test('encodeNote refuses models the format cannot hold', async (t) => {
  const base = (): PrefetchNote => ({ version: 1, pageShift: 12, empty: false, objects: [{ path: '', buildId: new Uint8Array(20), layoutDigest: 0n, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount: 10, runs: [{ first: 0, count: 2 }] }] }] });
  const cases: Array<[string, (n: PrefetchNote) => void]> = [
    ['page shift 8', (n) => (n.pageShift = 8)],
    ['page shift 21', (n) => (n.pageShift = 21)],
    ['a page beyond the page count', (n) => (n.objects[0]!.pageSets[0]!.runs = [{ first: 9, count: 2 }])],
    ['an empty set name', (n) => (n.objects[0]!.pageSets[0]!.name = '')],
    ['a set name of 65 bytes', (n) => (n.objects[0]!.pageSets[0]!.name = 'y'.repeat(65))],
    ['a build-id of 65 bytes', (n) => (n.objects[0]!.buildId = new Uint8Array(65))],
    ['a content digest of 31 bytes', (n) => (n.objects[0]!.contentSha256 = new Uint8Array(31))],
    ['a path of 4096 bytes', (n) => n.objects.push({ ...n.objects[0]!, path: 'p'.repeat(4096) })],
  ];
  for (const [what, change] of cases) {
    const n = base();
    change(n);
    t.throws(() => encodeNote(n), Error, `${what} is refused`);
  }
});

/** Every single-byte change and every truncation of `desc` (used bytes then zero padding). */
function corruptAll(t: Test, note: PrefetchNote, desc: Uint8Array, what: string): void {
  const used = u32(desc, 4);
  const problems: string[] = [];
  const undetected: string[] = [];
  let identicalInPadding = 0;
  let errors = 0;
  const check = (b: Uint8Array, how: string, mayDecode: boolean): void => {
    let got: PrefetchNote;
    try {
      got = decodeNote(b);
    } catch (e) {
      if (e instanceof NoteDecodeError) {
        errors++;
        return;
      }
      problems.push(`${how}: ${(e as Error)?.stack ?? String(e)}`);
      return;
    }
    const same = isDeepStrictEqual(got, note);
    if (same && mayDecode) identicalInPadding++;
    else undetected.push(`${how}: decoded to ${same ? 'the same model (in used bytes)' : 'another model'}`);
  };
  for (let i = 0; i < desc.length; i++) {
    const orig = desc[i]!;
    for (const v of new Set([orig ^ 0x01, orig ^ 0x80, orig ^ 0xff, 0x00, 0x5a])) {
      if (v === orig) continue;
      const b = Uint8Array.from(desc);
      b[i] = v;
      check(b, `byte ${i} 0x${orig.toString(16)} -> 0x${v.toString(16)}`, i >= used);
    }
  }
  for (let n = 0; n < desc.length; n++) check(desc.subarray(0, n), `cut to ${n} bytes`, n >= used);
  t.same(problems.slice(0, 5), [], `${what}: no exception but NoteDecodeError (${problems.length} others)`);
  t.same(undetected.slice(0, 5), [], `${what}: no corruption of the used bytes decodes (${undetected.length} did)`);
  t.ok(errors > 0 && identicalInPadding > 0, `${what}: ${errors} NoteDecodeError, ${identicalInPadding} changes of the padding decode the same`);
}

t.test('every single-byte corruption and truncation: the same model or NoteDecodeError', async (t) => {
  const rand = prng(77);
  const notes: Array<[string, PrefetchNote]> = [
    ['a small note', { version: 1, pageShift: 12, empty: false, objects: [{ path: '', buildId: randomBytes(rand, 20), layoutDigest: 0x0123456789abcdefn, contentSha256: randomBytes(rand, 32), pageSets: [{ name: 'default', pageCount: 40, runs: [{ first: 0, count: 4 }, { first: 10, count: 1 }, { first: 30, count: 10 }] }] }] }],
    ['a note with a bitmap', { version: 1, pageShift: 12, empty: false, objects: [{ path: '', buildId: randomBytes(rand, 8), layoutDigest: 5n, contentSha256: randomBytes(rand, 32), pageSets: [{ name: 'default', pageCount: 200, runs: runsOf(Array.from({ length: 200 }, (_, p) => p).filter((p) => p % 3 === 0)) }] }] }],
    ['a note with libraries', randomNote(prng(12345), 3)],
  ];
  for (const [what, note] of notes) {
    const encoded = encodeNote(note);
    // As in a file: the descriptor's capacity is larger than what is used, the rest zeros.
    const desc = new Uint8Array(encoded.length + 64);
    desc.set(encoded);
    t.same(decodeNote(desc), note, `${what}: decodes with zero padding after the used bytes`);
    corruptAll(t, note, desc, what);
  }
  const empty = new Uint8Array(256);
  empty.set(emptyNote());
  corruptAll(t, decodeNote(empty), empty, 'an empty reservation');
});

t.test('the checksum catches every bit flip after the size fields', async (t) => {
  const note = randomNote(prng(2024), 3);
  const desc = encodeNote(note);
  const codes = new Map<string, number>();
  let wrong = 0;
  for (let i = 0; i < desc.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = Uint8Array.from(desc);
      b[i] ^= 1 << bit;
      let code = 'decoded';
      try {
        decodeNote(b);
      } catch (e) {
        code = e instanceof NoteDecodeError ? e.code : `other: ${String(e)}`;
      }
      codes.set(code, (codes.get(code) ?? 0) + 1);
      // version, header_size and used_size are checked first; everything else by the crc.
      if (i >= 8 && code !== 'bad_checksum') {
        if (wrong++ < 5) t.fail(`flip of bit ${bit} of byte ${i}: ${code}, not bad_checksum`);
      }
      if (i < 8 && !['bad_version', 'bad_field', 'bad_size', 'bad_checksum'].includes(code)) {
        if (wrong++ < 5) t.fail(`flip of bit ${bit} of byte ${i} (header): ${code}`);
      }
    }
  }
  t.equal(wrong, 0, `all ${desc.length * 8} bit flips are caught`, { codes: Object.fromEntries(codes) });
  t.equal(codes.get('decoded') ?? 0, 0, 'no flip decodes');
});

t.test('with the checksum recomputed, damaged records still give only NoteDecodeError', async (t) => {
  const rand = prng(99);
  const problems: string[] = [];
  let decoded = 0;
  let errors = 0;
  let runs = 0;
  const broken: string[] = [];
  const checkModel = (m: PrefetchNote, how: string): void => {
    for (const o of m.objects) {
      for (const s of o.pageSets) {
        let end = -1;
        for (const r of s.runs) {
          if (r.count < 1 || r.first <= end || r.first + r.count > s.pageCount) broken.push(`${how}: set '${s.name}' has run ${r.first}+${r.count} of ${s.pageCount}`);
          end = r.first + r.count;
        }
      }
    }
  };
  const attempt = (b: Uint8Array, how: string): void => {
    runs++;
    try {
      checkModel(decodeNote(b), how);
      decoded++;
    } catch (e) {
      if (e instanceof NoteDecodeError) errors++;
      else if (problems.length < 5) problems.push(`${how}: ${(e as Error)?.stack ?? String(e)}`);
    }
  };
  for (let k = 0; k < 4; k++) {
    const note = randomNote(rand, 3);
    const desc = encodeNote(note);
    for (let i = 0; i < desc.length; i++) {
      if (i >= 8 && i < 12) continue;
      for (const v of [desc[i]! ^ 0x01, desc[i]! ^ 0x80, 0xff, 0x00]) {
        if (v === desc[i]) continue;
        const b = Uint8Array.from(desc);
        b[i] = v;
        attempt(withCrc(b), `note ${k} byte ${i} = 0x${v.toString(16)} (crc fixed)`);
      }
    }
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from(desc);
      const n = 1 + Math.floor(rand() * 4);
      for (let j = 0; j < n; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      attempt(withCrc(b), `note ${k} random damage #${i}`);
    }
  }
  t.same(problems, [], `${runs} damaged descriptors with a valid crc: ${errors} NoteDecodeError, ${decoded} decoded, no other exception`);
  t.same(broken.slice(0, 5), [], 'what still decodes has sorted runs inside the page count');
});

t.test('parseRanges', async (t) => {
  t.same(parseRanges('0-15,20,31-40'), [{ first: 0, count: 16 }, { first: 20, count: 1 }, { first: 31, count: 10 }], '0-15,20,31-40');
  t.same(parseRanges('0x10-0x1f,0X20'), [{ first: 16, count: 17 }], 'hex, both cases, merged with the next page');
  t.same(parseRanges('  3 - 5 ,\t7,  9 -9 '), [{ first: 3, count: 3 }, { first: 7, count: 1 }, { first: 9, count: 1 }], 'whitespace around parts and dashes');
  t.same(parseRanges('10-20,1-2,15-30,3'), [{ first: 1, count: 3 }, { first: 10, count: 21 }], 'unsorted, overlapping and adjacent parts merge');
  t.same(parseRanges('5,'), [{ first: 5, count: 1 }], 'a trailing comma');
  t.same(parseRanges('0'), [{ first: 0, count: 1 }], 'page 0');
  for (const bad of ['abc', '1-', '-3', '1--2', '1-2-3', '1.5', '0x', '0xg1', '3 4', '1,two,3', '+1', '1e3']) {
    const part = bad.includes(',') ? 'two' : bad.trim();
    t.throws(() => parseRanges(bad), { message: new RegExp(`'${part.replace(/[.+*]/g, '\\$&')}'`) }, `'${bad}' is refused, naming '${part}'`);
  }
  t.throws(() => parseRanges('9-3'), { message: /'9-3'.*(empty|order)/ }, 'a range going down is refused, naming it');
  t.throws(() => parseRanges('99999999999999999999'), { message: /'99999999999999999999'/ }, 'a number past 2^53 is refused, naming it');
  for (const empty of ['', ' ', ',', ' , ,']) t.throws(() => parseRanges(empty), { message: /no pages/ }, `'${empty}' gives no pages`);
});

t.test('emptyNote', async (t) => {
  const e = emptyNote();
  t.equal(e.length, 24, 'an empty note is a bare 24-byte header');
  t.same(decodeNote(e), { version: 1, pageShift: 12, empty: true, objects: [] }, 'decodes as empty with page shift 12');
  t.equal(e[13]! & 1, 1, 'the EMPTY flag is set');
  t.equal(u16(e, 14), 0, 'no records');
  const z = Uint8Array.from(e);
  z.fill(0, 8, 12);
  t.equal(u32(e, 8), zcrc(z), 'its crc32 is right');
  t.same(decodeNote(emptyNote(16)), { version: 1, pageShift: 16, empty: true, objects: [] }, 'emptyNote(16) has page shift 16');
  const reservation = new Uint8Array(2048);
  reservation.set(e);
  t.same(decodeNote(reservation), { version: 1, pageShift: 12, empty: true, objects: [] }, 'a 2048-byte reservation decodes as empty');
  // A stamped note claiming no object, and an empty one with records, are both corrupt.
  const noObject = Uint8Array.from(e);
  noObject[13] = 0;
  t.throws(() => decodeNote(withCrc(noObject)), NoteDecodeError, 'a stamped note without objects is corrupt');
  const emptyWithObject = Uint8Array.from(e);
  emptyWithObject[16] = 1;
  t.throws(() => decodeNote(withCrc(emptyWithObject)), NoteDecodeError, 'an empty note counting an object is corrupt');
});
