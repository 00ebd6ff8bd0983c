// End-to-end: every fixture of samples/build.sh (7 machines, PIE, non-PIE,
// static, shared library, odd layouts, Go) still runs the same after
// `elfprefetch stamp`, after a second stamp (which changes no byte) and after
// binutils strip; verify and readelf accept the result, the stamp keeps the contract of
// docs/DESIGN.md, and `remove` gives back the original bytes.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  copyFixture,
  type Fixture,
  loadFixtures,
  repoRoot,
  runCommand,
  runFixtureAsync,
  type RunResult,
} from './helpers/fixtures';
import { checkInvisible } from './helpers/contract';

type Test = tap.Test;

/** The built CLI (ELFPREFETCH_CLI may name another, e.g. to try the spec). */
const cli = process.env.ELFPREFETCH_CLI
  ? path.resolve(process.env.ELFPREFETCH_CLI)
  : path.join(repoRoot, 'dist', 'cli', 'main.js');

const EXIT_OK = 0;
const EXIT_REFUSED = 3; // stamp: no safe place for the note
const EXIT_ABSENT = 10; // verify: no note
const EXIT_STALE = 11; // verify: the note no longer matches the file

/** The first four pages, or all of a smaller file: `stamp` refuses pages beyond the end. */
function pagesFor(file: string): string {
  const pages = Math.ceil(fs.statSync(file).size / 4096);
  return `0-${Math.min(3, pages - 1)}`;
}

// Fixtures run under qemu and each step starts a process: two at a time
// keeps the file well under 3 minutes on 2 cores.
t.jobs = Number(process.env.ELFPREFETCH_SPEC_JOBS ?? 2);

function diag(r: RunResult): Record<string, unknown> {
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout.slice(0, 2000),
    stderr: r.stderr.slice(0, 2000),
    ...(r.error ? { error: r.error.message } : {}),
  };
}

function elfprefetch(...args: string[]): Promise<RunResult> {
  return runCommand([process.execPath, cli, ...args], { cwd: repoRoot });
}

/** `elfprefetch stamp FILE --pages 0-3` (fewer for a small file); true if it exited 0. */
async function stamp(t: Test, file: string, what: string): Promise<boolean> {
  const r = await elfprefetch('stamp', file, '--pages', pagesFor(file));
  if (r.status === EXIT_OK) {
    t.pass(`stamp ${what}`);
    return true;
  }
  t.fail(
    r.status === EXIT_REFUSED
      ? `stamp ${what}: refused (exit 3: no safe place for the note)`
      : `stamp ${what}: exit ${r.status}`,
    diag(r),
  );
  return false;
}

/** `elfprefetch verify FILE`, whose exit status must be one of `allowed`. */
async function verify(t: Test, file: string, what: string, allowed: number[]): Promise<void> {
  const r = await elfprefetch('verify', file);
  t.ok(
    r.status !== null && allowed.includes(r.status),
    `verify ${what} exits ${allowed.join(' or ')} (got ${r.status})`,
    diag(r),
  );
}

/** The program runs as the original did. */
async function runsLikeOriginal(t: Test, f: Fixture, exe: string, what: string): Promise<void> {
  const r = await runFixtureAsync(f, exe);
  t.equal(r.status, f.status, `${what} exits ${f.status}`, diag(r));
  t.equal(r.stdout, f.expected, `${what} prints the same output`);
}

/**
 * Whether the section header table lies inside a PT_LOAD's file content (Go's linker puts it
 * right after the program headers): a stamp then writes a new table at the end and the old one
 * stays, loaded bytes being untouchable, so `remove` cannot put e_shoff back, and strip, which
 * rewrites the table in place, changes loaded bytes.
 */
async function tablesInsideLoad(file: string): Promise<boolean> {
  const r = await runCommand(['readelf', '-hlW', file]);
  const shoff = Number(/Start of section headers:\s+(\d+)/.exec(r.stdout)?.[1] ?? -1);
  return [...r.stdout.matchAll(/^\s+LOAD\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/gm)].some((m) => shoff >= parseInt(m[1]!, 16) && shoff < parseInt(m[1]!, 16) + parseInt(m[2]!, 16));
}

/** `elfprefetch remove` of the stamped file gives back the file it was stamped from, byte for byte. */
async function removeGivesBack(t: Test, stamped: string, original: string, what: string): Promise<void> {
  const out = `${stamped}.removed`;
  const r = await elfprefetch('remove', stamped, '-o', out);
  t.equal(r.status, EXIT_OK, `remove ${what} exits 0`, diag(r));
  if (await tablesInsideLoad(original)) {
    await checkInvisible(t, out, original, `${what} with its note removed`, { noted: false });
    t.equal((await elfprefetch('verify', out)).status, EXIT_ABSENT, `${what} with its note removed has no note`);
  } else {
    t.ok(fs.existsSync(out) && fs.readFileSync(out).equals(fs.readFileSync(original)), `remove ${what} gives back the original bytes`);
  }
  fs.rmSync(out, { force: true });
}

