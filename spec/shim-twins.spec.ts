// The TypeScript functions and their C twins in the shim give the same answers (shim/twin_driver.c,
// `make -C shim twin`, built with AddressSanitizer here): CRC-32 and FNV-1a 64 on fixed and seeded
// random bytes, the layout digest on seeded random program header tables and on real files (with
// the build-id and whether a note is there, as the shim reads them), the list of network file
// systems' statfs types, and the device class and request cap of files on the file systems of
// this machine and behind loop devices nested up to one past the shim's limit of 4, with queue
// limits of their own. The coalescer and the note parser have their own differential specs
// (plan-coalesce, shim-note).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import * as C from '../src/elf/constants';
import { openElf } from '../src/elf/read';
import type { ProgramHeader } from '../src/elf/types';
import { crc32 } from '../src/note/crc32';
import { buildIdOf, fnv1a64, layoutDigest } from '../src/note/identity';
import { findOurNote } from '../src/note/locate';
import { stampFile } from '../src/ops/stamp';
import { DeviceChoice, NETWORK_FS_TYPES, capText, chooseDevice, isNetworkFs } from '../src/readplan/device';
import { requestCap } from '../src/readplan/coalesce';
import { loadFixtures, repoRoot } from './helpers/fixtures';
import { prng } from './helpers/prng';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'epf-twins-'));
t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
const made = spawnSync('make', ['-s', '-C', path.join(repoRoot, 'shim'), 'twin', `OUT=${out}`, 'EXTRA_CFLAGS=-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all'], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(`make -C shim twin: ${made.stdout}${made.stderr}`);
const driver = path.join(out, 'epf-twin');

/** The driver's answers to `lines`, one each (it exits non-zero on a command it does not know). */
function ask(lines: string[]): string[] {
  const r = spawnSync(driver, [], { input: lines.map((l) => `${l}\n`).join(''), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`epf-twin exited ${r.status}: ${r.stderr}`);
  const answers = r.stdout.split('\n').slice(0, -1);
  if (answers.length !== lines.length) throw new Error(`epf-twin gave ${answers.length} answers to ${lines.length} lines: ${r.stderr}`);
  return answers;
}

/** What the twin driver says of a device choice. */
const said = (d: DeviceChoice): string => `${d.device.name}${d.why ? `: ${d.why}` : ''}, ${capText(d.cap)}`;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const h64 = (v: bigint): string => v.toString(16).padStart(16, '0');

function randomBytes(r: () => number, max: number): Uint8Array {
  const b = new Uint8Array(Math.floor(r() * max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

t.test('CRC-32 and FNV-1a 64: fixed vectors and 600 seeded random byte strings', async (t) => {
  const r = prng(20261202);
  const inputs = [new Uint8Array(0), Buffer.from('123456789'), Buffer.from('a'), ...Array.from({ length: 600 }, () => randomBytes(r, 1500))];
  const crcs = ask(inputs.map((b) => `crc ${hex(b)}`));
  const fnvs = ask(inputs.map((b) => `fnv ${hex(b)}`));
  t.equal(crcs[1], 'cbf43926', 'the CRC-32 check value of "123456789"');
  t.equal(fnvs[0], 'cbf29ce484222325', 'FNV-1a 64 of nothing: the offset basis');
  t.equal(fnvs[2], 'af63dc4c8601ec8c', 'FNV-1a 64 of "a"');
  const crcDiff = inputs.filter((b, i) => crcs[i] !== crc32(b).toString(16).padStart(8, '0'));
  const fnvDiff = inputs.filter((b, i) => fnvs[i] !== h64(fnv1a64(b)));
  t.same(crcDiff.map(hex), [], 'crc32 (src/note/crc32.ts) = epf_crc32 on every input');
  t.same(fnvDiff.map(hex), [], 'fnv1a64 (src/note/identity.ts) = epf_fnv1a64 on every input');
});

t.test('the layout digest: 800 seeded random program header tables', async (t) => {
  const r = prng(1402);
  const u64 = (): bigint => {
    const pick = r();
    if (pick < 0.3) return BigInt(Math.floor(r() * 0x10000)) << 12n;
    if (pick < 0.4) return 0n;
    if (pick < 0.5) return (1n << 64n) - 1n;
    return (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
  };
  const types = [C.PT_LOAD, C.PT_LOAD, C.PT_LOAD, C.PT_NOTE, C.PT_DYNAMIC, C.PT_PHDR, 0x6474e551];
  const tables: ProgramHeader[][] = Array.from({ length: 800 }, () =>
    Array.from({ length: Math.floor(r() * 14) }, (_, index) => ({
      index,
      type: r() < 0.05 ? Math.floor(r() * 2 ** 32) : types[Math.floor(r() * types.length)]!,
      flags: r() < 0.8 ? Math.floor(r() * 8) : Math.floor(r() * 2 ** 32),
      offset: u64(),
      vaddr: u64(),
      paddr: u64(),
      filesz: u64(),
      memsz: u64(),
      align: u64(),
    })),
  );
  const c = ask(tables.map((ph) => `layout ${ph.length} ${ph.map((p) => [p.type, p.flags, p.offset, p.vaddr, p.filesz, p.memsz, p.align].join(' ')).join(' ')}`));
  const diff = tables.filter((ph, i) => c[i] !== h64(layoutDigest(ph)));
  t.equal(diff.length, 0, 'layoutDigest (src/note/identity.ts) = the shim\'s on every table');
  t.ok(tables.some((ph) => ph.filter((p) => p.type === C.PT_LOAD).length >= 5), 'tables with many PT_LOADs among them');
});

t.test('real files: the layout digest, the build-id and the note, as the shim reads them', async (t) => {
  const dir = t.testdir();
  const files = new Set<string>();
  for (const f of loadFixtures()) {
    files.add(f.path);
    for (const l of f.libs) files.add(l);
  }
  // a seeded sample of this system's programs and libraries
  const r = prng(7);
  for (const d of ['/usr/bin', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu']) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(d).sort();
    } catch {
      continue;
    }
    for (let i = 0; i < 60 && names.length; i++) files.add(path.join(d, names[Math.floor(r() * names.length)]!));
  }
  // stamped copies: a note beside the image, and one in place after a second stamp
  const native = loadFixtures().filter((f) => f.machine === 'x86-64' && ['pie', 'nopie', 'shlib'].includes(f.variant));
  for (const f of native) {
    const copy = path.join(dir, path.basename(f.path) + `-${f.variant}`);
    fs.copyFileSync(f.path, copy);
    stampFile(copy, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }] });
    files.add(copy);
  }
  const list = [...files].filter((f) => {
    try {
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  });
  const answers = ask(list.map((f) => `file ${f}`));
  let compared = 0;
  let notes = 0;
  const diff: string[] = [];
  const refused: string[] = [];
  list.forEach((file, i) => {
    const c = answers[i]!;
    let elf;
    try {
      elf = openElf(file);
    } catch {
      if (!c.startsWith('refused ')) diff.push(`${file}: TypeScript refuses it, the shim reads ${c}`);
      return;
    }
    try {
      const h = elf.header;
      const native = h.is64 && h.littleEndian && (h.type === C.ET_EXEC || h.type === C.ET_DYN) && elf.programHeaders.length > 0;
      if (!native) {
        if (!c.startsWith('refused ')) diff.push(`${file}: not a native executable or shared object, the shim reads ${c}`);
        else refused.push(c);
        return;
      }
      const bid = buildIdOf(elf);
      const want = `${h64(layoutDigest(elf.programHeaders))} ${bid.length ? hex(bid) : '-'} ${findOurNote(elf) ? 'note' : 'none'}`;
      if (c !== want) diff.push(`${file}: shim ${c}, TypeScript ${want}`);
      compared++;
      if (want.endsWith(' note')) notes++;
    } finally {
      elf.source.close();
    }
  });
  t.same(diff, [], `the same on every file (${list.length})`);
  t.ok(compared >= 60, `${compared} native files compared`);
  t.ok(notes >= native.length, `${notes} of them with a note`);
  t.comment(`refused as foreign: ${[...new Set(refused)].join(', ')}`);
});

t.test('which file systems are network ones: the same list in C and TypeScript, and the same answer for 2,000 seeded random f_type values', async (t) => {
  const [list] = ask(['netfs-list']);
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b).map((v) => v.toString(16));
  t.same(sorted(list!.split(' ').map((x) => parseInt(x, 16))), sorted([...NETWORK_FS_TYPES]), 'the shim\'s list is the TypeScript one');
  t.equal(new Set(NETWORK_FS_TYPES).size, NETWORK_FS_TYPES.length, 'no value twice');
  // the list, its neighbours, local file systems of statfs(2) (ext4, xfs, btrfs, tmpfs, overlay, proc, squashfs, vfat, zfs), random values
  const local = [0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0x9fa0, 0x73717368, 0x4d44, 0x2fc12fc1];
  const r = prng(20261203);
  const types = [...NETWORK_FS_TYPES, ...NETWORK_FS_TYPES.flatMap((v) => [(v + 1) >>> 0, (v - 1) >>> 0]), ...local, ...Array.from({ length: 2000 }, () => Math.floor(r() * 2 ** 32))];
  const c = ask(types.map((v) => `netfs ${v.toString(16)}`));
  const differ = types.filter((v, i) => c[i] !== (isNetworkFs(v) ? '1' : '0'));
  t.same(differ.map((v) => v.toString(16)), [], 'the shim and the TypeScript twin agree on every f_type');
  t.equal(c.slice(0, NETWORK_FS_TYPES.length).join(''), '1'.repeat(NETWORK_FS_TYPES.length), 'every listed type is a network file system to the shim');
  t.equal(c.slice(NETWORK_FS_TYPES.length, NETWORK_FS_TYPES.length * 3 + local.length).join(''), '0'.repeat(NETWORK_FS_TYPES.length * 2 + local.length), 'its neighbours and the local file systems are not');
});

t.test('the device class, and why, and the request cap of files on this machine\'s file systems', async (t) => {
  const tmp = path.join(out, 'f');
  fs.writeFileSync(tmp, 'x');
  const shm = fs.existsSync('/dev/shm') ? path.join(fs.mkdtempSync('/dev/shm/epf-twin-'), 'f') : undefined;
  if (shm) fs.writeFileSync(shm, 'x');
  t.teardown(() => shm && fs.rmSync(path.dirname(shm), { recursive: true, force: true }));
  const files = [process.execPath, '/bin/sh', tmp, '/proc/self/status', '/sys/kernel/mm/transparent_hugepage/enabled', '/dev/null', ...(shm ? [shm] : [])].filter((f) => fs.existsSync(f));
  const c = ask(files.map((f) => `device ${f}`));
  const forced = ask(files.map((f, i) => `device-as ${['hdd', 'ssd', 'nvme', 'net'][i % 4]} ${f}`));
  files.forEach((f, i) => {
    t.equal(c[i], said(chooseDevice(f)), f);
    t.equal(forced[i], said(chooseDevice(f, ['hdd', 'ssd', 'nvme', 'net'][i % 4])), `${f}, its class set`);
  });
  if (shm) t.equal(c[files.indexOf(shm)], 'ssd: unknown device, requests <= 1024 KiB', 'no queue (tmpfs): the 1 MiB cap');
});

const noLoops = process.getuid?.() !== 0 ? 'not root: loop devices need root' : ['losetup', 'mkfs.ext4', 'mount'].find((x) => spawnSync('which', [x]).status !== 0);
t.test('the device class and the cap behind loop devices nested 1 to 5 deep (the shim follows 4), each with its own max_sectors_kb', { skip: noLoops ? `${noLoops}${noLoops.startsWith('not') ? '' : ' is missing'}` : false }, async (t) => {
  const sh = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const undo: Array<() => void> = [];
  t.teardown(() => {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch {
        // keep undoing the rest
      }
    }
  });
  let parent = fs.mkdtempSync(path.join(out, 'loops-'));
  const files: string[] = [];
  // max_sectors_kb per depth (0: the loop's default); the cap is the smallest on the way
  const sectorsKb = [0, 300, 448, 190, 100];
  const caps: number[] = [];
  for (let depth = 1, mb = 48; depth <= 5; depth++, mb -= 8) {
    const img = path.join(parent, `disk${depth}.img`);
    sh('truncate', ['-s', `${mb}M`, img]);
    sh('mkfs.ext4', ['-q', '-F', img]);
    const dev = sh('losetup', ['-f', '--show', img]);
    undo.push(() => sh('losetup', ['-d', dev]));
    const q = (k: string): number => Number(fs.readFileSync(`/sys/block/${path.basename(dev)}/queue/${k}`, 'utf8'));
    if (sectorsKb[depth - 1]) {
      // the setting outlives the attachment: back to the default (0) before the device is detached
      const knob = `/sys/block/${path.basename(dev)}/queue/max_sectors_kb`;
      fs.writeFileSync(knob, String(sectorsKb[depth - 1]));
      undo.push(() => fs.writeFileSync(knob, '0'));
    }
    caps.push(q('max_sectors_kb') * 1024);
    const mnt = path.join(parent, `mnt${depth}`);
    fs.mkdirSync(mnt);
    sh('mount', [dev, mnt]);
    undo.push(() => sh('umount', [mnt]));
    const f = path.join(mnt, 'f');
    fs.writeFileSync(f, 'x');
    files.push(f);
    parent = mnt;
  }
  // the disk the outer image is on (a partition's queue is its parent's)
  const sys = `/sys/dev/block/${sh('stat', ['-c', '%Hd:%Ld', out])}`;
  const qd = (k: string): number => Number((fs.existsSync(`${sys}/queue/${k}`) ? fs.readFileSync(`${sys}/queue/${k}`, 'utf8') : fs.existsSync(`${sys}/../queue/${k}`) ? fs.readFileSync(`${sys}/../queue/${k}`, 'utf8') : 'x').trim());
  const disk = qd('max_sectors_kb') * 1024 || Infinity;
  const c = ask(files.map((f) => `device ${f}`));
  const forced = ask(files.map((f) => `device-as hdd ${f}`));
  files.forEach((f, i) => {
    const d = chooseDevice(f);
    t.equal(c[i], said(d), `${i + 1} deep: ${c[i]}`);
    t.equal(forced[i], said(chooseDevice(f, 'hdd')), `${i + 1} deep, hdd set: ${forced[i]}`);
    t.match(c[i], /^\w+: loop device on /);
    // its own queue and those of the 4 backing devices it follows: the disk under the outer loop up to 4 deep
    const want = requestCap(Math.min(...caps.slice(0, i + 1), i < 4 ? disk : Infinity));
    t.equal(d.cap, want, `${i + 1} deep: the smallest cap on the way, ${want >> 10} KiB`);
  });
  t.equal(chooseDevice(files[1]!).cap, Math.min(300 << 10, caps[0]!), '2 deep: the smaller of its max_sectors_kb 300 and the outer loop\'s');
  t.equal(chooseDevice(files[4]!).cap, 100 << 10, '5 deep: its own max_sectors_kb 100');
  t.equal(chooseDevice(files[3]!, 'ssd').cap, 188 << 10, 'the cap stays the queue\'s (190 KiB, in whole 4 KiB pages) when the class is set');
});
