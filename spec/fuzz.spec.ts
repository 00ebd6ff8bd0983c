// The bounded fuzz run of CI (docs/FUZZING.md): a fixed seed and a fixed number of mutated
// inputs from ../shared/corpus and build/samples through the reader and the writer, in
// worker threads with a time and heap limit per input. Then planted bugs (an exception, a
// hang, an out-of-memory) to show the harness does report each kind as a finding.
//
// ELFPREFETCH_FUZZ_INPUTS and ELFPREFETCH_FUZZ_SEED override the bounded run's size and seed.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PLANT_MARKER } from '../fuzz/check';
import { loadSeeds, runFuzz, FuzzOptions, Seed } from '../fuzz/harness';

const ROOT = path.resolve(__dirname, '..');
const INPUTS = Number(process.env.ELFPREFETCH_FUZZ_INPUTS ?? 3000);
const SEED = Number(process.env.ELFPREFETCH_FUZZ_SEED ?? 1);

/**
 * Findings already reported and not fixed yet (docs/FUZZING.md, "Findings"): listed by
 * signature so the bounded run stays green for them and fails on anything new. Remove an
 * entry when its bug is fixed.
 */
const KNOWN: RegExp[] = [];

const seeds = loadSeeds([path.resolve(ROOT, '../shared/corpus'), path.join(ROOT, 'build/samples')]);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-fuzz-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base = (over: Partial<FuzzOptions>): FuzzOptions => ({
  seeds,
  seed: SEED,
  inputs: 0,
  timeLimitMs: 2000,
  jobs: 2,
  maxOldGenerationSizeMb: 512,
  findingsDir: path.join(tmp, 'findings'),
  ...over,
});

t.test('bounded fuzz run: only success or the typed errors', { skip: seeds.length === 0 ? 'no seeds (../shared/corpus, build/samples)' : false }, async (t) => {
  const began = Date.now();
  const s = await runFuzz(base({ inputs: INPUTS, findingsDir: path.join(tmp, 'bounded') }));
  t.comment(`${s.inputs} inputs from ${s.seeds} seeds in ${((Date.now() - began) / 1000).toFixed(1)} s: ${JSON.stringify(s.outcomes)} ${JSON.stringify(s.strategies)}`);
  t.equal(s.inputs, INPUTS, 'every input was checked');
  t.ok(s.outcomes.malformed > 0 && s.outcomes.stamped > 0 && s.outcomes.refused > 0, 'the mutations reach the reader and every outcome of the writer');
  const unknown = Object.entries(s.signatures).filter(([sig]) => !KNOWN.some((k) => k.test(sig)));
  const known = Object.entries(s.signatures).filter(([sig]) => KNOWN.some((k) => k.test(sig)));
  t.same(unknown.map(([sig, v]) => `${v.count}x ${sig} (${v.files[0]})`), [], 'no new findings');
  t.same(known.map(([sig, v]) => `${v.count}x ${sig}`), [], 'no findings at all', { todo: known.length ? 'known findings, see docs/FUZZING.md' : false });
});

const marker = (s: Seed): Seed => {
  const b = new Uint8Array(s.bytes.length + PLANT_MARKER.length);
  b.set(s.bytes);
  b.set(Buffer.from(PLANT_MARKER), s.bytes.length);
  return { name: `${s.name} + planted marker`, bytes: b };
};

t.test('planted bugs are findings', { skip: seeds.length === 0 ? 'no seeds' : false }, async (t) => {
  const good = seeds.find((s) => s.bytes.length < 1 << 20 && s.bytes[0] === 0x7f)!;
  const cases = [
    { plant: 'typeerror', kind: 'reader-exception', message: /TypeError: planted bug/, over: {} },
    { plant: 'hang', kind: 'hang', message: /no answer within 1500 ms/, over: { timeLimitMs: 1500 } },
    { plant: 'oom', kind: 'oom', message: /memory/i, over: { maxOldGenerationSizeMb: 48 } },
  ] as const;
  for (const c of cases) {
    await t.test(c.plant, async (t) => {
      const dir = path.join(tmp, `plant-${c.plant}`);
      // The clean seed first warms the worker up; inputs after the planted one show the run goes on.
      const s = await runFuzz(base({ inputs: 10, jobs: 1, plant: c.plant, extra: [good, marker(good)], findingsDir: dir, ...c.over }));
      t.equal(s.inputs, 12, 'the run went on after the finding');
      t.ok((s.findingsByKind[c.kind] ?? 0) >= 1, `a ${c.kind} finding`);
      const sig = Object.values(s.signatures).find((v) => v.kind === c.kind && c.message.test(v.message));
      t.ok(sig, `its message matches ${c.message}`);
      const saved = (sig?.files ?? []).filter((f) => Buffer.from(fs.readFileSync(f)).includes(PLANT_MARKER));
      t.equal(saved.length, 1, 'the planted input is saved');
      t.ok(saved.every((f) => fs.existsSync(f.replace(/\.elf$/, '.json'))), 'with its error');
    });
  }
});
