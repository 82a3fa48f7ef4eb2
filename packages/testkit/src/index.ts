/**
 * The fuzzing kit of mtcall's test suites (seeded, reproducible): a small PRNG, a batched fast-check driver, byte
 * mutations and presentations. Runs scale with MTCALL_FUZZ_RUNS (a multiplier, default 1); MTCALL_FUZZ_SEED
 * picks another seed. Test-only: this package is never built or published.
 */

import fc from 'fast-check';

/** Length of msg_key, the packet header of the calls spec (mutations aim at it). */
const MSG_KEY_LENGTH = 16;

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Harness: multiplier, seeds, a deterministic PRNG and batched fast-check runs, shared by every fuzz suite.

export const RUNS = (() => {
  const n = Number(process.env.MTCALL_FUZZ_RUNS ?? '1');
  return Number.isFinite(n) && n >= 1 ? n : 1;
})();
export const SEED_OVERRIDE = process.env.MTCALL_FUZZ_SEED === undefined ? undefined : Number(process.env.MTCALL_FUZZ_SEED) | 0;
/** Generous per-test timeout: the machine is shared; nothing asserts on time. */
export const TIMEOUT = 240_000 * RUNS;

/** sfc32: a small, fast, well-mixed PRNG; the same seed always gives the same stream. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed | 0;
    for (let i = 0; i < 15; i++) this.u32();
  }
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }
  /** Uniform in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
  /** Uniform in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const v = this.u32();
      out[i] = v;
      out[i + 1] = v >>> 8;
      out[i + 2] = v >>> 16;
      out[i + 3] = v >>> 24;
    }
    for (; i < n; i++) out[i] = this.u32();
    return out;
  }
}

/**
 * Runs `body` on `cases × MTCALL_FUZZ_RUNS` cases under fast-check with a fixed seed, `batch` cases per
 * fast-check run, each batch with its own PRNG. Returns the number of cases run.
 */
export function fuzz(seed: number, cases: number, batch: number, body: (rng: Rng, index: number) => void): number {
  const numRuns = Math.max(1, Math.ceil((cases * RUNS) / batch));
  let done = 0;
  fc.assert(
    fc.property(fc.integer(), (batchSeed) => {
      const rng = new Rng(batchSeed);
      for (let i = 0; i < batch; i++) {
        try {
          body(rng, i);
        } catch (error) {
          throw new Error(`case ${i} of batch seed ${batchSeed}: ${(error as Error).message}`, { cause: error });
        }
        done++;
      }
    }),
    { numRuns, seed: SEED_OVERRIDE ?? seed, endOnFailure: true },
  );
  return done;
}

