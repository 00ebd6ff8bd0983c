import * as fs from 'node:fs';
import * as path from 'node:path';
import { TEMP_NAME } from '../io/atomic';
import { ET_DYN, ET_EXEC, sniffElfType } from '../elf/sniff';
import { InvalidInputError } from '../errors';

/** A file of the tree that may be stamped: an ELF executable or shared object. */
export interface Candidate {
  path: string;
  /** Other names of the same inode in the tree (hard links), re-linked after a stamp. */
  links: string[];
  size: number;
}

export interface WalkResult {
  candidates: Candidate[];
  /** Regular files that are not ELF executables or shared objects (data, scripts, .o, .ko). */
  others: number;
  /** Symbolic links (never followed: their targets are stamped under their own names). */
  symlinks: number;
  /** Our own temporary files left by a process that was killed, removed on the way. */
  staleTemps: string[];
}

/** ELF header's e_type, for ELF executables and shared objects only. */
function elfType(file: string): number | undefined {
  const t = sniffElfType(file, { noFollow: true });
  return t === ET_EXEC || t === ET_DYN ? t : undefined;
}

/** Our temporary names (src/io/atomic.ts) whose process is gone. */
function staleTemp(name: string): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m) return false;
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Finds every ELF executable and shared object under `root`, in a stable (sorted) order,
 * without following symlinks or leaving the file system. Names of one inode come as one
 * candidate. With `cleanTemps`, temporary files of a killed stamp are removed.
 */
export function walkTree(root: string, opts: { cleanTemps?: boolean } = {}): WalkResult {
  const rootStat = fs.statSync(root);
  if (!rootStat.isDirectory()) throw new InvalidInputError(`${root} is not a directory`);
  const byInode = new Map<string, Candidate>();
  const result: WalkResult = { candidates: [], others: 0, symlinks: 0, staleTemps: [] };
  const visit = (dir: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch (e) {
      throw new InvalidInputError(`cannot read directory ${dir}: ${(e as Error).message}`);
    }
    for (const name of names) {
      const file = path.join(dir, name);
      const st = fs.lstatSync(file);
      if (st.isSymbolicLink()) {
        result.symlinks++;
      } else if (st.isDirectory()) {
        if (st.dev === rootStat.dev) visit(file);
      } else if (st.isFile()) {
        if (opts.cleanTemps && staleTemp(name)) {
          fs.rmSync(file, { force: true });
          result.staleTemps.push(file);
          continue;
        }
        if (st.size < 64 || elfType(file) === undefined) {
          result.others++;
          continue;
        }
        const key = `${st.dev}:${st.ino}`;
        const known = st.nlink > 1 ? byInode.get(key) : undefined;
        if (known) {
          known.links.push(file);
          continue;
        }
        const c: Candidate = { path: file, links: [], size: st.size };
        if (st.nlink > 1) byInode.set(key, c);
        result.candidates.push(c);
      } else {
        result.others++;
      }
    }
  };
  visit(root);
  return result;
}
