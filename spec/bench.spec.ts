// `elfprefetch bench` on the x86-64 pie fixture: every strategy measured with counts, demand paging
// faults more than the exec wrapper, a warm cache reads nothing, and nothing of ours is left
// behind (loop devices, mounts, cgroups), also after SIGTERM. Counts only: time is never asserted.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BenchResult, BenchStrategy, Sample, benchUnavailable } from '../src/bench/bench';
import { benchLines } from '../src/bench/report';
import { summarize } from '../src/bench/summarize';
import { deviceRequestBytes } from '../src/bench/device';
import { plannedBy } from '../src/bench/shim-lines';
import { boundMs, touchedSet } from '../src/bench/bound';
import { shimSummary } from '../src/bench/warm';
import { ioThrottleUnavailable } from '../src/bench/device';
import { loopUnavailable } from '../src/io/loop';
import { has, needs } from './helpers/capabilities';
import { loadFixtures, repoRoot } from './helpers/fixtures';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-bench-spec-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

const STRATEGIES = ['demand', 'wholefile', 'elfprefetch-exec', 'elfprefetch-audit', 'elfprefetch-preload', 'daemon', 'daemon-permission', 'daemon-uncached', 'daemon-permission-uncached', 'warm'];
// Without root there is no daemon (fanotify needs root).
const APPROX_STRATEGIES = STRATEGIES.filter((s) => !s.startsWith('daemon'));

/**
 * Loop devices, mounts and cgroups that one bench run left behind: those under its TMPDIR and
 * the cgroup named by its pid (other benches on this machine come and go meanwhile).
 */
function leftovers(tmp: string, pid: number | undefined): string[] {
  const out: string[] = [];
  const loops = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout ?? '';
  for (const l of loops.split('\n')) if (l.includes(tmp)) out.push(`loop: ${l}`);
  for (const l of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) if (l.includes(tmp)) out.push(`mount: ${l}`);
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/blkio']) {
    try {
      for (const d of fs.readdirSync(root)) if (d === `elfprefetch-bench-${pid}`) out.push(`cgroup: ${root}/${d}`);
    } catch {
      // not mounted
    }
  }
  return out;
}

/** A TMPDIR of its own for one bench run, so what it leaves behind is known as its own. */
const benchTmp = (): string => fs.mkdtempSync(path.join(work, 'tmp-'));

t.test('lower bound: fewest 1 MiB requests over the touched pages', async (t) => {
  const obj = (p: string, pages: string) => ({ path: p, pages }) as never;
  const profile = { pageSize: 4096, objects: [obj('/a', '0-9,255,256,600'), obj('/b', ''), obj('/a', '9-12')] } as never;
  const s = touchedSet(profile);
  t.equal(s.pages, 16); // 0-12, 255, 256, 600 in /a
  t.equal(s.bytes, 16 * 4096);
  t.equal(s.requests, 3); // [0,256) [256,512) [600,856)
  t.equal(boundMs(10, s, {}), 10);
  t.equal(boundMs(10, s, { riops: 100 }), 40);
  t.equal(boundMs(0, s, { rbps: 65536 * 1000 }), 1);
  t.equal(s.requestsBy?.[String(512 << 10)], 3); // [0,128) [255,383) [600,728)
  const wide = touchedSet({ pageSize: 4096, objects: [obj('/c', '0,100,200')] } as never);
  t.equal(wide.requests, 1); // [0,256)
  t.equal(wide.requestsBy?.[String(512 << 10)], 2); // [0,128) [200,328)
  t.equal(wide.requestsBy?.[String(128 << 10)], 3);
});

