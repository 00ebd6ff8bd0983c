// Seeded mutations of ELF files for the fuzzer (docs/FUZZING.md). Everything here is a pure
// function of the random generator, so an input is replayed from (seed, index) alone.
//
// Structure-aware: the seed is looked at first (header, program and section header tables,
// the notes of PT_NOTE segments) with a small self-contained reader that never throws, so
// the field mutations hit real field offsets even in files the library refuses.

/** mulberry32: a generator of floats in [0, 1); the specs use it too (spec/helpers/prng.ts). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The generator of input `index` of a run with `seed`: independent of the other inputs. */
export function inputRng(seed: number, index: number): () => number {
  const mix = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  mix();
  return prng(Math.floor(mix() * 4294967296) ^ index);
}

export type Rng = () => number;
const int = (r: Rng, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rng, a: readonly T[]): T => a[int(r, a.length)]!;

/** One field of the seed: where, how wide, what (for the finding report). */
export interface Field {
  at: number;
  size: 1 | 2 | 4 | 8;
  what: string;
}

export interface SeedInfo {
  is64: boolean;
  little: boolean;
  fields: Field[];
}

function rd(b: Uint8Array, at: number, size: number, little: boolean): bigint {
  if (at < 0 || at + size > b.length) return 0n;
  let v = 0n;
  for (let i = 0; i < size; i++) {
    const byte = BigInt(b[little ? at + size - 1 - i : at + i]!);
    v = (v << 8n) | byte;
  }
  return v;
}

function wr(b: Uint8Array, at: number, size: number, little: boolean, value: bigint): void {
  let v = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) {
    const pos = little ? at + i : at + size - 1 - i;
    if (pos >= 0 && pos < b.length) b[pos] = Number(v & 0xffn);
    v >>= 8n;
  }
}

const MAX_TABLE = 512;

/** The field offsets of a seed, found without trusting it. */
export function describeSeed(b: Uint8Array): SeedInfo {
  const is64 = b[4] !== 1;
  const little = b[5] !== 2;
  const fields: Field[] = [];
  const f = (at: number, size: Field['size'], what: string): void => {
    if (at >= 0 && at + size <= b.length) fields.push({ at, size, what });
  };
  const w = is64 ? 8 : 4;
  // e_ident bytes that matter
  f(4, 1, 'EI_CLASS');
  f(5, 1, 'EI_DATA');
  f(6, 1, 'EI_VERSION');
  f(7, 1, 'EI_OSABI');
  f(16, 2, 'e_type');
  f(18, 2, 'e_machine');
  f(20, 4, 'e_version');
  f(24, w, 'e_entry');
  const phoffAt = 24 + w;
  const shoffAt = 24 + 2 * w;
  f(phoffAt, w, 'e_phoff');
  f(shoffAt, w, 'e_shoff');
  const rest = 24 + 3 * w;
  f(rest, 4, 'e_flags');
  f(rest + 4, 2, 'e_ehsize');
  f(rest + 6, 2, 'e_phentsize');
  f(rest + 8, 2, 'e_phnum');
  f(rest + 10, 2, 'e_shentsize');
  f(rest + 12, 2, 'e_shnum');
  f(rest + 14, 2, 'e_shstrndx');
  const phoff = Number(rd(b, phoffAt, w, little));
  const shoff = Number(rd(b, shoffAt, w, little));
  const phnum = Math.min(Number(rd(b, rest + 8, 2, little)), MAX_TABLE);
  const shnum = Math.min(Number(rd(b, rest + 12, 2, little)), MAX_TABLE);
  const phent = is64 ? 56 : 32;
  const shent = is64 ? 64 : 40;
  const notes: Array<[number, number]> = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phent;
    if (p + phent > b.length) break;
    const layout: Array<[number, Field['size'], string]> = is64
      ? [[0, 4, 'p_type'], [4, 4, 'p_flags'], [8, 8, 'p_offset'], [16, 8, 'p_vaddr'], [24, 8, 'p_paddr'], [32, 8, 'p_filesz'], [40, 8, 'p_memsz'], [48, 8, 'p_align']]
      : [[0, 4, 'p_type'], [4, 4, 'p_offset'], [8, 4, 'p_vaddr'], [12, 4, 'p_paddr'], [16, 4, 'p_filesz'], [20, 4, 'p_memsz'], [24, 4, 'p_flags'], [28, 4, 'p_align']];
    for (const [o, s, n] of layout) f(p + o, s, `phdr[${i}].${n}`);
    if (rd(b, p, 4, little) === 4n) {
      const off = Number(rd(b, p + (is64 ? 8 : 4), w, little));
      const size = Number(rd(b, p + (is64 ? 32 : 16), w, little));
      notes.push([off, size]);
    }
  }
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shent;
    if (s + shent > b.length) break;
    const layout: Array<[number, Field['size'], string]> = is64
      ? [[0, 4, 'sh_name'], [4, 4, 'sh_type'], [8, 8, 'sh_flags'], [16, 8, 'sh_addr'], [24, 8, 'sh_offset'], [32, 8, 'sh_size'], [40, 4, 'sh_link'], [44, 4, 'sh_info'], [48, 8, 'sh_addralign'], [56, 8, 'sh_entsize']]
      : [[0, 4, 'sh_name'], [4, 4, 'sh_type'], [8, 4, 'sh_flags'], [12, 4, 'sh_addr'], [16, 4, 'sh_offset'], [20, 4, 'sh_size'], [24, 4, 'sh_link'], [28, 4, 'sh_info'], [32, 4, 'sh_addralign'], [36, 4, 'sh_entsize']];
    for (const [o, sz, n] of layout) f(s + o, sz, `shdr[${i}].${n}`);
    if (rd(b, s + 4, 4, little) === 7n) {
      notes.push([Number(rd(b, s + (is64 ? 24 : 16), w, little)), Number(rd(b, s + (is64 ? 32 : 20), w, little))]);
    }
  }
  for (const [off, size] of notes) {
    let at = off;
    const end = Math.min(off + size, b.length);
    for (let k = 0; k < 64 && at + 12 <= end; k++) {
      f(at, 4, `note@${at}.namesz`);
      f(at + 4, 4, `note@${at}.descsz`);
      f(at + 8, 4, `note@${at}.type`);
      const namesz = Number(rd(b, at, 4, little));
      const descsz = Number(rd(b, at + 4, 4, little));
      // Descriptor words of the note too: our own note's header and counts live there.
      const desc = at + 12 + ((namesz + 3) & ~3);
      for (let d = 0; d < Math.min(descsz, 64); d += 4) f(desc + d, 4, `note@${at}.desc+${d}`);
      const next = desc + ((descsz + 3) & ~3);
      if (next <= at) break;
      at = next;
    }
  }
  return { is64, little, fields };
}

