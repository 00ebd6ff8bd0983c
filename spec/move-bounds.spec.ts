// The moving strategies (--fallback move) refuse what they cannot check instead of skipping
// the check (src/layout/block.ts): a PT_DYNAMIC of 1 MiB or more, whose tags would not be
// read to see whether one points into the sections to move, and a symbol table over 256 MiB,
// whose symbols would not be relocated.
import t from 'tap';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../cli/exit';
import { openElf } from '../src/elf/read';
import { blockAfterTable } from '../src/layout/block';
import { fixture, repoRoot, runCommand, withoutSectionHeaders } from './helpers/fixtures';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)));
const ep = (...args: string[]) => runCommand([process.execPath, cli, ...args], { cwd: repoRoot, env });
const sha = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** The fixture without section headers, its PT_DYNAMIC grown to `size` bytes (the file padded to hold it). */
function withDynamic(file: string, size: number): Buffer {
  let b = withoutSectionHeaders(file);
  const phoff = Number(b.readBigUInt64LE(0x20));
  for (let i = 0; i < b.readUInt16LE(0x38); i++) {
    const at = phoff + i * 56;
    if (b.readUInt32LE(at) !== 2) continue; // PT_DYNAMIC
    const offset = Number(b.readBigUInt64LE(at + 8));
    b.writeBigUInt64LE(BigInt(size), at + 32);
    b.writeBigUInt64LE(BigInt(size), at + 40);
    b = Buffer.concat([b, Buffer.alloc(Math.max(0, offset + size - b.length))]);
  }
  return b;
}

t.test('a PT_DYNAMIC of 1 MiB is refused by the moving strategies, with the reason', async (t) => {
  const dir = t.testdir();
  const lib = fixture('x86-64-shlib').path;
  // The same file with its own PT_DYNAMIC moves (slack): the refusal below is the bound's.
  const plain = path.join(dir, 'plain');
  fs.writeFileSync(plain, withoutSectionHeaders(lib));
  const ok = await ep('stamp', plain, '--pages', '0', '--fallback', 'move', '--json');
  t.equal(ok.status, EXIT.ok, `its own PT_DYNAMIC: stamped (${ok.stderr.trim()})`);
  t.equal(JSON.parse(ok.stdout).strategy, 'slack', 'by the slack strategy');

  const big = path.join(dir, 'big');
  fs.writeFileSync(big, withDynamic(lib, 1 << 20));
  const before = sha(big);
  const r = await ep('stamp', big, '--pages', '0', '--fallback', 'move');
  t.equal(r.status, EXIT.refused, 'exit 3 (refused)');
  t.match(r.stderr, /PT_DYNAMIC of 1048576 bytes is larger than the 1 MiB whose tags are checked/, 'says which bound');
  t.equal(sha(big), before, 'the file is unchanged');

  // Just under the bound the tags are read (and the zero tag ends them): it moves again.
  const under = path.join(dir, 'under');
  fs.writeFileSync(under, withDynamic(lib, (1 << 20) - 16));
  const u = await ep('stamp', under, '--pages', '0', '--fallback', 'move', '--json');
  t.equal(u.status, EXIT.ok, `1 MiB - 16 bytes: stamped (${u.stderr.trim()})`);
});

/**
 * A copy of an ELF64 little-endian file whose .symtab claims `size` bytes at the (8-aligned)
 * end of the file, which is extended to hold them as a sparse hole: nothing is written.
 */
function withSymtab(file: string, out: string, size: bigint): void {
  const elf = openElf(file);
  const symtab = elf.sections.find((s) => s.name === '.symtab');
  if (!symtab) throw new Error(`${file} has no .symtab`);
  const b = Buffer.from(fs.readFileSync(file));
  const at = Number(elf.header.shoff) + symtab.index * elf.header.shentsize;
  const offset = (BigInt(b.length) + 7n) & ~7n;
  b.writeBigUInt64LE(offset, at + 24);
  b.writeBigUInt64LE(size, at + 32);
  fs.writeFileSync(out, b);
  fs.truncateSync(out, Number(offset + size));
}

t.test('a symbol table over 256 MiB is refused by the moving strategies, not left unrelocated', async (t) => {
  const dir = t.testdir();
  const exe = fixture('x86-64-pie').path;
  const over = path.join(dir, 'over');
  withSymtab(exe, over, (256n << 20n) + 24n);
  const reasons: string[] = [];
  const r = blockAfterTable(openElf(over), reasons);
  t.equal(r.block, undefined, 'the sections after the table do not move');
  t.match(reasons.join('; '), /symbol table \.symtab of 268435480 bytes is larger than the 256 MiB whose symbols are relocated/, 'says which bound');

  // At the bound the symbols are read and relocated: the same sections move.
  const at = path.join(dir, 'at');
  withSymtab(exe, at, 256n << 20n);
  const ok: string[] = [];
  const plain: string[] = [];
  t.ok(blockAfterTable(openElf(at), ok).block, `256 MiB: the sections after the table can move (${ok.join('; ')})`);
  t.ok(blockAfterTable(openElf(exe), plain).block, 'as in the file as built');
});
