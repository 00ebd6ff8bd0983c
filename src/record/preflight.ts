/*
 * What record and train check before the command runs: a recording can take minutes and run a
 * command with side effects, so a bad output path, --main or method is said first, not after.
 */
import { checkOutput } from '../io/output';
import { readHead } from '../io/regular';
import { hasElfMagic } from '../elf/sniff';
import { exactUnavailable } from './exact';
import type { Method } from './types';
import { InvalidInputError, UnavailableError } from '../errors';

export interface Preflight {
  /** Where the profile will be written (record -o, train --profile). */
  output?: string;
  main?: string;
  method?: Method | 'auto';
}

export function preflight(p: Preflight): void {
  if (p.output !== undefined) checkOutput(p.output, 'profile');
  if (p.main !== undefined) {
    const head = readHead(p.main, 4);
    if (!hasElfMagic(head)) throw new InvalidInputError(`--main ${p.main} is not an ELF file; name the program's own file (not a script or wrapper)`);
  }
  if (p.method === 'exact') {
    const why = exactUnavailable();
    if (why) throw new UnavailableError(`--method exact cannot run here: ${why}`);
  }
}
