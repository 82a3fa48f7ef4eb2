/**
 * A sending-side token bucket (sans-IO: time is passed in). The signaling server refuses frames beyond its
 * per-connection rate (`rate-limited`, and closes a connection refused too often), so the SDK queues its chat frames
 * here and writes them no faster than the server allows. A refusal all the same (the server runs with a lower
 * `--rate`, or other frames shared the bucket) empties this bucket and halves the rate, which then recovers to the
 * configured one over ten seconds.
 */

/** Sending rate: sustained frames per second and a burst. */
export interface PaceLimit {
  perSecond: number;
  burst: number;
}

/**
 * The default pace of chat frames: below the server's default (50/s, burst 200), leaving room for the connection's
 * other frames (calls, presence, acknowledgements of other kinds).
 */
export const DEFAULT_CHAT_PACE: PaceLimit = { perSecond: 40, burst: 100 };

/** The slowest pace after refusals (frames per second). */
const MIN_RATE = 1;
/** After a refusal the rate grows back by this share of the configured rate per second. */
const RECOVERY_PER_SECOND = 0.1;

/** A FIFO queue released at a paced rate. */
export class Pacer<T> {
  readonly #limit: PaceLimit;
  #queue: T[] = [];
  /** Items to go again before the queue, in the order they were given back. */
  #again: T[] = [];
  #tokens: number;
  #rate: number;
  #refilledAt: number;

  /** @throws RangeError when the limit is not positive */
  constructor(limit: PaceLimit, now: number) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) throw new RangeError(`pace must be > 0 per second with a burst ≥ 1 (got ${limit.perSecond}/s, burst ${limit.burst})`);
    this.#limit = { ...limit };
    this.#tokens = limit.burst;
    this.#rate = limit.perSecond;
    this.#refilledAt = now;
  }

  /** Items waiting. */
  get length(): number {
    return this.#again.length + this.#queue.length;
  }

  /** The current rate (frames per second; below the configured one for a while after a refusal). */
  get rate(): number {
    return this.#rate;
  }

  /** Queues an item last. */
  push(item: T): void {
    this.#queue.push(item);
  }

  /** Queues an item ahead of the others (a refused frame going again; several keep the order they came back in). */
  again(item: T): void {
    this.#again.push(item);
  }

  /** Keeps only the items `keep` accepts (in order). */
  retain(keep: (item: T) => boolean): void {
    this.#queue = [...this.#again, ...this.#queue].filter(keep);
    this.#again = [];
  }

  /** Removes and returns the items that may go now, in order. */
  take(now: number): T[] {
    this.#refill(now);
    const count = Math.min(this.length, Math.floor(this.#tokens));
    this.#tokens -= count;
    const again = this.#again.splice(0, count);
    return [...again, ...this.#queue.splice(0, count - again.length)];
  }

  /** When the next item may go (`now` or later), or undefined when nothing waits. */
  nextAt(now: number): number | undefined {
    if (this.length === 0) return undefined;
    this.#refill(now);
    return this.#tokens >= 1 ? now : now + Math.ceil(((1 - this.#tokens) * 1000) / this.#rate);
  }

  /** The server refused a frame as rate-limited: its bucket is empty, so this one is emptied and slows down. */
  refused(now: number): void {
    this.#refill(now);
    this.#tokens = 0;
    this.#rate = Math.max(MIN_RATE, this.#rate / 2);
  }

  #refill(now: number): void {
    const seconds = Math.max(0, now - this.#refilledAt) / 1000;
    this.#refilledAt = now;
    this.#tokens = Math.min(this.#limit.burst, this.#tokens + seconds * this.#rate);
    this.#rate = Math.min(this.#limit.perSecond, this.#rate + seconds * this.#limit.perSecond * RECOVERY_PER_SECOND);
  }
}
