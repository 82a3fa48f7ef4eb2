/**
 * When a room is lost — the server instance holding it stopped or handed it over (`room-lost`), or the signaling
 * connection came back without the membership — what to do, and when: a sans-IO policy fed with what happened and
 * the clock. It never touches the network; the room session carries out its actions and wakes it at `nextWakeAt()`.
 *
 * - `lost`: tell the person ("Room moved to another server — rejoining…") and join again at once;
 * - a join refused, or the signaling connection down: try again after a backoff (doubling from `firstRetryMs` up to
 *   `maxRetryMs`, each delay scaled by a random factor in [1 − `jitter`, 1] so members do not all come back at once);
 * - the signaling connection back while waiting: try at once;
 * - an attempt unanswered for `attemptTimeoutMs`: abandon it (the session fails its requests), which counts as failed;
 * - joined: `rejoined`;
 * - nothing worked for `giveUpAfterMs`: give up (the session ends with `left{reason:'lost'}`).
 */

/** Tuning of the policy. */
export interface RejoinOptions {
  /** The first retry's delay after a failed attempt (ms, default 500). */
  firstRetryMs: number;
  /** The longest delay between attempts (ms, default 8 000). */
  maxRetryMs: number;
  /** How much of each delay is random: a delay d becomes d × (1 − jitter × random()) (0..1, default 0.5). */
  jitter: number;
  /** How long one attempt may run before it is abandoned (ms, default 20 000). */
  attemptTimeoutMs: number;
  /** How long to keep trying before the session ends with `left{reason:'lost'}` (ms, default 60 000). */
  giveUpAfterMs: number;
}

export const DEFAULT_REJOIN_OPTIONS: RejoinOptions = { firstRetryMs: 500, maxRetryMs: 8_000, jitter: 0.5, attemptTimeoutMs: 20_000, giveUpAfterMs: 60_000 };

/** What the policy asks for. */
export type RejoinAction =
  | { type: 'rejoining'; since: number }
  | { type: 'attempt'; attempt: number }
  | { type: 'abandon-attempt'; attempt: number }
  | { type: 'rejoined'; downForMs: number; attempts: number }
  | { type: 'give-up'; downForMs: number; attempts: number };

/** Checks the options: a `RangeError` names the first wrong one. */
function checked(options: RejoinOptions): RejoinOptions {
  for (const name of ['firstRetryMs', 'maxRetryMs', 'attemptTimeoutMs', 'giveUpAfterMs'] as const) {
    if (!Number.isFinite(options[name]) || options[name] < 0) throw new RangeError(`rejoin.${name} must be a finite number ≥ 0`);
  }
  if (!(options.jitter >= 0 && options.jitter <= 1)) throw new RangeError('rejoin.jitter must be in [0, 1]');
  return options;
}

export class RejoinPolicy {
  readonly #options: RejoinOptions;
  readonly #random: () => number;
  /** When the room was lost; undefined while joined (or after giving up). */
  #since: number | undefined;
  /** When the next attempt is due; undefined while one runs (or none is pending). */
  #nextAttempt: number | undefined;
  #running = false;
  /** When the running attempt is abandoned (undefined once it was). */
  #abandonAt: number | undefined;
  #attempts = 0;
  #gaveUp = false;

  /**
   * @param options tuning (defaults: `DEFAULT_REJOIN_OPTIONS`)
   * @param random a source of numbers in [0, 1) for the jitter (default `Math.random`; tests inject their own)
   * @throws RangeError when an option is out of range
   */
  constructor(options: Partial<RejoinOptions> = {}, random: () => number = Math.random) {
    this.#options = checked({ ...DEFAULT_REJOIN_OPTIONS, ...options });
    this.#random = random;
  }

  /** Between `rejoining` and `rejoined` / `give-up`. */
  get rejoining(): boolean {
    return this.#since !== undefined;
  }

  /** Attempts made in the current (or last) outage. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The room was lost: start rejoining (ignored while already rejoining, or after giving up). */
  lost(now: number): RejoinAction[] {
    if (this.#gaveUp || this.#since !== undefined) return [];
    this.#since = now;
    this.#attempts = 0;
    this.#nextAttempt = now;
    return [{ type: 'rejoining', since: now }, ...this.tick(now)];
  }

  /** The attempt in flight failed (refused, or the connection dropped): retry after the backoff. */
  failed(now: number): RejoinAction[] {
    if (this.#since === undefined || !this.#running) return [];
    this.#running = false;
    const base = Math.min(this.#options.maxRetryMs, this.#options.firstRetryMs * 2 ** Math.max(0, this.#attempts - 1));
    this.#nextAttempt = now + base * (1 - this.#options.jitter * this.#random());
    return this.tick(now);
  }

  /** The attempt in flight joined the room. */
  joined(now: number): RejoinAction[] {
    if (this.#since === undefined || !this.#running) return [];
    const downForMs = now - this.#since;
    this.#since = undefined;
    this.#nextAttempt = undefined;
    this.#running = false;
    return [{ type: 'rejoined', downForMs, attempts: this.#attempts }];
  }

  /** The signaling connection is back: a waiting attempt is due at once. */
  online(now: number): RejoinAction[] {
    if (this.#since === undefined || this.#running) return [];
    this.#nextAttempt = now;
    return this.tick(now);
  }

  /** Time passed: attempt or give up when due. */
  tick(now: number): RejoinAction[] {
    if (this.#since === undefined || this.#gaveUp) return [];
    if (now - this.#since >= this.#options.giveUpAfterMs && !this.#running) {
      const downForMs = now - this.#since;
      this.#gaveUp = true;
      this.#since = undefined;
      this.#nextAttempt = undefined;
      return [{ type: 'give-up', downForMs, attempts: this.#attempts }];
    }
    if (!this.#running && this.#nextAttempt !== undefined && now >= this.#nextAttempt) {
      this.#running = true;
      this.#nextAttempt = undefined;
      this.#abandonAt = now + this.#options.attemptTimeoutMs;
      return [{ type: 'attempt', attempt: ++this.#attempts }];
    }
    if (this.#running && this.#abandonAt !== undefined && now >= this.#abandonAt) {
      this.#abandonAt = undefined;
      return [{ type: 'abandon-attempt', attempt: this.#attempts }];
    }
    return [];
  }

  /** When `tick` next has something to do (undefined: nothing pending). */
  nextWakeAt(): number | undefined {
    if (this.#since === undefined || this.#gaveUp) return undefined;
    if (this.#running) return this.#abandonAt;
    const giveUp = this.#since + this.#options.giveUpAfterMs;
    return this.#nextAttempt === undefined ? giveUp : Math.min(this.#nextAttempt, giveUp);
  }
}
