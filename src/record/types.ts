/** What one recorded run of the command gave, whatever the method. */
export interface RunRecord {
  /** Pages (by file page) of each file the run's processes touched, by path as loaded. */
  files: Map<string, Set<number>>;
  /** The program: the executable of the command's first process (after its last exec). */
  main?: string;
  /** Processes (program images) merged into this run. */
  processes: number;
  /** How the command ended. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Things the user should know about this run. */
  notes: string[];
}

export type Method = 'pagemap' | 'exact';

export function addPages(files: Map<string, Set<number>>, file: string, pages: Iterable<number>): void {
  let s = files.get(file);
  if (!s) files.set(file, (s = new Set()));
  for (const p of pages) s.add(p);
}
