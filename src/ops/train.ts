/*
 * Training in one step: record runs, select pages, stamp the program (its own pages and its
 * libraries' page sets) and, with `libs`, each library with a note of its own.
 *
 * Which files train may rewrite (docs/RECORDING.md):
 * - the program, when it is not a system file;
 * - with `libs`, each library that is not a system file and that we can replace (the file and
 *   its folder writable);
 * - system files (under /usr, /bin, /sbin, /lib*, /boot, /etc, /opt, or known to dpkg) only
 *   with `system` on top: a package upgrade replaces them, and every program on the machine
 *   loads them.
 * The recorder's and the shim's own libraries are never stamped.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requestFromProfile } from './from-profile';
import { StampResult, stampFile } from './stamp';
import { Profile, ProfileObject, profileJson } from '../profile/schema';
import { nativeDir } from '../native/locate';
import { identify } from '../record/objects';
import { RecordOptions, RecordResult, record } from '../record/record';
import { Selection, selectPages } from '../profile/select';
import { resolveCommand } from '../io/spawn';
import { InvalidInputError, ProfileError } from '../errors';

export interface TrainOptions extends RecordOptions {
  minShare?: number;
  budget?: number;
  /** Also stamp each library with a note of its own. */
  libs?: boolean;
  /** Allow rewriting system files (with libs: system libraries too). */
  system?: boolean;
  /** Write the selected profile here. */
  profileOut?: string;
}

export interface StampOutcome {
  path: string;
  kind: 'program' | 'library';
  result?: StampResult;
  skipped?: string;
}

export interface TrainResult {
  record: RecordResult;
  selection: Selection;
  stamps: StampOutcome[];
}

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot', '/etc', '/opt'];

/** Why a file counts as a system file, or undefined. */
export function systemReason(file: string): string | undefined {
  const real = fs.realpathSync(file);
  for (const d of SYSTEM_DIRS) if (real === d || real.startsWith(d + '/')) return `under ${d}`;
  try {
    const owner = execFileSync('dpkg-query', ['-S', real], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (owner.trim()) return `from the package ${owner.split(':')[0]}`;
  } catch {
    // not known to dpkg, or no dpkg
  }
  return undefined;
}

/** Why the file cannot be replaced by us, or undefined. */
function unwritable(file: string): string | undefined {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    fs.accessSync(path.dirname(fs.realpathSync(file)), fs.constants.W_OK);
    return undefined;
  } catch {
    return 'not writable (the file or its folder)';
  }
}

function ours(file: string): boolean {
  const real = fs.realpathSync(file);
  const native = path.resolve(nativeDir());
  return real.startsWith(native + path.sep);
}

/** A profile that holds one object, as the program: for stamping a library with its own pages. */
function alone(p: Profile, o: ProfileObject): string {
  return JSON.stringify({ ...p, objects: [{ ...o, main: true }] });
}

/** Why train may not rewrite the program, or undefined. */
function refusal(program: string, opts: TrainOptions): string | undefined {
  const sys = systemReason(program);
  if (sys && !opts.system) return `${program} is a system file (${sys}): train leaves it alone unless --system is given. Train a copy instead, or stamp a copy with \`elfprefetch stamp FILE --profile PROFILE -o OUT\``;
  const cannot = unwritable(program);
  return cannot ? `${program}: ${cannot}` : undefined;
}

/**
 * Where a recording goes when train cannot finish: the --profile file, else a new file in the
 * temporary directory. A recording can take minutes; it is not thrown away.
 */
function keepRecording(profile: Profile, opts: TrainOptions): string {
  let file = opts.profileOut;
  if (file === undefined) {
    const main = profile.objects.find((o) => o.main);
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-train-')), `${path.basename(main?.path ?? 'program')}.profile.json`);
  }
  fs.writeFileSync(file, profileJson(profile));
  return file;
}

export async function train(argv: string[], opts: TrainOptions = {}): Promise<TrainResult> {
  // Checked before the command runs: the program --main names; else the command's executable
  // when it is the user's own file (a system executable may be a wrapper, such as sh or env,
  // that execs the program: that is known only after the recording).
  const command = resolveCommand(argv[0] ?? '', opts.env);
  const program = opts.main ?? (command && !systemReason(command) ? command : undefined);
  const early = program && refusal(program, opts);
  if (early) throw new InvalidInputError(`${early}. Nothing was recorded`);
  const rec = await record(argv, opts);
  const selection = selectPages(rec.profile, { minShare: opts.minShare ?? 0.5, budget: opts.budget });
  const profile = selection.profile;
  try {
    return trainStamps(rec, selection, opts);
  } catch (e) {
    const kept = keepRecording(profile, opts);
    if (e instanceof Error) e.message += ` (the selected profile is kept in ${kept}: \`elfprefetch stamp FILE --profile ${kept}\` uses it)`;
    throw e;
  }
}

function trainStamps(rec: RecordResult, selection: Selection, opts: TrainOptions): TrainResult {
  const profile = selection.profile;
  const mainObj = profile.objects.find((o) => o.main);
  if (!mainObj) throw new ProfileError('no_pages', 'the profile has no program to stamp');
  const stamps: StampOutcome[] = [];
  // Check the program first: no library is touched when the program cannot be stamped.
  const why = refusal(mainObj.path, opts);
  if (why) throw new InvalidInputError(why);

  if (opts.libs) {
    for (const o of profile.objects) {
      if (o.main || !o.pages.trim()) continue;
      let why: string | undefined;
      if (ours(o.path)) why = "elfprefetch's own library";
      else if (!opts.system && (why = systemReason(o.path))) why = `system file (${why}); --system includes it`;
      else why = unwritable(o.path);
      if (why) {
        stamps.push({ path: o.path, kind: 'library', skipped: why });
        continue;
      }
      try {
        const req = requestFromProfile(o.path, `selection for ${o.path}`, alone(profile, o));
        const result = stampFile(o.path, req);
        stamps.push({ path: o.path, kind: 'library', result });
        // The program's note names this library by its identity as it is now.
        const id = identify(o.path);
        if (id) Object.assign(o, { layoutDigest: id.layoutDigest, size: id.size });
      } catch (e) {
        stamps.push({ path: o.path, kind: 'library', skipped: `stamp failed: ${(e as Error).message}` });
      }
    }
  }
  const req = requestFromProfile(mainObj.path, 'selection', JSON.stringify(profile));
  const result = stampFile(mainObj.path, req);
  stamps.unshift({ path: mainObj.path, kind: 'program', result });
  if (opts.profileOut) fs.writeFileSync(opts.profileOut, profileJson(profile));
  return { record: rec, selection, stamps };
}
