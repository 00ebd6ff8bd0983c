#!/usr/bin/env node
// Seed corpora of the native fuzz targets, from real stamped binaries (needs `npm run build`).
// usage: node shim/fuzz/seeds.js OUTDIR   -> OUTDIR/file/* (ELF images), OUTDIR/note/* (descriptors)
//
// file seeds: x86-64 fixtures of build/samples (pie, nopie, static, static-pie, nobuildid,
// noseparate-pie) stamped with `elfprefetch stamp F --pages 0-3` (the CLI) and unstamped, two
// stamped copies of /usr/bin/true, the shlib fixture with a library set naming its libgreet.so
// (kept in OUTDIR/lib, so the library checks are reached) and that library stamped.
// note seeds: the descriptor of every stamped file (exactly descsz bytes), the worked example of
// docs/FORMAT.md section 7, a bitmap set, several objects and sets, and an empty reservation.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..');
const dist = (p) => require(path.join(root, 'dist', 'src', p));
const { encodeNote, emptyNote } = dist('note/codec');
const { openElf } = dist('elf/read');
const { findOurNote } = dist('note/locate');
const { buildIdOf, layoutDigest } = dist('note/identity');
const { stampFile } = dist('ops/stamp');
const cli = path.join(root, 'dist', 'cli', 'main.js');

const out = path.resolve(process.argv[2] || path.join(root, 'build', 'fuzz', 'seeds'));
const fileDir = path.join(out, 'file');
const noteDir = path.join(out, 'note');
const work = path.join(out, 'work');
for (const d of [fileDir, noteDir, work]) fs.mkdirSync(d, { recursive: true });

/** The descriptor of a stamped file's note, found as docs/FORMAT.md 1.1 says (in a PT_NOTE or beside the segments). */
function descriptorOf(file) {
  const elf = openElf(file);
  try {
    const ours = findOurNote(elf);
    return ours ? Buffer.from(elf.source.read(ours.note.descOffset, ours.note.descSize)) : undefined;
  } finally {
    elf.source.close();
  }
}

const samples = path.join(root, 'build', 'samples', 'x86-64');
const files = [];
const add = (name, file) => {
  const dst = path.join(fileDir, name);
  fs.copyFileSync(file, dst);
  files.push(dst);
};

// 1. Fixtures stamped by the CLI, as a user would, and unstamped.
for (const v of ['pie', 'nopie', 'static', 'static-pie', 'nobuildid', 'noseparate-pie']) {
  const src = path.join(samples, v, 'hello');
  if (!fs.existsSync(src)) continue;
  const dst = path.join(work, `${v}.stamped`);
  const r = spawnSync(process.execPath, [cli, 'stamp', src, '--pages', '0-3', '-o', dst], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stamp ${src}: ${r.stderr}`);
  add(`x86-64-${v}.stamped`, dst);
  add(`x86-64-${v}.plain`, src);
}
// 2. /usr/bin/true, a system binary, stamped (pages 0-3 and a bitmap-shaped set).
{
  const dst = path.join(work, 'true.stamped');
  const r = spawnSync(process.execPath, [cli, 'stamp', '/usr/bin/true', '--pages', '0-3', '-o', dst], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stamp /usr/bin/true: ${r.stderr}`);
  add('true.stamped', dst);
  const dst2 = path.join(work, 'true.bitmap');
  const r2 = spawnSync(process.execPath, [cli, 'stamp', '/usr/bin/true', '--pages', '0,2,4,6,7', '-o', dst2], { encoding: 'utf8' });
  if (r2.status !== 0) throw new Error(`stamp /usr/bin/true: ${r2.stderr}`);
  add('true.bitmap', dst2);
}
// 3. The shared-library fixture with a library set for its libgreet.so, kept in OUTDIR/lib so the
// fuzz targets reach the library checks (its absolute path is in the note).
{
  const dir = path.join(out, 'lib');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['hello', 'libgreet.so']) fs.copyFileSync(path.join(samples, 'shlib', f), path.join(dir, f));
  const lib = path.join(dir, 'libgreet.so');
  // The library is stamped first: its identity in the program's note is the stamped one.
  stampFile(lib, { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 3 }] }] });
  add('libgreet.so.stamped', lib);
  const elf = openElf(lib);
  const entry = { path: lib, buildId: buildIdOf(elf), layoutDigest: layoutDigest(elf.programHeaders), pageSets: [{ name: 'default', pageCount: Math.ceil(Number(elf.source.size) / 4096), runs: [{ first: 0, count: 1 }, { first: 2, count: 1 }] }] };
  elf.source.close();
  stampFile(path.join(dir, 'hello'), { pageShift: 12, sets: [{ name: 'default', runs: [{ first: 0, count: 2 }] }, { name: 'startup', runs: [{ first: 1, count: 1 }] }], libraries: [entry] });
  add('x86-64-shlib.stamped', path.join(dir, 'hello'));
}

// Descriptors of every stamped file.
let notes = 0;
for (const f of files) {
  const d = descriptorOf(f);
  if (d) {
    fs.writeFileSync(path.join(noteDir, path.basename(f) + '.desc'), d);
    notes++;
  }
}
if (notes < 8) throw new Error(`only ${notes} stamped descriptors found`);

// The worked example of docs/FORMAT.md section 7 (20-byte build-id, one run 0+4, 136 bytes).
const obj = (over) => ({ path: '', buildId: new Uint8Array(20).fill(0xab), layoutDigest: 0x1122n, contentSha256: new Uint8Array(32), pageSets: [{ name: 'default', pageCount: 100, runs: [{ first: 0, count: 4 }] }], ...over });
fs.writeFileSync(path.join(noteDir, 'format-example.desc'), encodeNote({ version: 1, pageShift: 12, empty: false, objects: [obj({})] }));
// A bitmap set (alternating pages: bitmap is smaller), two sets, two libraries, page shift 9 and 20.
const alternating = Array.from({ length: 40 }, (_, i) => ({ first: 2 * i, count: 1 }));
fs.writeFileSync(path.join(noteDir, 'bitmap.desc'), encodeNote({ version: 1, pageShift: 9, empty: false, objects: [obj({ pageSets: [{ name: 'default', pageCount: 81, runs: alternating }] })] }));
fs.writeFileSync(
  path.join(noteDir, 'libraries.desc'),
  encodeNote({
    version: 1,
    pageShift: 20,
    empty: false,
    objects: [
      obj({ pageSets: [{ name: 'default', pageCount: 10, runs: [{ first: 0, count: 1 }, { first: 3, count: 7 }] }, { name: 'startup', pageCount: 10, runs: [{ first: 1, count: 1 }] }] }),
      obj({ path: '/usr/lib/x86_64-linux-gnu/libc.so.6', buildId: new Uint8Array(0), pageSets: [{ name: 'default', pageCount: 600, runs: [{ first: 0, count: 300 }, { first: 400, count: 1 }] }] }),
      obj({ path: '/lib/libz.so.1', pageSets: [] }),
    ],
  }),
);
fs.writeFileSync(path.join(noteDir, 'empty.desc'), Buffer.concat([Buffer.from(emptyNote(12)), Buffer.alloc(40)]));
fs.rmSync(work, { recursive: true, force: true });
console.log(`${files.length} file seeds in ${fileDir}, ${fs.readdirSync(noteDir).length} note seeds in ${noteDir}`);
