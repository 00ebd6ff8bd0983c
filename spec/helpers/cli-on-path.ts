// A scratch folder for a spec that runs builds as a user would, with the CLI on PATH as
// `elfprefetch` (a shell wrapper around dist/cli/main.js), removed at the end unless
// ELFPREFETCH_KEEP is set.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js');

/** The folder, and an environment with the CLI on PATH and without the variables that change a build. */
export function scratchWithCli(prefix: string): { tmp: string; env: NodeJS.ProcessEnv } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (!process.env.ELFPREFETCH_KEEP) t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  else t.comment(`keeping ${tmp}`);
  const binDir = path.join(tmp, 'bin');
  fs.mkdirSync(binDir);
  fs.writeFileSync(path.join(binDir, 'elfprefetch'), `#!/bin/sh\nexec '${process.execPath}' '${cli}' "$@"\n`, { mode: 0o755 });
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` };
  for (const v of ['DESTDIR', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'CC', 'CFLAGS', 'LDFLAGS']) delete env[v];
  return { tmp, env };
}
