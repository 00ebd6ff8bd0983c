/** `ENOENT: no such file or directory, open 'x'` → `no such file or directory (ENOENT)`: no call, no arguments. */
export function errnoText(e: NodeJS.ErrnoException): string {
  const text = (e.message ?? String(e)).replace(/^[A-Z0-9_]+: /, '').replace(/, \w+( '.*)?$/, '');
  return e.code ? `${text} (${e.code})` : text;
}