t.test('each strategy against the bound of 1 MiB requests and against that of what the device takes unsplit', async (t) => {
  const run = (wallMs: number, ios: number): Sample => ({ wallMs, majflt: 0, minflt: 1, bytes: 1, ios, status: 0, signal: 0 });
  const samples = new Map<BenchStrategy, Sample[]>([
    ['demand', [run(1000, 100)]],
    ['wholefile', [run(300, 30)]],
    ['elfprefetch-exec', [run(200, 19)]],
    ['warm', [run(20, 0)]],
  ]);
  // 9 requests of <= 1 MiB, 14 of <= 512 KiB, 1 MiB of pages: hdd's 100 IOPS and 150 MB/s
  const touched = { pages: 256, bytes: 1 << 20, requests: 9, requestsBy: { [String(512 << 10)]: 14 } };
  const m = summarize('hdd', samples, touched, 512 << 10);
  const exec = m.strategies.find((s) => s.strategy === 'elfprefetch-exec')!;
  const mbTime = (1 << 20) / 150e3; // ms
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;
  t.ok(near(m.lowerBound!.ms, 20 + 90 + mbTime), `warm + 9 requests at 10 ms + the bytes: ${m.lowerBound!.ms}`);
  t.ok(near(m.deviceBound!.ms, 20 + 140 + mbTime), `warm + 14 requests at 10 ms + the bytes: ${m.deviceBound!.ms}`);
  t.equal(exec.toBound, 200 / m.lowerBound!.ms);
  t.equal(exec.toDeviceBound, 200 / m.deviceBound!.ms);
  const result = { command: ['x'], files: [], runs: 1, readAheadKb: 128, directIo: true, controller: 'cgroup', training: { trained: true, reason: 'trained' }, models: [m], notes: [], deviceRequestKb: 512 } as unknown as BenchResult;
  const line = benchLines(result).find((l) => l.includes('takes unsplit'));
  t.equal(line, `  with requests of <= 512 KiB (the largest this device takes unsplit): 14 requests, ${m.deviceBound!.ms.toFixed(1)} ms; wall / this bound: demand ${(1000 / m.deviceBound!.ms).toFixed(2)}, wholefile ${(300 / m.deviceBound!.ms).toFixed(2)}, elfprefetch-exec ${(200 / m.deviceBound!.ms).toFixed(2)}`);
  const unsplit = summarize('hdd', samples, touched, 1 << 20);
  t.equal(unsplit.deviceBound, undefined, 'a device that takes 1 MiB: no second bound');
  t.equal(unsplit.strategies.find((s) => s.strategy === 'elfprefetch-exec')!.toDeviceBound, undefined);
});

t.test('what the device takes unsplit, and what the shim said it issued', async (t) => {
  t.equal(deviceRequestBytes({ maxSectorsKb: 1280, maxSegments: 128, maxSegmentSize: 65536 }), 512 << 10, 'loop: 128 segments of one 4 KiB page');
  t.equal(deviceRequestBytes({ maxSectorsKb: 256, maxSegments: 128, maxSegmentSize: 65536 }), 256 << 10, 'max_sectors_kb');
  t.equal(deviceRequestBytes({ maxSectorsKb: 4096, maxSegments: 1024, maxSegmentSize: 65536 }), 1 << 20, 'never above 1 MiB');
  t.equal(deviceRequestBytes(undefined), 1 << 20);
  const lines = [
    'elfprefetch: /usr/bin/x: prefetched 10 runs, 2097152 bytes in 3 requests (hdd)',
    'elfprefetch: /lib/libc.so.6: prefetched 4 runs, 1048576 bytes in 1 requests (hdd)',
    'elfprefetch: /lib/ld.so: no note',
  ];
  t.same(plannedBy(lines), { objects: 2, requests: 4, bytes: 3 << 20, classes: ['hdd'] });
  const sum = shimSummary('exec', ['noise', ...lines].join('\n'));
  t.equal(sum.lines.length, 3);
  t.same([sum.objects, sum.requests, sum.bytes, sum.cached], [2, 4, 3 << 20, 0]);
  // what the residency check left out, and the class with why it was detected (and the cap, as the shim says it now)
  const warm = [
    'elfprefetch: /usr/bin/x: prefetched 10 runs, 4096 bytes in 1 requests (ssd: loop device on virtio disk, its rotational flag says nothing), 2 requests of 8192 bytes cached already',
    'elfprefetch: /lib/libc.so.6: prefetched 4 runs, 0 bytes in 0 requests (ssd: non-rotational, requests <= 512 KiB, fadvise), 1 requests of 4096 bytes cached already (sidecar /s/ab/cd.note)',
  ];
  t.same(plannedBy(warm), { objects: 2, requests: 1, bytes: 4096, classes: ['ssd: loop device on virtio disk, its rotational flag says nothing', 'ssd: non-rotational, requests <= 512 KiB'] });
  const w = shimSummary('audit', warm.join('\n'));
  t.same([w.objects, w.requests, w.bytes, w.cached, w.cachedBytes], [2, 1, 4096, 3, 12288]);
});

