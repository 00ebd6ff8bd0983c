import * as fs from 'node:fs';
import * as path from 'node:path';
import { missingNative } from '../shim/native';

/** The checkout or package root: the nearest folder above this file with elfprefetch's package.json. */
export function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'elfprefetch') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    if (path.dirname(dir) === dir) throw new Error('cannot find the elfprefetch package folder');
  }
}

/** Where `make -C recorder` puts the native parts (ELFPREFETCH_NATIVE_DIR overrides). */
export function nativeDir(): string {
  return process.env.ELFPREFETCH_NATIVE_DIR || path.join(packageRoot(), 'build', 'native');
}

/** A built native file, or an error that says how to build it. */
export function nativeFile(name: string): string {
  const file = path.join(nativeDir(), name);
  if (!fs.existsSync(file)) throw missingNative(file);
  return file;
}

export const RECORDER_LIBRARY = 'libelfprefetch-record.so';
export const BINDEXEC = 'elfprefetch-bindexec';
