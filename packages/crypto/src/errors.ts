/** Typed errors of the crypto core. `code` is stable and meant for programs; `message` is for people. */

/** Base class of every error this package throws on purpose. */
export class MtcallCryptoError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The rules of the secret-chat DH checks, one per way a parameter can be bad. */
export type DhRule =
  | 'p-size' // p is not a 2048-bit number (2^2047 < p < 2^2048)
  | 'p-not-prime' // p is not prime
  | 'p-not-safe' // (p-1)/2 is not prime
  | 'g-range' // g is not one of 2..7
  | 'g-residue' // g does not generate the subgroup of order (p-1)/2 (p mod 4g condition)
  | 'public-range' // g_x is not in 1 < g_x < p-1
  | 'public-margin' // g_x is not in 2^(2048-64) <= g_x <= p - 2^(2048-64)
  | 'public-length'; // g_x is longer than 256 bytes

/** A DH parameter violated a rule of the secret-chat spec; the call must be aborted. */
export class DhCheckError extends MtcallCryptoError {
  readonly rule: DhRule;
  constructor(rule: DhRule, message: string) {
    super('dh-check-failed', `DH check failed (${rule}): ${message}`);
    this.rule = rule;
  }
}

/** The outgoing seq counter would reach 2^30: the spec says the call must be aborted. */
export class SeqExhaustedError extends MtcallCryptoError {
  constructor(nextSeq: number) {
    super('seq-exhausted', `seq counter would reach 2^30 (next seq ${nextSeq}); the call must be aborted`);
  }
}

/** A sealer, opener or packet cipher was used after `destroy()` (the call ended), also when the end came while an asynchronous seal awaited. */
export class DestroyedError extends MtcallCryptoError {
  constructor(what: string) {
    super('destroyed', `this ${what} was destroyed (the call ended)`);
  }
}