// bench measures as root on a loop device throttled by a cgroup; the reason it cannot here (the
// product's own, or an assumed-missing capability) skips those measurements and is checked as
// bench's own error message instead.
const why = benchUnavailable();
const cannot = needs('root', 'loop', 'blkio') || (why && `bench cannot run here: ${why}`);
const isRoot = has('root');
const setpriv = spawnSync('setpriv', ['--version']).status === 0;
const fixtureForApprox = loadFixtures().find((f) => f.machine === 'x86-64' && f.variant === 'pie');

t.test('why bench cannot run: no loop device, no io throttle', async (t) => {
  const dir = fs.mkdtempSync(path.join(work, 'no-'));
  t.match(loopUnavailable(dir), /^no loop devices: .*loop-control is missing/, 'no loop-control: says so');
  t.match(ioThrottleUnavailable(dir), /^no cgroup io controller: neither cgroup v2 .* nor v1 blkio/, 'no cgroup mounted: says so');
  fs.writeFileSync(path.join(dir, 'cgroup.controllers'), 'cpuset cpu memory pids\n');
  t.match(ioThrottleUnavailable(dir), /cgroup v2 at .* has no io controller/, 'cgroup v2 without io: says so');
  fs.writeFileSync(path.join(dir, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  t.equal(ioThrottleUnavailable(dir), undefined, 'cgroup v2 with io: fine');
  const v1 = fs.mkdtempSync(path.join(work, 'v1-'));
  fs.mkdirSync(path.join(v1, 'blkio'));
  t.match(ioThrottleUnavailable(v1), /blkio .* has no throttle files/, 'cgroup v1 blkio without throttling: says so');
  fs.writeFileSync(path.join(v1, 'blkio', 'blkio.throttle.read_iops_device'), '');
  t.equal(ioThrottleUnavailable(v1), undefined, 'cgroup v1 blkio with throttling: fine');
});

t.test('bench says why it cannot run here, and exits 1', { skip: !why && (isRoot ? 'bench can run here' : 'not root: bench falls back to approximate figures (tested below)') }, async (t) => {
  const r = spawnSync(process.execPath, [cli, 'bench', '--model', 'hdd', '--', 'true'], { encoding: 'utf8' });
  t.equal(r.status, 1, 'exit 1');
  t.ok(r.stderr.includes(why as string), `the reason: ${why}`, { stderr: r.stderr });
});

t.test('without root: approximate figures, model none only', { skip: !fixtureForApprox ? 'no x86-64 pie fixture' : isRoot && !setpriv ? 'root, and no setpriv to drop it' : false }, async (t) => {
  // as root, drop to nobody (the fixture, dist/ and the shim are world-readable)
  const asUser = (args: string[]): string[] => (isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args] : [process.execPath, ...args]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elfprefetch-bench-spec-approx-'));
  fs.chmodSync(dir, 0o777);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const json = path.join(dir, 'approx.json');
  const [cmd, ...args] = asUser([cli, 'bench', '--runs', '1', '--report', json, '--', ...fixtureForApprox!.run]);
  const r = spawnSync(cmd!, args, { encoding: 'utf8', cwd: dir, env: { ...process.env, ...fixtureForApprox!.env, HOME: dir }, timeout: 60_000 });
  t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-3000) });
  t.match(r.stdout, /APPROXIMATE/);
  const res = JSON.parse(fs.readFileSync(json, 'utf8'));
  t.equal(res.approximate, true);
  t.same(res.models[0].strategies.map((s: { strategy: string }) => s.strategy), APPROX_STRATEGIES);
  const warm = res.models[0].strategies.find((s: { strategy: string }) => s.strategy === 'warm');
  t.equal(warm.majflt.median, 0, 'warm: no major fault');
  const [cmd2, ...args2] = asUser([cli, 'bench', '--model', 'hdd', '--', 'true']);
  const h = spawnSync(cmd2!, args2, { encoding: 'utf8', cwd: dir, env: { ...process.env, HOME: dir } });
  t.equal(h.status, 1, '--model hdd without root: exit 1');
  t.match(h.stderr, /need root/);
});

