import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import t from 'tap';
import { DEVICES, DEVICE_CLASSES, MAX_REQUEST, MIN_REQUEST, holeLimit, planCost, planReads, requestCap } from '../src/readplan/coalesce';
import { Run, normalizeRuns } from '../src/note/pageset';
import { prng as rng } from './helpers/prng';

const root = path.join(__dirname, '..');

t.test('the cost model merges exactly the holes cheaper than a request', async (t) => {
  const ps = 4096;
  // ssd: 500e6 / 10000 = 50000 bytes: 12 pages (49152) merge, 13 (53248) do not.
  t.equal(holeLimit(DEVICES.ssd), 49999);
  t.same(planReads([{ first: 0, count: 1 }, { first: 13, count: 1 }], ps, DEVICES.ssd), [{ offset: 0, length: 14 * ps }]);
  t.same(planReads([{ first: 0, count: 1 }, { first: 14, count: 1 }], ps, DEVICES.ssd), [
    { offset: 0, length: ps },
    { offset: 14 * ps, length: ps },
  ]);
  // nvme: 20000 bytes: 4 pages merge, 5 do not.
  t.equal(planReads([{ first: 0, count: 1 }, { first: 5, count: 1 }], ps, DEVICES.nvme).length, 1);
  t.equal(planReads([{ first: 0, count: 1 }, { first: 6, count: 1 }], ps, DEVICES.nvme).length, 2);
  // hdd: any hole that keeps the request within 1 MiB.
  t.same(planReads([{ first: 0, count: 1 }, { first: 255, count: 1 }], ps, DEVICES.hdd), [{ offset: 0, length: MAX_REQUEST }]);
  t.equal(planReads([{ first: 0, count: 1 }, { first: 256, count: 1 }], ps, DEVICES.hdd).length, 2);
  // Long runs are split at 1 MiB from their start; the tail may merge with what follows.
  t.same(planReads([{ first: 10, count: 600 }, { first: 611, count: 2 }], ps, DEVICES.hdd), [
    { offset: 10 * ps, length: MAX_REQUEST },
    { offset: 266 * ps, length: MAX_REQUEST },
    { offset: 522 * ps, length: (613 - 522) * ps },
  ]);
  // Clipped to the file: a partial last page, and nothing at or past the end.
  t.same(planReads([{ first: 0, count: 2 }, { first: 8, count: 9 }], ps, DEVICES.nvme, 9 * ps + 100), [
    { offset: 0, length: 2 * ps },
    { offset: 8 * ps, length: ps + 100 },
  ]);
  t.same(planReads([{ first: 7, count: 2 }], ps, DEVICES.ssd, 7 * ps), []);
  t.ok(planCost(planReads([{ first: 0, count: 1 }, { first: 13, count: 1 }], ps, DEVICES.ssd), DEVICES.ssd) < planCost([{ offset: 0, length: ps }, { offset: 13 * ps, length: ps }], DEVICES.ssd));
});

t.test('a device cap: no request larger, holes merged only within it, long runs split at it', async (t) => {
  const ps = 4096;
  const cap = 512 << 10; // a queue with max_sectors_kb 512
  // hdd merges any hole within the cap: 127 pages apart fit, 128 do not
  t.same(planReads([{ first: 0, count: 1 }, { first: 127, count: 1 }], ps, DEVICES.hdd, undefined, cap), [{ offset: 0, length: cap }]);
  t.equal(planReads([{ first: 0, count: 1 }, { first: 128, count: 1 }], ps, DEVICES.hdd, undefined, cap).length, 2);
  t.same(planReads([{ first: 10, count: 300 }], ps, DEVICES.hdd, undefined, cap), [
    { offset: 10 * ps, length: cap },
    { offset: 138 * ps, length: cap },
    { offset: 266 * ps, length: 44 * ps },
  ]);
  // the cap as the plan keeps it: 0 and anything from 1 MiB up are 1 MiB; whole 4 KiB pages; at least 64 KiB
  t.same([0, 1, 4096, 100 << 10, (124 << 10) + 5, 1016 << 10, MAX_REQUEST, 2 ** 40].map(requestCap), [MAX_REQUEST, MIN_REQUEST, MIN_REQUEST, 100 << 10, 124 << 10, 1016 << 10, MAX_REQUEST, MAX_REQUEST]);
  // with the default cap, main's plan
  t.same(planReads([{ first: 0, count: 1 }, { first: 255, count: 1 }], ps, DEVICES.hdd, undefined, 0), [{ offset: 0, length: MAX_REQUEST }]);
});

