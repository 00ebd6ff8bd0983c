/*
 * What `elfprefetch bench` can run and on what: its strategies and device models. A module of
 * its own, with nothing but a type import, so the CLI names them in its option choices without
 * loading the benchmark (cli/commands/bench.ts imports that only when it runs).
 */
import type { Limits } from './device';

export const STRATEGIES = ['demand', 'wholefile', 'elfprefetch-exec', 'elfprefetch-audit', 'elfprefetch-preload', 'daemon', 'daemon-permission', 'daemon-uncached', 'daemon-permission-uncached', 'warm'] as const;
export type BenchStrategy = (typeof STRATEGIES)[number];

export const MODELS = {
  none: { limits: {}, device: undefined, describe: 'no limit' },
  cloud: { limits: { riops: 1000 }, device: 'hdd', describe: '1000 read IOPS' },
  hdd: { limits: { riops: 100, rbps: 150_000_000 }, device: 'hdd', describe: '100 read IOPS, 150 MB/s' },
  net: { limits: { riops: 100, rbps: 30_000_000 }, device: 'net', describe: '100 read IOPS, 30 MB/s' },
} as const satisfies Record<string, { limits: Limits; device: string | undefined; describe: string }>;
export type ModelName = keyof typeof MODELS;
