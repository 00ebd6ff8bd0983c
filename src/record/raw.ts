import * as fs from 'node:fs';
import * as path from 'node:path';
import { Run, parseRanges } from '../note/pageset';
import { RecordingError } from '../errors';

/** One mapping of a file in a recorded process, with the pages present in it (file pages). */
export interface RawMapping {
  start: bigint;
  end: bigint;
  perms: string;
  /** Offset of the mapping in the file, bytes. */
  offset: bigint;
  dev: string;
  ino: number;
  path: string;
  /** Pages already mapped when the recorder started (in the preload constructor). */
  pre: Run[];
  /** Pages mapped after that, up to the snapshot. */
  post: Run[];
}

/** What one process (one program image: exec starts a new one) wrote: recorder/recording.c. */
export interface RawProcess {
  file: string;
  pid: number;
  ppid: number;
  /** The pid of the parent it was forked from without exec, 0 when it started by exec. */
  forked: number;
  exe: string;
  startNs: bigint;
  snapNs: bigint;
  windowMs: number;
  /** exit, _exit, exec or window. */
  reason: string;
  pageSize: number;
  uffd: { available: boolean; registered: number; byAudit: number; failed: number };
  complete: boolean;
  maps: RawMapping[];
}

const runsOf = (text: string): Run[] => (text.trim() ? parseRanges(text) : []);

/** Parses one raw result file; throws naming the file and line on anything unexpected. */
export function parseRaw(text: string, file = 'raw result'): RawProcess {
  const lines = text.split('\n');
  if (lines[0] !== 'elfprefetch-record 1') throw new RecordingError(`${file}: not a recorder result (first line '${lines[0]}')`);
  const p: RawProcess = {
    file,
    pid: 0,
    ppid: 0,
    forked: 0,
    exe: '',
    startNs: 0n,
    snapNs: 0n,
    windowMs: 0,
    reason: '',
    pageSize: 4096,
    uffd: { available: false, registered: 0, byAudit: 0, failed: 0 },
    complete: false,
    maps: [],
  };
  let cur: RawMapping | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const rest = sp < 0 ? '' : line.slice(sp + 1);
    try {
      switch (key) {
        case 'pid': p.pid = Number(rest); break;
        case 'ppid': p.ppid = Number(rest); break;
        case 'forked': p.forked = Number(rest); break;
        case 'exe': p.exe = rest; break;
        case 'start_ns': p.startNs = BigInt(rest); break;
        case 'snap_ns': p.snapNs = BigInt(rest); break;
        case 'window_ms': p.windowMs = Number(rest); break;
        case 'reason': p.reason = rest; break;
        case 'pagesize': p.pageSize = Number(rest); break;
        case 'uffd': {
          const w = rest.split(' ');
          p.uffd = { available: w[0] === 'yes', registered: Number(w[2]), byAudit: Number(w[4]), failed: Number(w[6]) };
          break;
        }
        case 'map': {
          // map START-END PERMS OFFSET MAJ:MIN INO PATH (the path may hold spaces)
          const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\d+:\d+) (\d+) (.+)$/.exec(rest);
          if (!m) throw new RecordingError('malformed map line');
          cur = { start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3]!, offset: BigInt('0x' + m[4]), dev: m[5]!, ino: Number(m[6]), path: m[7]!, pre: [], post: [] };
          p.maps.push(cur);
          break;
        }
        case 'pre':
        case 'post':
          if (!cur) throw new RecordingError(`'${key}' before any map line`);
          cur[key] = runsOf(rest);
          break;
        case 'end': p.complete = true; break;
        default: break; // later versions may add lines
      }
    } catch (e) {
      throw new RecordingError(`${file}:${i + 1}: ${(e as Error).message}`);
    }
  }
  if (!p.pid) throw new RecordingError(`${file}: no pid`);
  return p;
}

/** Reads every complete raw result in a directory (a process killed while writing leaves only a .tmp). */
export function readRawDir(dir: string): RawProcess[] {
  const out: RawProcess[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!/^rec-\d+-\d+\.txt$/.test(name)) continue;
    const file = path.join(dir, name);
    out.push(parseRaw(fs.readFileSync(file, 'utf8'), file));
  }
  return out;
}
