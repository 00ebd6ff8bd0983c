import { spawn, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Exit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs argv to its end; rejects only when it cannot be started. */
export function runToExit(argv: string[], env: NodeJS.ProcessEnv, stdio: StdioOptions = 'inherit'): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio });
    let failed = false;
    child.on('error', (e) => {
      failed = true;
      reject(new Error(`cannot run ${argv[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    child.on('close', (code, signal) => {
      if (!failed) resolve({ pid: child.pid!, code, signal });
    });
  });
}

/** Prepends `item` to a colon-separated list variable, once. */
export function prependList(value: string | undefined, item: string): string {
  const parts = (value ?? '').split(/[: ]/).filter((p) => p && p !== item);
  return [item, ...parts].join(':');
}

/**
 * Runs body with SIGINT, SIGTERM and SIGHUP noted instead of ending this process at once: the
 * recorded command (in our process group) gets the terminal's signal itself and ends, body's
 * cleanup runs (loop devices, tracing, temporary files), and then the error says what came.
 */
export async function noticingSignals<T>(body: (interrupted: () => NodeJS.Signals | undefined) => Promise<T>): Promise<T> {
  let got: NodeJS.Signals | undefined;
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const note = (s: NodeJS.Signals): void => {
    got ??= s;
  };
  for (const s of sigs) process.on(s, note);
  try {
    const r = await body(() => got);
    if (got) throw new Error(`interrupted by ${got}`);
    return r;
  } finally {
    for (const s of sigs) process.off(s, note);
  }
}

/** The file a command name runs: a path as it is, else the first match on PATH. */
export function resolveCommand(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const ok = (f: string): boolean => {
    try {
      return fs.statSync(f).isFile() && (fs.accessSync(f, fs.constants.X_OK), true);
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return ok(name) ? fs.realpathSync(name) : undefined;
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const f = path.join(dir || '.', name);
    if (ok(f)) return fs.realpathSync(f);
  }
  return undefined;
}