async function checkFixture(t: Test, f: Fixture): Promise<void> {
  const orig = await runFixtureAsync(f);
  t.equal(orig.status, f.status, `original exits ${f.status}`, diag(orig));
  t.equal(orig.stdout, f.expected, 'original prints the expected output');

  if (!fs.existsSync(cli)) {
    t.fail(`${path.relative(repoRoot, cli)} is missing: build the CLI first (npm run build)`);
    return;
  }
  const dir = t.testdir();

  // Stamp a copy of the exe; the copy of the library (if any) stays as built.
  const copy = copyFixture(f, path.join(dir, 'stamped'));
  if (!(await stamp(t, copy.exe, 'the exe'))) return;
  await verify(t, copy.exe, 'the stamped exe', [EXIT_OK]);
  await runsLikeOriginal(t, f, copy.exe, 'the stamped exe');
  await checkInvisible(t, copy.exe, f.path, 'the stamped exe');
  await removeGivesBack(t, copy.exe, f.path, 'the stamped exe');

  // A second stamp with the same pages changes nothing.
  const once = fs.readFileSync(copy.exe);
  if (await stamp(t, copy.exe, 'the exe again')) {
    t.ok(once.equals(fs.readFileSync(copy.exe)), 'stamping again leaves the same bytes');
  }

  // The libraries: stamp them too, and run the stamped exe against them.
  for (const lib of copy.libs) {
    const base = path.basename(lib);
    const original = f.libs.find((l) => path.basename(l) === base) ?? lib;
    if (!(await stamp(t, lib, base))) return;
    await verify(t, lib, `the stamped ${base}`, [EXIT_OK]);
    await checkInvisible(t, lib, original, `the stamped ${base}`);
    await removeGivesBack(t, lib, original, `the stamped ${base}`);
    const libOnce = fs.readFileSync(lib);
    if (await stamp(t, lib, `${base} again`)) {
      t.ok(libOnce.equals(fs.readFileSync(lib)), `stamping ${base} again leaves the same bytes`);
    }
  }
  if (copy.libs.length > 0) {
    await runsLikeOriginal(t, f, copy.exe, 'the stamped exe with the stamped libraries');
  }

  // strip (of this machine's binutils) on copies of the stamped files.
  const strippedDir = path.join(dir, 'stripped');
  fs.mkdirSync(strippedDir);
  const stripped: string[] = [];
  const loadedTables = await tablesInsideLoad(f.path);
  for (const file of [copy.exe, ...copy.libs]) {
    const to = path.join(strippedDir, path.basename(file));
    fs.copyFileSync(file, to);
    fs.chmodSync(to, fs.statSync(file).mode & 0o7777);
    const r = await runCommand([f.strip, to]);
    t.equal(r.status, 0, `${f.strip} ${path.basename(file)} exits 0`, diag(r));
    stripped.push(to);
  }
  await runsLikeOriginal(t, f, stripped[0], 'the stripped stamped exe');
  for (const [i, file] of stripped.entries()) {
    // strip moves our section behind the last PT_LOAD, where loaders look too, and changes no
    // loaded byte, unless the section headers themselves are loaded (Go) or strip rewrites a
    // program header that names a non-allocated section it moved (riscv64's
    // PT_RISCV_ATTRIBUTES): the table is loaded, so the content digest sees it. The loaders'
    // check (build-id and the PT_LOADs) still holds then.
    const phdrsMoved = (await runCommand(['readelf', '-lW', file])).stdout.split('Section to')[0] !== (await runCommand(['readelf', '-lW', [copy.exe, ...copy.libs][i]!])).stdout.split('Section to')[0];
    await verify(t, file, `the stripped stamped ${path.basename(file)}`, loadedTables || phdrsMoved ? [EXIT_OK, EXIT_STALE] : [EXIT_OK]);
  }
}

const fixtures = loadFixtures();
t.ok(fixtures.length > 0, `samples/build.sh made ${fixtures.length} fixtures`);
for (const f of fixtures) {
  // The runner says how: natively, or under qemu (i386 too, where the kernel cannot run it).
  t.test(`${f.name} (${f.run[0] === f.path ? 'native' : path.basename(f.run[0]!)})`, async (t) => checkFixture(t, f));
}
