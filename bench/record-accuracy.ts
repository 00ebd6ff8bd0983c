/*
 * Recorder accuracy: precision and recall of every recording method, against the ground truth
 * of the touch sample (samples/touch: the file page of each function from nm and readelf) and,
 * on real programs, against the exact method (root only).
 *
 *   npm run build && npx ts-node --transpile-only bench/record-accuracy.ts [--repeat N] [--json]
 *
 * Methods (elfprefetch record --method M [--flags F]):
 *   naive      pagemap snapshot with fault-around on (--flags noaudit,nouffd)
 *   random     the same with MADV_RANDOM on every mapping (--flags noaudit,nouffd,random)
 *   preload    LD_PRELOAD recorder, fault-around off from its constructor on (--flags noaudit)
 *   pagemap    LD_AUDIT + LD_PRELOAD recorder, fault-around off from each object's mapping on
 *   exact      cold copies on a loop device with read-ahead off, page-cache tracepoint (root)
 *
 * Workloads of the touch sample: `sparse` touches every 17th of 256 code pages, every 9th of
 * 64 data pages, every 11th library code page from main and every 13th from the library's
 * constructor; `dense` touches code pages 0-63 and data pages 0-31. Real programs: node -e 0,
 * python3 -c pass, gcc -c on a small file (which runs cc1 and as), readelf -h /bin/true.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exactUnavailable } from '../src/record/exact';
import { record } from '../src/record/record';
import type { Profile } from '../src/profile/schema';
import { Score, SPARSE, buildTouch, compare, every, profilePages, score, spec, total } from '../spec/helpers/touch';

const argv = process.argv.slice(2);
const repeat = Number(argv[argv.indexOf('--repeat') + 1] || 1) || 1;
const asJson = argv.includes('--json');

const METHODS: Array<{ name: string; method: 'pagemap' | 'exact'; flags?: string[] }> = [
  { name: 'naive', method: 'pagemap', flags: ['noaudit', 'nouffd'] },
  { name: 'random', method: 'pagemap', flags: ['noaudit', 'nouffd', 'random'] },
  { name: 'preload', method: 'pagemap', flags: ['noaudit'] },
  { name: 'pagemap', method: 'pagemap' },
  { name: 'exact', method: 'exact' },
];

const noExact = exactUnavailable();
const methods = METHODS.filter((m) => m.method !== 'exact' || !noExact);

async function profileOf(cmd: string[], m: (typeof METHODS)[number], env?: NodeJS.ProcessEnv): Promise<{ profile: Profile; ms: number }> {
  const t0 = process.hrtime.bigint();
  const r = await record(cmd, { method: m.method, flags: m.flags, stdio: 'ignore', env: { ...process.env, ...env } });
  return { profile: r.profile, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

const f3 = (x: number): string => x.toFixed(3);

async function main(): Promise<void> {
  const truth = buildTouch();
  const touch = truth.exe.path;
  const out: Record<string, unknown> = { kernel: os.release(), repeat, exact: noExact ?? 'available' };
  const lines: string[] = [];
  const say = (s: string): void => {
    lines.push(s);
    if (!asJson) console.log(s);
  };

  const workloads = {
    sparse: {
      args: [`f:${spec(SPARSE.f)}`, `d:${spec(SPARSE.d)}`, `l:${spec(SPARSE.gMain)}`],
      env: { TOUCH_LIB_INIT: spec(SPARSE.gInit) },
      regions: (p: Profile): Score[] => {
        const pages = profilePages(p);
        const g = [...new Set([...SPARSE.gMain, ...SPARSE.gInit])];
        return [score(pages.get(touch), truth.exe.f, SPARSE.f), score(pages.get(touch), truth.exe.d, SPARSE.d), score(pages.get(truth.lib.path), truth.lib.g, g)];
      },
    },
    dense: {
      args: ['f:0-63', 'd:0-31'],
      env: {},
      regions: (p: Profile): Score[] => {
        const pages = profilePages(p);
        return [score(pages.get(touch), truth.exe.f, every(1, 0, 64)), score(pages.get(touch), truth.exe.d, every(1, 0, 32))];
      },
    },
  };
  say(`## touch sample against its symbol table (${repeat} run${repeat > 1 ? 's' : ''} each, Linux ${os.release()})`);
  say('');
  say('| workload | method | program code P / R | program data P / R | library code P / R | all P / R | ms |');
  say('|---|---|---|---|---|---|---|');
  const touchResults: unknown[] = [];
  for (const [wname, w] of Object.entries(workloads)) {
    for (const m of methods) {
      for (let i = 0; i < repeat; i++) {
        const { profile, ms } = await profileOf([touch, ...w.args], m, w.env);
        const r = w.regions(profile);
        const all = total(r);
        const cell = (s?: Score): string => (s ? `${f3(s.precision)} / ${f3(s.recall)} (${s.recorded} for ${s.truth})` : '-');
        say(`| ${wname} | ${m.name} | ${cell(r[0])} | ${cell(r[1])} | ${cell(r[2])} | ${f3(all.precision)} / ${f3(all.recall)} | ${ms.toFixed(0)} |`);
        touchResults.push({ workload: wname, method: m.name, regions: r, all, ms });
      }
    }
  }
  out.touch = touchResults;

  if (noExact) {
    say('');
    say(`(real programs need the exact method as the reference: ${noExact})`);
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-bench-'));
    const c = path.join(dir, 'x.c');
    fs.writeFileSync(c, '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n');
    const programs: Array<[string, string[]]> = [
      ['node -e 0', ['node', '-e', '0']],
      ['python3 -c pass', ['python3', '-c', 'pass']],
      ['gcc -c x.c', ['gcc', '-c', c, '-o', path.join(dir, 'x.o')]],
      ['readelf -h /bin/true', ['readelf', '-h', '/bin/true']],
    ];
    say('');
    say('## real programs against the exact method (all objects, all processes)');
    say('');
    say('| program | exact pages | method | pages | precision | recall | ms |');
    say('|---|---|---|---|---|---|---|');
    const real: unknown[] = [];
    for (const [name, cmd] of programs) {
      const ref = await profileOf(cmd, METHODS.find((m) => m.name === 'exact')!);
      const refPages = profilePages(ref.profile);
      const refCount = [...refPages.values()].reduce((n, s) => n + s.size, 0);
      for (const m of methods.filter((x) => x.method !== 'exact')) {
        const { profile, ms } = await profileOf(cmd, m);
        const s = compare(refPages, profilePages(profile));
        say(`| ${name} | ${refCount} | ${m.name} | ${s.recorded} | ${f3(s.precision)} | ${f3(s.recall)} | ${ms.toFixed(0)} |`);
        real.push({ program: name, method: m.name, ...s, ms, exactPages: refCount, exactMs: ref.ms });
      }
      const again = await profileOf(cmd, METHODS.find((m) => m.name === 'exact')!);
      const s = compare(refPages, profilePages(again.profile));
      say(`| ${name} | ${refCount} | exact (again) | ${s.recorded} | ${f3(s.precision)} | ${f3(s.recall)} | ${again.ms.toFixed(0)} |`);
      real.push({ program: name, method: 'exact-again', ...s, ms: again.ms });
    }
    out.real = real;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (asJson) console.log(JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
