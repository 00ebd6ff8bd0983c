import * as fs from 'node:fs';
import type { ByteSource } from '../elf/bytes';
import type { LayoutPlan } from './plan';
import { toIndex } from '../elf/errors';

const CHUNK = 4 << 20;

function writeAll(fd: number, bytes: Uint8Array, at: bigint): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, toIndex(at, 'a write position') + done);
}

/**
 * Writes the output of `plan` to `outPath`: copies of the input, then the planned writes on
 * top, zeros elsewhere. When the main copy keeps every byte in place, the file starts as a
 * kernel-side copy of the input (copy_file_range or a reflink) and only the rest is written.
 */
export function applyPlan(src: ByteSource & { openPath?: string }, plan: LayoutPlan, outPath: string): void {
  const [main, ...rest] = plan.copies;
  // Copy the file that was opened and parsed, not whatever its name points at by now.
  const inPlace = !!src.openPath && fs.existsSync(src.openPath) && !!main && main.from === 0n && main.to === 0n;
  if (inPlace) fs.copyFileSync(src.openPath!, outPath, fs.constants.COPYFILE_EXCL);
  else fs.closeSync(fs.openSync(outPath, 'wx', 0o600));
  const fd = fs.openSync(outPath, 'r+');
  try {
    // Sized to the largest piece (most plans copy a few header bytes), not always 4 MiB.
    const pieces = inPlace ? rest : plan.copies;
    const largest = pieces.reduce((m, c) => (c.length > m ? c.length : m), 0n);
    const buffer = new Uint8Array(Number(largest < BigInt(CHUNK) ? largest : BigInt(CHUNK)));
    if (inPlace) {
      // Bytes of the input past the main copy are not part of the output.
      const end = src.size < plan.outputSize ? src.size : plan.outputSize;
      for (let at = main!.length; at < end; at += BigInt(CHUNK)) {
        const n = Number(end - at > BigInt(CHUNK) ? BigInt(CHUNK) : end - at);
        writeAll(fd, new Uint8Array(n), at);
      }
    }
    for (const c of pieces) {
      for (let done = 0n; done < c.length; ) {
        const n = Number(c.length - done > BigInt(CHUNK) ? BigInt(CHUNK) : c.length - done);
        writeAll(fd, src.readInto(c.from + done, buffer.subarray(0, n)), c.to + done);
        done += BigInt(n);
      }
    }
    fs.ftruncateSync(fd, toIndex(plan.outputSize, 'output size'));
    for (const w of plan.writes) writeAll(fd, w.bytes, w.at);
  } finally {
    fs.closeSync(fd);
  }
}

export function writeAt(path: string, at: bigint, bytes: Uint8Array): void {
  const fd = fs.openSync(path, 'r+');
  try {
    writeAll(fd, bytes, at);
  } finally {
    fs.closeSync(fd);
  }
}
