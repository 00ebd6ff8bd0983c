import * as fs from 'node:fs';
import { openElf } from '../elf/read';
import { buildIdOf, layoutDigest } from '../note/identity';
import { parseRanges } from '../note/pageset';
import { Profile, ProfileObject, parseProfile } from '../profile/schema';
import type { LibraryEntry, SelfPageSet, StampRequest } from './stamp';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The layout digest of a library: from the profile, else from the file if it is the same build. */
function libraryDigest(o: ProfileObject): bigint | undefined {
  if (o.layoutDigest) return BigInt('0x' + o.layoutDigest);
  if (!fs.existsSync(o.path)) return undefined;
  const elf = openElf(o.path);
  try {
    return hex(buildIdOf(elf)) === o.buildId ? layoutDigest(elf.programHeaders) : undefined;
  } finally {
    elf.source.close();
  }
}

/** Turns a profile into what `stamp` writes for `file`: its own page sets and its libraries'. */
export function requestFromProfile(file: string, where: string, text: string): StampRequest {
  const profile: Profile = parseProfile(text, where);
  const elf = openElf(file);
  let fileId: string;
  try {
    fileId = hex(buildIdOf(elf));
  } finally {
    elf.source.close();
  }
  const mains = profile.objects.filter((o) => (fileId && o.buildId === fileId) || (!fileId && o.main));
  if (mains.length === 0) {
    const ids = profile.objects.map((o) => `${o.path} (${o.buildId || 'no build-id'})`).join(', ');
    throw new Error(`${where} has no pages for this file (build-id ${fileId || 'none'}); it describes ${ids}`);
  }
  const pageShift = Math.log2(profile.pageSize);
  const sets = new Map<string, SelfPageSet>();
  for (const o of mains) {
    const s = sets.get(o.set) ?? { name: o.set, runs: [] };
    s.runs.push(...(o.pages.trim() ? parseRanges(o.pages) : []));
    sets.set(o.set, s);
  }
  const libraries: LibraryEntry[] = [];
  for (const o of profile.objects) {
    if (mains.includes(o) || !o.pages.trim()) continue;
    const digest = libraryDigest(o);
    if (digest === undefined) continue; // a library we cannot identify is left out, not guessed
    let lib = libraries.find((l) => l.path === o.path && hex(l.buildId) === o.buildId);
    if (!lib) {
      lib = { path: o.path, buildId: Buffer.from(o.buildId, 'hex'), layoutDigest: digest, pageSets: [] };
      libraries.push(lib);
    }
    lib.pageSets.push({ name: o.set, pageCount: Math.ceil(o.size / profile.pageSize), runs: parseRanges(o.pages) });
  }
  return { pageShift, sets: [...sets.values()], libraries };
}
