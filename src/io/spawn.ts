import { execFileSync, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ToolError } from '../errors';

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

/** Runs a tool to its end and returns its output, trimmed; throws `CMD ARGS: its stderr` when it fails. */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new ToolError(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/**
 * The interpreter and shared objects ld.so would load for `file`, as `ldd` lists them (real
 * paths of files that exist); none for a static file or one ldd cannot run.
 */
export function lddLibraries(file: string): string[] {
  const r = spawnSync('ldd', [file], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return [];
  const out = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    // `libc.so.6 => /lib/.../libc.so.6 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)`
    const m = /(?:=>\s+|^\s*)(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (!m) continue;
    try {
      out.add(fs.realpathSync(m[1]!));
    } catch {
      /* listed but not there */
    }
  }
  return [...out];
}

/** Prepends `item` to a colon-separated list variable, once. */
export function prependList(value: string | undefined, item: string): string {
  const parts = (value ?? '').split(/[: ]/).filter((p) => p && p !== item);
  return [item, ...parts].join(':');
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
