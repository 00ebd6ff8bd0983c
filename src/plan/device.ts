/** The device class the shim would pick for a file (shim/epf_prefetch.c device_for). */
import * as fs from 'node:fs';
import { DEVICES, DeviceClass, DeviceParams } from './coalesce';

/**
 * ELFPREFETCH_DEVICE-like override first; else /sys/dev/block/MAJ:MIN/queue/rotational of the
 * file's device (its parent's for a partition): 1 is hdd, anything else ssd; ssd when unknown.
 * (The shim also counts network file systems as net; Node cannot ask fstatfs, so this does not.)
 */
export function detectDevice(file: string, override?: string): DeviceParams {
  if (override) {
    const d = DEVICES[override as DeviceClass];
    if (!d) throw new Error(`unknown device class '${override}' (hdd, ssd, nvme or net)`);
    return d;
  }
  let dev: number;
  try {
    dev = fs.statSync(file).dev;
  } catch {
    return DEVICES.ssd;
  }
  // Linux dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
  if (major === 0) return DEVICES.ssd;
  for (const tail of ['queue/rotational', '../queue/rotational']) {
    try {
      const v = fs.readFileSync(`/sys/dev/block/${major}:${minor}/${tail}`, 'utf8');
      return v.startsWith('1') ? DEVICES.hdd : DEVICES.ssd;
    } catch {
      // try the parent
    }
  }
  return DEVICES.ssd;
}
