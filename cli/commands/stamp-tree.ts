import * as fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';
import { DEFAULT_SIDECAR_DIR } from '../../src/ops/sidecar';
import { MOVING } from '../../src/layout/plan';
import { MAX_PAGE_SIZE, powerOfTwo, share, size, wholeNumber } from '../checks';
import { examples } from '../examples';
import { noticingSignals, statusAfter } from '../signals';
import { interruption } from '../../src/io/interrupt';
import { parseSize } from '../../src/profile/size';

interface Args {
  dir: string;
  profiles: string;
  jobs?: number;
  'dry-run': boolean;
  report?: string;
  sidecar?: string;
  fallback: 'none' | 'sidecar' | 'move';
  'sidecar-dir': string;
  'min-share': number;
  budget?: string;
  'max-page-size'?: number;
  progress?: boolean;
  json: boolean;
  'carry-over': boolean;
  quiet?: boolean;
}

const LABELS: Record<string, string> = {
  stamped: 'stamped',
  'would-stamp': 'would be stamped',
  current: 'already current',
  'no-profile': 'no profile',
  skipped: 'skipped',
  refused: 'refused',
  failed: 'failed',
};

/** How many files each reason accounts for, most common first. */
function byReason(files: Array<{ reason?: string }>): Array<[string, number]> {
  const n = new Map<string, number>();
  for (const f of files) n.set(f.reason ?? '', (n.get(f.reason ?? '') ?? 0) + 1);
  return [...n].sort((a, b) => b[1] - a[1]);
}

