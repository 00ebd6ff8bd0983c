// The fuzzing loop: seeds, mutated inputs, a pool of worker threads with a time limit per
// input and a heap limit per worker, findings saved to a folder. Used by fuzz/run.ts (long
// runs) and spec/fuzz.spec.ts (the bounded run in CI).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CheckResult, FindingKind, Outcome, Plant } from './check';
import { describeSeed, inputRng, mutate, SeedInfo } from './mutate';

export interface Seed {
  name: string;
  bytes: Uint8Array;
  info?: SeedInfo;
}

export interface FuzzOptions {
  seeds: Seed[];
  seed: number;
  inputs: number;
  /** Stop after this many milliseconds even if fewer inputs were done. */
  durationMs?: number;
  timeLimitMs: number;
  jobs: number;
  maxOldGenerationSizeMb: number;
  findingsDir: string;
  plant?: Plant;
  /** Extra inputs checked before the mutated ones (e.g. a planted marker), by name. */
  extra?: Seed[];
  /** Called with a line of progress now and then. */
  progress?: (line: string) => void;
  progressEveryMs?: number;
  /** At most this many saved files per finding signature. */
  keepPerSignature?: number;
}

export interface Finding {
  kind: FindingKind;
  message: string;
  signature: string;
  file?: string;
  input: string;
}

export interface Summary {
  inputs: number;
  outcomes: Record<Outcome, number>;
  strategies: Record<string, number>;
  findings: number;
  findingsByKind: Partial<Record<FindingKind, number>>;
  signatures: Record<string, { kind: FindingKind; count: number; message: string; files: string[] }>;
  seconds: number;
  inputsPerSecond: number;
  seeds: number;
}

/** Reads every regular file under the given folders as a seed (skips empty and huge files). */
export function loadSeeds(dirs: string[], maxBytes = 64 << 20): Seed[] {
  const out: Seed[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const st = fs.statSync(p);
        if (st.size > 0 && st.size <= maxBytes) out.push({ name: p, bytes: new Uint8Array(fs.readFileSync(p)) });
      }
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) walk(d);
  return out;
}

const mask = (s: string): string => s.replace(/0x[0-9a-f]+|\d+/g, '#').slice(0, 300);

type Job = { id: number; bytes: Uint8Array; name: string };
type Result = CheckResult;

class Slot {
  private worker?: Worker;
  private fresh = true;
  constructor(private readonly opts: FuzzOptions) {}
  private start(): Worker {
    const ext = path.extname(__filename);
    const w = new Worker(path.join(__dirname, `worker${ext}`), {
      workerData: { plant: this.opts.plant ?? 'none' },
      resourceLimits: { maxOldGenerationSizeMb: this.opts.maxOldGenerationSizeMb },
    });
    this.fresh = true;
    return w;
  }
  run(job: Job): Promise<Result> {
    const w = (this.worker ??= this.start());
    // A new worker loads (and under ts-node compiles) the library first.
    const limit = this.opts.timeLimitMs + (this.fresh ? 30_000 : 0);
    this.fresh = false;
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: Result, kill: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        if (kill) {
          this.worker = undefined;
          void w.terminate();
        }
        resolve(r);
      };
      const onMessage = (m: { id: number; result: Result }): void => {
        if (m.id === job.id) done(m.result, false);
      };
      const onError = (e: Error & { code?: string }): void => {
        const oom = e.code === 'ERR_WORKER_OUT_OF_MEMORY' || /out of memory|heap/i.test(e.message);
        done({ ok: false, kind: oom ? 'oom' : 'worker-crash', message: `${e.name}: ${e.message}`, stack: e.stack }, true);
      };
      const onExit = (code: number): void => done({ ok: false, kind: 'worker-crash', message: `worker exited with code ${code}` }, true);
      const timer = setTimeout(() => done({ ok: false, kind: 'hang', message: `no answer within ${this.opts.timeLimitMs} ms` }, true), limit);
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage({ id: job.id, bytes: job.bytes });
    });
  }
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

