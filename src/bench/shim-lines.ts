/*
 * The shim's diagnostics (ELFPREFETCH_DEBUG=1, docs/SHIM.md): one line per object,
 * `elfprefetch: PATH: prefetched N runs, M bytes in R requests (CLASS[: WHY][, fadvise])[, C
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

/** The shim's lines summed, and the classes they name. */
export function plannedBy(lines: string[]): { objects: number; requests: number; bytes: number; classes: string[] } {
  const p = { objects: 0, requests: 0, bytes: 0, classes: [] as string[] };
  for (const l of lines) {
    const m = parseShimLine(l);
    if (!m) continue;
    p.objects++;
    p.bytes += m.bytes;
    p.requests += m.requests;
    if (!p.classes.includes(m.cls)) p.classes.push(m.cls);
  }
  return p;
}
