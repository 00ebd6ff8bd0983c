/** The device class the shim would pick for a file, and why, and its request cap (shim/epf_devclass.c epf_device_for). */
import * as fs from 'node:fs';
import { DEVICES, DeviceClass, DeviceParams, requestCap } from './coalesce';
import { InvalidInputError } from '../errors';

export interface DeviceChoice {
  device: DeviceParams;
  /** Why the shim picks this class, in the words of its debug line; undefined when it was set. */
  why?: string;
  /**
   * Largest request the file's device takes (larger ones are always split), bytes, as requestCap
   * keeps it (MAX_REQUEST when no queue says). Read from the queue even when the class is set.
   */
  cap: number;
}

/** The cap as the shim's debug line says it. */
export function capText(cap: number): string {
  return `requests <= ${cap >> 10} KiB`;
}

type Detected = Omit<DeviceChoice, 'cap'> & { rawCap: number };

/** NFS, CIFS/SMB (two), FUSE, 9p, Ceph, GFS2: their statfs f_type (shim/epf_devclass.c's twin, checked by spec/shim-twins). */
export const NETWORK_FS_TYPES: readonly number[] = [0x6969, 0xff534d42, 0xfe534d42, 0x65735546, 0x01021997, 0x00c36400, 0x47504653];
const NETWORK_FS = new Set(NETWORK_FS_TYPES);

/** Whether a file system of this statfs f_type is a network one (the shim plans such files for net). */
export function isNetworkFs(fType: number): boolean {
  return NETWORK_FS.has(fType >>> 0);
}

/** Linux dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31. */
function majorMinor(dev: number): [number, number] {
  const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
  return [major, minor];
}

function readSmall(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').slice(0, 511).replace(/\n+$/, '');
  } catch {
    return undefined;
  }
}

function networkFs(file: string): boolean {
  try {
    return isNetworkFs(fs.statfsSync(file).type);
  } catch {
    return false;
  }
}

/** A decimal sysfs value, at most 2^31 (as the shim reads it); 0 when it cannot be read. */
function readNumber(file: string): number {
  const m = /^\d+/.exec(readSmall(file) ?? '');
  return m ? Math.min(Number(m[0]), 2 ** 31) : 0;
}

/**
 * The largest request queue MAJ:MIN takes (a partition's queue is its parent's): its
 * max_sectors_kb, in bytes; 0 when the queue does not say (shim/epf_devclass.c queue_cap, which
 * says why max_segments is not read).
 */
function queueCap(sys: string): number {
  for (const q of ['queue', '../queue']) {
    const kb = readNumber(`${sys}/${q}/max_sectors_kb`);
    if (kb) return kb * 1024;
  }
  return 0;
}

const smaller = (a: number, b: number): number => (a && (!b || a < b) ? a : b);

/**
 * Block device MAJ:MIN, and the smallest cap of the devices on the way (0: none said). A loop
 * device is what its backing file lies on, and a read through it is split by its queue and again
 * by its backing device's; a virtio disk's rotational flag is the driver's default whatever the
 * host has, so it counts as ssd; else the rotational flag (a partition's is its parent's): 1 hdd,
 * 0 ssd; ssd when nothing says.
 */
function blockClass(major: number, minor: number, depth: number): Detected {
  const sys = `/sys/dev/block/${major}:${minor}`;
  const rawCap = queueCap(sys);
  const backing = depth < 4 ? readSmall(`${sys}/loop/backing_file`) : undefined;
  if (backing && backing.startsWith('/')) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(backing);
    } catch {
      // gone: the loop device's own flags
    }
    if (st) {
      const [maj, min] = majorMinor(st.dev);
      const d = maj !== 0 ? blockClass(maj, min, depth + 1) : networkFs(backing) ? { device: DEVICES.net, why: 'network file system', rawCap: 0 } : { device: DEVICES.ssd, why: 'unknown device', rawCap: 0 };
      return { device: d.device, why: d.why!.startsWith('loop device on ') ? d.why : `loop device on ${d.why}`, rawCap: smaller(rawCap, d.rawCap) };
    }
  }
  for (const tail of ['queue/rotational', '../queue/rotational']) {
    const v = readSmall(`${sys}/${tail}`);
    if (!v) continue;
    if (!v.startsWith('1')) return { device: DEVICES.ssd, why: 'non-rotational', rawCap };
    let link = '';
    try {
      link = fs.readlinkSync(sys);
    } catch {
      // no link: not virtio as far as we can tell
    }
    if (link.includes('/virtio')) return { device: DEVICES.ssd, why: 'virtio disk, its rotational flag says nothing', rawCap };
    return { device: DEVICES.hdd, why: 'rotational', rawCap };
  }
  return { device: DEVICES.ssd, why: 'unknown device', rawCap };
}

/** What the shim detects for the file's device (the class when nothing sets it, and the cap). */
function detect(file: string): Detected {
  let dev: number;
  try {
    dev = fs.statSync(file).dev;
  } catch {
    return { device: DEVICES.ssd, why: 'unknown device', rawCap: 0 };
  }
  const [major, minor] = majorMinor(dev);
  if (major === 0) return networkFs(file) ? { device: DEVICES.net, why: 'network file system', rawCap: 0 } : { device: DEVICES.ssd, why: 'unknown device', rawCap: 0 };
  return blockClass(major, minor, 0);
}

/** The class for `file`: `override` (what ELFPREFETCH_DEVICE or --device says) first, else detected; the cap is always the device's. */
export function chooseDevice(file: string, override?: string): DeviceChoice {
  let forced: DeviceParams | undefined;
  if (override) {
    forced = DEVICES[override as DeviceClass];
    if (!forced) throw new InvalidInputError(`unknown device class '${override}' (hdd, ssd, nvme or net)`);
  }
  const d = detect(file);
  const cap = requestCap(d.rawCap);
  return forced ? { device: forced, cap } : { device: d.device, why: d.why, cap };
}

/** The class alone. */
export function detectDevice(file: string, override?: string): DeviceParams {
  return chooseDevice(file, override).device;
}
