/**
 * The read plan of a page set: which readahead(2) requests the loader shim issues for it.
 * The same function as epf_plan_* in shim/epf_plan.c (spec/plan-coalesce.spec.ts keeps the
 * two equal), so `elfprefetch show` and the tests can say what the shim will do.
 *
 * Cost model: a request costs 1/iops seconds, a byte 1/bandwidth. Merging a hole of h bytes
 * saves one request and costs h bytes of transfer, so a hole is merged iff h / bandwidth <
 * 1 / iops, i.e. h * iops < bandwidth, and only while the merged request stays within the cap:
 * the largest request the file's device takes (device.ts: a larger one is always split, and the
 * model counts one request per planned request), at most 1 MiB (the kernel silently caps a larger
 * readahead call). A longer run is split into pieces of the cap from its start. Runs are
 * clipped to the file size; a run at or past the end ends the plan.
 */
import type { Run } from '../note/pageset';

export type DeviceClass = 'hdd' | 'ssd' | 'nvme' | 'net';

export interface DeviceParams {
  name: DeviceClass;
  /** Requests per second. */
  iops: number;
  /** Bytes per second (MB = 10^6 bytes). */
  bandwidth: number;
}

/** Defaults per device class (the shim's table; ELFPREFETCH_DEVICE picks one). */
export const DEVICES: Readonly<Record<DeviceClass, DeviceParams>> = {
  hdd: { name: 'hdd', iops: 100, bandwidth: 150e6 },
  ssd: { name: 'ssd', iops: 10_000, bandwidth: 500e6 },
  nvme: { name: 'nvme', iops: 100_000, bandwidth: 2000e6 },
  net: { name: 'net', iops: 100, bandwidth: 30e6 },
};

export const DEVICE_CLASSES = Object.keys(DEVICES) as DeviceClass[];

/** Largest request: each readahead/WILLNEED call is capped by the kernel near here. */
export const MAX_REQUEST = 1 << 20;

/** Smallest cap a device's queue can set: below it a large set's calls would grow past 16 times. */
export const MIN_REQUEST = 64 << 10;

/** A cap in bytes as the plan uses it (epf_plan_cap): 0 is MAX_REQUEST; else whole 4 KiB pages within MIN_REQUEST..MAX_REQUEST. */
export function requestCap(bytes: number): number {
  if (bytes === 0 || bytes >= MAX_REQUEST) return MAX_REQUEST;
  if (bytes <= MIN_REQUEST) return MIN_REQUEST;
  return Math.floor(bytes / 4096) * 4096;
}

export interface ReadRequest {
  /** Byte offset in the file. */
  offset: number;
  /** Bytes, 1 to the cap (at most MAX_REQUEST). */
  length: number;
}

/** Largest hole (bytes) worth reading through on this device: h * iops < bandwidth. */
export function holeLimit(device: DeviceParams): number {
  return Math.ceil(device.bandwidth / device.iops) - 1;
}

/**
 * Plans the reads of `runs` (sorted, disjoint pages of `pageSize` bytes) for `device`,
 * clipped to `fileSize` bytes (default: no clipping), in requests of at most `cap` bytes (the
 * device's, from chooseDevice; kept by requestCap; default MAX_REQUEST).
 */
export function planReads(runs: readonly Run[], pageSize: number, device: DeviceParams, fileSize = Number.MAX_SAFE_INTEGER, cap = MAX_REQUEST): ReadRequest[] {
  const max = requestCap(cap);
  const out: ReadRequest[] = [];
  let have = false;
  let start = 0;
  let end = 0;
  const emit = (s: number, e: number): void => {
    out.push({ offset: s, length: e - s });
  };
  for (const r of runs) {
    if (r.count <= 0) continue;
    let a = r.first * pageSize;
    let b = (r.first + r.count) * pageSize;
    if (a >= fileSize) break;
    const last = b >= fileSize;
    if (last) b = fileSize;
    if (have && a >= end && b - start <= max && (a - end) * device.iops < device.bandwidth) {
      end = b;
    } else {
      if (have) emit(start, end);
      while (b - a > max) {
        emit(a, a + max);
        a += max;
      }
      have = true;
      start = a;
      end = b;
    }
    if (last) break;
  }
  if (have) emit(start, end);
  return out;
}

/** Totals of a plan, for reports. */
export function planTotals(reqs: readonly ReadRequest[]): { requests: number; bytes: number } {
  return { requests: reqs.length, bytes: reqs.reduce((n, r) => n + r.length, 0) };
}

/** Estimated seconds a plan takes on `device` under the cost model. */
export function planCost(reqs: readonly ReadRequest[], device: DeviceParams): number {
  const t = planTotals(reqs);
  return t.requests / device.iops + t.bytes / device.bandwidth;
}
