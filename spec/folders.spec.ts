// The folders of src/ import each other without a cycle (docs/DESIGN.md, the map of the house):
// the import graph is read from the sources, folder by folder.
import t from 'tap';
import * as path from 'node:path';
import { cycles, folderGraph, importsOf } from './helpers/imports';

const root = path.resolve(__dirname, '..');

t.test('the import reader sees every form of import', async (t) => {
  const text = [
    "import * as fs from 'node:fs';",
    "import { a } from '../elf/read';",
    "import type { B } from './b';",
    "export { c } from '../note/codec';",
    "import './side-effect';",
    "const { d } = await import('../../src/ops/stamp');",
    "const e = require('../io/spawn');",
    "// import { x } from '../commented/out';",
    "/* import { y } from '../also/commented'; */",
    "import {",
    '  f,',
    "} from \"../profile/schema\";",
  ].join('\n');
  t.same(importsOf(text), ['../elf/read', './b', '../note/codec', './side-effect', '../../src/ops/stamp', '../io/spawn', '../profile/schema']);
});

t.test('the cycle finder finds a cycle of two and of three folders, and none in a chain', async (t) => {
  const g = (edges: Array<[string, string]>) => {
    const m = new Map<string, Map<string, string[]>>();
    for (const [a, b] of edges) {
      if (!m.has(a)) m.set(a, new Map());
      if (!m.has(b)) m.set(b, new Map());
      m.get(a)!.set(b, []);
    }
    return m;
  };
  t.same(cycles(g([['profile', 'record'], ['record', 'profile'], ['record', 'elf']])), [['profile', 'record']]);
  t.same(cycles(g([['record', 'ops'], ['ops', 'profile'], ['profile', 'record'], ['ops', 'elf']])), [['ops', 'profile', 'record']]);
  t.same(cycles(g([['cli', 'ops'], ['ops', 'layout'], ['layout', 'elf'], ['ops', 'elf']])), []);
});

t.test('no folder of src/ imports itself round a cycle', async (t) => {
  const graph = folderGraph(root, 'src');
  const edges = [...graph.values()].reduce((n, m) => n + m.size, 0);
  t.ok(graph.size >= 10 && edges >= 20, `the graph was read (${graph.size} folders, ${edges} edges between them)`);
  t.ok(graph.get('ops')?.has('layout'), 'a known edge is there: ops imports layout');
  const found = cycles(graph);
  const why = found.map((c) => c.map((f) => `${f} -> ${c.filter((g) => graph.get(f)?.has(g)).map((g) => `${g} (${graph.get(f)!.get(g)!.join(', ')})`).join(', ')}`).join('; '));
  t.same(found, [], `folder cycles: ${why.join(' | ')}`);
});
