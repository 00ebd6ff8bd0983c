import * as fs from 'node:fs';
import { errnoText } from './errno';
import { InvalidInputError } from '../errors';

/** What a non-regular file is, for a message. */
function kindOf(st: fs.Stats | fs.BigIntStats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Thrown for a name that is not a regular file; the message starts with the name. */
export class NotRegularError extends Error {
  constructor(
    readonly path: string,
    kind: string,
  ) {
    super(`${path}: ${kind === 'not a regular file' ? kind : `is ${kind}, not a regular file`}`);
  }
}

/**
 * Opens a regular file for reading. Anything else is refused before it is opened, and the open
 * does not block: reading a FIFO or a terminal would wait forever for a writer.
 */
export function openRegular(path: string): { fd: number; stat: fs.BigIntStats } {
  const before = fs.statSync(path);
  if (!before.isFile()) throw new NotRegularError(path, kindOf(before));
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    // Replaced between the stat and the open: check what was opened.
    const stat = fs.fstatSync(fd, { bigint: true });
    if (!stat.isFile()) throw new NotRegularError(path, kindOf(stat));
    return { fd, stat };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** The whole of a regular file (a profile, a picture's input); `what` names it in errors. */
export function readRegular(path: string, what?: string): Buffer {
  try {
    const { fd } = openRegular(path);
    try {
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if (what === undefined) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = e instanceof NotRegularError ? e.message.slice(path.length + 2) : errnoText(err);
    throw new InvalidInputError(`${what} ${path}: ${why}`);
  }
}

/** The first bytes of a regular file (its magic number). */
export function readHead(path: string, n: number): Buffer {
  const { fd } = openRegular(path);
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, fs.readSync(fd, b, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}
