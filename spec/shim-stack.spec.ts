// The loader shim's stack: la_objopen runs on whatever thread calls dlopen, the preload
// constructor and the daemon on threads of other people's programs, so the shim keeps its frames
// small (docs/SHIM.md, "Stack"). gcc reports each function's frame and the call graph
// (`make -C shim stack`); no function may use more than 2 KiB and no chain from a hook more than
// its bound. Recursion or an indirect call the bound does not know fails the spec too.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { repoRoot } from './helpers/fixtures';
import { deepestChain, functionId, readCallGraphs } from './helpers/stack-usage';

const MAX_FRAME = 2048;
/** Deepest chain of the shim's own frames from each entry point (libc's frames come on top). */
const BOUNDS: Record<string, number> = {
  la_version: 4096, // audit: the main program and its library sets
  la_objopen: 4096, // audit: each object ld.so maps, on the thread that called dlopen
  each_object: 4096, // preload: dl_iterate_phdr's callback
  epf_prefetch_fd: 4096, // the daemon, per exec
  main: 6144, // the exec wrapper: its own PATH search buffer, then the same chains
};

t.test('no shim function uses more than 2 KiB of stack, and no chain from a hook more than its bound', async (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-stack-'));
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
  const r = spawnSync('make', ['-s', '-C', path.join(repoRoot, 'shim'), 'stack', `OUT=${out}`, 'CC=gcc'], { encoding: 'utf8' });
  t.equal(r.status, 0, `make -C shim stack: ${r.stdout}${r.stderr}`);
  if (r.status !== 0) return;
  const g = readCallGraphs(path.join(out, 'stack'));
  t.ok(g.frames.size > 40, `${g.frames.size} functions measured`);
  const big = [...g.frames.values()].filter((f) => f.bytes > MAX_FRAME).map((f) => `${f.name} ${f.bytes}`);
  t.same(big, [], `no frame over ${MAX_FRAME} bytes`);
  const largest = [...g.frames.values()].sort((a, b) => b.bytes - a.bytes).slice(0, 6);
  t.comment(`largest frames: ${largest.map((f) => `${f.name} ${f.bytes}`).join(', ')}`);
  // The shim calls back only through the note walker (runs -> the coalescer), the coalescer
  // (requests -> issue, or the daemon's whole-set residency check), o->queued and o->usable_note,
  // which only the daemon sets (shim/daemon/listener.c: allow(), one write(2) of its answer, and
  // keep_note(), a copy into its note cache; both outside this graph, on the daemon's own stack).
  const callbacks = {
    'epf_note.c': [functionId(g, 'epf_plan_run')],
    'epf_plan.c': [functionId(g, 'issue'), functionId(g, 'check_resident')],
    'epf_issue.c': [],
    'epf_prefetch.c': [],
  };
  for (const [root, bound] of Object.entries(BOUNDS)) {
    const c = deepestChain(g, functionId(g, root), callbacks);
    t.ok(c.bytes <= bound, `${root}: ${c.bytes} bytes <= ${bound} (${c.path.map((f) => `${f.name} ${f.bytes}`).join(' > ')})`);
  }
});

t.test('the chain walker refuses a recursion and an unknown indirect call', async (t) => {
  const dir = t.testdir({
    'a.ci': [
      'node: { title: "a.c:f" label: "f\\na.c:1:1\\n16 bytes (static)" }',
      'node: { title: "g" label: "g\\na.c:2:1\\n32 bytes (static)" }',
      'edge: { sourcename: "a.c:f" targetname: "g" label: "a.c:1:5" }',
      'edge: { sourcename: "g" targetname: "a.c:f" label: "a.c:2:5" }',
      'node: { title: "h" label: "h\\nb.c:3:1\\n8 bytes (static)" }',
      'edge: { sourcename: "h" targetname: "__indirect_call" label: "b.c:3:9" }',
      'node: { title: "k" label: "k\\na.c:4:1\\n64 bytes (static)" }',
      'edge: { sourcename: "k" targetname: "h" }',
      '',
    ].join('\n'),
  });
  const g = readCallGraphs(dir);
  t.throws(() => deepestChain(g, 'g', {}), /recursion through/);
  t.throws(() => deepestChain(g, 'h', {}), /indirect call the bound does not know/);
  const c = deepestChain(g, 'k', { 'b.c': [] });
  t.equal(c.bytes, 72, 'a tail call (no label) is a call; the frames add up');
});
