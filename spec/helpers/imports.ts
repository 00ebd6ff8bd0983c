// The import graph of the TypeScript sources, read from the text: static imports and
// re-exports (`import ... from`, `export ... from`, `import type`), dynamic `import()` and
// `require()`. Only relative specifiers count; packages and node: modules are not ours.
import * as fs from 'node:fs';
import * as path from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]*)\1/gm;

/** The relative specifiers a TypeScript source imports, comments left out. */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...code.matchAll(SPECIFIER)].map((m) => m[2]!);
}

/** Every .ts file below `dir`, relative to `root`. */
export function sourcesBelow(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourcesBelow(root, rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/**
 * Edges between the folders directly below `top` (src/elf, src/io, ...): folder -> folder ->
 * the files that make the edge. Files directly in `top` (src/index.ts) are left out: they are
 * the package's entry, which may import every folder.
 */
export function folderGraph(root: string, top: string): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  const folderOf = (rel: string): string | undefined => {
    const parts = path.relative(top, rel).split(path.sep);
    return parts.length >= 2 && !parts[0]!.startsWith('..') ? parts[0] : undefined;
  };
  for (const file of sourcesBelow(root, top)) {
    const from = folderOf(file);
    if (!from) continue;
    if (!graph.has(from)) graph.set(from, new Map());
    for (const spec of importsOf(fs.readFileSync(path.join(root, file), 'utf8'))) {
      const to = folderOf(path.normalize(path.join(path.dirname(file), spec)));
      if (!to || to === from) continue;
      const edges = graph.get(from)!;
      edges.set(to, [...(edges.get(to) ?? []), file]);
    }
  }
  return graph;
}

/** The strongly connected components of more than one folder (Tarjan): each one is a cycle. */
export function cycles(graph: Map<string, Map<string, unknown>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}
