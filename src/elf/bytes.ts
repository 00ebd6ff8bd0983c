import * as fs from 'node:fs';
import { openRegular } from '../io/regular';
import { ElfFormatError, ElfPath, toIndex } from './errors';

/** Random access to a file's bytes by position, so big files are never loaded whole. */
export interface ByteSource {
  readonly size: bigint;
  /** Exactly `length` bytes at `offset`; throws ElfFormatError('truncated') past the end. */
  read(offset: bigint, length: number, path?: ElfPath): Uint8Array;
  /** `target.length` bytes at `offset`, in `target` or (for memory) a view of the bytes themselves. */
  readInto(offset: bigint, target: Uint8Array, path?: ElfPath): Uint8Array;
  close(): void;
}

/** No single read is larger than this: a bigger block is a malformed claim, not data. */
export const MAX_READ = 256 << 20;

export function checkRange(size: bigint, offset: bigint, length: number, path: ElfPath): void {
  if (length > MAX_READ) throw new ElfFormatError('too_large', `a read of ${length} bytes is larger than the ${MAX_READ}-byte limit`, offset, path, length);
  if (offset < 0n || length < 0 || offset + BigInt(length) > size) {
    throw new ElfFormatError(
      'truncated',
      `${length} bytes requested beyond the end of the file (size ${size})`,
      offset,
      path,
    );
  }
}

export class BufferSource implements ByteSource {
  readonly size: bigint;
  constructor(readonly bytes: Uint8Array) {
    this.size = BigInt(bytes.length);
  }
  read(offset: bigint, length: number, path: ElfPath = []): Uint8Array {
    checkRange(this.size, offset, length, path);
    const start = toIndex(offset, 'offset');
    return this.bytes.subarray(start, start + length);
  }
  readInto(offset: bigint, target: Uint8Array, path: ElfPath = []): Uint8Array {
    return this.read(offset, target.length, path);
  }
  close(): void {}
}

export class FileSource implements ByteSource {
  readonly size: bigint;
  private constructor(private fd: number, readonly stat: fs.BigIntStats, readonly path: string) {
    this.size = stat.size;
  }
  static open(path: string): FileSource {
    const { fd, stat } = openRegular(path);
    return new FileSource(fd, stat, path);
  }
  read(offset: bigint, length: number, path: ElfPath = []): Uint8Array {
    checkRange(this.size, offset, length, path);
    return this.readInto(offset, Buffer.allocUnsafe(length), path);
  }
  readInto(offset: bigint, target: Uint8Array, path: ElfPath = []): Uint8Array {
    const length = target.length;
    checkRange(this.size, offset, length, path);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, target, done, length - done, toIndex(offset, 'offset') + done);
      if (n === 0) throw new ElfFormatError('truncated', 'file shrank while being read', offset + BigInt(done), path);
      done += n;
    }
    return target;
  }
  /** A path naming exactly the file this source opened, even if its name was reused since. */
  get openPath(): string {
    return `/proc/self/fd/${this.fd}`;
  }
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Bounds-checked integer access to a block of bytes read from the file; `base` is the
 * block's file offset so errors name the right place. The only DataView in the project.
 */
export class ByteView {
  private view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
    readonly base: bigint = 0n,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.length;
  }
  private check(at: number, n: number, path: ElfPath): void {
    if (at < 0 || at + n > this.bytes.length) {
      throw new ElfFormatError('truncated', `field of ${n} bytes runs past its block`, this.base + BigInt(at), path);
    }
  }
  u8(at: number, path: ElfPath = []): number {
    this.check(at, 1, path);
    return this.view.getUint8(at);
  }
  u16(at: number, path: ElfPath = []): number {
    this.check(at, 2, path);
    return this.view.getUint16(at, this.littleEndian);
  }
  u32(at: number, path: ElfPath = []): number {
    this.check(at, 4, path);
    return this.view.getUint32(at, this.littleEndian);
  }
  u64(at: number, path: ElfPath = []): bigint {
    this.check(at, 8, path);
    return this.view.getBigUint64(at, this.littleEndian);
  }
  /** An address-sized field: 4 bytes in ELF32, 8 in ELF64. */
  word(at: number, is64: boolean, path: ElfPath = []): bigint {
    return is64 ? this.u64(at, path) : BigInt(this.u32(at, path));
  }
  slice(at: number, n: number, path: ElfPath = []): Uint8Array {
    this.check(at, n, path);
    return this.bytes.subarray(at, at + n);
  }
}

/** Writes integers in a given byte order into a buffer being built. */
export class ByteWriter {
  readonly bytes: Uint8Array;
  private view: DataView;
  /** A new zeroed buffer of `target` bytes, or (given bytes) a writer over that buffer. */
  constructor(target: number | Uint8Array, readonly littleEndian: boolean) {
    this.bytes = typeof target === 'number' ? new Uint8Array(target) : target;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  u8(at: number, v: number): void {
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number): void {
    this.view.setUint16(at, v, this.littleEndian);
  }
  u32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, this.littleEndian);
  }
  u64(at: number, v: bigint): void {
    this.view.setBigUint64(at, BigInt.asUintN(64, v), this.littleEndian);
  }
  word(at: number, v: bigint, is64: boolean): void {
    if (is64) this.u64(at, v);
    else this.u32(at, Number(BigInt.asUintN(32, v)));
  }
  set(at: number, b: Uint8Array): void {
    this.bytes.set(b, at);
  }
}
