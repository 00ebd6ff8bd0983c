import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoText } from './errno';
import { InvalidInputError } from '../errors';

/**
 * Checks up front that a new file can be written at `file` (an -o option): not a directory, its
 * directory there and writable. Said before any work is done (a recording, a rewrite), in words
 * about the file, not about the temporary name a write would have used.
 */
export function checkOutput(file: string, what = 'output'): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    /* a new file */
  }
  if (st?.isDirectory()) throw new InvalidInputError(`${what} ${file} is a directory; name the file to write`);
  const dir = path.dirname(path.resolve(file));
  let d: fs.Stats;
  try {
    d = fs.statSync(dir);
  } catch (e) {
    throw new InvalidInputError(`${what} ${file}: its directory ${dir} cannot be used: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  if (!d.isDirectory()) throw new InvalidInputError(`${what} ${file}: ${dir} is not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new InvalidInputError(`${what} ${file}: cannot write in ${dir}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
}

/**
 * An error creating a new file beside `dest` said in words about `dest`: `EACCES … copyfile
 * '/proc/self/fd/18' -> '…/.elfprefetch-….tmp'` becomes "cannot write a new file in DIR".
 */
export function newFileError(e: unknown, dest: string, tmp: string): unknown {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (!err.code || (err.path !== tmp && err.dest !== tmp)) return e;
  const dir = path.dirname(dest);
  const hint = err.code === 'EROFS' || err.code === 'EACCES' || err.code === 'EPERM' ? ' (-o OUT writes the result elsewhere; stamp --sidecar DIR leaves the file as it is)' : '';
  return new Error(`cannot write a new file in ${dir} (the result is written beside ${path.basename(dest)} and renamed over it): ${errnoText(err)}${hint}`);
}
