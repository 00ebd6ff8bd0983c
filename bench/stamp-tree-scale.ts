/*
 * How long `stamp-tree` takes on a big tree, next to copying that tree (issue 5, "Scale").
 *
 *   bash bench/stamp-tree-scale.sh [SRC_DIR] [SCRATCH_DIR]
 *
 * Makes a profile directory with a profile for every ELF file of SRC (pages 0-15 and every
 * 8th page after, touched in 2 of 2 runs: heavier than a real selection), copies SRC to a
 * scratch tree with `cp -a` (timed), then times stamp-tree on the copy (all cores), a second,
 * idempotent run, and a dry run. Prints one JSON line per step.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileProfile } from '../src/profile/store';
import { identify } from '../src/record/objects';
import { formatRanges, runsFromPages } from '../src/note/pageset';
import { walkTree } from '../src/tree/walk';

const [src = '/usr/lib/x86_64-linux-gnu', scratch = '/tmp/epf-scale'] = process.argv.slice(2);
const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

function timed(what: string, argv: string[]): { seconds: number; stdout: string } {
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0 && r.status !== 3) throw new Error(`${what}: ${r.stderr}`);
  return { seconds, stdout: r.stdout };
}

fs.rmSync(scratch, { recursive: true, force: true });
fs.mkdirSync(scratch, { recursive: true });
const pdir = path.join(scratch, 'profiles');
const t0 = Date.now();
let filed = 0;
for (const c of walkTree(src).candidates) {
  let id;
  try {
    id = identify(c.path);
  } catch {
    continue;
  }
  if (!id || id.buildId.length < 4) continue;
  const n = Math.ceil(id.size / 4096);
  const pages = [...Array(Math.min(n, 16)).keys(), ...Array.from({ length: Math.max(0, Math.floor((n - 16) / 8)) }, (_, i) => 16 + i * 8)];
  fileProfile(pdir, {
    format: 'elfprefetch-profile',
    version: 1,
    pageSize: 4096,
    runs: 2,
    objects: [{ path: c.path, buildId: id.buildId, layoutDigest: id.layoutDigest, size: id.size, main: true, pages: formatRanges(runsFromPages(pages)), counts: pages.map(() => 2), set: 'default' }],
  });
  filed++;
}
console.log(JSON.stringify({ step: 'profiles', files: filed, seconds: (Date.now() - t0) / 1000 }));
const tree = path.join(scratch, 'tree');
const cp = timed('cp', ['cp', '-a', src, tree]);
const bytes = Number(spawnSync('du', ['-sb', tree], { encoding: 'utf8' }).stdout.split('\t')[0]);
console.log(JSON.stringify({ step: 'cp -a', seconds: cp.seconds, bytes }));
const cpSync = timed('cp+sync', ['sh', '-c', `cp -a ${src} ${tree}-2 && sync`]);
console.log(JSON.stringify({ step: 'cp -a && sync', seconds: cpSync.seconds }));
fs.rmSync(`${tree}-2`, { recursive: true, force: true });
for (const [step, extra] of [['stamp-tree', []], ['stamp-tree again (idempotent)', []], ['stamp-tree --dry-run', ['--dry-run']]] as Array<[string, string[]]>) {
  const r = timed(step, [process.execPath, cli, 'stamp-tree', tree, '--profiles', pdir, '--json', ...extra]);
  const rep = JSON.parse(r.stdout);
  console.log(JSON.stringify({ step, seconds: r.seconds, jobs: rep.jobs, elfFiles: rep.elfFiles, counts: rep.counts }));
}
fs.rmSync(scratch, { recursive: true, force: true });
