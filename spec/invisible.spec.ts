// A stamp is invisible to every other consumer of ELF files (docs/DESIGN.md, "What a stamp
// keeps"), judged with the real tools a distribution uses: a debug file split off before the
// stamp still symbolizes (eu-addr2line, gdb, eu-unstrip), a core dump of the stamped program
// names its build-id with the binary moved away and unwinds with symbols (eu-stack, gdb), the
// kernel's first-page build-id reader finds the build-id, eu-strip round trips as for the
// original, and `remove` gives back the original bytes. Files with references past the last
// section keep them pointing past it; a section claiming bytes past the end is refused.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './helpers/fixtures';
import { checkInvisible, firstPageBuildId } from './helpers/contract';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');

const SOURCE = `#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int depth(int x) { if (x > 1) abort(); return x * 2; }
int main(int argc, char **argv) { (void)argv; printf("%d\\n", depth(argc)); return 0; }
`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string[], opts: { cwd?: string } = {}): Run {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: opts.cwd, maxBuffer: 64 << 20, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

const ep = (...args: string[]): Run => run([process.execPath, cli, ...args]);

/** The address of a function from the unstripped program's symbol table. */
function addressOf(file: string, name: string): string {
  const m = new RegExp(`^([0-9a-f]+) T ${name}$`, 'm').exec(run(['nm', file]).stdout);
  if (!m) throw new Error(`no symbol ${name} in ${file}`);
  return '0x' + m[1]!.replace(/^0+/, '');
}

function buildId(file: string): string {
  return /Build ID: ([0-9a-f]+)/.exec(run(['readelf', '-n', file]).stdout)?.[1] ?? '';
}

/** Runs `prog 1 2` (which aborts) with core dumps on; the core's path. */
function coreOf(prog: string, dir: string): string | undefined {
  fs.mkdirSync(dir, { recursive: true });
  run(['sh', '-c', `ulimit -c unlimited; exec "${prog}" 1 2`], { cwd: dir });
  const core = fs.readdirSync(dir).find((f) => /^core(\.\d+)?$/.test(f));
  return core && path.join(dir, core);
}

/** Function names of the frames eu-stack unwinds from a core. */
function frames(core: string, exe: string): string[] {
  const r = run(['eu-stack', '--core', core, '-e', exe]);
  return [...r.stdout.matchAll(/^#\d+\s+0x[0-9a-f]+\s+(\S+)/gm)].map((m) => m[1]!);
}

const pattern = fs.existsSync('/proc/sys/kernel/core_pattern') ? fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim() : '';
const coresHere = pattern !== '' && !pattern.startsWith('|');

for (const kind of ['pie', 'nopie']) {
  t.test(`a debug file split off before the stamp (${kind})`, async (t) => {
    const dir = t.testdir({ 'crash.c': SOURCE });
    const src = path.join(dir, 'crash.c');
    const full = path.join(dir, 'crash');
    const cc = run(['gcc', '-g', '-O0', kind === 'pie' ? '-fPIE' : '-fno-PIE', kind === 'pie' ? '-pie' : '-no-pie', '-Wl,--build-id=sha1', '-o', full, src]);
    t.equal(cc.status, 0, 'gcc', cc);
    // As dh_strip and find-debuginfo do: the debug file first, the stamp after.
    const stripped = path.join(dir, 'crash.stripped');
    const debug = path.join(dir, 'crash.debug');
    t.equal(run(['eu-strip', '-f', debug, '-o', stripped, full]).status, 0, 'eu-strip -f');
    const stamped = path.join(dir, 'crash.stamped');
    const s = ep('stamp', stripped, '--pages', '0-1', '-o', stamped);
    t.equal(s.status, 0, 'stamp the stripped program', s);
    t.match(s.stdout, /stamped \((gap|after-load)\)/, 'with a placement that moves nothing');
    await checkInvisible(t, stamped, stripped, 'the stamped program');

    const at = addressOf(full, 'depth');
    const expected = run(['eu-addr2line', '-f', '-e', stripped, at]).stdout;
    t.match(expected, /^depth\n.*crash\.c:3/m, 'eu-addr2line symbolizes the unstamped program through its debug file');
    t.equal(run(['eu-addr2line', '-f', '-e', stamped, at]).stdout, expected, 'eu-addr2line: the same for the stamped program');

    const unstripped = path.join(dir, 'crash.unstripped');
    const u = run(['eu-unstrip', '-o', unstripped, stamped, debug]);
    t.equal(u.status, 0, 'eu-unstrip puts the stamped program and the debug file together', u);
    t.equal(run(['eu-addr2line', '-f', '-e', unstripped, at]).stdout, expected, 'eu-addr2line: the same for the result');

    const g = run(['gdb', '-nx', '-batch', '-ex', 'info line depth', stamped]);
    t.match(g.stdout, /Line 3 of ".*crash\.c"/, 'gdb finds the separate debug file of the stamped program', g);

    const removed = path.join(dir, 'crash.removed');
    t.equal(ep('remove', stamped, '-o', removed).status, 0, 'remove');
    t.ok(fs.readFileSync(removed).equals(fs.readFileSync(stripped)), 'remove gives back the stripped program byte for byte');
    t.equal(run(['eu-addr2line', '-f', '-e', removed, at]).stdout, expected, 'eu-addr2line: the same after remove');

    t.equal(firstPageBuildId(stamped), buildId(full), 'the kernel\'s first-page reader (Linux < 6.12) finds the build-id of the stamped program');

    t.test('eu-strip round trip as for the original', async (t) => {
      const roundTrip = (file: string, tag: string): { d1: Buffer; d2: Buffer } => {
        const d1 = path.join(dir, `${tag}.d1`);
        const d2 = path.join(dir, `${tag}.d2`);
        t.equal(run(['eu-strip', '-f', d1, '-o', path.join(dir, `${tag}.s1`), file]).status, 0, `eu-strip -f (${tag})`);
        t.equal(run(['eu-strip', '--reloc-debug-sections-only', d1]).status, 0, `eu-strip --reloc-debug-sections-only (${tag})`);
        t.equal(run(['eu-strip', '--reloc-debug-sections', '-f', d2, '-o', path.join(dir, `${tag}.s2`), file]).status, 0, `eu-strip --reloc-debug-sections -f (${tag})`);
        return { d1: fs.readFileSync(d1), d2: fs.readFileSync(d2) };
      };
      // The full program with its debug info, stamped, against the same unstamped.
      const fullStamped = path.join(dir, 'crash.full-stamped');
      t.equal(ep('stamp', full, '--pages', '0-1', '-o', fullStamped).status, 0, 'stamp the program with its debug info');
      const a = roundTrip(full, 'original');
      const b = roundTrip(fullStamped, 'stamped');
      t.ok(a.d1.equals(a.d2), 'for the original, the two ways give the same debug file');
      t.ok(b.d1.equals(b.d2), 'for the stamped program, too');
      // eu-strip keeps every note in the debug file (as it does the build-id), ours too.
      const note = /\.note\.elfprefetch\s+NOTE\s+\S+\s+\S+\s+([0-9a-f]+)/.exec(run(['readelf', '-SW', fullStamped]).stdout);
      t.ok(note && b.d1.length - a.d1.length <= parseInt(note[1]!, 16) + 256, `the debug files differ by our note only (${a.d1.length} and ${b.d1.length} bytes)`);
    });

    t.test('a core dump of the stamped program', { skip: coresHere ? false : `core dumps go to '${pattern}' on this machine, not to a file the test can read` }, async (t) => {
      const coreA = coreOf(stripped, path.join(dir, 'core-a'));
      const coreB = coreOf(stamped, path.join(dir, 'core-b'));
      if (!coreA || !coreB) return t.fail('the programs dumped core', { coreA, coreB });
      const want = frames(coreA, stripped);
      t.ok(want.includes('depth') && want.includes('main'), 'eu-stack unwinds the unstamped program with symbols', { want });
      t.same(frames(coreB, stamped), want, 'eu-stack: the same frames for the stamped program');
      const bt = run(['gdb', '-nx', '-batch', '-ex', 'bt', stamped, coreB]);
      t.match(bt.stdout, /in depth \(x=\d+\) at .*crash\.c:3/, 'gdb: a backtrace with source lines', bt);
      // With the binary gone, only the core's copy of page 0 can name the build-id.
      const away = `${stamped}.away`;
      fs.renameSync(stamped, away);
      try {
        const n = run(['eu-unstrip', '-n', '--core', coreB]);
        const line = n.stdout.split('\n').find((l) => l.includes('crash.stamped')) ?? n.stdout;
        t.match(line, new RegExp(`^0x[0-9a-f]+\\+0x[0-9a-f]+ ${buildId(full)}@`), 'eu-unstrip -n --core names the build-id with the binary moved away', n);
      } finally {
        fs.renameSync(away, stamped);
      }
    });
  });
}

/** Rewrites a 64-bit little-endian section header field of `file`. */
function patchSection(file: string, name: string, field: 'link' | 'size', value: bigint): void {
  const b = fs.readFileSync(file);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const strOff = Number(b.readBigUInt64LE(shoff + shstrndx * 64 + 0x18));
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * 64;
    const at = strOff + b.readUInt32LE(h);
    if (b.toString('latin1', at, at + name.length + 1) !== name + '\0') continue;
    if (field === 'link') b.writeUInt32LE(Number(value), h + 0x28);
    else b.writeBigUInt64LE(value, h + 0x20);
    fs.writeFileSync(file, b);
    return;
  }
  throw new Error(`no section ${name} in ${file}`);
}

t.test('broken references stay broken, nothing new takes their index', async (t) => {
  const dir = t.testdir({ 'crash.c': SOURCE });
  const file = path.join(dir, 'crash');
  t.equal(run(['gcc', '-O1', '-o', file, path.join(dir, 'crash.c')]).status, 0, 'gcc');
  const shnum = Number(/Number of section headers:\s+(\d+)/.exec(run(['readelf', '-h', file]).stdout)![1]);
  patchSection(file, '.comment', 'link', BigInt(shnum));
  const r = ep('stamp', file, '--pages', '0');
  t.equal(r.status, 0, 'stamp a file whose .comment links one past the last section', r);
  const out = run(['readelf', '-SW', file]).stdout;
  const link = /\]\s+\.comment\s+PROGBITS\s+\S+\s+\S+\s+\S+\s+\S+\s+\S*\s+(\d+)/.exec(out)?.[1];
  t.equal(Number(link), shnum + 1, 'the link still points one past the last section, not at the new one');
  const stamped = fs.readFileSync(file);
  const mtime = fs.statSync(file).mtimeMs;
  const again = ep('stamp', file, '--pages', '0');
  t.equal(again.status, 0, 'stamping the same pages again exits 0');
  t.match(again.stdout, /already current: .*nothing changed/, 'and says the note is current');
  t.ok(fs.readFileSync(file).equals(stamped) && fs.statSync(file).mtimeMs === mtime, 'the file was not rewritten');
});

t.test('a section that claims bytes past the end of the file is refused as malformed', async (t) => {
  const dir = t.testdir({ 'crash.c': SOURCE });
  const file = path.join(dir, 'crash');
  t.equal(run(['gcc', '-O1', '-o', file, path.join(dir, 'crash.c')]).status, 0, 'gcc');
  patchSection(file, '.comment', 'size', BigInt(fs.statSync(file).size));
  const before = fs.readFileSync(file);
  const r = ep('stamp', file, '--pages', '0');
  t.equal(r.status, 2, 'exit 2: malformed', r);
  t.match(r.stderr, /section \d+ \(\.comment\) runs past the end of the file/, 'names the section');
  t.ok(fs.readFileSync(file).equals(before), 'the file is unchanged');
});