{
  const fixture = loadFixtures().find((f) => f.machine === 'x86-64' && f.variant === 'pie');
  const skip = cannot || (fixture ? false : 'no x86-64 pie fixture');

  t.test('bench --runs 1 --model none --model hdd on the x86-64 pie fixture', { skip }, async (t) => {
    const json = path.join(work, 'bench.json');
    const svg = path.join(work, 'bench.svg');
    const tmp = benchTmp();
    const r = spawnSync(process.execPath, [cli, 'bench', '--runs', '1', '--model', 'none', '--model', 'hdd', '--report', json, '--svg', svg, '--', ...fixture!.run], {
      encoding: 'utf8',
      env: { ...process.env, ...fixture!.env, TMPDIR: tmp },
      timeout: 80_000,
    });
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-3000) });
    t.match(r.stdout, /model hdd/);
    t.match(r.stdout, /read-ahead 128 KiB/);
    const res = JSON.parse(fs.readFileSync(json, 'utf8'));
    t.equal(res.readAheadKb, 128, 'read-ahead reported');
    t.equal(res.directIo, true, 'the loop device does direct I/O');
    t.same(
      res.models.map((m: { model: string }) => m.model),
      ['none', 'hdd'],
    );
    t.ok(res.training.trained || /valid note/.test(res.training.reason), 'trained, or the program had a note');
    for (const m of res.models) {
      const by = new Map<string, any>(m.strategies.map((s: any) => [s.strategy, s]));
      t.same([...by.keys()], STRATEGIES, `${m.model}: every strategy`);
      for (const s of by.values()) {
        for (const k of ['wallMs', 'majflt', 'minflt', 'bytes', 'ios']) t.type(s[k].median, 'number', `${m.model} ${s.strategy} ${k}`);
        t.equal(s.runs, 1);
        t.equal(s.failures, 0, `${m.model} ${s.strategy}: the command ran`);
        t.ok(s.minflt.median > 0, `${m.model} ${s.strategy}: minor faults counted`);
      }
      const demand = by.get('demand');
      t.ok(demand.majflt.median > 0 && demand.bytes.median > 0 && demand.ios.median > 0, `${m.model}: demand paging reads from the device`);
      t.ok(demand.majflt.median > by.get('elfprefetch-exec').majflt.median, `${m.model}: demand ${demand.majflt.median} major faults > exec wrapper ${by.get('elfprefetch-exec').majflt.median}`);
      // The daemon issues requests unless the set is cached by then (a small program is read whole
      // by the kernel's or its own header read-ahead: "resident already"); either way it saves faults.
      for (const d of ['daemon', 'daemon-permission', 'daemon-uncached', 'daemon-permission-uncached']) {
        const s = by.get(d);
        t.ok(s.planned?.median > 0 || s.majflt.median < demand.majflt.median, `${m.model}: ${d} prefetched (${s.planned?.median} readahead calls; ${s.majflt.median} major faults, demand paging ${demand.majflt.median})`);
      }
      t.ok(by.get('wholefile').bytes.median >= demand.bytes.median, `${m.model}: whole-file preload reads at least what demand paging reads`);
      t.ok(by.get('warm').bytes.median < 65536, `${m.model}: warm reads ~0 bytes (${by.get('warm').bytes.median})`);
      t.equal(by.get('warm').majflt.median, 0, `${m.model}: warm has no major fault`);
    }
    // The note cache of the daemon strategies is filled before the measured runs, by a daemon that kept the program's note.
    const filled = /daemon's note cache was filled by one run before the measured ones \((\d+) bytes\)/.exec(res.notes.join('\n'));
    t.ok(filled && Number(filled[1]) > 32, `the note cache was filled before the measured runs (${filled?.[1]} bytes; 32 is its header alone)`);
    t.notMatch(res.notes.join('\n'), /did not take the program's note from the note cache/, 'every run of the cached daemon strategies took the note from it');
    const exec = res.models[0].strategies.find((s: any) => s.strategy === 'elfprefetch-exec');
    t.ok(exec.planned && exec.planned.median > 0, `the shim's planned readahead calls are counted (${exec.planned?.median})`);
    t.ok(res.deviceRequestKb > 0 && res.deviceRequestKb <= 1024, `the device's largest unsplit request is reported (${res.deviceRequestKb} KiB)`);
    t.match(fs.readFileSync(svg, 'utf8'), /^<svg[^]*elfprefetch-exec[^]*<\/svg>\n$/);
    t.same(leftovers(tmp, r.pid), [], 'no loop device, mount or cgroup of ours remains');
  });

  // No device and no throttle: this one runs wherever the fixture does.
  t.test('bench --warm-overhead on the x86-64 pie fixture: every configuration, the shim prefetches', { skip: fixture ? false : 'no x86-64 pie fixture' }, async (t) => {
    const json = path.join(work, 'warm.json');
    const tmp = benchTmp();
    const r = spawnSync(process.execPath, [cli, 'bench', '--warm-overhead', '--runs', '2', '--loops', '3', '--report', json, '--', ...fixture!.run], {
      encoding: 'utf8',
      env: { ...process.env, ...fixture!.env, TMPDIR: tmp },
      timeout: 80_000,
    });
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-3000) });
    t.match(r.stdout, /warm-start overhead of the shim/);
    t.match(r.stdout, /goal: overhead < 2%/);
    const res = JSON.parse(fs.readFileSync(json, 'utf8'));
    t.equal(res.kind, 'warm-overhead');
    t.same(
      res.configs.map((c: { config: string }) => c.config),
      ['plain', 'exec', 'exec-off', 'audit', 'audit-off', 'preload', 'preload-off'],
    );
    for (const c of res.configs) {
      t.equal(c.samples.length, 2, `${c.config}: one figure per round`);
      t.ok(c.usPerRun.median > 0, `${c.config}: timed`);
      t.equal(c.otherStatus, 0, `${c.config}: the command exited as plain did`);
    }
    // warm: the requests are left out as cached, or issued when something evicted their pages
    for (const s of res.shim) t.ok(s.objects >= 1 && s.requests + s.cached >= 1, `${s.hook}: the shim prefetched from the note (${s.lines.join(' | ')})`);
    t.same(leftovers(tmp, r.pid), [], 'no loop device, mount or cgroup of ours remains');
  });

  t.test('SIGTERM while measuring: cleans up and says so', { skip }, async (t) => {
    const tmp = benchTmp();
    const child = spawn(process.execPath, [cli, 'bench', '--runs', '100', '--model', 'hdd', '--', ...fixture!.run], {
      env: { ...process.env, ...fixture!.env, TMPDIR: tmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress line: ${stderr}`)), 60_000);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/\[\d+\/\d+\]/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    const code = await done;
    t.equal(code, 1, 'exit 1');
    t.match(stderr, /interrupted by SIGTERM/);
    t.same(leftovers(tmp, child.pid), [], 'no loop device, mount or cgroup of ours remains');
  });
}
