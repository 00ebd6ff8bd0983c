import { ElfFormatError, PlacementRefusedError } from '../src/elf/errors';
import { errnoText } from '../src/io/errno';
import { EXIT } from './exit';

export interface Io {
  /** The result: summary lines, JSON, the picture. */
  out: (s: string) => void;
  /** Errors. */
  err: (s: string) => void;
  /** Warnings and progress, which --quiet drops (default: err). */
  note?: (s: string) => void;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
};

/** A warning or progress line: to stderr unless --quiet. */
export const note = (io: Io, s: string): void => (io.note ?? io.err)(`elfprefetch: ${s}`);


/** Runs a command body, turning each kind of failure into its message and exit code. */
export async function guard(io: Io, file: string | undefined, body: () => Promise<number> | number): Promise<number> {
  const where = file ? `${file}: ` : '';
  try {
    return await body();
  } catch (e) {
    if (e instanceof ElfFormatError) {
      io.err(`elfprefetch: ${where}malformed ELF: ${e.message}`);
      return EXIT.malformed;
    }
    if (e instanceof PlacementRefusedError) {
      io.err(`elfprefetch: ${where}${e.message}`);
      return EXIT.refused;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code && err.syscall) {
      // A system call failed: name the file it was about, not Node's call and arguments.
      io.err(`elfprefetch: ${err.path && err.path !== file ? `${err.path}: ` : where}${errnoText(err)}`);
      return EXIT.error;
    }
    const msg = err.message ?? String(e);
    io.err(`elfprefetch: ${file && msg.startsWith(`${file}: `) ? '' : where}${msg}`);
    return EXIT.error;
  }
}
