/** Where the native build lives (the shim's hooks, the recorder, the helpers): build/native/ under the package root. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnavailableError } from '../errors';

export type Hook = 'exec' | 'audit' | 'preload';
export const HOOKS: readonly Hook[] = ['exec', 'audit', 'preload'];

/** The package root: the nearest folder above this module holding our package.json. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    try {
      if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'elfprefetch') return dir;
    } catch {
      // not here: go up
    }
    if (path.dirname(dir) === dir) throw new UnavailableError(`no elfprefetch package.json above ${from}`);
  }
}

export const NATIVE_FILES = {
  exec: 'elfprefetch-exec',
  audit: 'libelfprefetch-audit.so',
  preload: 'libelfprefetch-preload.so',
  plan: 'epf-plan',
} as const;

/** build/native/ (ELFPREFETCH_NATIVE_DIR overrides it). */
export function nativeDir(): string {
  return process.env.ELFPREFETCH_NATIVE_DIR ? path.resolve(process.env.ELFPREFETCH_NATIVE_DIR) : path.join(packageRoot(), 'build', 'native');
}

export const RECORDER_LIBRARY = 'libelfprefetch-record.so';
export const BINDEXEC = 'elfprefetch-bindexec';

/** Absolute path of a native file by its name; throws with what to run when it is missing. */
export function nativeFile(name: string): string {
  const p = path.join(nativeDir(), name);
  if (!fs.existsSync(p)) throw missingNative(p);
  return p;
}

/** Absolute path of one of the shim's native files. */
export function nativePath(what: keyof typeof NATIVE_FILES): string {
  return nativeFile(NATIVE_FILES[what]);
}

/**
 * The error for a native file that is not there: why the install did not build it, as
 * scripts/install-native.sh (npm's preinstall) wrote it, or else how to build it.
 */
export function missingNative(file: string): Error {
  let why = '';
  if (!process.env.ELFPREFETCH_NATIVE_DIR) {
    try {
      why = fs.readFileSync(path.join(packageRoot(), 'build', 'native-missing.txt'), 'utf8').trim();
    } catch {
      // no record: the install script did not run or did not fail
    }
  }
  if (why) return new Error(`${file} is missing: ${why}`);
  return new Error(`${file} is missing: build the native parts with \`npm run build:native\` in ${packageRoot()} (make -C shim and make -C recorder: a C compiler and make)`);
}

/** The argv and environment that run `cmd` with the given hook. */
export function hookCommand(hook: Hook, cmd: string[], env: NodeJS.ProcessEnv = process.env): { argv: string[]; env: NodeJS.ProcessEnv } {
  const add = (name: string, value: string, sep: string): NodeJS.ProcessEnv => ({ ...env, [name]: env[name] ? `${value}${sep}${env[name]}` : value });
  if (hook === 'exec') return { argv: [nativePath('exec'), ...cmd], env: { ...env } };
  if (hook === 'audit') return { argv: [...cmd], env: add('LD_AUDIT', nativePath('audit'), ':') };
  return { argv: [...cmd], env: add('LD_PRELOAD', nativePath('preload'), ':') };
}
