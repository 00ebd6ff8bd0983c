/*
 * The one place that installs process-wide signal handlers. Library code never does: it takes
 * an AbortSignal and reports interruption (src/io/interrupt.ts); the command decides what a
 * signal means.
 */
import * as os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { InterruptedError } from '../src/io/interrupt';

/** The signals that stop a command. */
export const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The usual exit status after a signal: 128 + its number. */
export function statusAfter(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

/** Adds `handler` for each of `signals`; returns the function that removes them again. */
function onSignals(signals: NodeJS.Signals[], handler: (s: NodeJS.Signals) => void): () => void {
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/**
 * Runs body with SIGINT, SIGTERM and SIGHUP noted instead of ending the process at once: the
 * first one aborts body's AbortSignal with an InterruptedError, so that body can finish or
 * clean up (loop devices, tracing, temporary files) and say so. A recorded command in our
 * process group gets the terminal's signal itself.
 */
export async function noticingSignals<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const off = onSignals(STOP_SIGNALS, (s) => {
    if (!controller.signal.aborted) controller.abort(new InterruptedError(s));
  });
  try {
    return await body(controller.signal);
  } finally {
    off();
  }
}

let exitingOnSignals = false;

/**
 * For commands whose file replacements are synchronous (stamp, remove): without a listener a
 * signal kills Node at once, possibly between writing the temporary file and renaming it. With
 * this one, the signal is handled when the event loop runs again, between two replacements,
 * and the process ends with 128+N after the file is complete. A signal some other listener
 * handles already (noticingSignals) is left to it.
 */
export function exitBetweenWrites(): void {
  if (exitingOnSignals) return;
  exitingOnSignals = true;
  onSignals(STOP_SIGNALS, (s) => {
    if (process.listenerCount(s) === 1) process.exit(statusAfter(s));
  });
}

/** Passes SIGINT, SIGTERM, SIGHUP and SIGQUIT on to a child we wait for; returns the remover. */
export function forwardingSignals(child: ChildProcess): () => void {
  return onSignals([...STOP_SIGNALS, 'SIGQUIT'], (s) => {
    child.kill(s);
  });
}