export function stampTreeCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'stamp-tree <dir>',
    describe: 'Stamp every ELF executable and library under DIR (a package staging tree) from a profile directory, matched by build-id',
    builder: (y) =>
      y
        .positional('dir', { type: 'string', demandOption: true })
        .option('profiles', { alias: 'P', type: 'string', demandOption: true, describe: 'profile directory (filled by `elfprefetch profiles add`)' })
        .option('jobs', { alias: 'j', type: 'number', describe: 'files stamped at once (default: the number of cores)' })
        .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'say what would be done; change nothing' })
        .option('report', { type: 'string', describe: 'write a JSON report of every file here' })
        .option('sidecar', { type: 'string', describe: 'leave the files as they are; write their notes to this sidecar directory' })
        .option('fallback', { choices: ['none', 'sidecar', 'move'] as const, default: 'none' as const, describe: 'where a file has no room for its note without moving anything: refuse it (none), write its note to --sidecar-dir (sidecar), or move sections to make room (move: breaks separate debug files and core dumps, see docs/DESIGN.md)' })
        .option('sidecar-dir', { type: 'string', default: DEFAULT_SIDECAR_DIR, describe: 'the sidecar directory of --fallback sidecar' })
        .option('min-share', { type: 'number', default: 0.5, describe: 'keep pages touched in at least this share of the runs (0 to 1)' })
        .option('budget', { type: 'string', describe: 'at most this many bytes per note (a file\'s own pages and its libraries\'), most-used pages first (e.g. 4M)' })
        .option('carry-over', { type: 'boolean', default: false, describe: 'a file whose build has no profile takes the pages of the build recorded at its installed path (/usr/bin/foo), carried over section by section' })
        .option('max-page-size', { type: 'number', describe: 'largest page size of the target machine, overriding the default for its architecture' })
        .option('progress', { type: 'boolean', describe: 'show progress on stderr (default: when stderr is a terminal)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON instead of the summary' })
        .epilogue(
          examples([
            ['$0 stamp-tree debian/tmp -P /srv/elfprefetch/profiles', 'stamp a package tree from a profile directory'],
            ['$0 stamp-tree debian/tmp -P PDIR --dry-run --report r.json', 'say what would be done, file by file'],
          ]),
        )
        .check((a) => {
          share('min-share', a['min-share']);
          if (a.sidecar !== undefined && a.fallback !== 'none') throw new Error('--sidecar writes every note to a sidecar already; --fallback applies to notes written into the files.');
          wholeNumber('jobs', a.jobs, 1, 256);
          powerOfTwo('max-page-size', a['max-page-size'], MAX_PAGE_SIZE.min, MAX_PAGE_SIZE.max);
          size('budget', a.budget, parseSize);
          return true;
        }) as never,
    handler: async (a) => {
      // Files in progress are finished, the rest left alone; then the usual 128+N status.
      await noticingSignals(async (signal) => {
        setCode(
          await guard(io, a.dir, async () => {
            const { stampTree } = await import('../../src/tree/stamp-tree');
            const showProgress = a.progress ?? (!!process.stderr.isTTY && !a.quiet);
            let last = 0;
            const report = await stampTree(a.dir, {
              profiles: a.profiles,
              jobs: a.jobs,
              dryRun: a['dry-run'],
              sidecar: a.sidecar,
              ...(a.fallback !== 'none' ? { fallback: a.fallback, fallbackDir: a['sidecar-dir'] } : {}),
              carryOver: a['carry-over'],
              minShare: a['min-share'],
              budget: a.budget !== undefined ? parseSize(a.budget) : undefined,
              maxPageSize: a['max-page-size'] ? BigInt(a['max-page-size']) : undefined,
              signal,
              progress: showProgress
                ? (done, total, counts) => {
                    const now = Date.now();
                    if (done !== total && now - last < 200) return;
                    last = now;
                    const line = `[${done}/${total}] stamped ${counts.stamped + counts['would-stamp']}, current ${counts.current}, no profile ${counts['no-profile']}, refused ${counts.refused}, failed ${counts.failed}`;
                    process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K${done === total ? '\n' : ''}` : `${line}\n`);
                  }
                : undefined,
            });
            if (a.report) fs.writeFileSync(a.report, JSON.stringify(report, null, 2) + '\n');
            if (a.json) io.out(JSON.stringify(report));
            else {
              io.out(
                `${report.root}: ${report.elfFiles} ELF files (${report.otherFiles} other files, ${report.symlinks} symlinks) in ${report.seconds.toFixed(1)} s, ${report.jobs} at a time${report.dryRun ? ', dry run: nothing changed' : ''}${report.sidecar ? `, notes to sidecar ${report.sidecar}` : ''}`,
              );
              for (const [k, label] of Object.entries(LABELS)) {
                const n = report.counts[k as keyof typeof report.counts];
                if (n || k === 'stamped') io.out(`  ${label.padEnd(17)} ${String(n).padStart(6)}`);
              }
              const toSidecar = report.files.filter((f) => f.strategy === 'sidecar' && report.sidecar === undefined).length;
              if (toSidecar) io.out(`    ${toSidecar} of them to sidecars in ${a['sidecar-dir']} (no room in the file; --fallback sidecar)`);
              const moved = report.files.filter((f) => MOVING.has(f.strategy ?? '')).length;
              if (moved) io.out(`    ${moved} of them with sections moved (--fallback move): debug files split off before, core dumps and the kernel's build-id reader no longer match them`);
              const carried = report.files.filter((f) => f.carriedFrom).length;
              if (carried) io.out(`    ${carried} of them with the pages of another build carried over (--carry-over)`);
              for (const k of ['skipped', 'no-profile'] as const) {
                const reasons = byReason(report.files.filter((f) => f.outcome === k && f.reason));
                for (const [reason, n] of reasons) io.out(`    ${LABELS[k]}: ${n} × ${reason}`);
              }
              for (const k of ['refused', 'failed'] as const) {
                const bad = report.files.filter((f) => f.outcome === k);
                if (bad.length) io.out(`${LABELS[k]}:`);
                for (const f of bad.slice(0, 20)) io.out(`  ${f.path}: ${f.reason}`);
                if (bad.length > 20) io.out(`  ... and ${bad.length - 20} more${a.report ? ` (see ${a.report})` : ' (--report FILE lists them all)'}`);
              }
              if (report.staleTempsRemoved.length) io.out(`removed ${report.staleTempsRemoved.length} temporary files left by an interrupted run`);
              if (report.interrupted) io.out(`interrupted: ${report.files.length} of ${report.elfFiles} files done; the others were not touched`);
              if (a.report) io.out(`report: ${a.report}`);
            }
            const stoppedBy = interruption(signal)?.signal;
            if (stoppedBy) return statusAfter(stoppedBy);
            if (report.counts.failed) return EXIT.error;
            if (report.counts.refused) return EXIT.refused;
            return EXIT.ok;
          }),
        );
      });
    },
  };
}
