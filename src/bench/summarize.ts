/* A model's samples summed up per strategy: medians, ratios, the lower bound. */
import { MODELS, ModelName, ModelResult, STRATEGIES, Sample, BenchStrategy, StrategyResult } from './bench';
import { TouchedSet, boundMs } from './bound';
import { stat } from './stat';

export function summarize(model: ModelName, samples: Map<BenchStrategy, Sample[]>, touched?: TouchedSet, deviceRequest?: number): ModelResult {
  const m = MODELS[model];
  const warm = stat((samples.get('warm') ?? []).map((x) => x.wallMs)).median;
  const bound = touched && Number.isFinite(warm) ? { ms: boundMs(warm, touched, m.limits), requests: touched.requests, bytes: touched.bytes } : undefined;
  const devReq = touched?.requestsBy && deviceRequest ? touched.requestsBy[String(deviceRequest)] : undefined;
  const deviceBound = bound && devReq !== undefined ? { ms: boundMs(warm, { ...touched!, requests: devReq }, m.limits), requests: devReq } : undefined;
  const counted = (s: BenchStrategy): Sample[] => {
    const all = samples.get(s) ?? [];
    const clean = all.filter((x) => !x.suspect);
    return clean.length ? clean : all;
  };
  const base = (s: BenchStrategy): number => stat(counted(s).map((x) => x.wallMs)).median;
  const demandMaj = stat(counted('demand').map((x) => x.majflt)).median;
  const strategies = STRATEGIES.filter((s) => samples.get(s)?.length).map((s): StrategyResult => {
    const all = samples.get(s)!;
    // runs that may not have been cold do not count, unless no other run is left
    const xs = counted(s);
    const wall = stat(xs.map((x) => x.wallMs));
    return {
      strategy: s,
      runs: xs.length,
      wallMs: wall,
      ...(xs.every((x) => x.cpuMs !== undefined) ? { cpuMs: stat(xs.map((x) => x.cpuMs!)) } : {}),
      majflt: stat(xs.map((x) => x.majflt)),
      minflt: stat(xs.map((x) => x.minflt)),
      bytes: stat(xs.map((x) => x.bytes)),
      ios: stat(xs.map((x) => x.ios)),
      ...(xs.some((x) => x.planned) ? { planned: stat(xs.map((x) => x.planned?.requests ?? NaN)) } : {}),
      ratio: { demand: wall.median / base('demand'), wholefile: wall.median / base('wholefile'), warm: wall.median / base('warm') },
      majfltToDemand: demandMaj ? stat(xs.map((x) => x.majflt)).median / demandMaj : NaN,
      ...(bound ? { toBound: wall.median / bound.ms } : {}),
      ...(deviceBound ? { toDeviceBound: wall.median / deviceBound.ms } : {}),
      samples: all,
      ...(all.length > xs.length ? { excluded: all.length - xs.length } : {}),
      failures: xs.filter((x) => x.signal || x.status === 126 || x.status === 127).length,
    };
  });
  const classes = [...new Set([...samples.values()].flat().flatMap((x) => x.planned?.classes ?? []))];
  return { model, limits: m.limits, describe: m.describe, ...(m.device ? { shimDevice: m.device } : {}), ...(classes.length ? { shimClasses: classes } : {}), ...(bound ? { lowerBound: bound } : {}), ...(deviceBound ? { deviceBound } : {}), strategies };
}
