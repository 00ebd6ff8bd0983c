// A raw elfprefetch note encoder that checks nothing (for crafting hostile notes byte by byte),
// and the ELF64 program headers of a file, with where each entry lives. Used by the shim's and
// the daemon's hostile-note specs.
import { crc32 } from '../../src/note/crc32';
import * as F from '../../src/note/format';

export interface RawPages {
  object?: number;
  enc?: number;
  name?: string;
  pageCount: number;
  selected?: number;
  runs?: Array<[number, number]>;
  runCount?: number; // overrides the run count field
  bitmap?: Buffer;
}
export interface RawNote {
  version?: number;
  headerSize?: number;
  pageShift?: number;
  flags?: number;
  recordCount?: number;
  objectCount?: number;
  used?: number;
  crc?: 'fix' | 'keep-wrong';
  objects: Buffer[];
  pages: RawPages[];
}

export function objectBody(buildId: Uint8Array, layout: bigint, p = ''): Buffer {
  const b = Buffer.alloc(44);
  b.writeBigUInt64LE(BigInt.asUintN(64, layout), 0);
  b[40] = buildId.length;
  b.writeUInt16LE(Buffer.byteLength(p), 42);
  return Buffer.concat([b, Buffer.from(buildId), Buffer.from(p)]);
}

function pagesBody(p: RawPages): Buffer {
  const name = Buffer.from(p.name ?? 'default');
  const head = Buffer.alloc(12 + ((name.length + 3) & ~3));
  head[0] = p.enc ?? (p.bitmap ? F.ENC_BITMAP : F.ENC_RUNS);
  head[1] = name.length;
  head.writeUInt32LE(p.pageCount >>> 0, 4);
  let data: Buffer;
  let total = 0;
  if (p.bitmap) {
    data = p.bitmap;
    for (const byte of data) for (let k = 0; k < 8; k++) total += (byte >> k) & 1;
  } else {
    const runs = p.runs ?? [];
    data = Buffer.alloc(4 + 8 * runs.length);
    data.writeUInt32LE((p.runCount ?? runs.length) >>> 0, 0);
    runs.forEach(([first, count], i) => {
      data.writeUInt32LE(first >>> 0, 4 + 8 * i);
      data.writeUInt32LE(count >>> 0, 8 + 8 * i);
      total += count;
    });
  }
  head.writeUInt32LE((p.selected ?? total) >>> 0, 8);
  name.copy(head, 12);
  return Buffer.concat([head, data]);
}

function record(kind: number, object: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(kind, 0);
  h.writeUInt16LE(object, 2);
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat([h, body, Buffer.alloc(((body.length + 3) & ~3) - body.length)]);
}

function setCrc(d: Buffer, used: number): void {
  const z = Buffer.from(d.subarray(0, used));
  z.fill(0, F.H_CRC32, F.H_CRC32 + 4);
  d.writeUInt32LE(crc32(z), F.H_CRC32);
}

export function rawNote(n: RawNote): Buffer {
  const recs = [...n.objects.map((o, i) => record(F.REC_OBJECT, i, o)), ...n.pages.map((p) => record(F.REC_PAGES, p.object ?? 0, pagesBody(p)))];
  const header = Buffer.alloc(n.headerSize ?? 24);
  const d = Buffer.concat([header, ...recs]);
  d.writeUInt16LE(n.version ?? 1, 0);
  d.writeUInt16LE(n.headerSize ?? 24, 2);
  const used = n.used ?? d.length;
  d.writeUInt32LE(used, 4);
  d[12] = n.pageShift ?? 12;
  d[13] = n.flags ?? 0;
  d.writeUInt16LE((n.recordCount ?? recs.length) & 0xffff, 14);
  d.writeUInt32LE((n.objectCount ?? n.objects.length) >>> 0, 16);
  if (n.crc !== 'keep-wrong' && used <= d.length) setCrc(d, used);
  if (n.crc === 'keep-wrong') d.writeUInt32LE(0x12345678, F.H_CRC32);
  return d;
}

// ---------------------------------------------------------------- ELF64 program headers

export interface Phdr {
  index: number;
  at: number;
  type: number;
  offset: number;
  filesz: number;
  align: number;
}

export function phdrs(b: Buffer): Phdr[] {
  const phoff = Number(b.readBigUInt64LE(32));
  return Array.from({ length: b.readUInt16LE(56) }, (_, index) => {
    const at = phoff + index * 56;
    return { index, at, type: b.readUInt32LE(at), offset: Number(b.readBigUInt64LE(at + 8)), filesz: Number(b.readBigUInt64LE(at + 32)), align: Number(b.readBigUInt64LE(at + 48)) };
  });
}

