/*
 * The shim's diagnostics (ELFPREFETCH_DEBUG=1, docs/SHIM.md): one line per object,
 * `elfprefetch: PATH: prefetched N runs, M bytes in R requests (CLASS[: WHY][, requests <= K KiB][, fadvise])[, C
 * requests of B bytes cached already]`. M and R are what it issued; cached requests are not in them.
 */

export interface ShimLine {
  bytes: number;
  requests: number;
  /** The device class it planned for and why ("ssd: loop device on ..."). */
  cls: string;
  cached: number;
  cachedBytes: number;
}

const PREFETCHED = /prefetched \d+ runs, (\d+) bytes in (\d+) requests \(([^)]*)\)(?:, (\d+) requests of (\d+) bytes cached already)?/;

/** One shim line read, or undefined for any other line. */
export function parseShimLine(line: string): ShimLine | undefined {
  const m = PREFETCHED.exec(line);
  if (!m) return undefined;
  return { bytes: Number(m[1]), requests: Number(m[2]), cls: m[3]!.replace(/, fadvise$/, ''), cached: Number(m[4] ?? 0), cachedBytes: Number(m[5] ?? 0) };
}

export interface ShimTotals {
  objects: number;
  requests: number;
  bytes: number;
  cached: number;
  cachedBytes: number;
  /** The device classes named, each once. */
  classes: string[];
}

/** The shim's lines summed; other lines are passed over. */
export function sumShimLines(lines: string[]): ShimTotals {
  const t: ShimTotals = { objects: 0, requests: 0, bytes: 0, cached: 0, cachedBytes: 0, classes: [] };
  for (const l of lines) {
    const m = parseShimLine(l);
    if (!m) continue;
    t.objects++;
    t.bytes += m.bytes;
    t.requests += m.requests;
    t.cached += m.cached;
    t.cachedBytes += m.cachedBytes;
    if (!t.classes.includes(m.cls)) t.classes.push(m.cls);
  }
  return t;
}

/** What the shim issued (cold runs): objects, requests, bytes and the classes it planned for. */
export function plannedBy(lines: string[]): { objects: number; requests: number; bytes: number; classes: string[] } {
  const { objects, requests, bytes, classes } = sumShimLines(lines);
  return { objects, requests, bytes, classes };
}
