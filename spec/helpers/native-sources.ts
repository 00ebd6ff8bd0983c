// The loader shim's sources, as shim/core.mk lists them: the specs that compile the shim in their
// own way (sanitizers, other machines, a compiled-in sidecar directory) compile the same files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './fixtures';

export const shimDir = path.join(repoRoot, 'shim');

/** Absolute paths of SHIM_CORE (or SHIM_HDRS) in shim/core.mk. */
export function shimCoreFiles(list: 'SHIM_CORE' | 'SHIM_HDRS' = 'SHIM_CORE'): string[] {
  const mk = fs.readFileSync(path.join(shimDir, 'core.mk'), 'utf8');
  const m = new RegExp(`^${list} = (.+)$`, 'm').exec(mk);
  if (!m) throw new Error(`shim/core.mk has no ${list} line`);
  return m[1]!.trim().split(/\s+/).map((f) => path.join(shimDir, f));
}

/** A hook's main file (exec_wrapper.c, audit.c, preload.c) or a test program, with the core. */
export function shimSources(...mains: string[]): string[] {
  return [...mains.map((m) => (path.isAbsolute(m) ? m : path.join(shimDir, m))), ...shimCoreFiles()];
}
