/** When to try again after a dropped connection: exponential backoff with jitter (a pure function). */

/** Backoff settings. */
export interface BackoffOptions {
  /** Delay before the first retry (ms, default 250). */
  initialDelayMs: number;
  /** Largest delay (ms, default 10 000). */
  maxDelayMs: number;
  /** Fraction of the delay randomised, 0..1 (default 0.5): many clients dropped at once do not return at once. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 250, maxDelayMs: 10_000, jitter: 0.5 };

/**
 * The delay before retry number `attempt` (0 = the first): `initial · 2^attempt`, capped at `max`, of which a
 * `jitter` share is replaced by `random()` (uniform in [0, 1)) times that share.
 * @example backoffDelay(3, DEFAULT_BACKOFF, () => 0.5) // 2000 · (1 − 0.5) + 2000 · 0.5 · 0.5 = 1500
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30));
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(base * (1 - jitter) + base * jitter * random());
}
