// `elfprefetch run` and `elfprefetch show`, through the built CLI.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { openElf } from '../src/elf/read';
import { buildIdOf, layoutDigest } from '../src/note/identity';
import { stampFile } from '../src/ops/stamp';
import { DEVICES, planReads } from '../src/readplan/coalesce';
import { copyFixture, loadFixtures } from './helpers/fixtures';
import { buildNative, cliMain } from './helpers/shim';

const made = buildNative();
if (made) throw new Error(made);

const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [cliMain, ...args], { encoding: 'utf8', env });

t.test('run passes the exit status, signals and output through, with each hook', async (t) => {
  const f = loadFixtures().find((x) => x.name === 'x86-64-pie')!;
  const dir = t.testdir();
  const c = copyFixture(f, dir);
  stampFile(c.exe, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 3 }] }] });
  for (const hook of ['exec', 'audit', 'preload']) {
    const r = cli(['run', '--hook', hook, '--', c.exe, ...f.args], { ...process.env, ELFPREFETCH_DEBUG: '1' });
    t.equal(r.stdout, f.expected, `${hook}: output`);
    t.equal(r.status, f.status, `${hook}: status`);
    t.match(r.stderr, /hello: prefetched 1 runs/, `${hook}: the hook ran`);
    t.equal(cli(['run', '--hook', hook, '--', 'sh', '-c', 'exit 3']).status, 3, `${hook}: exit 3`);
    t.equal(cli(['run', '--hook', hook, '--', 'sh', '-c', 'kill -TERM $$']).status, 128 + 15, `${hook}: killed by SIGTERM is 143`);
    const nf = cli(['run', '--hook', hook, '--', 'no-such-command-xyz']);
    t.equal(nf.status, 127, `${hook}: not found is 127`);
    t.match(nf.stderr, /no-such-command-xyz: command not found/);
  }
  const usage = cli(['run']);
  t.equal(usage.status, 1, 'no command: usage error');
  t.match(usage.stderr, /Name the command/);
  const bad = cli(['run', '--hook', 'nope', '--', 'true']);
  t.equal(bad.status, 1, 'unknown hook: usage error');
});

t.test('show draws the pages, the selection and the planned reads', async (t) => {
  const f = loadFixtures().find((x) => x.name === 'x86-64-shlib')!;
  const dir = t.testdir();
  const c = copyFixture(f, dir);
  const lib = openElf(c.libs[0]!);
  const libId = buildIdOf(lib);
  const libLayout = layoutDigest(lib.programHeaders);
  const libSize = Number(lib.source.size);
  lib.source.close();
  const libRuns = [{ first: 0, count: 1 }, { first: 2, count: 2 }];
  stampFile(c.exe, {
    pageShift: 12,
    sets: [{ name: 'default', runs: [{ first: 2, count: 1 }] }],
    libraries: [{ path: c.libs[0]!, buildId: libId, layoutDigest: libLayout, pageSets: [{ name: 'default', pageCount: Math.ceil(libSize / 4096), runs: libRuns }] }],
  });
  const size = fs.statSync(c.exe).size;
  const svg = path.join(dir, 'out.svg');
  const r = cli(['show', c.exe, '--device', 'nvme', '--svg', svg]);
  t.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  t.match(out, `${c.exe}: ${size} bytes, ${Math.ceil(size / 4096)} pages of 4096 bytes`);
  t.match(out, /note: valid/);
  // The picture: page 0 and 2 selected, 1 read through the merged hole (nvme merges 1 page).
  t.match(out, /^\s+0 [rxw-]+\s*\n\s+█░█·/m, 'selected pages and the merged hole in the page line');
  const plan = planReads([{ first: 0, count: 1 }, { first: 2, count: 1 }], 4096, DEVICES.nvme, size);
  t.match(out, `plan for nvme (100000 IOPS, 2000 MB/s): ${plan.length} read${plan.length === 1 ? '' : 's'}, ${plan.reduce((n, q) => n + q.length, 0)} bytes`);
  t.match(out, /LOAD RX/);
  t.match(out, /\.text/, 'sections are named');
  t.match(out, `${c.libs[0]}: ${libSize} bytes`, 'the library set is shown too');
  t.match(out, /the file here is this build/);
  const text = fs.readFileSync(svg, 'utf8');
  t.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.match(text, /Legend/);
  for (const label of ['read-only segment', 'executable segment', 'writable segment', 'selected pages', 'a hole read through', 'one read the shim issues']) t.match(text, label);
  const bars = [...text.matchAll(/height="2" fill="#d62828"/g)].length;
  t.ok(bars >= 1 + 2, `a bar per read (${bars})`);
  t.equal((text.match(/<svg/g) ?? []).length, 1);
  t.notMatch(text, /NaN|undefined/, 'no broken numbers');

  // Device classes change the plan: hdd merges what nvme reads apart, on the 3-page library set.
  const hdd = cli(['show', c.exe, '--device', 'hdd']).stdout;
  t.match(hdd, /plan for hdd/);

  // A profile: its objects' pages.
  const profile = path.join(dir, 'p.json');
  fs.writeFileSync(
    profile,
    JSON.stringify({
      format: 'elfprefetch-profile',
      version: 1,
      pageSize: 4096,
      objects: [
        { path: c.exe, buildId: '', size, main: true, pages: '0-1' },
        { path: c.libs[0], buildId: Buffer.from(libId).toString('hex'), size: libSize, pages: '0,2-3' },
        { path: '/nonexistent/libz.so', buildId: 'ab', size: 40960, pages: '1,5-7' },
      ],
    }),
  );
  const p = cli(['show', profile, '--device', 'ssd', '--svg', path.join(dir, 'p.svg')]);
  t.equal(p.status, 0, p.stderr);
  t.match(p.stdout, /set 'default': 2 of \d+ pages selected in 1 extent;/);
  t.match(p.stdout, /set 'default': 3 of \d+ pages selected in 2 extents;/);
  t.match(p.stdout, /\/nonexistent\/libz.so: 40960 bytes, 10 pages/);
  t.match(p.stdout, /file not found here/);
  t.ok(fs.readFileSync(path.join(dir, 'p.svg'), 'utf8').includes('libz.so'));

  const missing = cli(['show', path.join(dir, 'nope')]);
  t.equal(missing.status, 1);
  const notProfile = path.join(dir, 'x.json');
  fs.writeFileSync(notProfile, '{"format":"other"}');
  t.equal(cli(['show', notProfile]).status, 1, 'a file that is neither ELF nor a profile is an error');
});
