/*
 * A profile directory: the profiles of many programs and libraries, kept by build identity so
 * that `stamp-tree` finds a file's pages by what it is, not where it lies (the same build-id
 * is the same build, in a package's staging tree as on the machine that recorded it).
 *
 *   PDIR/hh/rest.json   for build-id bytes hh rest... (hex), as debuginfod keeps debug files
 *
 * Each entry is a profile (src/profile/schema.ts) whose program (`main`) is that build: its
 * own pages and, when it was recorded as the program of a run, the libraries it loaded.
 * Filing adds up runs (counts per page), so an entry gathers every run of that build from
 * every profile filed; the selection (share of runs, budget) is applied when stamping.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomically } from '../io/atomic';
import { mergeProfiles } from './merge';
import { profileJson } from './schema';
import { Profile, ProfileObject, ProfileSchema, parseProfile } from './schema';
import { ConflictError, InvalidInputError } from '../errors';

/** Shortest build-id the directory files: shorter ones cannot tell builds apart. */
const MIN_ID_BYTES = 2;

export function entryPath(pdir: string, buildId: string): string {
  if (!/^([0-9a-f]{2}){2,64}$/.test(buildId)) throw new InvalidInputError(`'${buildId}' is not a build-id of 2 to 64 bytes in lower-case hex`);
  return path.join(pdir, buildId.slice(0, 2), `${buildId.slice(2)}.json`);
}

/** The entry of a build, or undefined when the directory has none. */
export function lookupProfile(pdir: string, buildId: string): { profile: Profile; path: string } | undefined {
  if (buildId.length < MIN_ID_BYTES * 2) return undefined;
  const file = entryPath(pdir, buildId);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return { profile: parseProfile(text, file), path: file };
}

export interface FiledObject {
  path: string;
  buildId: string;
  /** Where it went, or why it was not filed. */
  entry?: string;
  skipped?: string;
  /** Runs of this build in the entry now. */
  runs?: number;
}

function writeEntry(file: string, p: Profile): void {
  writeFileAtomically(file, profileJson(p), { fsync: false });
}

const LOCK_WAIT_MS = 30_000;
/** A lock older than this was left by a process that died while filing. */
const LOCK_STALE_MS = 120_000;

/**
 * Runs `body` holding the lock of one entry (`FILE.lock`, created exclusively): profiles are
 * filed from many machines or jobs at once, and an update must not lose another's runs.
 */
function withEntryLock<T>(file: string, body: () => T): T {
  const lock = `${file}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const start = Date.now();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, 'wx', 0o644));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.rmSync(lock, { force: true });
      } catch {
        /* gone already */
      }
      if (Date.now() - start > LOCK_WAIT_MS) throw new ConflictError(`${lock} is held by another process for more than ${LOCK_WAIT_MS / 1000} s (remove it if no elfprefetch is running)`);
      Atomics.wait(pause, 0, 0, 5 + Math.random() * 20);
    }
  }
  try {
    return body();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Files a recorded profile: each object with a build-id goes into its build's entry (the
 * program with its libraries, a library on its own), added to what the entry already holds.
 */
export function fileProfile(pdir: string, profile: Profile): FiledObject[] {
  const out: FiledObject[] = [];
  for (const o of profile.objects) {
    if (o.buildId.length < MIN_ID_BYTES * 2) {
      out.push({ path: o.path, buildId: o.buildId, skipped: 'no build-id: it could not be told apart from other builds' });
      continue;
    }
    if (!o.pages.trim()) {
      out.push({ path: o.path, buildId: o.buildId, skipped: 'no pages' });
      continue;
    }
    const own: ProfileObject = { ...o, main: true };
    const others = o.main ? profile.objects.filter((x) => x !== o && x.buildId !== o.buildId).map((x) => ({ ...x, main: false })) : [];
    const entry = ProfileSchema.parse({ ...profile, selection: undefined, objects: [own, ...others] });
    const file = entryPath(pdir, o.buildId);
    const merged = withEntryLock(file, () => {
      const existing = lookupProfile(pdir, o.buildId);
      let merged = entry;
      if (existing) {
        // Merging tells objects apart by path; a build is the same whatever path it ran from,
        // so objects take the path the entry already knows them by.
        const known = new Map(existing.profile.objects.filter((x) => x.buildId).map((x) => [x.buildId + '\0' + x.set, x.path]));
        const aligned = { ...entry, objects: entry.objects.map((x) => ({ ...x, path: (x.buildId && known.get(x.buildId + '\0' + x.set)) || x.path })) };
        merged = mergeProfiles([existing.profile, aligned]);
        merged = { ...merged, objects: [...merged.objects.filter((x) => x.buildId === o.buildId), ...merged.objects.filter((x) => x.buildId !== o.buildId)] };
      }
      writeEntry(file, merged);
      return merged;
    });
    out.push({ path: o.path, buildId: o.buildId, entry: file, runs: merged.runs });
  }
  return out;
}

/** Every entry of the directory: build-id and file. */
export function listProfiles(pdir: string): Array<{ buildId: string; path: string }> {
  const out: Array<{ buildId: string; path: string }> = [];
  for (const hh of fs.readdirSync(pdir).sort()) {
    if (!/^[0-9a-f]{2}$/.test(hh)) continue;
    for (const f of fs.readdirSync(path.join(pdir, hh)).sort()) {
      const m = /^([0-9a-f]+)\.json$/.exec(f);
      if (m) out.push({ buildId: hh + m[1], path: path.join(pdir, hh, f) });
    }
  }
  return out;
}

/** An entry that can stand in for a later build of the same program: found by its installed path. */
export interface PathIndexEntry {
  buildId: string;
  machine?: number;
  runs: number;
}

/**
 * Entries by the path their program was recorded at (`/usr/bin/foo`), for stamping a later
 * build of it (`stamp-tree --carry-over`). Where several builds ran from one path, the one
 * with the most runs stands for it.
 */
export function indexByPath(pdir: string): Record<string, PathIndexEntry> {
  const index: Record<string, PathIndexEntry> = {};
  for (const e of listProfiles(pdir)) {
    let p: Profile;
    try {
      p = parseProfile(fs.readFileSync(e.path, 'utf8'), e.path);
    } catch {
      continue; // a damaged entry is reported when a file of its own build-id is stamped
    }
    const main = p.objects[0];
    if (!main || !main.sections?.length) continue;
    const known = index[main.path];
    if (!known || p.runs > known.runs) index[main.path] = { buildId: e.buildId, machine: main.machine, runs: p.runs };
  }
  return index;
}
