import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { newFileError } from './output';
import { readXattrs, writeXattrs } from './xattrs';
import { ConflictError, InvalidInputError } from '../errors';

/**
 * A temporary name in `file`'s directory: `.elfprefetch-PID-HEX.tmp`. The PID lets stamp-tree
 * tell the leftovers of a killed process (TEMP_NAME) from a running one's.
 */
export function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.elfprefetch-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** Our temporary names; group 1 is the PID of the process that made it. */
export const TEMP_NAME = /^\.elfprefetch-(\d+)-[0-9a-f]{12}\.tmp$/;

/**
 * Writes a new small file (a profile entry, a sidecar) whole or not at all: a temporary file
 * beside it, renamed over it. With `fsync` (default) flushed before the rename.
 */
export function writeFileAtomically(file: string, bytes: string | Uint8Array, opts: { mode?: number; fsync?: boolean } = {}): void {
  const mode = opts.mode ?? 0o644;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = tempBeside(file);
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.writeFileSync(fd, bytes);
      fs.fchmodSync(fd, mode); // whatever the umask
      if (opts.fsync !== false) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export interface ReplaceOptions {
  /** Write here instead of replacing the input (the input is only read). */
  output?: string;
  /** The file as it was opened and read: an in-place replacement refuses if the name now points elsewhere. */
  opened?: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint };
  /**
   * The input's extended attributes when the caller read them already (`getfattr --dump`
   * text, or null for none): a tree is read in one `getfattr -R` instead of once per file.
   */
  xattrs?: string | null;
  /**
   * Flush the new file and its directory before returning (default). A caller replacing many
   * files (stamp-tree) flushes the whole file system once at the end instead: the rename is
   * atomic either way; only durability across a power loss waits for that flush.
   */
  fsync?: boolean;
}

/**
 * Writes a new version of `input` atomically: a temporary file in the destination's directory
 * is filled by `produce`, flushed, given the original's mode, owner and extended attributes,
 * and renamed over the destination. Symlinks are followed. On any error the temporary file is
 * removed and the destination is as it was. The steps are synchronous, so a caller that handles
 * signals on the event loop (cli/signals.ts) never sees a half-written replacement.
 */
export function replaceAtomically(input: string, produce: (tmpPath: string) => void, opts: ReplaceOptions = {}): string {
  const source = fs.realpathSync(input);
  let dest = source;
  if (opts.output !== undefined) {
    dest = fs.existsSync(opts.output) ? fs.realpathSync(opts.output) : path.resolve(opts.output);
    if (fs.existsSync(dest) && fs.statSync(dest).isDirectory()) throw new InvalidInputError(`output ${opts.output} is a directory; name the file to write`);
  }
  const st = fs.statSync(source);
  const xattrs = opts.xattrs === undefined ? readXattrs(source) : (opts.xattrs ?? undefined);
    // A name of our own: getfattr/setfattr escape and unescape unusual characters in names.
  const tmp = tempBeside(dest);
  try {
    produce(tmp);
    const fd = fs.openSync(tmp, 'r+');
    try {
      if (opts.fsync !== false) fs.fsyncSync(fd);
      // chown clears set-id bits, so owner first, then mode; capabilities go last.
      if (process.getuid?.() === 0 || st.uid === process.getuid?.()) {
        try {
          fs.fchownSync(fd, st.uid, st.gid);
        } catch (e) {
          if (process.getuid?.() === 0) throw e;
        }
      }
      fs.fchmodSync(fd, st.mode & 0o7777);
    } finally {
      fs.closeSync(fd);
    }
    if (xattrs) writeXattrs(tmp, xattrs);
    // A file replaced under us (a package upgrade, another tool) is not overwritten with a
    // stamp of what it was before.
    if (dest === source) {
      const now = fs.statSync(dest, { bigint: true });
      const was = opts.opened ?? { dev: BigInt(st.dev), ino: BigInt(st.ino), size: BigInt(st.size), mtimeNs: now.mtimeNs };
      if (now.ino !== was.ino || now.dev !== was.dev || now.size !== was.size || now.mtimeNs !== was.mtimeNs) {
        throw new ConflictError(`${input} was replaced or changed while it was being rewritten; it was left as it is now`);
      }
    }
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw newFileError(e, dest, tmp);
  }
  if (opts.fsync === false) return dest;
  const dir = fs.openSync(path.dirname(dest), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  return dest;
}
