import { ByteSource, checkRange } from '../elf/bytes';
import type { ElfPath } from '../elf/errors';
import type { LayoutPlan } from './plan';

/**
 * The output of a plan, read without writing it: the input's bytes where the plan copies
 * them, the planned writes on top, zeros elsewhere (exactly what src/layout/apply.ts produces).
 * Lets the planner parse and check what it would write before anything touches a disk.
 */
export class PlanSource implements ByteSource {
  readonly size: bigint;
  constructor(
    private readonly src: ByteSource,
    private readonly plan: LayoutPlan,
  ) {
    this.size = plan.outputSize;
  }

  read(offset: bigint, length: number, path: ElfPath = []): Uint8Array {
    return this.readInto(offset, new Uint8Array(length), path);
  }

  readInto(offset: bigint, target: Uint8Array, path: ElfPath = []): Uint8Array {
    checkRange(this.size, offset, target.length, path);
    target.fill(0);
    const end = offset + BigInt(target.length);
    for (const c of this.plan.copies) {
      const lo = c.to > offset ? c.to : offset;
      const hi = c.to + c.length < end ? c.to + c.length : end;
      if (hi <= lo) continue;
      const into = target.subarray(Number(lo - offset), Number(hi - offset));
      const got = this.src.readInto(c.from + (lo - c.to), into, path);
      if (got !== into) into.set(got);
    }
    for (const w of this.plan.writes) {
      const lo = w.at > offset ? w.at : offset;
      const wEnd = w.at + BigInt(w.bytes.length);
      const hi = wEnd < end ? wEnd : end;
      if (hi <= lo) continue;
      target.set(w.bytes.subarray(Number(lo - w.at), Number(hi - w.at)), Number(lo - offset));
    }
    return target;
  }

  close(): void {}
}
