import * as fs from 'node:fs';
import type { ByteSource } from '../elf/bytes';
import type { LayoutPlan } from '../layout/plan';

const CHUNK = 4 << 20;

function writeAll(fd: number, bytes: Uint8Array, at: bigint): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, Number(at) + done);
}

/**
 * Writes the output of `plan` to `outPath`: copies of the input, then the planned writes
 * on top. A plan that keeps every byte in place starts from a kernel-side file copy.
 */
export function applyPlan(src: ByteSource & { path?: string }, plan: LayoutPlan, outPath: string): void {
  const whole = plan.copies.length === 1 && plan.copies[0]!.from === 0n && plan.copies[0]!.to === 0n && plan.copies[0]!.length === src.size;
  if (whole && src.path) {
    fs.copyFileSync(src.path, outPath, fs.constants.COPYFILE_EXCL);
  } else {
    fs.closeSync(fs.openSync(outPath, 'wx', 0o600));
  }
  const fd = fs.openSync(outPath, 'r+');
  try {
    if (!(whole && src.path)) {
      for (const c of plan.copies) {
        for (let done = 0n; done < c.length; ) {
          const n = Number(c.length - done > BigInt(CHUNK) ? BigInt(CHUNK) : c.length - done);
          writeAll(fd, src.read(c.from + done, n), c.to + done);
          done += BigInt(n);
        }
      }
    }
    fs.ftruncateSync(fd, Number(plan.outputSize));
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
