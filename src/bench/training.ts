/* The training `bench` does when the program carries no valid note. */
import { openElf } from '../elf/read';
import { verifyElf } from '../ops/verify';
import { selectPages } from '../profile/select';
import { exactUnavailable } from '../record/exact';
import { record } from '../record/record';
import type { BenchResult } from './bench';
import { TouchedSet, touchedSet } from './bound';

/**
 * The training `bench` does when the program carries no valid note: a recording (exact method
 * when it can, else pagemap), the selection `train` makes (--min-share 0.5). Returns the
 * selected profile to stamp a copy with, and the pages the recording saw touched.
 */
export async function trainUnlessNoted(
  argv: string[],
  program: string,
  opts: { trainRuns?: number; env?: NodeJS.ProcessEnv; log?: (s: string) => void; method?: 'auto' | 'pagemap'; signal?: AbortSignal } = {},
): Promise<{ training: BenchResult['training']; status: string; profileText?: string; touched?: TouchedSet }> {
  const training: BenchResult['training'] = { trained: false, reason: '' };
  const status = noteStatus(program);
  if (status === 'valid') {
    training.reason = 'the program already carries a valid note';
    return { training, status };
  }
  const t0 = Date.now();
  const method = opts.method ?? 'auto';
  opts.log?.(`training: recording ${argv.join(' ')} (${method === 'pagemap' || exactUnavailable() ? 'pagemap' : 'exact'} method)`);
  const rec = await record(argv, { method, runs: opts.trainRuns ?? 1, stdio: 'ignore', env: opts.env ?? process.env, signal: opts.signal });
  const sel = selectPages(rec.profile, { minShare: 0.5 });
  training.trained = true;
  training.method = rec.method;
  training.recordMs = Date.now() - t0;
  training.objects = sel.profile.objects.filter((o) => o.pages.trim()).length;
  training.pages = sel.objects.reduce((n, o) => n + o.selected, 0);
  training.reason = `the program's note is ${status}: trained (${rec.method}, ${rec.runs.length} run) and stamped its copy`;
  return { training, status, profileText: JSON.stringify(sel.profile), touched: touchedSet(rec.profile) };
}

/** verify's status of the program's note, or why the program cannot be read. */
export function noteStatus(file: string): string {
  try {
    const elf = openElf(file);
    try {
      return verifyElf(elf, { content: false }).status;
    } finally {
      elf.source.close();
    }
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  }
}
