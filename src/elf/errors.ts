/** What was wrong with an input file, as a stable machine-readable code. */
export type ElfErrorCode =
  | 'not_elf'
  | 'bad_class'
  | 'bad_encoding'
  | 'bad_version'
  | 'truncated'
  | 'out_of_bounds'
  | 'bad_entsize'
  | 'too_large'
  | 'bad_index'
  | 'bad_alignment'
  | 'bad_note'
  | 'bad_string'
  | 'overlap';

export type ElfPath = ReadonlyArray<string | number>;

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

/**
 * The one error for malformed ELF input: what (code, message), where (byte offset in the
 * file, path into the model) and the offending value. Modelled on Go's debug/elf FormatError.
 */
export class ElfFormatError extends Error {
  override readonly name = 'ElfFormatError';
  constructor(
    readonly code: ElfErrorCode,
    message: string,
    readonly offset: bigint,
    readonly path: ElfPath = [],
    readonly value?: bigint | number | string,
  ) {
    const where = path.length ? ` ${path.join('.')}` : '';
    const val = value === undefined ? '' : ` (value ${typeof value === 'string' ? value : hex(value)})`;
    super(`${message}${val} in${where} at byte ${hex(offset)} [${code}]`);
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      offset: this.offset.toString(),
      path: this.path,
      value: this.value === undefined ? undefined : String(this.value),
    };
  }
}

/** The writer cannot place the note safely; says why and what would work instead. */
export class PlacementRefusedError extends Error {
  override readonly name = 'PlacementRefusedError';
  constructor(readonly reasons: string[], readonly advice: string) {
    super(`no safe place for the note: ${reasons.join('; ')}. ${advice}`);
  }
}

/** A bigint quantity from the file turned into a JS number index, checked. */
export function toIndex(v: bigint, what: string, path: ElfPath = [], offset = 0n): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfFormatError('too_large', `${what} does not fit in memory`, offset, path, v);
  }
  return Number(v);
}

/** Refuses a length read from a file that exceeds a named maximum before anything is allocated. */
export function safeBound(value: bigint, maximum: bigint, reason: string, offset: bigint, path: ElfPath): number {
  if (value < 0n || value > maximum) {
    throw new ElfFormatError('too_large', `${reason} exceeds the limit of ${maximum}`, offset, path, value);
  }
  return Number(value);
}
