import { z } from 'zod';
import { DEFAULT_SET, MAX_SET_NAME } from '../note/format';
import { ProfileError } from '../errors';

const hex = (what: string) => z.string().regex(/^([0-9a-f]{2})*$/, `${what} must be lower-case hex`);

/** Page ranges of a file, as `0-15,20,31-40` (inclusive). */
const ranges = z.string().regex(/^\s*(\d+(-\d+)?)(\s*,\s*\d+(-\d+)?)*\s*$|^$/, 'pages must be ranges like 0-15,20,31-40');

export const ProfileObjectSchema = z.object({
  /** Path of the file as the program loaded it. */
  path: z.string().min(1),
  /** GNU build-id, hex; empty when the file has none. */
  buildId: hex('buildId'),
  /** FNV-1a 64 layout digest of the file's PT_LOADs (docs/FORMAT.md), 16 hex digits. */
  layoutDigest: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  /** ELF e_machine of the file (62 x86-64, 183 aarch64, ...): a profile never crosses machines. */
  machine: z.number().int().nonnegative().optional(),
  /** File size in bytes when recorded. */
  size: z.number().int().nonnegative(),
  /** True for the program itself (the file that is stamped). */
  main: z.boolean().default(false),
  /** Pages touched, by file offset / pageSize. */
  pages: ranges,
  /** In how many of the profile's runs each page was touched, for selection (same order as the pages). */
  counts: z.array(z.number().int().nonnegative()).optional(),
  /**
   * The file's allocated sections when recorded (name, file offset, size): lets `stamp
   * --carry-over` move the pages to another build of the program (src/profile/carry.ts).
   */
  sections: z
    .array(z.object({ name: z.string(), offset: z.number().int().nonnegative(), size: z.number().int().positive() }))
    .max(65536)
    .optional(),
  /**
   * The program's functions that overlap its recorded pages (name, file offset, size): with
   * them `stamp --carry-over` places a page of this build in the same function of the next.
   */
  functions: z
    .array(z.object({ name: z.string().max(4096), offset: z.number().int().nonnegative(), size: z.number().int().positive() }))
    .max(1 << 20)
    .optional(),
  /**
   * The program's data symbols (variables, tables: name, file offset, size) that overlap its
   * recorded pages, for `elfprefetch order` to place with the functions (src/order/).
   */
  data: z
    .array(z.object({ name: z.string().max(4096), offset: z.number().int().nonnegative(), size: z.number().int().positive() }))
    .max(1 << 20)
    .optional(),
  /** Name of the page set these pages go into. */
  set: z.string().min(1).max(MAX_SET_NAME).default(DEFAULT_SET),
});

export const ProfileSchema = z.object({
  format: z.literal('elfprefetch-profile'),
  version: z.literal(1),
  pageSize: z.number().int().refine((n) => n >= 512 && n <= 1 << 20 && (n & (n - 1)) === 0, 'pageSize must be a power of two from 512 to 1 MiB'),
  /** Number of runs merged into this profile. */
  runs: z.number().int().min(1).default(1),
  command: z.array(z.string()).optional(),
  createdAt: z.string().optional(),
  /** How the pages were recorded: `pagemap` (unprivileged) or `exact` (root), docs/RECORDING.md. */
  method: z.enum(['pagemap', 'exact']).optional(),
  /** Only the first windowMs milliseconds of each process were recorded. */
  windowMs: z.number().int().positive().optional(),
  /** The selection applied (`elfprefetch select`): pages used in at least minShare of the runs, within budget bytes. */
  selection: z
    .object({ minShare: z.number().min(0).max(1), budget: z.number().int().nonnegative().optional(), merged: z.number().int().min(1).optional() })
    .optional(),
  objects: z.array(ProfileObjectSchema).min(1),
});

export type Profile = z.infer<typeof ProfileSchema>;
export type ProfileObject = z.infer<typeof ProfileObjectSchema>;

/** Parses profile JSON text; the error names the field that is wrong. */
export function parseProfile(text: string, where = 'profile'): Profile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ProfileError('malformed', `${where}: not JSON: ${(e as Error).message}`);
  }
  const r = ProfileSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ProfileError('malformed', `${where}: ${first.join('; ')}`);
  }
  return r.data;
}

/** Profile JSON as written to disk: indented, with number arrays (counts) on one line. */
export function profileJson(p: Profile): string {
  return (
    JSON.stringify(p, null, 2)
      .replace(/\[\s*(\d+(?:,\s*\d+)*)\s*\]/g, (_m, nums: string) => `[${nums.split(/,\s*/).join(',')}]`)
      .replace(/\{\s*"name": ("(?:[^"\\]|\\.)*"),\s*"offset": (\d+),\s*"size": (\d+)\s*\}/g, '{ "name": $1, "offset": $2, "size": $3 }') + '\n'
  );
}
