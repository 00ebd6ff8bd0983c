// `stamp --profile P --carry-over`: a profile recorded on one build applied to the next build
// of the program (what a profile kept in a source tree is). Two real builds of a generated C
// program differ by an inserted function and a grown one; the pages carried from build 1's
// recording must cover what a recording of build 2 itself touches, far better than taking
// build 1's page numbers as they are. Recording needs root (exact method) or the pagemap one.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requestFromProfile } from '../src/ops/from-profile';
import { parseRanges } from '../src/note/pageset';
import { parseProfile } from '../src/profile/schema';
import { repoRoot, runCommand } from './helpers/fixtures';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)));
const ep = (...args: string[]) => runCommand([process.execPath, cli, ...args], { cwd: repoRoot, env: cleanEnv });

/** 160 functions of 2 to 5 KiB; main calls every 16th. Build 2 inserts g() and grows f80. */
function source(v2: boolean): string {
  const out = ['#include <stdio.h>'];
  if (v2) out.push('__attribute__((noinline)) int g(int x){__asm__ volatile(".rept 3000\\n nop\\n .endr"); return x+1;}');
  for (let i = 0; i < 160; i++) {
    const n = 2000 + ((i * 701) % 3000) + (v2 && i === 80 ? 1500 : 0);
    out.push(`__attribute__((noinline)) int f${i}(int x){__asm__ volatile(".rept ${n}\\n nop\\n .endr"); return x*${i + 1};}`);
  }
  out.push(`int (*tab[])(int)={${Array.from({ length: 160 }, (_, i) => `f${i}`).join(',')}};`);
  out.push(`int main(int c,char**v){int s=0;${v2 ? 's+=g(1);' : ''}for(int i=3;i<160;i+=16)s+=tab[i](c);printf("%d\\n",s);return 0;}`);
  return out.join('\n');
}

const pagesOf = (ranges: string): Set<number> => {
  const s = new Set<number>();
  for (const r of parseRanges(ranges)) for (let i = 0; i < r.count; i++) s.add(r.first + i);
  return s;
};

t.test('a profile of the previous build is carried over section by section', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-carry-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const v of ['v1', 'v2']) {
    fs.writeFileSync(path.join(dir, `${v}.c`), source(v === 'v2'));
    const cc = spawnSync('gcc', ['-O1', '-o', path.join(dir, v), path.join(dir, `${v}.c`)], { encoding: 'utf8' });
    t.equal(cc.status, 0, cc.stderr);
    const rec = await ep('record', '-o', path.join(dir, `${v}.json`), '--', path.join(dir, v));
    t.equal(rec.status, 0, rec.stderr);
  }
  const v1 = parseProfile(fs.readFileSync(path.join(dir, 'v1.json'), 'utf8'));
  const v2 = parseProfile(fs.readFileSync(path.join(dir, 'v2.json'), 'utf8'));
  t.ok(v1.objects[0]!.sections?.some((s) => s.name === '.text'), 'record keeps the sections of each object');
  t.not(v1.objects[0]!.buildId, v2.objects[0]!.buildId, 'two different builds');

  // Without --carry-over a profile of another build is refused, saying what to do.
  const refused = await ep('stamp', path.join(dir, 'v2'), '--profile', path.join(dir, 'v1.json'), '-o', path.join(dir, 'out'));
  t.equal(refused.status, 1);
  t.match(refused.stderr, /no pages for this file.*add --carry-over/s);
  t.notOk(fs.existsSync(path.join(dir, 'out')), 'nothing written');

  const truth = pagesOf(v2.objects[0]!.pages);
  const req = requestFromProfile(path.join(dir, 'v2'), 'v1.json', fs.readFileSync(path.join(dir, 'v1.json'), 'utf8'), { carryOver: true });
  t.equal(req.match.how, 'carried');
  t.equal(req.match.from, v1.objects[0]!.buildId);
  const carried = new Set<number>();
  for (const r of req.sets[0]!.runs) for (let i = 0; i < r.count; i++) carried.add(r.first + i);
  const naive = pagesOf(v1.objects[0]!.pages);
  const cover = (s: Set<number>) => [...truth].filter((p) => s.has(p)).length / truth.size;
  const extra = (s: Set<number>) => [...s].filter((p) => !truth.has(p)).length;
  // The same profile without its functions: carried section by section only.
  const bare = JSON.parse(fs.readFileSync(path.join(dir, 'v1.json'), 'utf8'));
  for (const o of bare.objects) delete o.functions;
  const bySection = new Set<number>();
  for (const r of requestFromProfile(path.join(dir, 'v2'), 'bare.json', JSON.stringify(bare), { carryOver: true }).sets[0]!.runs) for (let i = 0; i < r.count; i++) bySection.add(r.first + i);
  t.comment(
    `build 2 touches ${truth.size} pages; carried through functions: ${carried.size} pages cover ${(cover(carried) * 100).toFixed(0)}% (${extra(carried)} extra); ` +
      `by sections only: ${bySection.size} cover ${(cover(bySection) * 100).toFixed(0)}% (${extra(bySection)} extra); as recorded: ${(cover(naive) * 100).toFixed(0)}%`,
  );
  t.ok(v1.objects[0]!.functions?.some((f) => /^f\d+$/.test(f.name)), 'record keeps the functions on the program\'s pages');
  t.ok((req.match.anchored ?? 0) > 0, `pages were placed through functions (${req.match.anchored})`);
  t.ok(cover(carried) >= 0.97, `the carried pages cover at least 97% of what build 2 touches (${cover(carried)})`);
  t.ok(extra(carried) <= truth.size * 0.3, `without reading much that is not needed (${extra(carried)} extra pages)`);
  t.ok(cover(carried) >= cover(bySection) && extra(carried) <= extra(bySection), 'at least as good as sections alone');
  t.ok(cover(bySection) >= 0.9, `sections alone still cover 90% (${cover(bySection)})`);
  t.ok(cover(carried) > cover(naive), 'better than build 1 page numbers taken as they are');

  const ok = await ep('stamp', path.join(dir, 'v2'), '--profile', path.join(dir, 'v1.json'), '--carry-over', '-o', path.join(dir, 'v2s'));
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /carried over from build [0-9a-f]+/);
  t.equal((await ep('verify', path.join(dir, 'v2s'))).status, 0, 'the carried-over stamp verifies');
  const run = spawnSync(path.join(dir, 'v2s'), [], { encoding: 'utf8' });
  t.equal(run.stdout, spawnSync(path.join(dir, 'v2'), [], { encoding: 'utf8' }).stdout, 'and runs like build 2');

  // A profile from before sections were recorded cannot be carried: a clear error.
  const old = JSON.parse(fs.readFileSync(path.join(dir, 'v1.json'), 'utf8'));
  for (const o of old.objects) delete o.sections;
  fs.writeFileSync(path.join(dir, 'old.json'), JSON.stringify(old));
  const r = await ep('stamp', path.join(dir, 'v2'), '--profile', path.join(dir, 'old.json'), '--carry-over', '-o', path.join(dir, 'out2'));
  t.equal(r.status, 1);
  t.match(r.stderr, /cannot be carried over.*lists no sections/);
});
