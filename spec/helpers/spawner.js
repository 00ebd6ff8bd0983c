// A small process that runs the child processes of spec/corpus.spec.ts for it, one message
// per run. Forking the spec's own process (hundreds of MB: the corpus models, two TypeScript
// compilers, library workers) for each of its ~10,000 tool runs cost more system time than
// the tools themselves; forking this one is cheap. Plain JavaScript so it loads no compiler.
'use strict';
const { spawn } = require('node:child_process');

const MAX_CAPTURE = 4 << 20;

/** Runs argv; stdout is kept only when asked. Answers { status, signal, stdout, stderr, timedOut, spawnError? }. */
function run(argv, opts) {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const out = [];
    const err = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let spawnError;
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', opts.stdout ? 'pipe' : 'ignore', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    if (child.stdout) {
      child.stdout.on('data', (b) => {
        if (outLen < MAX_CAPTURE) out.push(b);
        outLen += b.length;
      });
    }
    child.stderr.on('data', (b) => {
      if (errLen < MAX_CAPTURE) err.push(b);
      errLen += b.length;
    });
    child.on('error', (e) => {
      spawnError = spawnError || e.message;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status: spawnError ? null : status,
        signal,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString('latin1'),
        timedOut,
        ...(spawnError ? { spawnError } : {}),
      });
    });
  });
}

process.on('message', (m) => {
  void run(m.argv, m.opts).then((result) => process.send({ id: m.id, result }));
});
process.on('disconnect', () => process.exit(0));
