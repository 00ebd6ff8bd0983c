/*
 * Merging: profiles of the same command add up; a page's count is the number of runs that
 * touched it (a profile without counts touched each of its pages in all of its runs). Objects
 * are told apart by path, build-id, layout digest and page-set name. Pure functions: no I/O.
 */
import { formatRanges, parseRanges, runsFromPages } from '../note/pageset';
import { Profile, ProfileObject, ProfileSchema } from './schema';
import { InvalidInputError, ProfileError } from '../errors';

function pagesOf(o: ProfileObject): number[] {
  if (!o.pages.trim()) return [];
  const out: number[] = [];
  for (const r of parseRanges(o.pages)) for (let i = 0; i < r.count; i++) out.push(r.first + i);
  return out;
}

/** Page -> count of an object; a profile without counts touched every page in all its runs. */
export function pageCounts(o: ProfileObject, runs: number): Map<number, number> {
  const pages = pagesOf(o);
  if (o.counts && o.counts.length !== pages.length) {
    throw new ProfileError('malformed', `${o.path}: ${o.counts.length} counts for ${pages.length} pages`);
  }
  return new Map(pages.map((p, i) => [p, o.counts ? o.counts[i]! : runs]));
}

/** The functions (or data symbols) of two profiles of one object, each once, in file order. */
function unionSymbols(a: NonNullable<ProfileObject['functions']>, b: NonNullable<ProfileObject['functions']>): NonNullable<ProfileObject['functions']> {
  const all = new Map<string, (typeof a)[number]>();
  for (const f of [...a, ...b]) all.set(`${f.offset}\0${f.name}`, f);
  return [...all.values()].sort((x, y) => x.offset - y.offset || x.name.localeCompare(y.name));
}

const keyOf = (o: ProfileObject): string => [o.path, o.buildId, o.layoutDigest ?? '', o.set].join('\0');

/** Adds up profiles of the same program: runs and per-page counts. */
export function mergeProfiles(profiles: Profile[]): Profile {
  if (profiles.length === 0) throw new InvalidInputError('no profiles to merge');
  const pageSize = profiles[0]!.pageSize;
  for (const p of profiles) {
    if (p.pageSize !== pageSize) throw new ProfileError('mismatch', `profiles count pages of ${pageSize} and of ${p.pageSize} bytes; record them with the same page size`);
  }
  const merged = new Map<string, { o: ProfileObject; counts: Map<number, number> }>();
  for (const p of profiles) {
    for (const o of p.objects) {
      const k = keyOf(o);
      let m = merged.get(k);
      if (!m) merged.set(k, (m = { o: { ...o, main: false }, counts: new Map() }));
      m.o.main ||= o.main;
      m.o.size = o.size;
      if (o.functions?.length && m.o.functions !== o.functions) m.o.functions = unionSymbols(m.o.functions ?? [], o.functions);
      if (o.data?.length && m.o.data !== o.data) m.o.data = unionSymbols(m.o.data ?? [], o.data);
      for (const [page, c] of pageCounts(o, p.runs)) m.counts.set(page, (m.counts.get(page) ?? 0) + c);
    }
  }
  const same = <T>(values: T[]): T | undefined => (values.every((v) => v === values[0]) ? values[0] : undefined);
  const objects = [...merged.values()].map(({ o, counts }) => {
    const pages = [...counts.keys()].sort((a, b) => a - b);
    return { ...o, pages: formatRanges(runsFromPages(pages)), counts: pages.map((p) => counts.get(p)!) };
  });
  objects.sort((a, b) => Number(b.main) - Number(a.main));
  return ProfileSchema.parse({
    format: 'elfprefetch-profile',
    version: 1,
    pageSize,
    runs: profiles.reduce((n, p) => n + p.runs, 0),
    command: profiles[0]!.command,
    createdAt: new Date().toISOString(),
    method: same(profiles.map((p) => p.method)),
    windowMs: same(profiles.map((p) => p.windowMs)),
    objects,
  });
}

/**
 * Why these profiles are not of one program, or undefined: their programs (the objects marked
 * main) share neither a build-id nor a path. Runs of one program at several builds are one program.
 */
export function differentPrograms(profiles: Array<{ name: string; profile: Profile }>): string | undefined {
  const mains = profiles.flatMap((p) => p.profile.objects.filter((o) => o.main).map((o) => ({ name: p.name, path: o.path, buildId: o.buildId })));
  const first = mains[0];
  if (!first) return undefined;
  const other = mains.find((m) => m.path !== first.path && !(m.buildId && m.buildId === first.buildId));
  return other && `${first.name} is a profile of ${first.path}, ${other.name} of ${other.path}`;
}