t.test('the C shim plans the same reads as src/readplan/coalesce.ts', async (t) => {
  const mk = spawnSync('make', ['-s', '-C', path.join(root, 'shim')], { encoding: 'utf8' });
  t.equal(mk.status, 0, `make: ${mk.stderr}`);
  const r = rng(7);
  const cases: Array<{ dev: string; cap: number; shift: number; size: number; runs: Run[] }> = [];
  // none, the benchmark's loop device, a virtio disk, odd and out-of-range ones, random
  const caps = [0, 512 << 10, 1016 << 10, 124 << 10, 4096, 3 << 20, 300_001];
  for (let i = 0; i < 3000; i++) {
    const shift = [9, 12, 12, 12, 14, 16, 20][Math.floor(r() * 7)]!;
    const pages = 1 + Math.floor(r() * (i % 10 === 0 ? 200_000 : 3000));
    const runs: Run[] = [];
    for (let k = Math.floor(r() * 60); k > 0; k--) {
      const first = Math.floor(r() * pages);
      runs.push({ first, count: 1 + Math.floor(r() * Math.min(r() < 0.1 ? 2000 : 40, pages - first)) });
    }
    // Sizes around the set's end, often cutting a run or a page.
    const size = Math.max(0, Math.floor((r() * 1.2 * pages) * 2 ** shift) - (r() < 0.5 ? Math.floor(r() * 2 ** shift) : 0));
    const cap = i % 8 < 7 ? caps[i % 8]! : Math.floor(r() * 1.5 * MAX_REQUEST);
    cases.push({ dev: DEVICE_CLASSES[i % 4]!, cap, shift, size, runs: normalizeRuns(runs) });
  }
  const input = cases.map((c) => `${c.dev} ${c.cap} ${c.shift} ${c.size} ${c.runs.length} ${c.runs.map((x) => `${x.first} ${x.count}`).join(' ')}\n`).join('');
  const run = spawnSync(path.join(root, 'build', 'native', 'epf-plan'), [], { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  t.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n');
  let mismatches = 0;
  let merged = 0;
  let split = 0;
  let capped = 0;
  cases.forEach((c, i) => {
    const plan = planReads(c.runs, 2 ** c.shift, DEVICES[c.dev as keyof typeof DEVICES], c.size, c.cap);
    const cap = requestCap(c.cap);
    if (plan.length < c.runs.length) merged++;
    if (plan.some((q) => q.length === MAX_REQUEST)) split++;
    if (cap < MAX_REQUEST && plan.some((q) => q.length === cap)) capped++;
    for (const q of plan) if (q.length > cap || q.offset + q.length > c.size || q.length <= 0) t.fail(`case ${i}: bad request ${JSON.stringify(q)}`);
    const want = plan.map((q) => `${q.offset}+${q.length}`).join(' ');
    if (lines[i] !== want && mismatches++ < 5) t.fail(`case ${i} (${c.dev}, cap ${c.cap}, shift ${c.shift}, size ${c.size}): C ${lines[i]?.slice(0, 200)} TS ${want.slice(0, 200)}`);
  });
  t.equal(mismatches, 0, 'C and TypeScript agree on every case');
  t.ok(merged > 100 && split > 20 && capped > 100, `merges (${merged}), 1 MiB splits (${split}) and requests at a smaller cap (${capped}) exercised`);
});
