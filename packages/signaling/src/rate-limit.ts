/** A per-connection token bucket (sans-IO: time is passed in). */

/** Token bucket settings. */
export interface RateLimit {
  /** Sustained messages per second. */
  perSecond: number;
  /** Messages allowed in a burst. */
  burst: number;
  /** Refused messages after which the connection is closed as abusive. */
  maxViolations: number;
}

/** One connection's bucket: `take(now)` says whether a message may be processed. */
export class TokenBucket {
  readonly #limit: RateLimit;
  #tokens: number;
  #refilledAt: number;
  /** Messages refused so far. */
  violations = 0;

  constructor(limit: RateLimit, now: number) {
    this.#limit = limit;
    this.#tokens = limit.burst;
    this.#refilledAt = now;
  }

  /** Takes one token; false (and one more violation) when the bucket is empty. */
  take(now: number): boolean {
    const { perSecond, burst } = this.#limit;
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#tokens = Math.min(burst, this.#tokens + (elapsed * perSecond) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) {
      this.violations++;
      return false;
    }
    this.#tokens -= 1;
    return true;
  }

  /** Whether the connection was refused so often that it should be closed. */
  get abusive(): boolean {
    return this.violations > this.#limit.maxViolations;
  }
}
