/*
 * The benchmark's cold device and its throttle: an ext4 image holding copies of the program's
 * files on a read-only loop device (src/io/loop.ts), mounted before and unmounted after every
 * cold run (the last close of the block device drops its page cache and the file system's),
 * and a cgroup (v2 io.max or v1 blkio.throttle.*) that
 * throttles reads of that loop device and counts them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_REQUEST } from './bound';
import { UnavailableError } from '../errors';

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
    if (why) throw new UnavailableError(why);
    if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      this.version = 2;
      const root = '/sys/fs/cgroup';
      try {
        if (!fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('io')) fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '+io');
      } catch (e) {
        throw new UnavailableError(`cannot enable the io controller in ${root}: ${(e as Error).message}`);
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

/**
 * Waits until no file system (in any mount namespace) holds the block device: an O_EXCL open
 * fails with EBUSY while one does. False if that did not happen within `timeoutMs`.
 */
export async function waitUnclaimed(dev: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(dev, fs.constants.O_RDONLY | fs.constants.O_EXCL));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') return true; // cannot tell: go on
    }
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The loop device's queue limits that decide how a read is split into requests. */
export interface QueueLimits {
  maxSectorsKb: number;
  maxSegments: number;
  maxSegmentSize: number;
}

/** max_sectors_kb, max_segments and max_segment_size of the loop device's queue. */
export function queueLimits(loop: { dev: string }): QueueLimits | undefined {
  try {
    const q = (k: string): number => Number(fs.readFileSync(`/sys/block/${path.basename(loop.dev)}/queue/${k}`, 'utf8').trim());
    const out = { maxSectorsKb: q('max_sectors_kb'), maxSegments: q('max_segments'), maxSegmentSize: q('max_segment_size') };
    return Object.values(out).every((x) => Number.isFinite(x) && x > 0) ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Largest request of 4 KiB page-cache pages the queue takes unsplit, at most MAX_REQUEST. */
export function deviceRequestBytes(q: QueueLimits | undefined): number {
  if (!q) return MAX_REQUEST;
  const page = 4096;
  return Math.min(MAX_REQUEST, q.maxSectorsKb * 1024, q.maxSegments * Math.min(page, q.maxSegmentSize));
}