export async function runFuzz(opts: FuzzOptions): Promise<Summary> {
  if (opts.seeds.length === 0) throw new Error('no seed files');
  for (const s of opts.seeds) s.info ??= describeSeed(s.bytes);
  const began = Date.now();
  const outcomes: Record<Outcome, number> = { malformed: 0, parsed: 0, stamped: 0, refused: 0 };
  const strategies: Record<string, number> = {};
  const findingsByKind: Summary['findingsByKind'] = {};
  const signatures: Summary['signatures'] = {};
  let findings = 0;
  let done = 0;
  const keep = opts.keepPerSignature ?? 20;

  const record = (job: Job, r: Result): void => {
    done++;
    if (r.ok) {
      outcomes[r.outcome]++;
      if (r.strategy) strategies[r.strategy] = (strategies[r.strategy] ?? 0) + 1;
      return;
    }
    findings++;
    findingsByKind[r.kind] = (findingsByKind[r.kind] ?? 0) + 1;
    const signature = `${r.kind}: ${mask(r.message)}`;
    const sig = (signatures[signature] ??= { kind: r.kind, count: 0, message: r.message, files: [] });
    sig.count++;
    if (sig.files.length < keep) {
      fs.mkdirSync(opts.findingsDir, { recursive: true });
      const hash = createHash('sha256').update(job.bytes).digest('hex').slice(0, 16);
      const file = path.join(opts.findingsDir, `${hash}.elf`);
      fs.writeFileSync(file, job.bytes);
      fs.writeFileSync(path.join(opts.findingsDir, `${hash}.json`), JSON.stringify({ kind: r.kind, message: r.message, stack: 'stack' in r ? r.stack : undefined, input: job.name, seed: opts.seed, signature }, null, 2) + '\n');
      sig.files.push(file);
    }
  };

  const extra = opts.extra ?? [];
  const total = opts.inputs + extra.length;
  let next = 0;
  const deadline = opts.durationMs ? began + opts.durationMs : Infinity;
  const makeJob = (): Job | undefined => {
    if (next >= total || Date.now() >= deadline) return undefined;
    const i = next++;
    if (i < extra.length) return { id: i, bytes: extra[i]!.bytes, name: extra[i]!.name };
    const k = i - extra.length;
    const r = inputRng(opts.seed, k);
    const a = opts.seeds[Math.floor(r() * opts.seeds.length)]!;
    const b = opts.seeds[Math.floor(r() * opts.seeds.length)]!;
    const m = mutate(r, a.bytes, b.bytes, a.info);
    return { id: i, bytes: m.bytes, name: `seed ${opts.seed} input ${k}: ${a.name} [${m.what.join(' | ')}]${m.what.some((w) => w.startsWith('splice') || w.startsWith('overlay')) ? ` with ${b.name}` : ''}` };
  };

  let lastProgress = began;
  const summarize = (): Summary => {
    const seconds = (Date.now() - began) / 1000;
    return { inputs: done, outcomes, strategies, findings, findingsByKind, signatures, seconds, inputsPerSecond: done / Math.max(seconds, 1e-3), seeds: opts.seeds.length };
  };
  const slots = Array.from({ length: Math.max(1, opts.jobs) }, () => new Slot(opts));
  try {
    await Promise.all(
      slots.map(async (slot) => {
        for (let job = makeJob(); job; job = makeJob()) {
          record(job, await slot.run(job));
          const now = Date.now();
          if (opts.progress && now - lastProgress >= (opts.progressEveryMs ?? 10_000)) {
            lastProgress = now;
            opts.progress(progressLine(summarize()));
          }
        }
      }),
    );
  } finally {
    await Promise.all(slots.map((s) => s.close()));
  }
  return summarize();
}

export function progressLine(s: Summary): string {
  const o = s.outcomes;
  const kinds = Object.entries(s.findingsByKind).map(([k, n]) => `${k} ${n}`).join(', ');
  return `${s.inputs} inputs in ${s.seconds.toFixed(0)} s (${s.inputsPerSecond.toFixed(0)}/s): malformed ${o.malformed}, parsed ${parsedTotal(s)} (not loadable ${o.parsed}), stamped ${o.stamped}, refused ${o.refused}; findings ${s.findings}${kinds ? ` (${kinds})` : ''}`;
}

/** Inputs the reader accepted: every outcome and finding after parseElf returned. */
export function parsedTotal(s: Summary): number {
  const k = s.findingsByKind;
  return s.outcomes.parsed + s.outcomes.stamped + s.outcomes.refused + (k['planner-exception'] ?? 0) + (k['bad-plan'] ?? 0) + (k['output-unparsable'] ?? 0) + (k['new-violations'] ?? 0);
}
