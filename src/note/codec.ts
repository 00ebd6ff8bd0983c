import { ByteView, ByteWriter } from '../elf/bytes';
import { crc32 } from './crc32';
import * as F from './format';
import { Run, bitmapToRuns, normalizeRuns, pageTotal, runsToBitmap } from './pageset';
import { InvalidInputError } from '../errors';

/** One object the note describes: index 0 is the file itself, 1.. the libraries it loads. */
export interface NoteObject {
  /** Path of a library as the program loads it; empty for the file itself. */
  path: string;
  buildId: Uint8Array;
  layoutDigest: bigint;
  contentSha256: Uint8Array;
  pageSets: PageSet[];
}

export interface PageSet {
  name: string;
  /** Pages the set counts in (ceil(file size / page size) when recorded). */
  pageCount: number;
  runs: Run[];
}

export interface PrefetchNote {
  version: number;
  pageShift: number;
  /** True for a reservation not yet stamped: no objects. */
  empty: boolean;
  objects: NoteObject[];
}

export type NoteProblemCode =
  | 'bad_version'
  | 'bad_size'
  | 'bad_checksum'
  | 'bad_field'
  | 'bad_record'
  | 'out_of_bounds';

/** Why a descriptor is corrupt, and where inside it. */
export class NoteDecodeError extends Error {
  override readonly name = 'NoteDecodeError';
  constructor(readonly code: NoteProblemCode, message: string, readonly at: number) {
    super(`${message} at descriptor byte ${at} [${code}]`);
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function pageSetData(set: PageSet): { encoding: number; data: Uint8Array } {
  const runs = normalizeRuns(set.runs);
  const bitmapLen = Math.ceil(set.pageCount / 8);
  const runsLen = F.RUNS_FIRST + F.RUN_SIZE * runs.length;
  // Whichever is smaller; runs on a tie (cheaper to walk).
  if (runsLen <= align4(bitmapLen)) {
    const w = new ByteWriter(runsLen, true);
    w.u32(F.RUNS_COUNT, runs.length);
    runs.forEach((r, i) => {
      w.u32(F.RUNS_FIRST + F.RUN_SIZE * i, r.first);
      w.u32(F.RUNS_FIRST + F.RUN_SIZE * i + F.RUN_COUNT, r.count);
    });
    return { encoding: F.ENC_RUNS, data: w.bytes };
  }
  return { encoding: F.ENC_BITMAP, data: runsToBitmap(runs, set.pageCount) };
}

function checkModel(note: PrefetchNote): void {
  if (note.pageShift < F.MIN_PAGE_SHIFT || note.pageShift > F.MAX_PAGE_SHIFT) throw new InvalidInputError(`page shift ${note.pageShift} outside ${F.MIN_PAGE_SHIFT}..${F.MAX_PAGE_SHIFT}`);
  if (note.objects.length > F.MAX_OBJECTS) throw new InvalidInputError(`too many objects (${note.objects.length} > ${F.MAX_OBJECTS})`);
  for (const o of note.objects) {
    if (o.buildId.length > F.MAX_BUILD_ID) throw new InvalidInputError(`build-id of ${o.buildId.length} bytes is longer than ${F.MAX_BUILD_ID}`);
    if (Buffer.byteLength(o.path) > F.MAX_PATH) throw new InvalidInputError(`path longer than ${F.MAX_PATH} bytes: ${o.path.slice(0, 60)}...`);
    if (o.contentSha256.length !== 32) throw new InvalidInputError('content digest must be 32 bytes');
    for (const s of o.pageSets) {
      const n = Buffer.byteLength(s.name);
      if (n < 1 || n > F.MAX_SET_NAME) throw new InvalidInputError(`page set name '${s.name}' must be 1..${F.MAX_SET_NAME} bytes`);
      if (s.pageCount > F.MAX_PAGE_COUNT) throw new InvalidInputError(`page count ${s.pageCount} above ${F.MAX_PAGE_COUNT}`);
      const runs = normalizeRuns(s.runs);
      const last = runs[runs.length - 1];
      if (last && last.first + last.count > s.pageCount) throw new InvalidInputError(`page ${last.first + last.count - 1} of set '${s.name}' is beyond the object's ${s.pageCount} pages`);
    }
  }
}

/** The descriptor bytes of a note, exactly as long as they need to be. */
export function encodeNote(note: PrefetchNote): Uint8Array {
  checkModel(note);
  const records: Uint8Array[] = [];
  const record = (kind: number, object: number, payload: Uint8Array): void => {
    const w = new ByteWriter(F.RECORD_HEADER_SIZE + align4(payload.length), true);
    w.u16(F.R_KIND, kind);
    w.u16(F.R_OBJECT, object);
    w.u32(F.R_SIZE, payload.length);
    w.set(F.RECORD_HEADER_SIZE, payload);
    records.push(w.bytes);
  };
  note.objects.forEach((o, index) => {
    const path = Buffer.from(o.path, 'utf8');
    const w = new ByteWriter(F.OBJECT_FIXED_SIZE + o.buildId.length + path.length, true);
    w.u64(F.O_LAYOUT_DIGEST, o.layoutDigest);
    w.set(F.O_CONTENT_SHA256, o.contentSha256);
    w.u8(F.O_BUILD_ID_LEN, o.buildId.length);
    w.u16(F.O_PATH_LEN, path.length);
    w.set(F.O_BUILD_ID, o.buildId);
    w.set(F.O_BUILD_ID + o.buildId.length, path);
    record(F.REC_OBJECT, index, w.bytes);
    for (const s of o.pageSets) {
      const name = Buffer.from(s.name, 'utf8');
      const { encoding, data } = pageSetData(s);
      const nameLen = align4(name.length);
      const p = new ByteWriter(F.PAGES_FIXED_SIZE + nameLen + data.length, true);
      p.u8(F.P_ENCODING, encoding);
      p.u8(F.P_NAME_LEN, name.length);
      p.u32(F.P_PAGE_COUNT, s.pageCount);
      p.u32(F.P_SELECTED, pageTotal(normalizeRuns(s.runs)));
      p.set(F.P_NAME, name);
      p.set(F.P_NAME + nameLen, data);
      record(F.REC_PAGES, index, p.bytes);
    }
  });
  const used = F.HEADER_SIZE + records.reduce((n, r) => n + r.length, 0);
  if (used > F.MAX_DESC_SIZE) throw new InvalidInputError(`note of ${used} bytes is larger than the format's ${F.MAX_DESC_SIZE}`);
  if (records.length > F.MAX_RECORDS) throw new InvalidInputError(`note has ${records.length} records, more than ${F.MAX_RECORDS}`);
  const w = new ByteWriter(used, true);
  w.u16(F.H_VERSION, F.FORMAT_VERSION);
  w.u16(F.H_HEADER_SIZE, F.HEADER_SIZE);
  w.u32(F.H_USED_SIZE, used);
  w.u8(F.H_PAGE_SHIFT, note.pageShift);
  w.u8(F.H_FLAGS, note.empty ? F.FLAG_EMPTY : 0);
  w.u16(F.H_RECORD_COUNT, records.length);
  w.u32(F.H_OBJECT_COUNT, note.objects.length);
  let at = F.HEADER_SIZE;
  for (const r of records) {
    w.set(at, r);
    at += r.length;
  }
  w.u32(F.H_CRC32, crc32(w.bytes));
  return w.bytes;
}

/** The descriptor of a reservation: a valid, empty note. */
export function emptyNote(pageShift = F.DEFAULT_PAGE_SHIFT): Uint8Array {
  return encodeNote({ version: F.FORMAT_VERSION, pageShift, empty: true, objects: [] });
}

/**
 * Decodes a descriptor, checking every length against the bytes there are, in the same
 * order as the C shim. Throws NoteDecodeError; never reads outside `desc`.
 */
export function decodeNote(desc: Uint8Array): PrefetchNote {
  const fail = (code: NoteProblemCode, msg: string, at: number): never => {
    throw new NoteDecodeError(code, msg, at);
  };
  if (desc.length < F.HEADER_SIZE) fail('bad_size', `descriptor of ${desc.length} bytes is shorter than the ${F.HEADER_SIZE}-byte header`, 0);
  if (desc.length > F.MAX_DESC_SIZE) fail('bad_size', `descriptor of ${desc.length} bytes is larger than ${F.MAX_DESC_SIZE}`, 0);
  const v = new ByteView(desc, true);
  const version = v.u16(F.H_VERSION);
  if (version !== F.FORMAT_VERSION) fail('bad_version', `format version ${version} is not ${F.FORMAT_VERSION}`, F.H_VERSION);
  const headerSize = v.u16(F.H_HEADER_SIZE);
  if (headerSize < F.HEADER_SIZE || headerSize % 4 !== 0) fail('bad_field', `header size ${headerSize}`, F.H_HEADER_SIZE);
  const used = v.u32(F.H_USED_SIZE);
  if (used < headerSize || used > desc.length || used % 4 !== 0) fail('bad_size', `used size ${used} outside ${headerSize}..${desc.length}`, F.H_USED_SIZE);
  const stored = v.u32(F.H_CRC32);
  const copy = Uint8Array.from(desc.subarray(0, used));
  copy.fill(0, F.H_CRC32, F.H_CRC32 + 4);
  if (crc32(copy) !== stored) fail('bad_checksum', `checksum ${stored.toString(16)} does not match the content`, F.H_CRC32);
  const pageShift = v.u8(F.H_PAGE_SHIFT);
  if (pageShift < F.MIN_PAGE_SHIFT || pageShift > F.MAX_PAGE_SHIFT) fail('bad_field', `page shift ${pageShift}`, F.H_PAGE_SHIFT);
  const flags = v.u8(F.H_FLAGS);
  const recordCount = v.u16(F.H_RECORD_COUNT);
  const objectCount = v.u32(F.H_OBJECT_COUNT);
  if (recordCount > F.MAX_RECORDS) fail('bad_field', `record count ${recordCount}`, F.H_RECORD_COUNT);
  if (objectCount > F.MAX_OBJECTS) fail('bad_field', `object count ${objectCount}`, F.H_OBJECT_COUNT);
  const empty = (flags & F.FLAG_EMPTY) !== 0;
  if (empty && (recordCount !== 0 || objectCount !== 0)) fail('bad_field', 'an empty reservation holds records', F.H_FLAGS);

  const objects: NoteObject[] = [];
  let at = headerSize;
  for (let i = 0; i < recordCount; i++) {
    if (used - at < F.RECORD_HEADER_SIZE) fail('out_of_bounds', `record ${i} header past the used size`, at);
    const kind = v.u16(at + F.R_KIND);
    const object = v.u16(at + F.R_OBJECT);
    const size = v.u32(at + F.R_SIZE);
    const body = at + F.RECORD_HEADER_SIZE;
    if (size > used - body || align4(size) > used - body) fail('out_of_bounds', `record ${i} of ${size} bytes past the used size`, at + F.R_SIZE);
    const p = new ByteView(desc.subarray(body, body + size), true);
    if (kind === F.REC_OBJECT) {
      if (object !== objects.length) fail('bad_record', `object record ${object} out of order (expected ${objects.length})`, at + F.R_OBJECT);
      if (object >= objectCount) fail('bad_record', `object ${object} beyond the object count ${objectCount}`, at + F.R_OBJECT);
      if (size < F.OBJECT_FIXED_SIZE) fail('bad_record', `object record of ${size} bytes`, at + F.R_SIZE);
      const idLen = p.u8(F.O_BUILD_ID_LEN);
      const pathLen = p.u16(F.O_PATH_LEN);
      if (idLen > F.MAX_BUILD_ID || pathLen > F.MAX_PATH || F.OBJECT_FIXED_SIZE + idLen + pathLen !== size) fail('bad_record', `object record lengths (${idLen}, ${pathLen}) disagree with its size ${size}`, body + F.O_BUILD_ID_LEN);
      if (object === 0 && pathLen !== 0) fail('bad_record', 'object 0 (the file itself) has a path', body + F.O_PATH_LEN);
      if (object > 0 && pathLen === 0) fail('bad_record', `library object ${object} has no path`, body + F.O_PATH_LEN);
      objects.push({
        layoutDigest: p.u64(F.O_LAYOUT_DIGEST),
        contentSha256: Uint8Array.from(p.slice(F.O_CONTENT_SHA256, 32)),
        buildId: Uint8Array.from(p.slice(F.O_BUILD_ID, idLen)),
        path: Buffer.from(p.slice(F.O_BUILD_ID + idLen, pathLen)).toString('utf8'),
        pageSets: [],
      });
    } else if (kind === F.REC_PAGES) {
      const owner = objects[object];
      if (!owner) fail('bad_record', `page set for object ${object} before its object record`, at + F.R_OBJECT);
      if (size < F.PAGES_FIXED_SIZE) fail('bad_record', `page set record of ${size} bytes`, at + F.R_SIZE);
      const encoding = p.u8(F.P_ENCODING);
      const nameLen = p.u8(F.P_NAME_LEN);
      const pageCount = p.u32(F.P_PAGE_COUNT);
      const selected = p.u32(F.P_SELECTED);
      if (nameLen < 1 || nameLen > F.MAX_SET_NAME) fail('bad_record', `page set name length ${nameLen}`, body + F.P_NAME_LEN);
      if (pageCount > F.MAX_PAGE_COUNT) fail('bad_record', `page count ${pageCount}`, body + F.P_PAGE_COUNT);
      const dataAt = F.P_NAME + align4(nameLen);
      if (dataAt > size) fail('bad_record', 'page set name past the record', body + F.P_NAME_LEN);
      const name = Buffer.from(p.slice(F.P_NAME, nameLen)).toString('utf8');
      const dataLen = size - dataAt;
      let runs: Run[] = [];
      if (encoding === F.ENC_BITMAP) {
        if (dataLen !== Math.ceil(pageCount / 8)) fail('bad_record', `bitmap of ${dataLen} bytes for ${pageCount} pages`, body + dataAt);
        runs = bitmapToRuns(p.slice(dataAt, dataLen), pageCount);
      } else if (encoding === F.ENC_RUNS) {
        if (dataLen < F.RUNS_FIRST) fail('bad_record', 'run list without its count', body + dataAt);
        const n = p.u32(dataAt + F.RUNS_COUNT);
        if (n > (dataLen - F.RUNS_FIRST) / F.RUN_SIZE || F.RUNS_FIRST + F.RUN_SIZE * n !== dataLen) fail('bad_record', `run count ${n} disagrees with ${dataLen} bytes`, body + dataAt);
        let end = -1;
        for (let r = 0; r < n; r++) {
          const run = dataAt + F.RUNS_FIRST + F.RUN_SIZE * r;
          const first = p.u32(run);
          const count = p.u32(run + F.RUN_COUNT);
          if (count === 0 || first <= end || first > pageCount || count > pageCount - first) fail('bad_record', `run ${r} (${first}+${count}) not sorted, empty or beyond ${pageCount} pages`, body + run);
          end = first + count;
          runs.push({ first, count });
        }
      } else {
        fail('bad_record', `unknown page set encoding ${encoding}`, body);
      }
      if (pageTotal(runs) !== selected) fail('bad_record', `page set says ${selected} pages but holds ${pageTotal(runs)}`, body + F.P_SELECTED);
      owner!.pageSets.push({ name, pageCount, runs });
    }
    // Records of unknown kinds are skipped: later minor additions stay readable.
    at = body + align4(size);
  }
  if (objects.length !== objectCount) fail('bad_record', `${objects.length} object records for an object count of ${objectCount}`, F.H_OBJECT_COUNT);
  if (!empty && objectCount === 0) fail('bad_record', 'a stamped note describes no object', F.H_OBJECT_COUNT);
  return { version, pageShift, empty, objects };
}
