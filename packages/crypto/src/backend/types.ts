/**
 * The primitives the call protocol needs, implemented once per platform. Everything above this
 * interface (KDF, packet format, DH checks) is written once against it.
 */
export interface CryptoBackend {
  /** Short name used in benchmarks and logs: `'node'`, `'noble'`. */
  readonly name: string;
  /** SHA-256 of the concatenation `a ‖ b` (b optional), without the caller copying. */
  sha256(a: Uint8Array, b?: Uint8Array): Uint8Array;
  /** SHA-1 of `data` (only the key fingerprint uses it). */
  sha1(data: Uint8Array): Uint8Array;
  /**
   * AES-256-CTR with a full 128-bit big-endian counter block starting at `iv` (OpenSSL's
   * `aes-256-ctr`), applied to `input` and written to `output` (same length, may not overlap unless identical).
   */
  aes256Ctr(key: Uint8Array, iv: Uint8Array, input: Uint8Array, output: Uint8Array): void;
  /** `base^exponent mod modulus` for the DH; returns the result as an integer. */
  modPow(base: bigint, exponent: bigint, modulus: bigint): bigint;
  /** Probabilistic primality test with error probability below 2^-80 for random and adversarial input. */
  isProbablePrime(n: bigint): boolean;
}
