// The corpus checks: every file of ../shared/corpus (1,106 ELF files of many machines,
// many of them malformed on purpose) against the reader, and every executable and shared
// library of it against the writer, judged by binutils, elfutils and an independent parser.
//
//   1. parse: openElf/parseElf succeed or throw ElfFormatError, never anything else, never
//      hang; where readelf -hW reads the header, our e_type, e_machine, phnum and shnum agree.
//   2. stamp (pages 0-0, in-process): success, PlacementRefusedError or ElfFormatError; a
//      success (a) keeps the model apart from the expected changes, (b) makes readelf,
//      eu-elflint and objdump say nothing worse, (c) is read by elfinfo, (d) verifies,
//      (e) survives strip and objcopy as 'valid' or 'stale', (f) stamps again unchanged (with the page set the note holds).
//   3. the programs the manifest ran still print the same and exit the same once stamped.
//   4. placement statistics: t.comment and build/corpus-stats.json.
//
// The library runs in a worker thread (helpers/corpus-worker.ts) so a hang is timed out and
// named (a worker per core); external tools run as async child processes of a small spawner
// process (helpers/spawner.js), at most JOBS at a time.
//
// ELFPREFETCH_CORPUS names another corpus folder; ELFPREFETCH_CORPUS_JOBS the parallelism;
// ELFPREFETCH_CORPUS_ONLY=<regexp> takes only the matching corpus paths (to look into a
// failure); ELFPREFETCH_CORPUS_KEEP=1 keeps the stamped copies (their folder is printed).
import { firstPageBuildId } from './helpers/contract';
import t from 'tap';
import { MAX_CAPTURE, type ProcResult, Semaphore, Spawner, pool } from './helpers/runner';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { open as elfinfoOpen } from 'elfinfo';
import type {
  ErrorSummary,
  Inspected,
  Model,
  Parsed,
  Reply,
  Request,
  SectionSummary,
  SegmentSummary,
  StampOutcome,
} from './helpers/corpus-worker';

type Test = tap.Test;

const repoRoot = path.resolve(__dirname, '..');
const corpusDir = path.resolve(process.env.ELFPREFETCH_CORPUS ?? path.join(repoRoot, '..', 'shared', 'corpus'));
const statsPath = path.join(repoRoot, 'build', 'corpus-stats.json');
const JOBS = Math.max(1, Number(process.env.ELFPREFETCH_CORPUS_JOBS ?? 4));
/** Library worker threads: one per core, at most two (each compiles the library again). */
const LIB_WORKERS = Math.max(1, Math.min(2, os.availableParallelism()));
const KEEP = process.env.ELFPREFETCH_CORPUS_KEEP === '1';
/** Only the files whose corpus path matches this regular expression (to look into a failure). */
const ONLY = process.env.ELFPREFETCH_CORPUS_ONLY ? new RegExp(process.env.ELFPREFETCH_CORPUS_ONLY) : undefined;

/** Time limits: one library call, one binutils/elfutils run, one run of a program. */
const LIB_TIMEOUT_MS = 20_000;
const TOOL_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 10_000;

// ELF numbers, written out here rather than imported so a wrong constant in src/ shows.
const ET_EXEC = 2;
const ET_DYN = 3;
const PT_LOAD = 1;
const PT_NOTE = 4;
const SHT_NOTE = 7;
const SECTION_NAME = '.note.elfprefetch';
const NOTE_OWNER = 'elfprefetch';
/** The request of every stamp here: page 0 of the input. */
const RUNS = [{ first: 0, count: 1 }];
const STRATEGIES = ['gap', 'after-load', 'slack', 'exec-shift', 'tail-segment', 'in-place', 'reserved'] as const;
/** The placements that keep the contract of docs/DESIGN.md: no program header or loaded byte changes. */
const KEEPING = new Set(['gap', 'after-load', 'in-place', 'reserved']);

