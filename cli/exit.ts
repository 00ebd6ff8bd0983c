/** Exit codes of every command (docs/USAGE.md lists them). */
export const EXIT = {
  ok: 0,
  error: 1, // bad usage, I/O error, anything unexpected
  malformed: 2, // the input is not a well-formed ELF file
  refused: 3, // no safe place for the note in this file
  absent: 10, // verify: no note (or an empty reservation)
  stale: 11, // verify: the note belongs to another build
  corrupt: 12, // verify: the note is damaged
} as const;
