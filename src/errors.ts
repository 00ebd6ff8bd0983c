/*
 * The typed errors of the house, besides ElfFormatError and PlacementRefusedError
 * (src/elf/errors.ts) and InterruptedError (src/io/interrupt.ts). Callers branch on the type
 * and its `code`, never on the message; the message is what the user reads. Imports nothing,
 * so every folder may throw them.
 */

/** A value the caller gave (an option, a page range, a size, a name, a command) cannot be used. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}

export type ProfileErrorCode = 'malformed' | 'mismatch' | 'no_pages' | 'nothing_selected' | 'other_program';

/**
 * A profile cannot give a file its pages: malformed, profiles that do not add up, no pages for
 * this file, nothing selected, or (carry-over) another program. `short` says it without advice.
 */
export class ProfileError extends Error {
  override readonly name = 'ProfileError';
  constructor(
    readonly code: ProfileErrorCode,
    message: string,
    readonly short: string = message,
  ) {
    super(message);
  }
}

/** A recording or benchmark could not observe the program (it did not start, nothing was seen). */
export class RecordingError extends Error {
  override readonly name = 'RecordingError';
}

/** What this needs is not here: a tool, root, a kernel feature, a native file. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}

/** Another program we ran failed; the message carries its words. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

/** Someone else changed the file or holds the lock; nothing was written. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** One of our own checks of what we wrote failed: a bug; nothing was written. */
export class InternalError extends Error {
  override readonly name = 'InternalError';
}
