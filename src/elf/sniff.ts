import * as fs from 'node:fs';

/** ELF header's e_type of an executable and a shared object (or PIE). */
export const ET_EXEC = 2;
export const ET_DYN = 3;

/** Whether `head` (a file's first bytes) starts with the ELF magic, \x7fELF. */
export function hasElfMagic(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/**
 * The one cheap "is this an ELF file?" test: reads the first 18 bytes and returns the header's
 * e_type when they start with the ELF magic, else undefined (not ELF, too short, unreadable,
 * a FIFO or, with `noFollow`, a symlink). Never throws and never blocks on a special file.
 */
export function sniffElfType(file: string, opts: { noFollow?: boolean } = {}): number | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (opts.noFollow ? fs.constants.O_NOFOLLOW : 0));
    const b = Buffer.alloc(18);
    if (fs.readSync(fd, b, 0, 18, 0) !== 18) return undefined;
    if (!hasElfMagic(b)) return undefined;
    return b[5] === 2 ? b.readUInt16BE(16) : b.readUInt16LE(16);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
