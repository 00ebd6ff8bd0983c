import { spawnSync } from 'node:child_process';
import { ToolError, UnavailableError } from '../errors';

/** Extended attributes (file capabilities among them), as `getfattr --dump` prints them. */
export function readXattrs(file: string): string | undefined {
  const r = spawnSync('getfattr', ['--dump', '--match=-', '--encoding=base64', '--absolute-names', file], { encoding: 'utf8' });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UnavailableError('getfattr is not installed (Debian package "attr"): without it the file capabilities and other extended attributes of the file could not be kept');
    }
    throw r.error;
  }
  if (r.status !== 0) {
    // A filesystem without xattr support has none to keep.
    if (/Operation not supported/.test(r.stderr)) return undefined;
    throw new ToolError(`reading extended attributes of ${file}: ${r.stderr.trim()}`);
  }
  return r.stdout.trim() ? r.stdout : undefined;
}

export function writeXattrs(file: string, dump: string): void {
  const body = dump.replace(/^# file: .*$/m, `# file: ${file}`);
  const r = spawnSync('setfattr', ['--restore=-'], { input: body, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new ToolError(`restoring extended attributes on ${file}: ${r.error?.message ?? r.stderr.trim()}`);
}


/** getfattr writes unusual bytes of a name as \\ooo (octal). */
function unescapeName(name: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(name, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else bytes.push(raw[i]!);
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The extended attributes of every file under `dir` that has any, in one `getfattr -R`
 * (symlinks not followed), as path -> dump text for writeXattrs. Files not in the map have none.
 * Undefined when the tree could not be read that way (the caller then reads file by file).
 */
export function readTreeXattrs(dir: string): Map<string, string> | undefined {
  const r = spawnSync('getfattr', ['-R', '-P', '-h', '--dump', '--match=-', '--encoding=base64', '--absolute-names', dir], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error || r.status !== 0) return undefined;
  const out = new Map<string, string>();
  for (const block of r.stdout.split(/\n(?=# file: )/)) {
    const m = /^# file: (.*)$/m.exec(block);
    if (!m) continue;
    const body = block.slice(m.index + m[0].length).trim();
    if (body) out.set(unescapeName(m[1]!), `# file: ${m[1]}\n${body}\n`);
  }
  return out;
}
