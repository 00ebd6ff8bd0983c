/*
 * The `daemon` and `daemon-permission` strategies of `elfprefetch bench`: elfprefetchd
 * (shim/daemon/, docs/DAEMON.md) watching the benchmark's file system while the plain command
 * runs, with notification events (its default) or permission events. It is started after each
 * cold mount and stopped after the run, in the run's cgroup, so that its reads are throttled and
 * counted like the exec wrapper's (a daemon outside the cgroup would read at full speed).
 *
 * Its note cache (docs/DAEMON.md, "The note cache") is a file in the bench's folder that outlives
 * each daemon, as /var/cache/elfprefetch does a reboot: `primeNoteCache` fills it with one run
 * before the measured ones, so `daemon` and `daemon-permission` measure a program the daemon has
 * seen before (every cold start but the first after an install), and `daemon-uncached` and
 * `daemon-permission-uncached` (no note cache) the first exec after an install, whose note is
 * read cold.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ToolError } from '../errors';
import { nativeFile } from '../native/locate';

export const DAEMON = 'elfprefetchd';

export interface RunningDaemon {
  /** Stops it (SIGTERM) and returns its per-file lines ("elfprefetch: FILE: ..."). */
  stop(): Promise<string[]>;
  /** After stop: how many execs took their note from the note cache (its verbose lines). */
  noteCacheHits(): number;
}

/**
 * Starts elfprefetchd watching the file system of `mnt`, in the cgroup whose procs file is
 * `procs`, with notification events (its default) or permission events. `prefix` runs it (the
 * bench's bindexec with its binds): the daemon opens the libraries a note names by path, so it
 * must see the copies bound over them as the command does, or it would read the originals.
 */
export async function startDaemon(prefix: string[], mnt: string, device: string | undefined, procs: string, work: string, mode: 'notify' | 'permission', noteCache: boolean): Promise<RunningDaemon> {
  const conf = path.join(work, 'elfprefetchd.conf');
  // recheck-seconds = 0: each measured run is cold again within seconds of the last, and must be handled.
  const lines = [`mode = ${mode}`, `filesystem = ${mnt}`, 'sidecar = none', `device = ${device ?? 'auto'}`, `note-cache = ${noteCache ? noteCacheFile(work) : 'none'}`, 'recheck-seconds = 0'];
  fs.writeFileSync(conf, lines.join('\n') + '\n', { mode: 0o644 });
  fs.chmodSync(conf, 0o644);
  const argv = [...prefix, nativeFile(DAEMON), '--foreground', '--verbose', '--config', conf];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.on('data', (d: Buffer) => (text = (text + d.toString()).slice(-200_000)));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.on('error', () => {});
  fs.writeFileSync(procs, String(child.pid));
  const deadline = Date.now() + 10_000;
  while (!/watching execs/.test(text) || (mode === 'permission' && !/with permission events/.test(text))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new ToolError(`elfprefetchd did not start: ${text.trim().slice(-500) || 'no message'}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    async stop() {
      child.kill('SIGTERM');
      // A daemon that does not stop within 10 s (it never should) is killed: the bench goes on.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      return text.split('\n').filter((l) => l.startsWith('elfprefetch: '));
    },
    noteCacheHits: () => (text.match(/: its note is in the note cache: not read$/gm) ?? []).length,
  };
}

/** The note cache the bench's daemons share (in the bench's folder, removed with it). */
export const noteCacheFile = (work: string): string => path.join(work, 'elfprefetchd.notes');

/** What a strategy's daemon is (`daemon[-permission][-uncached]`): its events, and whether it has a note cache. */
export function daemonKind(strategy: string): { mode: 'notify' | 'permission'; noteCache: boolean } | undefined {
  if (!/^daemon(-permission)?(-uncached)?$/.test(strategy)) return undefined;
  return { mode: strategy.includes('-permission') ? 'permission' : 'notify', noteCache: !strategy.endsWith('-uncached') };
}
