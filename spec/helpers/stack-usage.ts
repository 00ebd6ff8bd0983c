// The loader shim's stack, from what gcc says of each function it compiled (-fstack-usage, in the
// call graph of -fcallgraph-info=su): each function's frame, and the deepest chain of frames from
// each entry point. The shim runs on whatever thread calls dlopen (la_objopen), so its depth is
// added to that of the program's own code and ld.so's.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Frame {
  /** gcc's name of the node: "file.c:name" for a static function, the symbol otherwise. */
  id: string;
  name: string;
  bytes: number;
  /** 'static', or 'dynamic,bounded' (alignment or a bounded alloca-like adjustment) */
  kind: string;
}

export interface StackGraph {
  frames: Map<string, Frame>;
  calls: Map<string, Set<string>>;
  /** Functions with an indirect call, by the file they are in. */
  indirect: Map<string, string>;
}

const NODE = /^node: \{ title: "([^"]+)" label: "([^"\\]+)(?:\\n([^"\\]+))?(?:\\n(\d+) bytes \(([^)]+)\))?"/;
const EDGE = /^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"(?: label: "([^"]+)")?/;

/** Reads every .ci file of a folder (gcc -fcallgraph-info=su). */
export function readCallGraphs(dir: string): StackGraph {
  const g: StackGraph = { frames: new Map(), calls: new Map(), indirect: new Map() };
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.ci')).sort()) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const n = NODE.exec(line);
      if (n && n[4] !== undefined) {
        g.frames.set(n[1]!, { id: n[1]!, name: n[2]!, bytes: Number(n[4]), kind: n[5]! });
        continue;
      }
      const e = EDGE.exec(line);
      if (!e) continue;
      const [, from, to, site] = e;
      if (to === '__indirect_call') {
        g.indirect.set(from!, path.basename((site ?? from!).split(':')[0]!));
        continue;
      }
      if (!g.calls.has(from!)) g.calls.set(from!, new Set());
      g.calls.get(from!)!.add(to!);
    }
  }
  return g;
}

export interface Chain {
  bytes: number;
  /** The frames of the deepest chain, outermost first. */
  path: Frame[];
}

/**
 * The deepest chain of the shim's own frames from `root`. `callbacks` names, per source file, the
 * functions its indirect calls can reach (the shim calls back only through the coalescer's and
 * the note walker's function pointers); an indirect call in any other file, or a recursion, is an
 * error: the bound would not be one. Calls into libc count as nothing here.
 */
export function deepestChain(g: StackGraph, root: string, callbacks: Record<string, string[]>): Chain {
  const memo = new Map<string, Chain>();
  const onPath = new Set<string>();
  const visit = (id: string): Chain => {
    const known = memo.get(id);
    if (known) return known;
    const frame = g.frames.get(id);
    if (!frame) return { bytes: 0, path: [] }; // outside the shim (libc)
    if (onPath.has(id)) throw new Error(`recursion through ${frame.name}: the stack has no bound`);
    onPath.add(id);
    const next = [...(g.calls.get(id) ?? [])];
    const file = g.indirect.get(id);
    if (file !== undefined) {
      const targets = callbacks[file];
      if (!targets) throw new Error(`${frame.name} (${file}) makes an indirect call the bound does not know`);
      next.push(...targets);
    }
    let best: Chain = { bytes: 0, path: [] };
    for (const callee of next) {
      const c = visit(callee);
      if (c.bytes > best.bytes) best = c;
    }
    onPath.delete(id);
    const chain = { bytes: frame.bytes + best.bytes, path: [frame, ...best.path] };
    memo.set(id, chain);
    return chain;
  };
  return visit(root);
}

/** The id of a function in the graph: the symbol, else "FILE:name" for a static one. */
export function functionId(g: StackGraph, name: string): string {
  if (g.frames.has(name)) return name;
  const statics = [...g.frames.values()].filter((f) => f.name === name);
  if (statics.length !== 1) throw new Error(`${statics.length} functions named ${name} in the call graph`);
  return statics[0]!.id;
}
