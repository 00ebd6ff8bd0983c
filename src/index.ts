/**
 * elfprefetch as a library: read any ELF file, and read, write and check the prefetch note.
 * Addresses, offsets and sizes are bigint; counts and indices are number.
 */
export { ByteSource, BufferSource, FileSource, ByteView } from './elf/bytes';
export * as elf from './elf/constants';
export { ElfFormatError, ElfErrorCode, PlacementRefusedError } from './elf/errors';
export { parseElf, openElf, readElf } from './elf/read';
export type { ElfFile, FileHeader, ProgramHeader, SectionHeader, Note } from './elf/types';
export { encodeNote, decodeNote, emptyNote, NoteDecodeError } from './note/codec';
export type { PrefetchNote, NoteObject, PageSet } from './note/codec';
export * as format from './note/format';
export { buildIdOf, layoutDigest, contentSha256, fnv1a64 } from './note/identity';
export { parseRanges, formatRanges, normalizeRuns, runsFromPages } from './note/pageset';
export type { Run } from './note/pageset';
export { ProfileSchema, parseProfile } from './profile/schema';
export type { Profile, ProfileObject } from './profile/schema';
export { checkLayout } from './layout/check';
export { planStamp } from './layout/planner';
export { planRemove } from './layout/remove';
export { findOurNote } from './note/locate';
export type { LayoutPlan, Placement } from './layout/plan';
export { stampFile, removeNote } from './ops/stamp';
export type { StampRequest, StampResult } from './ops/stamp';
export { verifyElf } from './ops/verify';
export type { VerifyResult, VerifyStatus } from './ops/verify';
export { reservationAssembly } from './ops/reserve';
