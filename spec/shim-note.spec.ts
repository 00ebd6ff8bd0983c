import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { NoteDecodeError, PrefetchNote, decodeNote, encodeNote } from '../src/note/codec';
import { crc32 } from '../src/note/crc32';
import * as F from '../src/note/format';
import { Run, normalizeRuns } from '../src/note/pageset';
import { prng as rng } from './helpers/prng';

const shim = path.join(__dirname, '..', 'shim');

t.test('the C header repeats the TypeScript constants', async (t) => {
  const header = fs.readFileSync(path.join(shim, 'epf_note.h'), 'utf8');
  const defines = new Map<string, string>();
  for (const m of header.matchAll(/^#define EPF_(\w+) (.+)$/gm)) defines.set(m[1]!, m[2]!.trim());
  const num = (name: string): number => {
    const v = defines.get(name);
    if (v === undefined) throw new Error(`EPF_${name} missing from epf_note.h`);
    const shift = /^\((\d+)u << (\d+)\)$/.exec(v);
    return shift ? Number(shift[1]) * 2 ** Number(shift[2]) : Number(v.replace(/u$/, ''));
  };
  t.equal(defines.get('NOTE_NAME'), JSON.stringify(F.NOTE_NAME));
  t.equal(defines.get('SECTION_NAME'), JSON.stringify(F.SECTION_NAME));
  const pairs: Array<[string, number]> = [
    ['NOTE_NAMESZ', F.NOTE_NAMESZ], ['NT_ELFPREFETCH', F.NT_ELFPREFETCH], ['FORMAT_VERSION', F.FORMAT_VERSION],
    ['HEADER_SIZE', F.HEADER_SIZE], ['RECORD_HEADER_SIZE', F.RECORD_HEADER_SIZE], ['REC_OBJECT', F.REC_OBJECT],
    ['REC_PAGES', F.REC_PAGES], ['OBJECT_FIXED_SIZE', F.OBJECT_FIXED_SIZE], ['PAGES_FIXED_SIZE', F.PAGES_FIXED_SIZE],
    ['ENC_BITMAP', F.ENC_BITMAP], ['ENC_RUNS', F.ENC_RUNS], ['FLAG_EMPTY', F.FLAG_EMPTY], ['MIN_PAGE_SHIFT', F.MIN_PAGE_SHIFT],
    ['MAX_PAGE_SHIFT', F.MAX_PAGE_SHIFT], ['MAX_DESC_SIZE', F.MAX_DESC_SIZE], ['MAX_RECORDS', F.MAX_RECORDS],
    ['MAX_OBJECTS', F.MAX_OBJECTS], ['MAX_PAGE_COUNT', F.MAX_PAGE_COUNT], ['MAX_BUILD_ID', F.MAX_BUILD_ID],
    ['MAX_PATH', F.MAX_PATH], ['MAX_SET_NAME', F.MAX_SET_NAME],
  ];
  for (const [name, value] of pairs) t.equal(num(name), value, `EPF_${name}`);
});

t.test('the field offsets are named the same on both sides, with the same values', async (t) => {
  const header = fs.readFileSync(path.join(shim, 'epf_note.h'), 'utf8');
  const OFFSET = /^(H|R|O|P|RUNS|RUN|L)_[A-Z0-9_]+$/;
  const c = new Map<string, number>();
  for (const m of header.matchAll(/^#define EPF_(\w+) (\d+)$/gm)) if (OFFSET.test(m[1]!)) c.set(m[1]!, Number(m[2]));
  const ts = new Map(Object.entries(F).filter(([k, v]) => OFFSET.test(k) && typeof v === 'number') as Array<[string, number]>);
  t.ok(ts.size >= 30, `${ts.size} named offsets in src/note/format.ts`);
  t.same([...c.keys()].sort(), [...ts.keys()].sort(), 'the same names in epf_note.h and format.ts');
  for (const [name, value] of ts) t.equal(c.get(name), value, `EPF_${name} = ${value}`);
  // each fixed part ends where its variable part starts
  t.equal(F.O_BUILD_ID, F.OBJECT_FIXED_SIZE);
  t.equal(F.P_NAME, F.PAGES_FIXED_SIZE);
  t.equal(F.L_FLAGS + 8, F.L_ENTRY_SIZE);
});

function randomNote(r: () => number): PrefetchNote {
  const objects = 1 + Math.floor(r() * 3);
  return {
    version: 1,
    pageShift: 12,
    empty: false,
    objects: Array.from({ length: objects }, (_, i) => {
      const pageCount = 1 + Math.floor(r() * 3000);
      const runs: Run[] = [];
      for (let k = Math.floor(r() * 40); k > 0; k--) {
        const first = Math.floor(r() * pageCount);
        runs.push({ first, count: 1 + Math.floor(r() * Math.min(64, pageCount - first)) });
      }
      return {
        path: i === 0 ? '' : `/usr/lib/lib${i}.so`,
        buildId: Uint8Array.from({ length: Math.floor(r() * 21) }, () => Math.floor(r() * 256)),
        layoutDigest: BigInt(Math.floor(r() * 2 ** 32)) << 20n,
        contentSha256: new Uint8Array(32),
        pageSets: [{ name: 'default', pageCount, runs: normalizeRuns(runs).filter((x) => x.first + x.count <= pageCount) }],
      };
    }),
  };
}

/** Flips, truncations and length rewrites; the checksum is recomputed half the time so the deeper checks run. */
function mutate(desc: Uint8Array, r: () => number): Uint8Array {
  let d = Uint8Array.from(desc);
  const kind = Math.floor(r() * 4);
  if (kind === 0) d[Math.floor(r() * d.length)]! ^= 1 << Math.floor(r() * 8);
  else if (kind === 1) d = d.subarray(0, Math.floor(r() * d.length));
  else if (kind === 2) {
    const at = Math.floor(r() * Math.max(1, d.length - 4)) & ~3;
    new DataView(d.buffer, d.byteOffset).setUint32(Math.min(at, d.length - 4), [0, 1, 0xffff, 0xffffffff, Math.floor(r() * 5000)][Math.floor(r() * 5)]!, true);
  } else {
    for (let k = 0; k < 4; k++) d[Math.floor(r() * d.length)] = Math.floor(r() * 256);
  }
  if (r() < 0.5 && d.length >= F.HEADER_SIZE) {
    const used = new DataView(d.buffer, d.byteOffset).getUint32(F.H_USED_SIZE, true);
    if (used >= F.HEADER_SIZE && used <= d.length) {
      const z = Uint8Array.from(d.subarray(0, used));
      z.fill(0, F.H_CRC32, F.H_CRC32 + 4);
      new DataView(d.buffer, d.byteOffset).setUint32(F.H_CRC32, crc32(z), true);
    }
  }
  return d;
}

function describe(note: PrefetchNote): string {
  const parts = note.objects.map((o, i) => {
    const set = o.pageSets.find((s) => s.name === 'default');
    return ` o${i}:${Buffer.from(o.buildId).toString('hex')}:${(set?.runs ?? []).map((x) => ` ${x.first}+${x.count}`).join('')}`;
  });
  return `ok objects=${note.objects.length}${parts.join('')}`;
}

t.test('the C parser and the TypeScript codec agree on valid and damaged notes', async (t) => {
  const dir = t.testdir();
  const exe = path.join(dir, 'epf_dump');
  const cc = spawnSync('gcc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', path.join(shim, 'epf_note.c'), path.join(shim, 'epf_dump.c'), '-o', exe], { encoding: 'utf8' });
  t.equal(cc.status, 0, `compiles with sanitizers: ${cc.stderr}`);
  const r = rng(20261125);
  const cases: Uint8Array[] = [];
  for (let i = 0; i < 4000; i++) {
    const desc = encodeNote(randomNote(r));
    cases.push(i % 4 === 0 ? desc : mutate(desc, r));
  }
  const input = Buffer.concat(cases.flatMap((c) => [Buffer.from(Uint32Array.of(c.length).buffer), Buffer.from(c)]));
  const run = spawnSync(exe, [], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  t.equal(run.status, 0, `no crash or sanitizer report: ${run.stderr.slice(0, 2000)}`);
  const lines = run.stdout.trimEnd().split('\n');
  t.equal(lines.length, cases.length);
  let valid = 0;
  let mismatches = 0;
  cases.forEach((c, i) => {
    let expected: string;
    try {
      expected = describe(decodeNote(c));
      valid++;
    } catch (e) {
      if (!(e instanceof NoteDecodeError)) throw e;
      expected = 'error';
    }
    const got = lines[i]!.startsWith('error') ? 'error' : lines[i]!;
    if (got !== expected && mismatches++ < 5) t.fail(`case ${i}: C says ${got.slice(0, 200)}, TypeScript ${expected.slice(0, 200)} (${Buffer.from(c).toString('hex').slice(0, 400)})`);
  });
  t.equal(mismatches, 0, 'no disagreement');
  t.ok(valid > 1000 && valid < cases.length, `both outcomes exercised (${valid} valid of ${cases.length})`);
});
