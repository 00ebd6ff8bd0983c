/*
 * The benchmark's cold device and its throttle: an ext4 image holding copies of the program's
 * files, attached read-only with direct I/O (so the backing file's own page cache never helps),
 * mounted before and unmounted after every cold run (the last close of the block device drops
 * its page cache and the file system's), and a cgroup (v2 io.max or v1 blkio.throttle.*) that
 * throttles reads of that loop device and counts them.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/**
 * Why no loop device can be attached here, or undefined: the loop driver's control device
 * (`devDir`/loop-control) must exist and losetup must find a free device.
 */
export function loopUnavailable(devDir = '/dev'): string | undefined {
  const control = path.join(devDir, 'loop-control');
  if (!fs.existsSync(control)) return `no loop devices: ${control} is missing (no loop driver in this kernel, or a container without /dev/loop*; try modprobe loop)`;
  try {
    sh('losetup', ['--find']);
  } catch (e) {
    return `no free loop device (losetup --find): ${(e as Error).message}`;
  }
  return undefined;
}

/**
 * Why no cgroup can throttle and count a device's reads here, or undefined: cgroup v2 with the
 * io controller, or cgroup v1 with blkio.throttle, under `root`.
 */
export function ioThrottleUnavailable(root = '/sys/fs/cgroup'): string | undefined {
  const controllers = path.join(root, 'cgroup.controllers');
  if (fs.existsSync(controllers)) {
    if (!fs.readFileSync(controllers, 'utf8').split(/\s+/).includes('io')) return `cgroup v2 at ${root} has no io controller (${controllers})`;
    return undefined;
  }
  if (fs.existsSync(path.join(root, 'blkio', 'blkio.throttle.read_iops_device'))) return undefined;
  if (fs.existsSync(path.join(root, 'blkio'))) return `cgroup v1 blkio at ${path.join(root, 'blkio')} has no throttle files (kernel without CONFIG_BLK_DEV_THROTTLING)`;
  return `no cgroup io controller: neither cgroup v2 with io (${controllers}) nor v1 blkio (${path.join(root, 'blkio')}) is mounted`;
}

export interface Loop {
  dev: string;
  /** MAJ:MIN */
  majmin: string;
}

export function attachLoop(image: string, readOnly: boolean, raKb?: number): Loop {
  const dev = sh('losetup', ['--find', '--show', '--direct-io=on', ...(readOnly ? ['--read-only'] : []), image]);
  const name = path.basename(dev);
  if (raKb !== undefined) fs.writeFileSync(`/sys/block/${name}/queue/read_ahead_kb`, String(raKb));
  return { dev, majmin: fs.readFileSync(`/sys/block/${name}/dev`, 'utf8').trim() };
}

export function readAheadKb(loop: Loop): number {
  return Number(fs.readFileSync(`/sys/block/${path.basename(loop.dev)}/queue/read_ahead_kb`, 'utf8').trim());
}

