/** The device class the shim would pick for a file, and why (shim/epf_devclass.c epf_device_for). */
import * as fs from 'node:fs';
import { DEVICES, DeviceClass, DeviceParams } from './coalesce';
import { InvalidInputError } from '../errors';

export interface DeviceChoice {
  device: DeviceParams;
  /** Why the shim picks this class, in the words of its debug line; undefined when it was set. */
  why?: string;
}

/** NFS, CIFS/SMB (two), FUSE, 9p, Ceph, GFS2: their statfs f_type. */
const NETWORK_FS = new Set([0x6969, 0xff534d42, 0xfe534d42, 0x65735546, 0x01021997, 0x00c36400, 0x47504653]);

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
    return NETWORK_FS.has(fs.statfsSync(file).type >>> 0);
  } catch {
    return false;
  }
}

/**
 * Block device MAJ:MIN. A loop device is what its backing file lies on; a virtio disk's
 * rotational flag is the driver's default whatever the host has, so it counts as ssd; else the
 * rotational flag (a partition's is its parent's): 1 hdd, 0 ssd; ssd when nothing says.
 */
function blockClass(major: number, minor: number, depth: number): DeviceChoice {
  const sys = `/sys/dev/block/${major}:${minor}`;
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
      const d = maj !== 0 ? blockClass(maj, min, depth + 1) : networkFs(backing) ? { device: DEVICES.net, why: 'network file system' } : { device: DEVICES.ssd, why: 'unknown device' };
      return { device: d.device, why: d.why!.startsWith('loop device on ') ? d.why : `loop device on ${d.why}` };
    }
  }
  for (const tail of ['queue/rotational', '../queue/rotational']) {
    const v = readSmall(`${sys}/${tail}`);
    if (!v) continue;
    if (!v.startsWith('1')) return { device: DEVICES.ssd, why: 'non-rotational' };
    let link = '';
    try {
      link = fs.readlinkSync(sys);
    } catch {
      // no link: not virtio as far as we can tell
    }
    if (link.includes('/virtio')) return { device: DEVICES.ssd, why: 'virtio disk, its rotational flag says nothing' };
    return { device: DEVICES.hdd, why: 'rotational' };
  }
  return { device: DEVICES.ssd, why: 'unknown device' };
}

/** The class for `file`: `override` (what ELFPREFETCH_DEVICE or --device says) first, else detected. */
export function chooseDevice(file: string, override?: string): DeviceChoice {
  if (override) {
    const d = DEVICES[override as DeviceClass];
    if (!d) throw new InvalidInputError(`unknown device class '${override}' (hdd, ssd, nvme or net)`);
    return { device: d };
  }
  let dev: number;
  try {
    dev = fs.statSync(file).dev;
  } catch {
    return { device: DEVICES.ssd, why: 'unknown device' };
  }
  const [major, minor] = majorMinor(dev);
  if (major === 0) return networkFs(file) ? { device: DEVICES.net, why: 'network file system' } : { device: DEVICES.ssd, why: 'unknown device' };
  return blockClass(major, minor, 0);
}

/** The class alone. */
export function detectDevice(file: string, override?: string): DeviceParams {
  return chooseDevice(file, override).device;
}