const BOUNDARY: readonly bigint[] = [0n, 1n, 2n, 3n, 4n, 7n, 8n, 0x10n, 0x40n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xfffn, 0x1000n, 0x7fffn, 0x8000n, 0xfffen, 0xffffn, 0x10000n, 0x200000n, 0x7fffffffn, 0x80000000n, 0xfffff000n, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 4096n, (1n << 64n) - 1n];

/** A mutation applied to a copy: returns the (possibly new) buffer and what it did. */
type Op = (r: Rng, b: Uint8Array, info: SeedInfo, other: Uint8Array) => [Uint8Array, string];

const ops: Array<[number, Op]> = [
  // bit flips
  [10, (r, b) => {
    if (b.length === 0) return [b, 'noop'];
    const n = 1 + int(r, 8);
    for (let i = 0; i < n; i++) {
      const at = int(r, b.length);
      b[at]! ^= 1 << int(r, 8);
    }
    return [b, `flip x${n}`];
  }],
  // random bytes, preferably near the start (headers and tables)
  [6, (r, b) => {
    if (b.length === 0) return [b, 'noop'];
    const n = 1 + int(r, 4);
    for (let i = 0; i < n; i++) {
      const at = r() < 0.5 ? int(r, Math.min(b.length, 4096)) : int(r, b.length);
      b[at] = pick(r, [0, 1, 0x7f, 0x80, 0xff, int(r, 256)]);
    }
    return [b, `bytes x${n}`];
  }],
  // a header / phdr / shdr / note field to a boundary value, or nudged
  [30, (r, b, info) => {
    if (info.fields.length === 0) return [b, 'noop'];
    const n = 1 + (r() < 0.3 ? int(r, 3) : 0);
    const what: string[] = [];
    for (let i = 0; i < n; i++) {
      const fl = pick(r, info.fields);
      const cur = rd(b, fl.at, fl.size, info.little);
      let v: bigint;
      const m = r();
      if (m < 0.55) v = pick(r, BOUNDARY);
      else if (m < 0.75) v = cur + BigInt(int(r, 33) - 16);
      else if (m < 0.85) v = BigInt(b.length) + BigInt(int(r, 9) - 4);
      else if (m < 0.92) v = cur * 2n + (r() < 0.5 ? 0n : 1n);
      else v = cur ^ (1n << BigInt(int(r, fl.size * 8)));
      wr(b, fl.at, fl.size, info.little, v);
      what.push(`${fl.what}=0x${BigInt.asUintN(fl.size * 8, v).toString(16)}`);
    }
    return [b, what.join(',')];
  }],
  // copy one field's value into another (offsets and sizes that agree with something)
  [5, (r, b, info) => {
    if (info.fields.length < 2) return [b, 'noop'];
    const a = pick(r, info.fields);
    const c = pick(r, info.fields);
    wr(b, c.at, c.size, info.little, rd(b, a.at, a.size, info.little));
    return [b, `${c.what}:=${a.what}`];
  }],
  // truncation
  [5, (r, b) => {
    const to = r() < 0.5 ? int(r, Math.min(b.length + 1, 512)) : int(r, b.length + 1);
    return [b.slice(0, to), `truncate ${to}`];
  }],
  // extension (zeros, random, or a repeat of the file's own bytes)
  [4, (r, b) => {
    const n = pick(r, [1, 3, 4, 8, 64, 4095, 4096, 4097, 65536, 1 + int(r, 20000)]);
    const out = new Uint8Array(b.length + n);
    out.set(b);
    const m = r();
    if (m < 0.4) for (let i = b.length; i < out.length; i++) out[i] = int(r, 256);
    else if (m < 0.7 && b.length > 0) for (let i = b.length; i < out.length; i++) out[i] = b[i % b.length]!;
    return [out, `extend ${n}`];
  }],
  // splicing two files
  [5, (r, b, _info, other) => {
    const m = r();
    if (m < 0.4) {
      // head of one, tail of the other
      const cut = int(r, b.length + 1);
      const from = int(r, other.length + 1);
      const out = new Uint8Array(cut + (other.length - from));
      out.set(b.subarray(0, cut));
      out.set(other.subarray(from), cut);
      return [out, `splice head ${cut} + other@${from}`];
    }
    // a chunk of the other file over this one (table entries, headers)
    if (b.length === 0 || other.length === 0) return [b, 'noop'];
    const len = 1 + int(r, Math.min(other.length, pick(r, [16, 64, 256, 4096])));
    const from = int(r, other.length - len + 1);
    const to = int(r, Math.max(1, b.length - len + 1));
    b.set(other.subarray(from, from + Math.min(len, b.length - to)), to);
    return [b, `overlay other@${from}+${len} at ${to}`];
  }],
  // a chunk of the file over another place of itself (duplicate table entries)
  [4, (r, b, info) => {
    if (b.length < 2) return [b, 'noop'];
    const table = info.fields.filter((f) => f.what.startsWith('phdr') || f.what.startsWith('shdr'));
    const len = table.length && r() < 0.6 ? (info.is64 ? pick(r, [56, 64]) : pick(r, [32, 40])) : 1 + int(r, 256);
    const from = table.length && r() < 0.6 ? pick(r, table).at : int(r, b.length);
    const to = table.length && r() < 0.6 ? pick(r, table).at : int(r, b.length);
    b.copyWithin(to, from, Math.min(from + len, b.length));
    return [b, `copy ${from}+${len} to ${to}`];
  }],
];
const totalWeight = ops.reduce((s, [w]) => s + w, 0);

/**
 * Mutates a copy of `seed` (1-4 stacked mutations), with `other` as the splicing partner.
 * `info` is describeSeed(seed) (callers cache it).
 */
export function mutate(r: Rng, seed: Uint8Array, other: Uint8Array, info: SeedInfo = describeSeed(seed)): { bytes: Uint8Array; what: string[] } {
  let b: Uint8Array = seed.slice();
  const what: string[] = [];
  const n = 1 + (r() < 0.5 ? 0 : int(r, 4));
  for (let i = 0; i < n; i++) {
    let x = r() * totalWeight;
    let op = ops[0]![1];
    for (const [w, o] of ops) {
      if (x < w) {
        op = o;
        break;
      }
      x -= w;
    }
    const [out, desc] = op(r, b, info, other);
    b = out;
    what.push(desc);
  }
  return { bytes: b, what };
}
