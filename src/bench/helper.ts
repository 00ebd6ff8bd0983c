/*
 * The benchmark's native helper, `elfprefetch-benchrun` (recorder/benchrun.c says what it does):
 * built by `make -C recorder` with the other native parts, found where they are.
 */
import { ToolError } from '../errors';
import { nativeFile } from '../native/locate';

export const BENCHRUN = 'elfprefetch-benchrun';

/** The helper's path; an error that says how to build it when it is missing. */
export function benchHelper(): string {
  return nativeFile(BENCHRUN);
}

export interface RunUsage {
  wallNs: number;
  status: number;
  signal: number;
  minflt: number;
  majflt: number;
  utimeUs: number;
  stimeUs: number;
  /** Blocks (512 bytes) read from storage by the child tree (ru_inblock). */
  inblock: number;
}

export function parseUsage(text: string): RunUsage {
  const f = text.trim().split(/\s+/).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) throw new ToolError(`the benchmark helper wrote no usage (${JSON.stringify(text)})`);
  return { wallNs: f[0]!, status: f[1]!, signal: f[2]!, minflt: f[3]!, majflt: f[4]!, utimeUs: f[5]!, stimeUs: f[6]!, inblock: f[7]! };
}
