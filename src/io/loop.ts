/*
 * Loop devices and mounts for the cold copies of the exact recorder (src/record/exact.ts) and
 * the benchmark (src/bench/device.ts): attached with direct I/O, so the backing file's own page
 * cache never helps, and detached or unmounted on a best-effort basis.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sh } from './spawn';

export interface Loop {
  dev: string;
  /** MAJ:MIN */
  majmin: string;
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

/** A loop device on `image`, with direct I/O, and read-ahead `raKb` KiB when given. */
export function attachLoop(image: string, readOnly: boolean, raKb?: number): Loop {
  const dev = sh('losetup', ['--find', '--show', '--direct-io=on', ...(readOnly ? ['--read-only'] : []), image]);
  const name = path.basename(dev);
  if (raKb !== undefined) fs.writeFileSync(`/sys/block/${name}/queue/read_ahead_kb`, String(raKb));
  return { dev, majmin: fs.readFileSync(`/sys/block/${name}/dev`, 'utf8').trim() };
}

/** The kernel's internal dev_t of a device (major << 20 | minor), as tracepoints print it. */
export function kernelDev(loop: Loop): number {
  const [maj, min] = loop.majmin.split(':').map(Number);
  return maj! * 2 ** 20 + min!;
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
    // best effort: a process that outlived the run may still hold it; it goes when released
  }
}

/** Unmounts `mnt`, lazily when it is busy; never throws. */
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
