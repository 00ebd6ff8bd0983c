/*
 * Compatibility survey (docs/COMPATIBILITY.md): stamps a copy of every ELF executable and
 * shared library under the roots with the default placement and `--fallback sidecar`, and
 * checks every stamped copy against its original with readelf and the kernel's first-page
 * build-id reader (spec/helpers/contract.ts), so the page reports contract violations found by
 * an independent parser, not by the planner that promises to avoid them.
 *
 *   npx tsc -p . && npx ts-node --transpile-only bench/compat-survey.ts [--jobs N] [--markdown FILE] ROOT...
 *
 * ROOT defaults to /usr/bin /usr/sbin /usr/lib. Symlinks are followed, each file counted once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfFormatError, PlacementRefusedError } from '../src/elf/errors';
import { stampFile } from '../src/ops/stamp';
import { writeSidecar } from '../src/ops/sidecar';
import { invisibleViolations } from '../spec/helpers/contract';

interface Result {
  path: string;
  kind: 'in-file' | 'sidecar' | 'refused' | 'malformed' | 'error';
  strategy?: string;
  why?: string;
  violations?: string[];
}

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const jobs = Number(opt('--jobs') ?? 1);
const markdown = opt('--markdown');
const roots = args.length ? args : ['/usr/bin', '/usr/sbin', '/usr/lib'];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-survey.'));

/** Every regular ELF file of type EXEC or DYN under the roots, each (dev, inode) once. */
function walk(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const head = Buffer.alloc(18);
  const visit = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(p).sort();
      } catch {
        return;
      }
      for (const n of names) visit(path.join(p, n));
      return;
    }
    if (!st.isFile() || st.size < 64) return;
    try {
      const fd = fs.openSync(p, 'r');
      fs.readSync(fd, head, 0, 18, 0);
      fs.closeSync(fd);
    } catch {
      return;
    }
    if (head.readUInt32BE(0) !== 0x7f454c46) return;
    const type = head[5] === 2 ? head.readUInt16BE(16) : head.readUInt16LE(16);
    // A separate debug file (under /usr/lib/debug) is not loaded: stamp-tree skips them too.
    if ((type === 2 || type === 3) && !p.includes('/usr/lib/debug/')) out.push(p);
  };
  for (const r of roots) visit(path.resolve(r));
  return out;
}

const req = { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 1 }] }] };

function survey(file: string, i: number): Result {
  const out = path.join(work, `${i}-${path.basename(file)}`);
  try {
    const r = stampFile(file, req, { output: out, fsync: false });
    const violations = invisibleViolations(out, file);
    return { path: file, kind: 'in-file', strategy: r.strategy, violations };
  } catch (e) {
    if (e instanceof PlacementRefusedError) {
      try {
        writeSidecar(file, req, path.join(work, 'sidecar'), { fsync: false });
        return { path: file, kind: 'sidecar', why: e.reasons.join('; ') };
      } catch (s) {
        return { path: file, kind: 'refused', why: `${e.reasons.join('; ')}; sidecar: ${(s as Error).message}` };
      }
    }
    if (e instanceof ElfFormatError) return { path: file, kind: 'malformed', why: e.message };
    return { path: file, kind: 'error', why: (e as Error).message };
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** Reasons without their numbers, so like reasons count together. */
const shape = (s: string): string => s.replace(/0x[0-9a-f]+/gi, 'N').replace(/\d+/g, 'N');

function main(): void {
  const files = walk();
  const results: Result[] = [];
  const t0 = Date.now();
  void jobs;
  files.forEach((f, i) => {
    results.push(survey(f, i));
    if (process.stderr.isTTY && i % 50 === 0) process.stderr.write(`\r${i}/${files.length}`);
  });
  const count = (k: Result['kind']): number => results.filter((r) => r.kind === k).length;
  const pct = (n: number): string => `${((100 * n) / Math.max(1, results.length)).toFixed(1)}%`;
  const strategies = new Map<string, number>();
  for (const r of results) if (r.strategy) strategies.set(r.strategy, (strategies.get(r.strategy) ?? 0) + 1);
  const reasons = new Map<string, number>();
  for (const r of results) if (r.kind !== 'in-file') reasons.set(`${r.kind}: ${shape(r.why ?? '')}`, (reasons.get(`${r.kind}: ${shape(r.why ?? '')}`) ?? 0) + 1);
  const violating = results.filter((r) => r.violations?.length);
  const lines = [
    `| ${roots.join(' ')} | files | share |`,
    '|---|---|---|',
    `| EXEC and DYN files | ${results.length} | |`,
    `| note in the file, contract kept | ${count('in-file')} | ${pct(count('in-file'))} |`,
    ...[...strategies].map(([s, n]) => `| &nbsp;&nbsp;placement \`${s}\` | ${n} | ${pct(n)} |`),
    `| note in a sidecar (\`--fallback sidecar\`) | ${count('sidecar')} | ${pct(count('sidecar'))} |`,
    `| refused (no sidecar either) | ${count('refused')} | ${pct(count('refused'))} |`,
    `| malformed (exit 2) | ${count('malformed')} | ${pct(count('malformed'))} |`,
    `| errors | ${count('error')} | ${pct(count('error'))} |`,
    `| **contract violations found by readelf** | **${violating.length}** | |`,
  ];
  const why = [...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `- ${n} × ${r}`);
  const text = `${lines.join('\n')}\n\nWhy a file is not stamped in place:\n${why.length ? why.join('\n') : '- (none)'}\n`;
  console.log(text);
  for (const r of violating.slice(0, 20)) console.log(`VIOLATION ${r.path}: ${r.violations!.join('; ')}`);
  for (const r of results.filter((x) => x.kind === 'error').slice(0, 20)) console.log(`ERROR ${r.path}: ${r.why}`);
  for (const r of results.filter((x) => x.kind === 'sidecar' || x.kind === 'refused').slice(0, 40)) console.log(`${r.kind.toUpperCase()} ${r.path}`);
  console.log(`${results.length} files in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (markdown) fs.writeFileSync(markdown, text);
  fs.rmSync(work, { recursive: true, force: true });
  process.exitCode = violating.length || count('error') ? 1 : 0;
}

main();
