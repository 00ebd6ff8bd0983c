// Selection (src/profile/merge.ts, src/profile/select.ts) on hand-made profiles: merging runs, the share threshold,
// the byte budget and its order, and the errors.
import t from 'tap';
import { ProfileSchema, type Profile } from '../src/profile/schema';
import { mergeProfiles, pageCounts } from '../src/profile/merge';
import { selectPages } from '../src/profile/select';
import { parseSize } from '../src/profile/size';

const obj = (path: string, pages: string, counts?: number[], extra: Partial<Profile['objects'][number]> = {}) => ({
  path,
  buildId: 'ab',
  layoutDigest: '0123456789abcdef',
  size: 100 * 4096,
  main: false,
  pages,
  ...(counts ? { counts } : {}),
  set: 'default',
  ...extra,
});

const profile = (runs: number, objects: ReturnType<typeof obj>[], pageSize = 4096): Profile =>
  ProfileSchema.parse({ format: 'elfprefetch-profile', version: 1, pageSize, runs, objects });

/** Selected pages of each object as `path: ranges`. */
const pagesOf = (p: Profile): Record<string, string> => Object.fromEntries(p.objects.map((o) => [o.path, o.pages]));

t.test('merging adds up runs and per-page counts', async (t) => {
  const a = profile(2, [obj('/p', '0-3', [2, 2, 1, 1], { main: true }), obj('/l', '5', [2])]);
  const b = profile(1, [obj('/p', '2-4', undefined, { main: true })]); // no counts: every page in its one run
  const m = mergeProfiles([a, b]);
  t.equal(m.runs, 3);
  const p = m.objects.find((o) => o.path === '/p')!;
  t.equal(p.pages, '0-4');
  t.same(p.counts, [2, 2, 2, 2, 1]);
  t.ok(p.main);
  t.equal(m.objects[0]!.path, '/p', 'the program first');
  t.same(pageCounts(m.objects.find((o) => o.path === '/l')!, m.runs), new Map([[5, 2]]));
});

t.test('objects of another build stay apart', async (t) => {
  const a = profile(1, [obj('/l', '1', [1])]);
  const b = profile(1, [obj('/l', '1', [1], { buildId: 'cd' })]);
  const m = mergeProfiles([a, b]);
  t.equal(m.objects.length, 2);
});

t.test('profiles with different page sizes do not merge', async (t) => {
  t.throws(() => mergeProfiles([profile(1, [obj('/p', '1')]), profile(1, [obj('/p', '1')], 16384)]), /16384/);
  t.throws(() => mergeProfiles([]), /no profiles/);
});

t.test('the share threshold', async (t) => {
  // 4 runs: page 0 in 4, 1 in 3, 2 in 2, 3 in 1
  const p = profile(4, [obj('/p', '0-3', [4, 3, 2, 1], { main: true })]);
  t.equal(pagesOf(selectPages(p, { minShare: 0 }).profile)['/p'], '0-3', '0 keeps every page touched');
  t.equal(pagesOf(selectPages(p, { minShare: 0.25 }).profile)['/p'], '0-3');
  t.equal(pagesOf(selectPages(p, { minShare: 0.26 }).profile)['/p'], '0-2');
  t.equal(pagesOf(selectPages(p, { minShare: 0.5 }).profile)['/p'], '0-2', 'half: 2 of 4 is enough');
  t.equal(pagesOf(selectPages(p, { minShare: 0.75 }).profile)['/p'], '0-1');
  t.equal(pagesOf(selectPages(p, { minShare: 1 }).profile)['/p'], '0', '1: every run');
  // thirds do not fail on rounding: 1/3 of 3 runs is one run
  const q = profile(3, [obj('/p', '0-2', [1, 2, 3], { main: true })]);
  t.equal(pagesOf(selectPages(q, { minShare: 1 / 3 }).profile)['/p'], '0-2');
  t.equal(pagesOf(selectPages(q, { minShare: 2 / 3 }).profile)['/p'], '1-2');
});

t.test('counts are kept for the kept pages; a library with nothing left goes, the program stays', async (t) => {
  const p = profile(2, [obj('/p', '0-1', [2, 1], { main: true }), obj('/l', '3', [1])]);
  const s = selectPages(p, { minShare: 1 });
  t.same(s.profile.objects.map((o) => [o.path, o.pages, o.counts]), [['/p', '0', [2]]]);
  t.same(s.profile.selection, { minShare: 1, merged: 2 });
  t.same(s.objects.map((o) => [o.path, o.touched, o.selected]), [['/p', 2, 1], ['/l', 1, 0]], 'the report still lists every object');
  const none = profile(2, [obj('/p', '0-1', [1, 1], { main: true })]);
  t.equal(selectPages(none, { minShare: 1 }).profile.objects[0]!.pages, '', 'the program stays with no pages');
  const libOnly = profile(2, [obj('/l', '0', [1])]);
  t.throws(() => selectPages(libOnly, { minShare: 1 }), /nothing selected/);
});

t.test('the budget keeps the most-used pages, ties in file order', async (t) => {
  const p = profile(3, [
    obj('/p', '0-5', [1, 3, 2, 3, 1, 2], { main: true }),
    obj('/l', '0-2', [3, 2, 1]),
  ]);
  const pick = (budget: number): Record<string, string> => pagesOf(selectPages(p, { minShare: 0, budget }).profile);
  // counts 3: /p 1, /p 3, /l 0; counts 2: /p 2, /p 5, /l 1; counts 1: /p 0, /p 4, /l 2
  t.same(pick(2 * 4096), { '/p': '1,3' }, 'two pages: the count-3 pages of the program first (object order)');
  t.same(pick(3 * 4096), { '/p': '1,3', '/l': '0' });
  t.same(pick(4 * 4096 + 100), { '/p': '1-3', '/l': '0' }, 'whole pages only; then count 2 in file order');
  t.same(pick(6 * 4096), { '/p': '1-3,5', '/l': '0-1' });
  t.same(pick(100 * 4096), { '/p': '0-5', '/l': '0-2' }, 'a budget above the total changes nothing');
  t.same(pick(0), { '/p': '' }, 'a zero budget leaves only the (empty) program');
  const s = selectPages(p, { minShare: 0, budget: 4 * 4096 });
  t.equal(s.overBudget, 5);
  t.same(s.objects.map((o) => o.bytes), [3 * 4096, 4096]);
  // share first, then budget
  t.same(pagesOf(selectPages(p, { minShare: 1, budget: 2 * 4096 }).profile), { '/p': '1,3' });
});

t.test('bad selections', async (t) => {
  const p = profile(1, [obj('/p', '0', [1], { main: true })]);
  t.throws(() => selectPages(p, { minShare: 1.5 }), /between 0 and 1/);
  t.throws(() => selectPages(p, { minShare: -0.1 }), /between 0 and 1/);
  t.throws(() => selectPages(p, { minShare: 0.5, budget: 1.5 }), /whole number/);
  const bad = profile(2, [obj('/p', '0-2', [1, 1], { main: true })]);
  t.throws(() => selectPages(bad, { minShare: 0 }), /2 counts for 3 pages/);
});

t.test('sizes', async (t) => {
  t.equal(parseSize('4096'), 4096);
  t.equal(parseSize('512K'), 512 * 1024);
  t.equal(parseSize('4M'), 4 << 20);
  t.equal(parseSize('4MiB'), 4 << 20);
  t.equal(parseSize('1.5g'), 1.5 * 2 ** 30);
  t.throws(() => parseSize('4 pages'), /not a size/);
  t.throws(() => parseSize('-1'), /not a size/);
});
