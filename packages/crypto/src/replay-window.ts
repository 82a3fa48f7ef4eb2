/**
 * The replay rule of the calls spec: remember the seqs received that are greater than
 * max_received_seq - 64; reject a seq that is ≤ max_received_seq - 64 or already remembered.
 *
 * Implementation: a 64-slot ring indexed by `seq mod 64`. The 64 seqs inside the window have 64
 * distinct slots, and a slot is only ever overwritten by a later seq of the same residue, which
 * pushes the old one out of the window; so "seen" is exactly `slot[seq mod 64] === seq`. O(1), no shifting.
 */

/** How many seqs the window remembers. */
export const REPLAY_WINDOW_SIZE = 64;

/** Outcome of looking up a seq: would be accepted, was already seen, or fell behind the window. */
export type ReplayVerdict = 'ok' | 'replay' | 'too-old';

/** The receive-side replay window of one direction of one channel. */
export class ReplayWindow {
  readonly #slots = new Float64Array(REPLAY_WINDOW_SIZE).fill(-1);
  #max = 0;

  /** The largest seq accepted so far (0 before the first). */
  get maxReceivedSeq(): number {
    return this.#max;
  }

  /** Classifies `seq` without recording it. Seqs start at 1; anything that is not a positive integer is `'too-old'`. */
  verdict(seq: number): ReplayVerdict {
    if (!Number.isSafeInteger(seq) || seq < 1) return 'too-old';
    if (seq > this.#max) return 'ok';
    if (seq <= this.#max - REPLAY_WINDOW_SIZE) return 'too-old';
    return this.#slots[seq % REPLAY_WINDOW_SIZE] === seq ? 'replay' : 'ok';
  }

  /** True when `accept(seq)` would accept it. Changes nothing. */
  check(seq: number): boolean {
    return this.verdict(seq) === 'ok';
  }

  /** Checks `seq` and, when acceptable, records it (advancing the window if it is the new maximum). */
  accept(seq: number): boolean {
    if (!this.check(seq)) return false;
    this.#slots[seq % REPLAY_WINDOW_SIZE] = seq;
    if (seq > this.#max) this.#max = seq;
    return true;
  }

  /** Forgets everything (a new key starts a new window). */
  reset(): void {
    this.#slots.fill(-1);
    this.#max = 0;
  }
}
