/*
 * The `daemon` and `daemon-permission` strategies of `elfprefetch bench`: elfprefetchd
 * (shim/daemon/, docs/DAEMON.md) watching the benchmark's file system while the plain command
 * runs, with notification events (its default) or permission events. It is started after each
 * cold mount and stopped after the run, in the run's cgroup, so that its reads are throttled and
 * counted like the exec wrapper's (a daemon outside the cgroup would read at full speed).
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
}

/**
 * Starts elfprefetchd watching the file system of `mnt`, in the cgroup whose procs file is
 * `procs`, with notification events (its default) or permission events. `prefix` runs it (the
 * bench's bindexec with its binds): the daemon opens the libraries a note names by path, so it
 * must see the copies bound over them as the command does, or it would read the originals.
 */
export async function startDaemon(prefix: string[], mnt: string, device: string | undefined, procs: string, work: string, mode: 'notify' | 'permission'): Promise<RunningDaemon> {
  const conf = path.join(work, 'elfprefetchd.conf');
  const lines = [`mode = ${mode}`, `filesystem = ${mnt}`, 'sidecar = none', `device = ${device ?? 'auto'}`];
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
      await exited;
      return text.split('\n').filter((l) => l.startsWith('elfprefetch: '));
    },
  };
}
