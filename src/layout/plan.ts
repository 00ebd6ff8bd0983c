import type { FileHeader, ProgramHeader, SectionHeader } from '../elf/types';

/** Where the note went, in the order of preference of docs/DESIGN.md. */
export type Placement =
  | 'in-place' // our note was there already, with room: only its descriptor changes
  | 'reserved' // a reservation linked in by `elfprefetch reserve`, filled in place
  | 'gap' // default: a non-allocated note in the file gap after the first PT_LOAD; nothing moves
  | 'after-load' // default: a non-allocated note after the last PT_LOAD; only non-allocated sections move
  | 'slack' // opt-in: notes/.interp moved to the end of the first PT_LOAD to share or grow the table
  | 'exec-shift' // opt-in: ET_EXEC: whole pages inserted before the first segment
  | 'tail-segment' // opt-in: a new PT_LOAD at the end, with the first PT_LOAD's offset-to-address delta
  | 'remove';

/** The opt-in strategies that move existing sections (`--fallback move`). */
export const MOVING: ReadonlySet<string> = new Set<Placement>(['slack', 'exec-shift', 'tail-segment']);

export interface CopyPiece {
  from: bigint;
  to: bigint;
  length: bigint;
}

export interface WritePiece {
  at: bigint;
  bytes: Uint8Array;
  what: string;
}

/**
 * A layout plan is plain data: the output is `copies` of the input, then `writes` on top,
 * zeros elsewhere, `outputSize` bytes long. The writer applies it and nothing else.
 */
export interface LayoutPlan {
  strategy: Placement;
  outputSize: bigint;
  copies: CopyPiece[];
  writes: WritePiece[];
  /** Where the note's descriptor lands and how many bytes it may take (0 for remove). */
  descOffset: bigint;
  descCapacity: number;
  header: FileHeader;
  programHeaders: ProgramHeader[];
  sections: SectionHeader[];
  /** Bytes the file grows by. */
  growth: bigint;
  /** Distance every input byte moves (exec-shift: the inserted pages; else 0). */
  shift: bigint;
  /**
   * The plan keeps the contract of docs/DESIGN.md: no existing section moves, page 0 keeps
   * its notes and tables. False only for the opt-in moving strategies.
   */
  keepsLayout: boolean;
}