/** Whether the loop device really does direct I/O (losetup falls back to buffered I/O silently). */
export function directIo(loop: Loop): boolean | undefined {
  try {
    return fs.readFileSync(`/sys/block/${path.basename(loop.dev)}/loop/dio`, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

export function detachLoop(dev: string): void {
  try {
    sh('losetup', ['-d', dev]);
  } catch {
    // best effort: it goes when its last user lets go
  }
}

export function unmount(mnt: string): void {
  try {
    sh('umount', [mnt]);
  } catch {
    try {
      sh('umount', ['-l', mnt]);
    } catch {
      // nothing more to do
    }
  }
}

/**
 * An ext4 image with a copy of each target (named by its index) made in `work`; `edit` runs
 * while it is mounted read-write (stamping the program's copy). Returns the image's path.
 */
export function buildImage(work: string, targets: string[], edit?: (copyOf: (i: number) => string) => void): string {
  const image = path.join(work, 'image.ext4');
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt, { recursive: true });
  const bytes = targets.reduce((n, f) => n + Math.ceil(fs.statSync(f).size / 4096) * 4096, 0);
  fs.writeFileSync(image, '');
  // room for a second copy of the biggest file: stamping writes a new file and renames it
  const biggest = Math.max(0, ...targets.map((f) => fs.statSync(f).size));
  fs.truncateSync(image, Math.ceil((bytes * 1.1 + biggest + (64 << 20)) / (1 << 20)) * (1 << 20));
  const rw = attachLoop(image, false);
  let mounted = false;
  try {
    sh('mkfs.ext4', ['-q', '-F', '-b', '4096', '-O', '^has_journal', '-E', 'lazy_itable_init=0,lazy_journal_init=0', rw.dev]);
    sh('mount', [rw.dev, mnt]);
    mounted = true;
    targets.forEach((f, i) => {
      const to = path.join(mnt, String(i));
      fs.copyFileSync(f, to);
      fs.chmodSync(to, fs.statSync(f).mode & 0o7777);
    });
    edit?.((i) => path.join(mnt, String(i)));
  } finally {
    if (mounted) unmount(mnt);
    detachLoop(rw.dev);
  }
  return image;
}

export interface IoCounts {
  bytes: number;
  ios: number;
}

export interface Limits {
  riops?: number;
  rbps?: number;
}

/** A cgroup of our own that throttles and counts reads of one device. */
export class IoCgroup {
  readonly version: 1 | 2;
  readonly dir: string;
  readonly procs: string;
  private limited = new Set<string>();

  constructor(name: string) {
    const why = ioThrottleUnavailable();
    if (why) throw new Error(why);
    if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      this.version = 2;
      const root = '/sys/fs/cgroup';
      try {
        if (!fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('io')) fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '+io');
      } catch (e) {
        throw new Error(`cannot enable the io controller in ${root}: ${(e as Error).message}`);
      }
      this.dir = path.join(root, name);
    } else {
      this.version = 1;
      this.dir = path.join('/sys/fs/cgroup/blkio', name);
    }
    fs.mkdirSync(this.dir);
    this.procs = path.join(this.dir, 'cgroup.procs');
  }

  get controller(): string {
    return this.version === 2 ? 'cgroup v2 io.max' : 'cgroup v1 blkio.throttle';
  }

  setLimits(majmin: string, l: Limits): void {
    if (this.version === 2) {
      fs.writeFileSync(path.join(this.dir, 'io.max'), `${majmin} riops=${l.riops ?? 'max'} rbps=${l.rbps ?? 'max'}`);
    } else {
      fs.writeFileSync(path.join(this.dir, 'blkio.throttle.read_iops_device'), `${majmin} ${l.riops ?? 0}`);
      fs.writeFileSync(path.join(this.dir, 'blkio.throttle.read_bps_device'), `${majmin} ${l.rbps ?? 0}`);
    }
    if (l.riops || l.rbps) this.limited.add(majmin);
    else this.limited.delete(majmin);
  }

  /** Bytes and requests read from the device by the cgroup's processes so far. */
  counts(majmin: string): IoCounts {
    if (this.version === 2) {
      const line = fs.readFileSync(path.join(this.dir, 'io.stat'), 'utf8').split('\n').find((l) => l.startsWith(majmin + ' '));
      const get = (k: string): number => Number(new RegExp(`\\b${k}=(\\d+)`).exec(line ?? '')?.[1] ?? 0);
      return { bytes: get('rbytes'), ios: get('rios') };
    }
    const read = (file: string): number => {
      const line = fs.readFileSync(path.join(this.dir, file), 'utf8').split('\n').find((l) => l.startsWith(majmin + ' Read '));
      return Number(line?.split(/\s+/)[2] ?? 0);
    };
    return { bytes: read('blkio.throttle.io_service_bytes'), ios: read('blkio.throttle.io_serviced') };
  }

  /** Lifts the limits and removes the cgroup (its processes must have ended). */
  remove(): void {
    for (const m of [...this.limited]) {
      try {
        this.setLimits(m, {});
      } catch {
        // the device may be gone already
      }
    }
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(this.dir);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        // a process still exiting: wait a little
        const until = Date.now() + 20;
        while (Date.now() < until);
      }
    }
  }
}