/** Prints a target's case counts when MTCALL_FUZZ_VERBOSE is set. */
export function report(target: string, counts: Record<string, number>): void {
  if (process.env.MTCALL_FUZZ_VERBOSE) console.log(`[fuzz] ${target}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}

/** Throws when `condition` is false (cheaper than `expect` in loops of 100 000). */
export function check(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

export const hexOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
export const short = (b: Uint8Array) => (b.length > 48 ? `${hexOf(b.subarray(0, 48))}…(${b.length} bytes)` : hexOf(b) || '(empty)');
export const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

/** Lengths at and around every boundary the code has (msg_key, AES block, header, varint steps). */
export const BOUNDARY_LENGTHS = [0, 1, 2, 4, 5, 15, 16, 17, 20, 21, 31, 32, 33, 47, 48, 49, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 1024, 1500];

/** A length for random inputs: usually small, often a boundary. */
export function randomLength(rng: Rng): number {
  const r = rng.int(10);
  if (r < 4) return rng.pick(BOUNDARY_LENGTHS);
  if (r < 8) return rng.int(80);
  return rng.int(2048);
}

/** Random bytes, sometimes skewed to zeros (framing headers, varints). */
export function randomBytes(rng: Rng, length: number): Uint8Array {
  const out = rng.bytes(length);
  if (rng.chance(0.25)) for (let i = 0; i < out.length; i++) if (rng.chance(0.6)) out[i] = rng.chance(0.5) ? 0 : out[i]! & 0x81;
  return out;
}

/**
 * A mutation of `src` that is guaranteed to differ from it and from `other`: one bit flipped, truncated, extended,
 * bytes inserted, deleted, overwritten or duplicated, or spliced with `other`.
 */
export function mutate(rng: Rng, src: Uint8Array, other?: Uint8Array): Uint8Array {
  const n = src.length;
  let out: Uint8Array;
  switch (rng.int(n === 0 ? 2 : 11)) {
    case 0: // extend with random bytes
      out = concatBytes(src, rng.bytes(rng.range(1, 33)));
      break;
    case 1: // extend with zeros (padding-like)
      out = concatBytes(src, new Uint8Array(rng.range(1, 17)));
      break;
    case 2: // one bit flipped anywhere
    case 3: {
      out = src.slice();
      out[rng.int(n)]! ^= 1 << rng.int(8);
      break;
    }
    case 4: {
      // one bit flipped in msg_key, or in the last byte
      out = src.slice();
      const at = rng.chance(0.5) ? rng.int(Math.min(n, MSG_KEY_LENGTH)) : n - 1;
      out[at]! ^= 1 << rng.int(8);
      break;
    }
    case 5: // truncated (by one byte, or anywhere)
      out = src.slice(0, rng.chance(0.3) ? n - 1 : rng.int(n));
      break;
    case 6: {
      // bytes inserted
      const at = rng.int(n + 1);
      out = concatBytes(src.subarray(0, at), rng.bytes(rng.range(1, 4)), src.subarray(at));
      break;
    }
    case 7: {
      // bytes deleted
      const at = rng.int(n);
      out = concatBytes(src.subarray(0, at), src.subarray(Math.min(n, at + rng.range(1, 4))));
      break;
    }
    case 8: {
      // a byte overwritten with another value
      out = src.slice();
      const at = rng.int(n);
      out[at] = (out[at]! + rng.range(1, 255)) & 0xff;
      break;
    }
    case 9: {
      // a range duplicated
      const at = rng.int(n);
      const len = rng.range(1, Math.min(32, n - at));
      out = concatBytes(src.subarray(0, at + len), src.subarray(at, at + len), src.subarray(at + len));
      break;
    }
    default: {
      // spliced: msg_key of one packet, body of the other (or a prefix/suffix mix)
      const o = other ?? rng.bytes(n);
      out = rng.chance(0.5) ? concatBytes(o.subarray(0, MSG_KEY_LENGTH), src.subarray(MSG_KEY_LENGTH)) : concatBytes(src.subarray(0, rng.int(n)), o.subarray(rng.int(o.length + 1)));
    }
  }
  // A splice can reproduce `other` whole (an empty prefix of src and all of other): that is not a forgery.
  if (equal(out, src) || (other !== undefined && equal(out, other))) {
    out = src.length > 0 ? src.slice() : new Uint8Array(1);
    if (src.length > 0) out[0]! ^= 0x80;
  }
  return out;
}


/** The same bytes, sometimes as a view at an odd offset into a larger buffer, or as a Node Buffer. */
export function presented(rng: Rng, bytes: Uint8Array): Uint8Array {
  const r = rng.int(8);
  if (r === 0) {
    const offset = rng.range(1, 7);
    const big = rng.bytes(offset + bytes.length + rng.range(0, 7));
    big.set(bytes, offset);
    return big.subarray(offset, offset + bytes.length);
  }
  if (r === 1) return Buffer.from(bytes);
  return bytes;
}


/** The window size of the calls spec ("larger than max_received_seq - 64"), restated for the model. */
const MODEL_WINDOW_SIZE = 64;

/** The spec's replay rule, written plainly: the reference every replay-window fuzzer compares against. */
export class ModelWindow {
  max = 0;
  readonly seen = new Set<number>();
  verdict(seq: number): 'ok' | 'replay' | 'too-old' {
    if (!Number.isSafeInteger(seq) || seq < 1) return 'too-old';
    if (seq > this.max) return 'ok';
    if (seq <= this.max - MODEL_WINDOW_SIZE) return 'too-old';
    return this.seen.has(seq) ? 'replay' : 'ok';
  }
  accept(seq: number): boolean {
    if (this.verdict(seq) !== 'ok') return false;
    this.seen.add(seq);
    if (seq > this.max) {
      this.max = seq;
      if (this.seen.size > 4 * MODEL_WINDOW_SIZE) for (const s of this.seen) if (s <= this.max - MODEL_WINDOW_SIZE) this.seen.delete(s);
    }
    return true;
  }
  reset(): void {
    this.max = 0;
    this.seen.clear();
  }
}
