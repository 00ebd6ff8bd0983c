// Running many child processes from a spec: a semaphore, a pool of lanes, and a small
// spawner process (spawner.js) that forks the children instead of the spec's own big process.
import { type ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';

export interface ProcResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Could not be started (ENOENT...). */
  spawnError?: string;
}

export class Semaphore {
  private waiting: Array<() => void> = [];
  private free: number;
  constructor(n: number) {
    this.free = n;
  }
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** The most of a child's stdout or stderr the spawner keeps (helpers/spawner.js). */
export const MAX_CAPTURE = 4 << 20;

/**
 * The child processes run from helpers/spawner.js, a small process of its own: forking this
 * big one for each tool run cost more system time than the tools (see the spawner).
 */
export class Spawner {
  private child?: ChildProcess;
  private nextId = 1;
  private pending = new Map<number, (r: ProcResult) => void>();

  run(argv: string[], opts: { stdout?: boolean; cwd?: string; timeoutMs: number }): Promise<ProcResult> {
    const child = (this.child ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      child.send({ id, argv, opts });
    });
  }

  private start(): ChildProcess {
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // tap's TypeScript loader: the spawner is plain JavaScript
    const child = fork(path.join(__dirname, 'spawner.js'), [], { env, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: { id: number; result: ProcResult }) => {
      this.pending.get(m.id)?.(m.result);
      this.pending.delete(m.id);
    });
    child.on('exit', (code, signal) => {
      // Every run still waiting fails, naming why.
      this.child = undefined;
      const why = `the spawner (helpers/spawner.js) exited (${signal ?? code})`;
      for (const resolve of this.pending.values()) resolve({ status: null, signal: null, stdout: '', stderr: '', timedOut: false, spawnError: why });
      this.pending.clear();
    });
    return child;
  }

  close(): void {
    this.child?.disconnect();
    this.child = undefined;
  }
}

/** Runs the jobs, at most `n` at a time, in order of the list. */
export async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
}
