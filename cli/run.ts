import { ElfFormatError, PlacementRefusedError } from '../src/elf/errors';
import { EXIT } from './exit';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
};

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
    io.err(`elfprefetch: ${where}${err.code && !err.message.includes(err.code) ? err.code + ': ' : ''}${err.message ?? String(e)}`);
    return EXIT.error;
  }
}
