/*
 * How library code reports that it was asked to stop. The caller (the CLI) owns the process's
 * signal handlers: it passes an AbortSignal that it aborts with an InterruptedError naming the
 * signal, and decides what an interruption means (a message, 128+N, finishing what is in
 * progress). Library code only checks the AbortSignal between steps, cleans up, and throws.
 */

/** A run cut short by a signal; `signal` names it, the message is `interrupted by SIGTERM (...)`. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals, detail?: string) {
    super(`interrupted by ${signal}${detail ? ` (${detail})` : ''}`);
  }
}

/** The interruption an AbortSignal carries, or undefined while it is not aborted. */
export function interruption(signal: AbortSignal | undefined): InterruptedError | undefined {
  if (!signal?.aborted) return undefined;
  return signal.reason instanceof InterruptedError ? signal.reason : new InterruptedError('SIGINT', 'aborted');
}

/** Throws the interruption an AbortSignal carries, if it is aborted. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  const e = interruption(signal);
  if (e) throw e;
}
