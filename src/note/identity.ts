import { createHash } from 'node:crypto';
import type { ByteSource } from '../elf/bytes';
import { ByteWriter } from '../elf/bytes';
import * as C from '../elf/constants';
import type { ElfFile, ProgramHeader } from '../elf/types';
import * as F from './format';

/** The GNU build-id (NT_GNU_BUILD_ID of owner "GNU"), or an empty array when there is none. */
export function buildIdOf(elf: ElfFile): Uint8Array {
  const n = elf.notes.find((x) => x.name === 'GNU' && x.type === C.NT_GNU_BUILD_ID);
  if (!n || n.descSize === 0 || n.descSize > F.MAX_BUILD_ID) return new Uint8Array(0);
  return Uint8Array.from(elf.source.read(n.descOffset, n.descSize));
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits: a few lines in C, enough to notice a different build. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = ((h ^ BigInt(bytes[i]!)) * FNV_PRIME) & MASK64;
  return h;
}

/**
 * Digest of the loadable layout, computable by a loader from the program headers alone:
 * FNV-1a 64 of u32 count, u32 0, then per PT_LOAD in table order
 * offset, vaddr, filesz, memsz, align (u64) and flags, 0 (u32), all little-endian.
 */
export function layoutDigest(phdrs: ProgramHeader[]): bigint {
  const loads = phdrs.filter((p) => p.type === C.PT_LOAD);
  const w = new ByteWriter(F.L_HEADER_SIZE + F.L_ENTRY_SIZE * loads.length, true);
  w.u32(0, loads.length);
  loads.forEach((p, i) => {
    const b = F.L_HEADER_SIZE + F.L_ENTRY_SIZE * i;
    w.u64(b + F.L_OFFSET, p.offset);
    w.u64(b + F.L_VADDR, p.vaddr);
    w.u64(b + F.L_FILESZ, p.filesz);
    w.u64(b + F.L_MEMSZ, p.memsz);
    w.u64(b + F.L_ALIGN, p.align);
    w.u32(b + F.L_FLAGS, p.flags);
  });
  return fnv1a64(w.bytes);
}

export interface ByteRange {
  start: bigint;
  end: bigint;
}

const CHUNK = 1 << 20;
let scratchBuffer: Uint8Array | undefined;
/** One 1 MiB buffer for every digest of the process: stamp-tree hashes hundreds of files. */
function hashScratch(): Uint8Array {
  return (scratchBuffer ??= new Uint8Array(CHUNK));
}

/**
 * SHA-256 of the loadable content: every PT_LOAD's file bytes in table order, with the ELF
 * header (which strip rewrites) and the ranges in `zeroed` (our note's descriptor) read as
 * zeros, so the digest is the same before and after stamping and after strip.
 */
export function contentSha256(src: ByteSource, ehsize: number, phdrs: ProgramHeader[], zeroed: ByteRange[]): Uint8Array {
  const hash = createHash('sha256');
  const holes = [{ start: 0n, end: BigInt(ehsize) }, ...zeroed];
  const scratch = hashScratch();
  for (const p of phdrs) {
    if (p.type !== C.PT_LOAD || p.filesz === 0n) continue;
    const end = p.offset + p.filesz > src.size ? src.size : p.offset + p.filesz;
    for (let at = p.offset; at < end; ) {
      const n = Number(end - at > BigInt(CHUNK) ? BigInt(CHUNK) : end - at);
      let chunk = src.readInto(at, scratch.subarray(0, n));
      for (const h of holes) {
        const s = h.start > at ? h.start : at;
        const e = h.end < at + BigInt(n) ? h.end : at + BigInt(n);
        if (s >= e) continue;
        if (chunk.buffer !== scratch.buffer) {
          scratch.set(chunk);
          chunk = scratch.subarray(0, n);
        }
        chunk.fill(0, Number(s - at), Number(e - at));
      }
      hash.update(chunk);
      at += BigInt(n);
    }
  }
  return new Uint8Array(hash.digest());
}