// ---------------------------------------------------------------------------------------
// TOLERATED DIFFERENCES: the one place that lists what the checks accept on purpose, and why.
// ---------------------------------------------------------------------------------------
const TOLERATED = {
  /**
   * Check 1 (our model against `readelf -hW`), pyelftools style. Each entry names the field,
   * says why the two readers may differ, and decides from the readelf output and our model
   * whether a difference is this one. Every use is counted in build/corpus-stats.json.
   * None is needed on this corpus: e_type and e_machine are compared through the names
   * readelf itself gives a bare header with our values (so DYN's "PIE or shared object"
   * guess and e_flags-dependent machine names are not differences), and the counts are
   * compared resolved, as readelf prints them in parentheses under extended numbering.
   */
  readelfHeader: [] as Array<{
    id: string;
    field: 'type' | 'machine' | 'phnum' | 'shnum';
    reason: string;
    applies: (r: ReadelfHeader, m: Model) => boolean;
  }>,
  /**
   * Check 2b: complaint lines of the tools that a stamp is expected to add. Our note has an
   * owner and type eu-elflint does not know; it says so once for the PT_NOTE and once for
   * the section, and that is the point of the note, not a defect.
   */
  toolLines: [
    { tool: 'eu-elflint', pattern: /unknown object file note type # with owner name 'elfprefetch'/, reason: 'our own note: an owner and type elfutils does not know' },
  ],
  /**
   * Check 2b, exit status: eu-elflint exits 1 for any complaint, the one above included, so
   * a clean original makes a stamped file "worse" by that line alone. A worse status is
   * accepted when the only lines the stamp added are tolerated ones above.
   */
  statusWorseByToleratedLinesOnly: true,
  /**
   * Check 2a, the model: sizes and addresses a stamp changes by design. The section name
   * table gains '.note.elfprefetch\0'; section 0's sh_size holds the section count when it
   * overflows e_shnum; NOTE sections and .interp (and the PT_NOTE, PT_INTERP, PT_PHDR and
   * PT_GNU_PROPERTY that describe them or the table) may move to make room.
   */
  movableSegments: [PT_NOTE, 3 /* PT_INTERP */, 6 /* PT_PHDR */, 0x6474e553 /* PT_GNU_PROPERTY */],
  /**
   * Check 2a, the loaded bytes: the address ranges (of input or output) a stamp may rewrite.
   * `always`: the ELF header and the program header table; NOTE sections, .interp and the
   * PT_NOTE/PT_INTERP/PT_GNU_PROPERTY contents, which move (their old place is zeroed, their
   * new place filled); the symbol tables, whose entries for moved sections get new addresses.
   * `overZeros`: the table of the output where it grew in place, but only over bytes that
   * were zero in the input (anything else there was content, and is overwritten).
   * Ranges are of every address a file range is loaded at (a file byte may be loaded twice).
   */
  rewritable: (m: Model, output: boolean): { always: Range[]; overZeros: Range[] } => {
    const always: Range[] = [];
    const overZeros: Range[] = [];
    const at = (list: Range[], off: bigint, size: bigint): void => {
      for (const p of m.segments) {
        if (p.type !== PT_LOAD || p.filesz === 0n) continue;
        const s = off > p.offset ? off : p.offset;
        const e = off + size < p.offset + p.filesz ? off + size : p.offset + p.filesz;
        if (s < e) list.push({ start: p.vaddr + (s - p.offset), end: p.vaddr + (e - p.offset) });
      }
    };
    const h = m.header;
    const entsize = BigInt(h.is64 ? 56 : 32);
    at(always, 0n, h.is64 ? 64n : 52n);
    at(output ? overZeros : always, h.phoff, BigInt(h.phnum) * entsize);
    for (const s of m.sections) {
      if (s.type === 8 /* SHT_NOBITS */) continue;
      if (s.type === SHT_NOTE || s.name === '.interp' || s.type === 2 /* SHT_SYMTAB */ || s.type === 11 /* SHT_DYNSYM */) {
        if ((s.flags & 2n) /* SHF_ALLOC */ !== 0n) always.push({ start: s.addr, end: s.addr + s.size });
        at(always, s.offset, s.size);
      }
    }
    for (const p of m.segments) {
      if (p.type === PT_NOTE || p.type === 3 || p.type === 0x6474e553) {
        always.push({ start: p.vaddr, end: p.vaddr + p.filesz });
        at(always, p.offset, p.filesz);
      }
    }
    return { always, overZeros };
  },
};

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

const procSlots = new Semaphore(JOBS);
const spawner = new Spawner();

/** Runs argv; stdout is kept only when asked (objdump -x of a big file prints megabytes). */
function run(argv: string[], opts: { stdout?: boolean; cwd?: string; timeoutMs?: number } = {}): Promise<ProcResult> {
  return procSlots.use(() => spawner.run(argv, { ...opts, timeoutMs: opts.timeoutMs ?? TOOL_TIMEOUT_MS }));
}

async function onPath(cmd: string): Promise<boolean> {
  const r = await run(['sh', '-c', 'command -v "$0"', cmd], { stdout: true });
  return r.status === 0;
}

// ---------------------------------------------------------------------------------------
// The library, in a worker thread
// ---------------------------------------------------------------------------------------

type Hang = { hang: true; ms: number };
type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** One worker doing one request at a time; a request that outlives its limit kills it. */
class Library {
  private worker?: Worker;
  /** A new worker compiles the library first: its first request gets more time. */
  private fresh = false;
  private nextId = 1;
  private queue: Array<{ req: Request; resolve: (r: Reply['result'] | Hang) => void }> = [];
  private busy = false;

  private start(): Worker {
    const w = new Worker(path.join(__dirname, 'helpers', 'corpus-worker.ts'));
    w.unref();
    this.fresh = true;
    return w;
  }

  /** Requests waiting or running. */
  get load(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  call(req: RequestBody): Promise<Reply['result'] | Hang> {
    return new Promise((resolve) => {
      this.queue.push({ req: { ...req, id: this.nextId++ } as Request, resolve });
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy) return;
    const job = this.queue.shift();
    if (!job) return;
    this.busy = true;
    const w = (this.worker ??= this.start());
    const limit = LIB_TIMEOUT_MS + (this.fresh ? 60_000 : 0);
    this.fresh = false;
    const began = Date.now();
    const done = (r: Reply['result'] | Hang): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      this.busy = false;
      job.resolve(r);
      this.pump();
    };
    const onMessage = (m: Reply): void => {
      if (m.id === job.req.id) done(m.result);
    };
    const onError = (e: Error): void => {
      this.worker = undefined;
      done({ ok: false, error: { kind: 'other', name: 'WorkerError', message: e.message, stack: e.stack } });
    };
    const timer = setTimeout(() => {
      this.worker = undefined;
      void w.terminate();
      done({ hang: true, ms: Date.now() - began });
    }, limit);
    w.on('message', onMessage);
    w.on('error', onError);
    w.postMessage(job.req);
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

/** A worker per core (at most LIB_WORKERS): each request goes to the least loaded one. */
class Libraries {
  private workers = Array.from({ length: LIB_WORKERS }, () => new Library());

  call(req: RequestBody): Promise<Reply['result'] | Hang> {
    return this.workers.reduce((a, b) => (b.load < a.load ? b : a)).call(req);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

const isHang = (r: unknown): r is Hang => typeof r === 'object' && r !== null && 'hang' in r;

// ---------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------

interface ManifestRow {
  path: string;
  /** How the file was run where the corpus was made: "native: ./public/...", "qemu: qemu-arm -L ...", "not tried"... */
  runs: string;
}

interface CorpusFile {
  rel: string;
  abs: string;
  parsed?: Parsed | Hang;
  model?: Model;
}

function walk(dir: string, out: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && !(dir === corpusDir && (e.name === 'MANIFEST.tsv' || e.name === 'README.md'))) out.push(p);
  }
}

function readManifest(): Map<string, ManifestRow> {
  const rows = new Map<string, ManifestRow>();
  const lines = fs.readFileSync(path.join(corpusDir, 'MANIFEST.tsv'), 'utf8').split('\n').filter((l) => l.length > 0);
  const head = lines.shift()!.split('\t');
  const col = (name: string): number => {
    const i = head.indexOf(name);
    if (i < 0) throw new Error(`MANIFEST.tsv has no column '${name}'`);
    return i;
  };
  const [cp, cr] = [col('path'), col('runs')];
  for (const l of lines) {
    const f = l.split('\t');
    rows.set(f[cp]!, { path: f[cp]!, runs: f[cr]! });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------
// Shared state of the subtests (they run in order)
// ---------------------------------------------------------------------------------------

const startedAt = Date.now();
const lib = new Libraries();
let workDir = '';
let files: CorpusFile[] = [];
let manifest = new Map<string, ManifestRow>();

const stats = {
  corpus: '',
  files: 0,
  parse: { ok: 0, formatError: 0, formatErrorByCode: {} as Record<string, number>, otherError: 0, hang: 0 },
  readelfHeader: { compared: 0, readelfRejected: 0, weRejectReadelfReads: 0, tolerated: {} as Record<string, number>, failed: 0 },
  placement: {
    /** All corpus files fall in exactly one of these. */
    strategies: Object.fromEntries(STRATEGIES.map((s) => [s, 0])) as Record<string, number>,
    refused: 0,
    refusedReasons: [] as Array<{ reason: string; count: number; example: string }>,
    malformed: 0,
    notLoadable: 0,
    error: 0,
    hang: 0,
  },
  checks: {} as Record<string, { checked: number; failed: number; skipped: Record<string, number> }>,
  /** verify after strip / objcopy of a stamped file: 'strip valid', 'objcopy stale'... */
  afterRewrite: {} as Record<string, number>,
  runs: { compared: 0, same: 0, skipped: [] as string[] },
  seconds: 0,
};
const refusedReasons = new Map<string, { count: number; example: string }>();

/** The problems each check found, each naming its file; reported by that check's subtest. */
const problems = new Map<string, Array<{ msg: string; diag?: Record<string, unknown> }>>();

function check(name: string) {
  stats.checks[name] ??= { checked: 0, failed: 0, skipped: {} };
  if (!problems.has(name)) problems.set(name, []);
  const c = stats.checks[name]!;
  return {
    pass: (): void => {
      c.checked++;
    },
    fail: (msg: string, diag?: Record<string, unknown>): void => {
      c.checked++;
      c.failed++;
      problems.get(name)!.push({ msg, diag });
    },
    skip: (why: string): void => {
      c.skipped[why] = (c.skipped[why] ?? 0) + 1;
    },
  };
}

/** Emits one check's problems as failures, and fails too if the check checked nothing. */
function report(t: Test, name: string, what: string): void {
  const c = stats.checks[name] ?? { checked: 0, failed: 0, skipped: {} };
  // The problem names its file; where in this spec it was reported says nothing.
  for (const p of problems.get(name) ?? []) t.fail(p.msg, { ...p.diag, at: null, stack: null } as Record<string, unknown>);
  const skipped = Object.entries(c.skipped).map(([k, v]) => `${v} ${k}`);
  t.ok(c.checked > 0, `${what}: ${c.checked} checked, ${c.failed} failed${skipped.length ? `; skipped: ${skipped.join(', ')}` : ''}`);
}

const errText = (e: ErrorSummary): string => `${e.name}: ${e.message}`;
const firstLines = (s: string | undefined, n = 6): string => (s ?? '').split('\n').slice(0, n).join('\n');

// ---------------------------------------------------------------------------------------
// 1. Parse
// ---------------------------------------------------------------------------------------

t.before(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-corpus-'));
});

t.teardown(async () => {
  await lib.close();
  spawner.close();
  if (KEEP) console.error(`# stamped copies kept in ${workDir}`);
  else if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

t.test('1. every corpus file parses or throws ElfFormatError', async (t) => {
  if (!fs.existsSync(path.join(corpusDir, 'MANIFEST.tsv'))) {
    t.fail(`no corpus at ${corpusDir} (set ELFPREFETCH_CORPUS)`);
    return;
  }
  stats.corpus = path.relative(repoRoot, corpusDir);
  manifest = readManifest();
  const found: string[] = [];
  walk(corpusDir, found);
  files = found.sort().map((abs) => ({ abs, rel: path.relative(corpusDir, abs) }));
  stats.files = files.length;
  const missing = [...manifest.keys()].filter((p) => !fs.existsSync(path.join(corpusDir, p)));
  t.same(missing, [], 'every file of MANIFEST.tsv is in the corpus');
  t.equal(files.length, manifest.size, `the walk finds the ${manifest.size} files of MANIFEST.tsv`);
  if (ONLY) {
    files = files.filter((f) => ONLY.test(f.rel));
    manifest = new Map([...manifest].filter(([p]) => ONLY.test(p)));
    stats.files = files.length;
    t.comment(`ELFPREFETCH_CORPUS_ONLY: ${files.length} files`);
  }

  const c = check('parse');
  await pool(files, LIB_WORKERS, async (f) => {
    const r = await lib.call({ op: 'parse', file: f.abs });
    f.parsed = r as Parsed | Hang;
    if (isHang(r)) {
      stats.parse.hang++;
      c.fail(`${f.rel}: parsing did not finish in ${r.ms} ms`);
    } else if ((r as Parsed).ok) {
      stats.parse.ok++;
      f.model = (r as Extract<Parsed, { ok: true }>).model;
      c.pass();
    } else {
      const e = (r as Extract<Parsed, { ok: false }>).error;
      if (e.kind === 'format') {
        stats.parse.formatError++;
        stats.parse.formatErrorByCode[e.code ?? '?'] = (stats.parse.formatErrorByCode[e.code ?? '?'] ?? 0) + 1;
        c.pass();
      } else {
        stats.parse.otherError++;
        c.fail(`${f.rel}: parsing threw ${errText(e)} (only ElfFormatError is allowed)`, { stack: firstLines(e.stack, 8) });
      }
    }
  });
  report(t, 'parse', 'parseElf/openElf on every file');
  t.ok(stats.parse.ok > 0 && stats.parse.formatError > 0, `${stats.parse.ok} files parse, ${stats.parse.formatError} are rejected with ElfFormatError`);
});

// ---------------------------------------------------------------------------------------
// 1b. Our header against readelf -hW
// ---------------------------------------------------------------------------------------

interface ReadelfHeader {
  type?: string;
  machine?: string;
  phnum?: number;
  shnum?: number;
  /** The raw field when readelf printed "raw (resolved)". */
  phnumRaw?: number;
  shnumRaw?: number;
  status: number | null;
  stderr: string;
}

function parseReadelfHeader(r: ProcResult): ReadelfHeader {
  const get = (label: string): string | undefined => r.stdout.match(new RegExp(`^\\s*${label}:[ \\t]*(.*)$`, 'm'))?.[1]?.trim();
  const count = (label: string): { n?: number; raw?: number } => {
    const m = get(label)?.match(/^(\d+)(?:\s*\((\d+)\))?/);
    if (!m) return {};
    return m[2] !== undefined ? { n: Number(m[2]), raw: Number(m[1]) } : { n: Number(m[1]) };
  };
  const ph = count('Number of program headers');
  const sh = count('Number of section headers');
  return { type: get('Type'), machine: get('Machine'), phnum: ph.n, phnumRaw: ph.raw, shnum: sh.n, shnumRaw: sh.raw, status: r.status, stderr: r.stderr };
}

/**
 * `readelf -hW` of each file, 64 files a run (a process per file cost more than readelf's
 * work): readelf heads each file's header with "File: PATH" on stdout. A batch that does not
 * end normally is run again file by file, so one bad file cannot blur the others.
 */
async function readelfHeaders(paths: string[]): Promise<Map<string, ReadelfHeader>> {
  const out = new Map<string, ReadelfHeader>();
  const one = async (p: string): Promise<void> => {
    out.set(p, parseReadelfHeader(await run(['readelf', '-hW', p], { stdout: true })));
  };
  const batches: string[][] = [];
  for (let i = 0; i < paths.length; i += 64) batches.push(paths.slice(i, i + 64));
  await pool(batches, JOBS, async (batch) => {
    if (batch.length === 1) return one(batch[0]!);
    const r = await run(['readelf', '-hW', ...batch], { stdout: true });
    if (r.timedOut || r.signal || r.spawnError || r.stdout.length >= MAX_CAPTURE) {
      for (const p of batch) await one(p);
      return;
    }
    const parts = new Map<string, string>();
    for (const part of r.stdout.split(/^File: /m).slice(1)) {
      const nl = part.indexOf('\n');
      parts.set(part.slice(0, nl), part.slice(nl + 1));
    }
    for (const p of batch) out.set(p, parseReadelfHeader({ ...r, stdout: parts.get(p) ?? '', stderr: '' }));
  });
  return out;
}

/** readelf prints DYN as "Shared object file" or "Position-Independent Executable file" by its contents. */
const typeWord = (s: string | undefined): string | undefined => s?.replace(/^(NONE|REL|EXEC|DYN|CORE) \(.*\)$/, '$1');

/**
 * A bare ELF header with our model's class, byte order, e_type, e_machine and e_flags: what
 * readelf calls it is what readelf must call the real file, if our model read it right.
 * (Names come from readelf itself, so no table of machine names is kept here.)
 */
function syntheticHeader(m: Model): Buffer {
  const h = m.header;
  const size = h.is64 ? 64 : 52;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, h.is64 ? 2 : 1, h.littleEndian ? 1 : 2, 1], 0);
  const u16 = (at: number, v: number): number => (h.littleEndian ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const u32 = (at: number, v: number): number => (h.littleEndian ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at));
  u16(16, h.type);
  u16(18, h.machine);
  u32(20, 1);
  u32(h.is64 ? 48 : 36, h.flags);
  u16(h.is64 ? 52 : 40, size);
  return b;
}

t.test('1b. our header agrees with readelf -hW', async (t) => {
  const c = check('readelf-header');
  const parsed = files.filter((f) => f.model);
  const synth = new Map<string, Promise<ReadelfHeader>>();
  const synthDir = fs.mkdtempSync(path.join(workDir, 'synth-'));
  const named = (m: Model): Promise<ReadelfHeader> => {
    const h = m.header;
    const key = `${h.is64 ? 64 : 32}-${h.littleEndian ? 'le' : 'be'}-${h.type}-${h.machine}-${h.flags >>> 0}`;
    let p = synth.get(key);
    if (!p) {
      const file = path.join(synthDir, key);
      fs.writeFileSync(file, syntheticHeader(m));
      p = run(['readelf', '-hW', file], { stdout: true }).then(parseReadelfHeader);
      synth.set(key, p);
    }
    return p;
  };
  // Files we reject: only counted, if readelf reads their header.
  const rejected = files.filter((f) => !f.model);
  const headers = await readelfHeaders([...parsed, ...rejected].map((f) => f.abs));
  await pool([...parsed, ...rejected], JOBS, async (f) => {
    const r = headers.get(f.abs)!;
    const readable = r.type !== undefined && r.machine !== undefined;
    if (!f.model) {
      if (readable) stats.readelfHeader.weRejectReadelfReads++;
      return;
    }
    if (!readable) {
      stats.readelfHeader.readelfRejected++;
      c.skip('readelf prints no header');
      return;
    }
    const m = f.model;
    const s = await named(m);
    const diffs: Array<{ field: 'type' | 'machine' | 'phnum' | 'shnum'; ours: string; readelf: string }> = [];
    if (typeWord(r.type) !== typeWord(s.type)) diffs.push({ field: 'type', ours: `${m.header.type} (readelf calls it ${s.type})`, readelf: r.type! });
    if (r.machine !== s.machine) diffs.push({ field: 'machine', ours: `${m.header.machine} (readelf calls it ${s.machine})`, readelf: r.machine! });
    if (r.phnum !== m.header.phnum) diffs.push({ field: 'phnum', ours: String(m.header.phnum), readelf: String(r.phnum) });
    if (r.shnum !== m.header.shnum) diffs.push({ field: 'shnum', ours: String(m.header.shnum), readelf: String(r.shnum) });
    const left = diffs.filter((d) => {
      const tol = TOLERATED.readelfHeader.find((x) => x.field === d.field && x.applies(r, m));
      if (tol) stats.readelfHeader.tolerated[tol.id] = (stats.readelfHeader.tolerated[tol.id] ?? 0) + 1;
      return !tol;
    });
    stats.readelfHeader.compared++;
    if (left.length) {
      stats.readelfHeader.failed++;
      // (its own run: a batch's stderr mixes the files)
      const alone = await run(['readelf', '-hW', f.abs]);
      c.fail(`${f.rel}: readelf -hW disagrees on ${left.map((d) => d.field).join(', ')}`, { differences: left, readelfStderr: firstLines(alone.stderr) });
    } else c.pass();
  });
  report(t, 'readelf-header', 'e_type, e_machine, phnum, shnum against readelf -hW');
});

// ---------------------------------------------------------------------------------------
// 2. Stamp
// ---------------------------------------------------------------------------------------

/** A complaint line with paths, numbers and offsets made neutral, to compare kinds. */
function normaliseLine(line: string, paths: string[]): string {
  let s = line;
  for (const p of paths) s = s.split(p).join('FILE');
  return s
    .replace(/\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*\b/g, '#')
    .replace(/\[\s*#\s*\]/g, '[#]')
    .replace(/\s+/g, ' ')
    .trim();
}

interface ToolReport {
  status: number | null;
  timedOut: boolean;
  /** Complaint kinds, tolerated ones left out. */
  lines: Set<string>;
  /** Tolerated complaint kinds seen. */
  tolerated: Set<string>;
  raw: string;
}

const TOOLS: Record<string, { argv: (f: string) => string[]; streams: 'stderr' | 'both' }> = {
  readelf: { argv: (f) => ['readelf', '-lSnW', f], streams: 'stderr' },
  'eu-elflint': { argv: (f) => ['eu-elflint', '--gnu-ld', f], streams: 'both' },
  objdump: { argv: (f) => ['objdump', '-x', f], streams: 'stderr' },
};

async function runTool(tool: string, file: string): Promise<ToolReport> {
  const spec = TOOLS[tool]!;
  const r = await run(spec.argv(file), { stdout: spec.streams === 'both' });
  const text = spec.streams === 'both' ? r.stdout + r.stderr : r.stderr;
  const ignore = TOLERATED.toolLines.filter((x) => x.tool === tool);
  const all = text
    .split('\n')
    .filter((l) => l.trim() && !/^No errors$/.test(l.trim()))
    .map((l) => normaliseLine(l, [file]));
  const isTolerated = (l: string): boolean => ignore.some((x) => x.pattern.test(l));
  return {
    status: r.status,
    timedOut: r.timedOut,
    lines: new Set(all.filter((l) => !isTolerated(l))),
    tolerated: new Set(all.filter(isTolerated)),
    raw: text,
  };
}

/** Exit status badness: 0 best, then any failure status, then killed or timed out. */
const badness = (r: { status: number | null; timedOut: boolean }): number => (r.timedOut || r.status === null ? 2 : r.status === 0 ? 0 : 1);

/** Cross binutils for machines the host's strip and objcopy may not know. */
const CROSS: Record<number, string> = {
  3: 'i686-linux-gnu',
  20: 'powerpc64-linux-gnu',
  21: 'powerpc64-linux-gnu',
  22: 's390x-linux-gnu',
  40: 'arm-linux-gnueabihf',
  183: 'aarch64-linux-gnu',
  243: 'riscv64-linux-gnu',
};
/** Machines the host's binutils know (x86-64, i386, Intel MCU). */
const HOST_MACHINES = [62, 3, 6];
const crossAvailable = new Map<string, Promise<boolean>>();
const hasTool = (cmd: string): Promise<boolean> => {
  let p = crossAvailable.get(cmd);
  if (!p) crossAvailable.set(cmd, (p = onPath(cmd)));
  return p;
};
const unrecognised = (s: string): boolean => /file format not recognized|format is ambiguous|Unable to recognise the format|not recognized/i.test(s);

/** Page numbers of a page set. */
function pagesOf(runs: Array<{ first: number; count: number }>): number[] {
  const out: number[] = [];
  for (const r of runs) for (let p = r.first; p < r.first + r.count; p++) out.push(p);
  return out;
}

const loadsOf = (m: Model): SegmentSummary[] => m.segments.filter((p) => p.type === PT_LOAD).sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** (a): what may differ between the input's model and the stamped output's. */
function compareModels(a: Model, b: Model, strategy: string): string[] {
  const out: string[] = [];
  for (const k of ['is64', 'littleEndian', 'type', 'machine', 'flags', 'entry'] as const) {
    if (a.header[k] !== b.header[k]) out.push(`e_${k} changed from ${String(a.header[k])} to ${String(b.header[k])}`);
  }
  const la = loadsOf(a);
  const lb = loadsOf(b);
  const extra = strategy === 'tail-segment' ? 1 : 0;
  if (lb.length !== la.length + extra) out.push(`${la.length} PT_LOADs became ${lb.length} (strategy ${strategy})`);
  la.forEach((p, i) => {
    const shifted = strategy === 'exec-shift' && i === 0;
    const match = lb.find((q) =>
      q.flags === p.flags &&
      q.paddr - q.vaddr === p.paddr - p.vaddr &&
      (shifted ? q.vaddr < p.vaddr && (p.vaddr - q.vaddr) % 4096n === 0n && q.vaddr + q.memsz >= p.vaddr + p.memsz : q.vaddr === p.vaddr && q.memsz >= p.memsz),
    );
    if (!match) out.push(`PT_LOAD ${p.index} (vaddr ${hex(p.vaddr)}, paddr ${hex(p.paddr)}, memsz ${hex(p.memsz)}, flags ${p.flags}) has no counterpart${shifted ? ' moved down' : ''}`);
  });
  // Other segments, the k-th of each type against the k-th: all kept as they were, except
  // those that describe what a stamp may move; a stamp adds at most one PT_NOTE.
  const byType = (m: Model): Map<number, SegmentSummary[]> => {
    const g = new Map<number, SegmentSummary[]>();
    for (const p of m.segments) if (p.type !== PT_LOAD) g.set(p.type, [...(g.get(p.type) ?? []), p]);
    return g;
  };
  const ga = byType(a);
  const gb = byType(b);
  for (const type of gb.keys()) if (!ga.has(type) && type !== PT_NOTE) out.push(`a segment of type 0x${type.toString(16)} appeared`);
  for (const [type, sa] of ga) {
    const sb = gb.get(type) ?? [];
    const ok = type === PT_NOTE ? sb.length === sa.length || sb.length === sa.length + 1 : sb.length === sa.length;
    if (!ok) out.push(`${sa.length} segments of type 0x${type.toString(16)} became ${sb.length}`);
    if (TOLERATED.movableSegments.includes(type)) continue;
    sa.forEach((p, k) => {
      const q = sb[k];
      if (!q) return;
      const changed = (['vaddr', 'paddr', 'filesz', 'memsz', 'flags', 'align'] as const).filter((f) => p[f] !== q[f]);
      if (changed.length) out.push(`segment ${p.index} (type 0x${type.toString(16)}) changed ${changed.map((f) => `${f} ${f === "flags" ? p[f] : hex(BigInt(p[f]))} -> ${f === "flags" ? q[f] : hex(BigInt(q[f]))}`).join(', ')}`);
    });
  }
  const { shnum } = a.header;
  if (shnum === 0) {
    if (b.header.shnum !== 0) out.push(`a file without section headers got ${b.header.shnum}`);
    return out;
  }
  if (b.header.shnum !== shnum + 1) out.push(`section count ${shnum} became ${b.header.shnum}, not ${shnum + 1}`);
  // Our section is appended by the moving strategies, inserted before the first
  // non-allocated section by the default placement.
  const named = b.sections.findIndex((x, i) => i > 0 && x.type === SHT_NOTE && x.name === SECTION_NAME && !a.sections.some((y) => y.name === SECTION_NAME));
  const k = named > 0 ? named : shnum;
  const added = b.sections[k];
  if (added && (added.type !== SHT_NOTE || (a.header.shstrndx !== 0 && added.name !== SECTION_NAME))) {
    out.push(`the added section is '${added.name}' of type ${added.type}, not ${SECTION_NAME} of type SHT_NOTE`);
  }
  if (KEEPING.has(strategy)) {
    const key = (p: SegmentSummary): string => [p.type, p.offset, p.vaddr, p.paddr, p.filesz, p.memsz, p.flags, p.align].join(',');
    if (a.segments.map(key).join(';') !== b.segments.map(key).join(';')) out.push(`the program headers changed (strategy ${strategy} changes none)`);
  }
  const growth = BigInt(SECTION_NAME.length + 1);
  a.sections.forEach((s: SectionSummary, i) => {
    const n = b.sections[i >= k ? i + 1 : i];
    if (!n) return;
    const what = `section ${i} '${s.name}'`;
    if (n.name !== s.name) out.push(`${what} is now named '${n.name}'`);
    if (n.type !== s.type) out.push(`${what} type ${s.type} became ${n.type}`);
    if (n.flags !== s.flags) out.push(`${what} flags ${hex(s.flags)} became ${hex(n.flags)}`);
    const sizeOk =
      n.size === s.size ||
      (i === a.header.shstrndx && n.size === s.size + growth) || // the name table gains our section's name
      (i === 0 && a.header.shnum >= 0xff00 && n.size === s.size + 1n); // extended section count
    if (!sizeOk) out.push(`${what} size ${hex(s.size)} became ${hex(n.size)}`);
    if (n.addr !== s.addr && s.type !== SHT_NOTE && s.name !== '.interp') out.push(`${what} address ${hex(s.addr)} became ${hex(n.addr)}`);
  });
  return out;
}

interface Range {
  start: bigint;
  end: bigint;
}

/**
 * (a), the bytes: every byte the input loads (PT_LOAD file contents) is loaded from the
 * output at the same address with the same value, except in what a stamp rewrites on
 * purpose (TOLERATED.rewritable). Returns the differing address ranges left unexplained.
 */
function compareLoadedBytes(a: Model, ab: Buffer, b: Model, bb: Buffer, strategy: string): string[] {
  const out: string[] = [];
  const la = loadsOf(a).filter((p) => p.filesz > 0n);
  const lb = loadsOf(b).filter((p) => p.filesz > 0n);
  const ra = TOLERATED.rewritable(a, false);
  const rb = TOLERATED.rewritable(b, true);
  const allowed = [...ra.always, ...rb.always].sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  const overZeros = [...ra.overZeros, ...rb.overZeros];
  /** The parts of r no allowed range covers. */
  const uncovered = (r: Range): Range[] => {
    const left: Range[] = [];
    let at = r.start;
    for (const x of allowed) {
      if (x.end <= at || x.start >= r.end) continue;
      if (x.start > at) left.push({ start: at, end: x.start });
      if (x.end > at) at = x.end;
      if (at >= r.end) break;
    }
    if (at < r.end) left.push({ start: at, end: r.end });
    return left;
  };
  const where = (addr: bigint): string => {
    const s = a.sections.find((x) => x.type !== 8 && x.size > 0n && x.addr !== 0n && x.addr <= addr && addr < x.addr + x.size);
    return s ? `in ${s.name || `section ${s.index}`}` : 'outside any section';
  };
  const bad: Range[] = [];
  for (const p of la) {
    const shifted = strategy === 'exec-shift' && p === loadsOf(a)[0];
    const q = lb.find((x) => x.vaddr <= p.vaddr && p.vaddr < x.vaddr + x.filesz && (shifted || x.vaddr === p.vaddr));
    if (!q) {
      out.push(`the bytes of PT_LOAD ${p.index} at ${hex(p.vaddr)} are not loaded from the output`);
      continue;
    }
    const room = q.vaddr + q.filesz - p.vaddr;
    if (room < p.filesz) out.push(`PT_LOAD ${p.index}: the output loads ${hex(room)} of its ${hex(p.filesz)} file bytes`);
    const n = Number(p.filesz < room ? p.filesz : room);
    const x = ab.subarray(Number(p.offset), Number(p.offset) + n);
    const ystart = Number(q.offset + (p.vaddr - q.vaddr));
    const y = bb.subarray(ystart, ystart + n);
    if (x.equals(y)) continue;
    const CH = 4096;
    for (let c = 0; c < n; c += CH) {
      const e = Math.min(n, c + CH);
      if (x.subarray(c, e).equals(y.subarray(c, e))) continue;
      for (let i = c; i < e; i++) {
        if (x[i] === y[i]) continue;
        let j = i + 1;
        while (j < e && x[j] !== y[j]) j++;
        for (const r of uncovered({ start: p.vaddr + BigInt(i), end: p.vaddr + BigInt(j) })) {
          // Left: bytes that were not zero, or are outside the grown table.
          for (let v = r.start; v < r.end && bad.length < 64; v++) {
            const k = Number(v - p.vaddr);
            if (x[k] === 0 && overZeros.some((z) => z.start <= v && v < z.end)) continue;
            const last = bad[bad.length - 1];
            if (last && last.end === v) last.end = v + 1n;
            else bad.push({ start: v, end: v + 1n });
          }
        }
        i = j;
      }
    }
  }
  // Report merged runs (closer than 16 bytes), the first eight.
  const merged: Range[] = [];
  for (const r of bad) {
    const last = merged[merged.length - 1];
    if (last && r.start - last.end < 16n) last.end = r.end > last.end ? r.end : last.end;
    else merged.push({ ...r });
  }
  for (const r of merged.slice(0, 8)) out.push(`bytes at ${hex(r.start)}..${hex(r.end)} (${where(r.start)}) differ`);
  if (merged.length > 8) out.push(`and ${bad.length >= 64 ? 'many' : merged.length - 8} more differing runs`);
  return out;
}

/** (a), the bytes, for the placements that keep the contract: every loaded byte but the ELF header's is the same. */
function sameLoadedBytes(a: Model, ab: Buffer, bb: Buffer): string[] {
  const ehsize = a.header.is64 ? 64 : 52;
  return loadsOf(a)
    .filter((p) => p.filesz > 0n)
    .filter((p) => {
      const from = Math.max(Number(p.offset), ehsize);
      const to = Number(p.offset + p.filesz);
      return from < to && !ab.subarray(from, to).equals(bb.subarray(from, to));
    })
    .map((p) => `the file content of PT_LOAD ${p.index} changed`);
}

/** (c): elfinfo reads the file; in the output it finds our note by its bytes. */
async function elfinfoFinds(file: string, needNote: boolean, bySection: boolean): Promise<string | undefined> {
  const bytes = fs.readFileSync(file);
  let res;
  try {
    res = await elfinfoOpen(bytes);
  } catch (e) {
    return `elfinfo threw ${(e as Error).message}`;
  }
  if (!res.success || !res.elf) return `elfinfo failed: ${res.errors.join('; ')}`;
  if (!needNote) return undefined;
  const owner = Buffer.from(NOTE_OWNER + '\0', 'latin1');
  const holds = (offset: number, size: number): boolean => {
    const region = bytes.subarray(offset, offset + size);
    for (let at = region.indexOf(owner); at >= 0; at = region.indexOf(owner, at + 1)) if (at >= 12 && at % 4 === 0) return true;
    return false;
  };
  if (bySection) {
    const s = res.elf.sections.find((x) => x.name === SECTION_NAME);
    if (!s) return `elfinfo lists no section named ${SECTION_NAME} (sections: ${res.elf.sections.map((x) => x.name).join(' ')})`;
    if (Number(s.type) !== SHT_NOTE || !holds(Number(s.offset), Number(s.size))) return `elfinfo's ${SECTION_NAME} is not a note section holding our note`;
    return undefined;
  }
  const seg = res.elf.segments.find((p) => Number(p.type) === PT_NOTE && holds(Number(p.offset), Number(p.filesz)));
  return seg ? undefined : 'elfinfo lists no NOTE segment holding our note';
}

/**
 * strip or objcopy for this machine: the machine's own cross binutils where installed (the
 * host's do not know most foreign machines: asking them first cost a run per file), else the
 * host's; the other one when the first does not know the format.
 */
async function rewriteWith(kind: 'strip' | 'objcopy', machine: number, input: string, output: string): Promise<{ cmd?: string; r: ProcResult }> {
  const argv = (cmd: string): string[] => (kind === 'strip' ? [cmd, '-o', output, input] : [cmd, input, output]);
  const cross = !HOST_MACHINES.includes(machine) && CROSS[machine] && `${CROSS[machine]}-${kind}`;
  const tools = cross && (await hasTool(cross)) ? [cross, kind] : [kind];
  let last: ProcResult | undefined;
  for (const cmd of tools) {
    last = await run(argv(cmd));
    if (last.status === 0 || !unrecognised(last.stderr)) return { cmd, r: last };
    if (cmd === kind && HOST_MACHINES.includes(machine)) return { cmd, r: last }; // the host's tool knows it: the file is what it does not know
  }
  return { r: last! };
}

interface Job {
  f: CorpusFile;
  dir: string;
  out: string;
}

async function stampOne(f: CorpusFile, n: number): Promise<void> {
  const model = f.model!;
  const dir = path.join(workDir, String(n));
  fs.mkdirSync(dir);
  const out = path.join(dir, path.basename(f.abs));
  const st = await lib.call({ op: 'stamp', input: f.abs, output: out, runs: RUNS });
  const c = check('stamp');
  const P = stats.placement;
  if (isHang(st)) {
    P.hang++;
    c.fail(`${f.rel}: stamping did not finish in ${st.ms} ms`);
    return;
  }
  const s = st as StampOutcome;
  if (!s.ok) {
    if (s.error.kind === 'refused') {
      P.refused++;
      c.pass();
      // Grouped with numbers made neutral, except those that name a kind ("4-aligned", "4 KiB").
      const reason = (s.error.reasons?.[0] ?? s.error.message).replace(/-?\b(0x[0-9a-f]+|\d+)\b(?!-aligned| KiB)/g, 'N');
      const e = refusedReasons.get(reason) ?? { count: 0, example: f.rel };
      e.count++;
      refusedReasons.set(reason, e);
    } else if (s.error.kind === 'format') {
      P.malformed++;
      c.pass();
    } else {
      P.error++;
      c.fail(`${f.rel}: stamp threw ${errText(s.error)} (allowed: success, PlacementRefusedError, ElfFormatError)`, { stack: firstLines(s.error.stack, 8) });
    }
    if (fs.existsSync(out)) c.fail(`${f.rel}: a failed stamp left ${out} behind`);
    return;
  }
  c.pass();
  P.strategies[s.strategy] = (P.strategies[s.strategy] ?? 0) + 1;
  await checkStamped({ f, dir, out }, model, s.strategy);
  if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

async function checkStamped(job: Job, model: Model, strategy: string): Promise<void> {
  const { f, dir, out } = job;
  const name = f.rel;

  // (a) and (d): the output re-parses, keeps the model, and verifies.
  const ins = await lib.call({ op: 'inspect', file: out });
  const heldRuns = isHang(ins) ? undefined : (ins as Inspected).verify?.sets?.find((x) => x.name === 'default')?.runs;
  const ca = check('a-model');
  const cd = check('d-verify');
  let outModel: Model | undefined;
  if (isHang(ins)) ca.fail(`${name}: parsing the stamped output did not finish`);
  else {
    const i = ins as Inspected;
    if (!i.parsed.ok) ca.fail(`${name}: the stamped output (${strategy}) does not parse: ${errText(i.parsed.error)}`);
    else {
      outModel = i.parsed.model;
      const diffs = compareModels(model, outModel, strategy);
      if (diffs.length) ca.fail(`${name}: the stamped output (${strategy}) changed more than expected`, { differences: diffs.slice(0, 12) });
      else ca.pass();
      const cbytes = check('a-bytes');
      const inBytes = fs.readFileSync(f.abs);
      const outBytes = fs.readFileSync(out);
      const bytes = KEEPING.has(strategy) ? sameLoadedBytes(model, inBytes, outBytes) : compareLoadedBytes(model, inBytes, outModel, outBytes, strategy);
      // The kernel's build-id reader before Linux 6.12 reads only the first page (docs/DESIGN.md).
      if (KEEPING.has(strategy) && firstPageBuildId(out) !== firstPageBuildId(f.abs)) bytes.push('the kernel\'s first-page build-id reader finds another build-id');
      if (bytes.length) cbytes.fail(`${name}: the stamped output (${strategy}) loads other bytes than the input`, { differences: bytes });
      else cbytes.pass();
      if (i.verifyError) cd.fail(`${name}: verifyElf threw ${errText(i.verifyError)}`);
      else if (i.verify!.status !== 'valid') cd.fail(`${name}: verify says '${i.verify!.status}' (${i.verify!.reason}) after a stamp (${strategy})`);
      else {
        // The note holds page 0 (headers and note) and the requested page 0 of the input,
        // which an exec shift moved down the file by the distance the first PT_LOAD moved.
        const pageSize = 2n ** BigInt(i.verify!.pageShift ?? 12);
        const shift = strategy === 'exec-shift' ? loadsOf(model)[0]!.vaddr - loadsOf(outModel)[0]!.vaddr : 0n;
        const want = [...new Set([0, ...RUNS.flatMap((r) => pagesOf([r]).map((p) => Number((BigInt(p) * pageSize + shift) / pageSize)))])].sort((x, y) => x - y);
        const set = i.verify!.sets?.find((x) => x.name === 'default');
        const got = set ? pagesOf(set.runs) : undefined;
        if (!got || got.join(',') !== want.join(',')) cd.fail(`${name}: the note's page set 'default' is ${got ? `[${got.join(',')}]` : 'missing'}, expected [${want.join(',')}] (${strategy}, shift ${hex(shift)})`);
        else cd.pass();
      }
    }
  }

  // (f) stamping the stamped output again, with the page set its note now holds, changes no
  // byte. (--pages are pages of the file as given: after an exec shift the same content sits
  // further in the file, so the pages the note holds are the ones to ask for again.)
  const cf = check('f-idempotent');
  const again = path.join(dir, 'again');
  fs.mkdirSync(again);
  const out2 = path.join(again, path.basename(out));
  const s2 = await lib.call({ op: 'stamp', input: out, output: out2, runs: heldRuns ?? RUNS });
  if (isHang(s2)) cf.fail(`${name}: the second stamp did not finish`);
  else if (!(s2 as StampOutcome).ok) cf.fail(`${name}: the second stamp failed: ${errText((s2 as Extract<StampOutcome, { ok: false }>).error)}`);
  else {
    const a = fs.readFileSync(out);
    const b = fs.readFileSync(out2);
    if (a.equals(b)) cf.pass();
    else {
      let at = 0;
      while (at < Math.min(a.length, b.length) && a[at] === b[at]) at++;
      let differing = 0;
      for (let k = at; k < Math.min(a.length, b.length); k++) if (a[k] !== b[k]) differing++;
      // The page sets of both, which tell a changed request from a changed layout.
      const pages = async (file: string): Promise<string> => {
        const r = await lib.call({ op: 'inspect', file });
        const set = isHang(r) ? undefined : (r as Inspected).verify?.sets?.find((x) => x.name === 'default');
        return set ? `[${pagesOf(set.runs).join(',')}]` : '?';
      };
      cf.fail(
        `${name}: stamping the output (${strategy}) again changed it (second strategy ${(s2 as Extract<StampOutcome, { ok: true }>).strategy}; ` +
          `sizes ${a.length} and ${b.length}; ${differing} bytes differ from 0x${at.toString(16)}; pages ${await pages(out)} became ${await pages(out2)})`,
      );
    }
  }

  // (b) readelf, eu-elflint, objdump: nothing worse than for the original.
  const cb = check('b-tools');
  await Promise.all(
    Object.keys(TOOLS).map(async (tool) => {
      const [before, after] = await Promise.all([runTool(tool, f.abs), runTool(tool, out)]);
      const added = [...after.lines].filter((l) => !before.lines.has(l));
      const addedTolerated = [...after.tolerated].filter((l) => !before.tolerated.has(l));
      const excused = TOLERATED.statusWorseByToleratedLinesOnly && added.length === 0 && addedTolerated.length > 0 && after.status === 1 && !after.timedOut;
      const worse = badness(after) > badness(before) && !excused;
      if (worse || added.length) {
        cb.fail(`${name}: ${tool} says worse of the stamped output (${strategy})`, {
          status: { original: before.timedOut ? 'timeout' : before.status, stamped: after.timedOut ? 'timeout' : after.status },
          newComplaints: added.slice(0, 8),
        });
      } else cb.pass();
    }),
  );

  // (c) elfinfo.
  const cc = check('c-elfinfo');
  const namesKnown = model.header.shnum > 0 && model.header.shstrndx !== 0;
  const origProblem = await elfinfoFinds(f.abs, false, namesKnown);
  if (origProblem) cc.skip('elfinfo fails on the original');
  else {
    const problem = await elfinfoFinds(out, true, namesKnown);
    if (problem) cc.fail(`${name}: ${problem} (${strategy})`);
    else cc.pass();
  }

  // (e) strip and objcopy, each on a copy of the original and of the output.
  for (const kind of ['strip', 'objcopy'] as const) {
    const ce = check(`e-${kind}`);
    const o1 = path.join(dir, `${kind}.orig`);
    const o2 = path.join(dir, `${kind}.stamped`);
    const before = await rewriteWith(kind, model.header.machine, f.abs, o1);
    if (!before.cmd) {
      ce.skip(`no ${kind} here knows the machine`);
      continue;
    }
    if (before.r.status !== 0) {
      ce.skip(`${kind} fails on the original`);
      continue;
    }
    const argv = kind === 'strip' ? [before.cmd, '-o', o2, out] : [before.cmd, out, o2];
    const after = await run(argv);
    if (after.status !== 0) {
      ce.fail(`${name}: ${before.cmd} fails on the stamped output (${strategy}) but not on the original`, { status: after.status, timedOut: after.timedOut, stderr: firstLines(after.stderr) });
      continue;
    }
    const v = await lib.call({ op: 'inspect', file: o2 });
    if (isHang(v)) ce.fail(`${name}: reading the ${kind} output did not finish`);
    else {
      const i = v as Inspected;
      if (!i.parsed.ok) ce.fail(`${name}: after ${before.cmd} the stamped file (${strategy}) no longer parses: ${errText(i.parsed.error)}`);
      else if (i.verifyError) ce.fail(`${name}: after ${before.cmd}, verifyElf threw ${errText(i.verifyError)}`);
      else if (i.verify!.status !== 'valid' && i.verify!.status !== 'stale') ce.fail(`${name}: after ${before.cmd} verify says '${i.verify!.status}' (${i.verify!.reason}) (${strategy})`);
      else {
        ce.pass();
        stats.afterRewrite[`${kind} ${i.verify!.status}`] = (stats.afterRewrite[`${kind} ${i.verify!.status}`] ?? 0) + 1;
      }
    }
  }
}

t.test('2. stamping executables and shared libraries', async (t) => {
  const loadable = files.filter((f) => f.model && (f.model.header.type === ET_EXEC || f.model.header.type === ET_DYN));
  const P = stats.placement;
  // Files the reader rejects already: malformed if by ElfFormatError, else errors (failed in 1).
  const rejected = files.filter((f) => !f.model);
  P.malformed = rejected.filter((f) => f.parsed && !isHang(f.parsed) && !f.parsed.ok && f.parsed.error.kind === 'format').length;
  P.error = rejected.length - P.malformed;
  P.notLoadable = files.filter((f) => f.model && !(f.model.header.type === ET_EXEC || f.model.header.type === ET_DYN)).length;
  await pool(loadable, JOBS, (f, i) => stampOne(f, i));
  P.refusedReasons = [...refusedReasons.entries()].map(([reason, e]) => ({ reason, ...e })).sort((a, b) => b.count - a.count);
  report(t, 'stamp', 'stamp outcome is success, PlacementRefusedError or ElfFormatError');
  t.test('(a) the output re-parses and keeps the model and the loaded bytes apart from the expected changes', async (t) => {
    report(t, 'a-model', 'model kept');
    report(t, 'a-bytes', 'loaded bytes kept');
  });
  t.test('(b) readelf -lSnW, eu-elflint --gnu-ld, objdump -x say nothing worse', async (t) => report(t, 'b-tools', 'tool runs compared'));
  t.test('(c) elfinfo reads the output and finds the note', async (t) => report(t, 'c-elfinfo', 'elfinfo'));
  t.test('(d) verifyElf says valid, with the requested pages', async (t) => report(t, 'd-verify', 'verify'));
  t.test('(e) strip and objcopy leave a valid or stale note', async (t) => {
    report(t, 'e-strip', 'strip');
    report(t, 'e-objcopy', 'objcopy');
  });
  t.test('(f) stamping again changes no byte', async (t) => report(t, 'f-idempotent', 'second stamp'));
});

// ---------------------------------------------------------------------------------------
// 3. Programs that ran
// ---------------------------------------------------------------------------------------

/** The command of the manifest's `runs` column, with its paths made absolute. */
function runCommandOf(row: ManifestRow): { runner?: string; sysroot?: string; program: string } | undefined {
  const m = row.runs.match(/^(native|qemu): (.+)$/);
  if (!m) return undefined;
  const corpusPath = (p: string): string => path.join(corpusDir, p.replace(/^(\.\/)?public\//, ''));
  const words = m[2]!.trim().split(/\s+/);
  const program = words[words.length - 1]!;
  if (corpusPath(program) !== path.join(corpusDir, row.path)) return undefined;
  if (m[1] === 'native') return { program };
  const l = words.indexOf('-L');
  const sysroot = l >= 0 ? words[l + 1]! : undefined;
  return { runner: words[0]!, sysroot: sysroot && (/^(\.\/)?public\//.test(sysroot) ? corpusPath(sysroot) : sysroot), program };
}

t.test('3. programs the manifest ran run the same once stamped', async (t) => {
  const rows = [...manifest.values()].filter((r) => /^(native|qemu):/.test(r.runs));
  t.ok(rows.length > 0, `MANIFEST.tsv marks ${rows.length} programs as run`);
  const runDir = fs.mkdtempSync(path.join(workDir, 'run-'));
  await pool(rows, JOBS, async (row, i) => {
    const cmd = runCommandOf(row);
    const skip = (why: string): void => {
      stats.runs.skipped.push(`${row.path}: ${why}`);
      t.comment(`skip ${row.path}: ${why}`);
    };
    if (!cmd) return void t.fail(`${row.path}: cannot read the runs column '${row.runs}'`);
    if (cmd.runner && !(await hasTool(cmd.runner))) return skip(`${cmd.runner} is not installed`);
    if (cmd.sysroot && !fs.existsSync(cmd.sysroot)) return skip(`its sysroot ${cmd.sysroot} is missing`);
    // Same basename, same relative argv[0], both executable, each in its own folder.
    const base = path.basename(row.path);
    const dirs = ['original', 'stamped'].map((d) => path.join(runDir, String(i), d));
    dirs.forEach((d) => fs.mkdirSync(d, { recursive: true }));
    const orig = path.join(dirs[0]!, base);
    const copy = path.join(dirs[1]!, base);
    fs.copyFileSync(path.join(corpusDir, row.path), orig);
    const st = await lib.call({ op: 'stamp', input: orig, output: copy, runs: RUNS });
    if (isHang(st) || !(st as StampOutcome).ok) {
      const e = isHang(st) ? undefined : (st as Extract<StampOutcome, { ok: false }>).error;
      if (e?.kind === 'refused') return skip(`stamp refused: ${e.message}`);
      return void t.fail(`${row.path}: stamping failed: ${e ? errText(e) : 'hang'}`);
    }
    fs.chmodSync(orig, 0o755);
    fs.chmodSync(copy, 0o755);
    const argv = [...(cmd.runner ? [cmd.runner, '-L', cmd.sysroot!] : []), `./${base}`];
    const [a, b] = [await run(argv, { cwd: dirs[0], stdout: true, timeoutMs: RUN_TIMEOUT_MS }), await run(argv, { cwd: dirs[1], stdout: true, timeoutMs: RUN_TIMEOUT_MS })];
    stats.runs.compared++;
    const same = a.status === b.status && a.signal === b.signal && a.stdout === b.stdout && a.timedOut === b.timedOut;
    if (same) stats.runs.same++;
    t.ok(same, `${row.path} (${(st as Extract<StampOutcome, { ok: true }>).strategy}) runs as the original did: exit ${a.timedOut ? 'timeout' : (a.status ?? a.signal)}`, {
      original: { status: a.status, signal: a.signal, timedOut: a.timedOut, stdout: a.stdout.slice(0, 400), stderr: a.stderr.slice(0, 400) },
      stamped: { status: b.status, signal: b.signal, timedOut: b.timedOut, stdout: b.stdout.slice(0, 400), stderr: b.stderr.slice(0, 400) },
    });
  });
  t.ok(stats.runs.compared > 0, `${stats.runs.compared} programs compared, ${stats.runs.skipped.length} skipped`);
});

// ---------------------------------------------------------------------------------------
// 4. Statistics
// ---------------------------------------------------------------------------------------

t.test('4. placement statistics', async (t) => {
  stats.seconds = Math.round((Date.now() - startedAt) / 100) / 10;
  const P = stats.placement;
  const total = Object.values(P.strategies).reduce((a, b) => a + b, 0) + P.refused + P.malformed + P.notLoadable + P.error + P.hang;
  t.equal(total, stats.files, 'every corpus file is counted once: a strategy, refused, malformed, not loadable, or an error');
  fs.mkdirSync(path.dirname(statsPath), { recursive: true });
  fs.writeFileSync(statsPath, JSON.stringify(stats, null, 2) + '\n');
  const lines = [
    `corpus ${stats.corpus}: ${stats.files} files, ${stats.parse.ok} parse, ${stats.parse.formatError} ElfFormatError`,
    `placement: ${STRATEGIES.map((s) => `${s} ${P.strategies[s]}`).join(', ')}; refused ${P.refused}; malformed ${P.malformed}; not ET_EXEC/ET_DYN ${P.notLoadable}; errors ${P.error + P.hang}`,
    ...P.refusedReasons.map((r) => `  refused ${r.count}x: ${r.reason} (e.g. ${r.example})`),
    ...Object.entries(stats.checks).map(([k, c]) => `check ${k}: ${c.checked} checked, ${c.failed} failed${Object.keys(c.skipped).length ? `, skipped ${JSON.stringify(c.skipped)}` : ''}`),
    `readelf -hW: ${stats.readelfHeader.compared} compared, tolerated ${JSON.stringify(stats.readelfHeader.tolerated)}, readelf prints no header for ${stats.readelfHeader.readelfRejected}, we reject ${stats.readelfHeader.weRejectReadelfReads} whose header readelf reads`,
    `after strip/objcopy: ${JSON.stringify(stats.afterRewrite)}`,
    `runs: ${stats.runs.same}/${stats.runs.compared} the same, ${stats.runs.skipped.length} skipped`,
    `${stats.seconds} s; written to ${path.relative(repoRoot, statsPath)}`,
  ];
  t.comment(lines.join('\n'));
});
