// The ELF test fixtures built by samples/build.sh, and ways to run them
// (natively or under qemu-user, as the manifest says).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { has } from './capabilities';

/** One entry of build/samples/manifest.json. */
export interface Fixture {
  /** `<machine>-<variant>`, e.g. "aarch64-shlib". */
  name: string;
  /** x86-64, i386, aarch64, armhf, ppc64, s390x or riscv64. */
  machine: string;
  /** pie, nopie, static, static-pie, shlib, noseparate, noseparate-pie, bigpage, nobuildid or go. */
  variant: string;
  /** GNU triple of the toolchain, e.g. "aarch64-linux-gnu". */
  triple: string;
  /** Absolute path of the executable. */
  path: string;
  /** Absolute paths of the shared libraries built for it (found through rpath $ORIGIN). */
  libs: string[];
  /** argv that runs it, `path` included (maybe after "qemu-<arch> -L /usr/<triple>"). */
  run: string[];
  /** The arguments given to the program (the tail of `run` after `path`). */
  args: string[];
  /** Extra environment for running it. */
  env: Record<string, string>;
  /** What the original printed on stdout. */
  expected: string;
  /** The exit status of the original. */
  status: number;
  /** The binutils strip for this machine, e.g. "aarch64-linux-gnu-strip". */
  strip: string;
}

export interface RunResult {
  /** Exit status, or null when killed by a signal (or not started). */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started or timed out. */
  error?: Error;
}

export const repoRoot = path.resolve(__dirname, '..', '..');
export const buildScript = path.join(repoRoot, 'samples', 'build.sh');
export const samplesSrc = path.join(repoRoot, 'samples', 'fixtures');
export const samplesDir = process.env.ELFPREFETCH_SAMPLES_DIR
  ? path.resolve(process.env.ELFPREFETCH_SAMPLES_DIR)
  : path.join(repoRoot, 'build', 'samples');
export const manifestPath = path.join(samplesDir, 'manifest.json');

/** Time limit of one run of a fixture, in ms. */
export const RUN_TIMEOUT_MS = 60_000;
/** Time limit of samples/build.sh from a clean state, in ms. */
const BUILD_TIMEOUT_MS = 20 * 60_000;
const MAX_BUFFER = 64 * 1024 * 1024;

function newestMtime(p: string): number {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of fs.readdirSync(p)) {
    newest = Math.max(newest, newestMtime(path.join(p, entry)));
  }
  return newest;
}

function manifestIsFresh(): boolean {
  let mtime: number;
  try {
    mtime = fs.statSync(manifestPath).mtimeMs;
  } catch {
    return false;
  }
  return mtime > Math.max(newestMtime(buildScript), newestMtime(samplesSrc));
}

function stringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function checkFixture(v: unknown, i: number): Fixture {
  const f = v as Partial<Record<keyof Fixture, unknown>> | null;
  const bad = (what: string): never => {
    throw new Error(`${manifestPath}: entry ${i}: ${what}`);
  };
  if (typeof f !== 'object' || f === null) return bad('not an object');
  for (const key of ['name', 'machine', 'variant', 'triple', 'path', 'expected', 'strip'] as const) {
    if (typeof f[key] !== 'string') bad(`${key} is not a string`);
  }
  if (!stringArray(f.libs)) bad('libs is not an array of strings');
  if (!stringArray(f.run) || !(f.run as string[]).includes(f.path as string)) {
    bad('run is not an argv holding path');
  }
  if (!stringArray(f.args)) bad('args is not an array of strings');
  if (typeof f.status !== 'number') bad('status is not a number');
  const env = f.env;
  if (typeof env !== 'object' || env === null || !Object.values(env).every((s) => typeof s === 'string')) {
    bad('env is not an object of strings');
  }
  return f as Fixture;
}

let cache: Fixture[] | undefined;

/**
 * The fixtures of build/samples/manifest.json (or $ELFPREFETCH_SAMPLES_DIR),
 * after running samples/build.sh if the manifest is missing, older than the
 * script or the fixture sources, or names a file that is gone.
 */
export function loadFixtures(): Fixture[] {
  if (cache) return cache;
  let fixtures: Fixture[] | undefined;
  if (manifestIsFresh()) {
    fixtures = readManifest();
    const gone = fixtures.some((f) => [f.path, ...f.libs].some((p) => !fs.existsSync(p)));
    if (gone) fixtures = undefined;
  }
  if (!fixtures) {
    const r = spawnSync('bash', [buildScript, samplesDir], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: MAX_BUFFER,
    });
    if (r.status !== 0) {
      throw new Error(
        `samples/build.sh failed (status ${r.status}, signal ${r.signal}${r.error ? `, ${r.error.message}` : ''})\n` +
          `${r.stdout ?? ''}${r.stderr ?? ''}`,
      );
    }
    fixtures = readManifest();
  }
  cache = fixtures;
  return fixtures;
}

function readManifest(): Fixture[] {
  const data: unknown = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  if (!Array.isArray(data)) throw new Error(`${manifestPath}: not an array`);
  return data.map(checkFixture).map(runnableHere);
}

/**
 * samples/build.sh runs i386 fixtures natively where the kernel could when it built them;
 * where it cannot now (capabilities: i386), they run under qemu-i386 like other machines.
 */
function runnableHere(f: Fixture): Fixture {
  if (f.machine !== 'i386' || f.run[0] !== f.path || has('i386')) return f;
  return { ...f, run: ['qemu-i386', '-L', `/usr/${f.triple}`, ...f.run] };
}

/** argv and options that run `f` (or `exePath`, a copy of it). See runFixture. */
export function fixtureCommand(
  f: Fixture,
  exePath: string = f.path,
  libDir?: string,
): { argv: string[]; env: NodeJS.ProcessEnv } {
  const exe = path.resolve(exePath);
  const argv = f.run.map((a) => (a === f.path ? exe : a));
  const env: NodeJS.ProcessEnv = { ...process.env, ...f.env };
  if (f.libs.length > 0) {
    const exeDir = path.dirname(exe);
    const dir = path.resolve(libDir ?? exeDir);
    for (const lib of f.libs) {
      const want = path.join(dir, path.basename(lib));
      if (fs.existsSync(want)) continue;
      if (libDir !== undefined) {
        throw new Error(`${f.name}: ${want} is missing (libDir was given, so it is not copied from ${lib})`);
      }
      fs.copyFileSync(lib, want);
    }
    if (dir !== exeDir) {
      // The rpath is $ORIGIN (the exe's folder); LD_LIBRARY_PATH comes before
      // it. qemu-user hands its environment on to the guest's ld.so.
      env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH ? `${dir}:${env.LD_LIBRARY_PATH}` : dir;
    }
  }
  return { argv, env };
}

/**
 * Runs fixture `f`, or `exePath`, a (maybe rewritten) copy of it, with the
 * fixture's arguments (and qemu, where it needs one).
 *
 * When the fixture has shared libraries they are looked up in `libDir`, which
 * must hold them (by their base names; it is put in LD_LIBRARY_PATH unless it
 * is the exe's folder).  Without `libDir` they are looked up beside the exe
 * (rpath $ORIGIN), and the original libraries are copied there if missing.
 */
export function runFixture(f: Fixture, exePath?: string, libDir?: string): RunResult {
  const { argv, env } = fixtureCommand(f, exePath, libDir);
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd, args, {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: RUN_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: MAX_BUFFER,
  });
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    ...(r.error ? { error: r.error } : {}),
  };
}

/** runFixture without blocking the event loop (so subtests can run in parallel). */
export function runFixtureAsync(f: Fixture, exePath?: string, libDir?: string): Promise<RunResult> {
  const { argv, env } = fixtureCommand(f, exePath, libDir);
  return runCommand(argv, { env });
}

/** Runs argv[0] with the rest of argv, collecting its output, killed after timeoutMs. */
export function runCommand(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [cmd, ...args] = argv;
  const timeoutMs = options.timeoutMs ?? RUN_TIMEOUT_MS;
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let error: Error | undefined;
    let started = true;
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      error = new Error(`${argv.join(' ')}: timed out after ${timeoutMs} ms`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      // Emitted when it could not be started (then 'close' still follows).
      if (child.pid === undefined) started = false;
      error ??= e;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status: started ? status : null,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(error ? { error } : {}),
      });
    });
  });
}

/**
 * Copies the exe of `f` and its libraries into `dir` (made if needed), so the
 * copy finds the copied libraries through rpath $ORIGIN.
 */
export function copyFixture(f: Fixture, dir: string): { exe: string; libs: string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const copy = (from: string): string => {
    const to = path.join(dir, path.basename(from));
    fs.copyFileSync(from, to);
    fs.chmodSync(to, fs.statSync(from).mode & 0o7777);
    return to;
  };
  return { exe: copy(f.path), libs: f.libs.map(copy) };
}

/** The fixture of this name (e.g. "x86-64-pie"); throws when samples/build.sh did not make it. */
export function fixture(name: string): Fixture {
  const f = loadFixtures().find((x) => x.name === name);
  if (!f) throw new Error(`fixture ${name} missing from the manifest (run samples/build.sh)`);
  return f;
}

/**
 * A copy of an ELF64 little-endian file without its section headers (e_shoff, e_shnum and
 * e_shstrndx zeroed), as sstrip leaves files: nothing can name a note beside its segments.
 */
export function withoutSectionHeaders(file: string): Buffer {
  const b = Buffer.from(fs.readFileSync(file));
  b.writeBigUInt64LE(0n, 0x28);
  b.writeUInt16LE(0, 0x3c);
  b.writeUInt16LE(0, 0x3e);
  return b;
}
