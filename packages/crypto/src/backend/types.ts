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
   * AES-256-CTR (full 128-bit big-endian counter block starting at `iv`, as OpenSSL's `aes-256-ctr`) of
   * `input[skip..]`, returned at the same offset of a new array of `input.length` bytes whose first `skip`
   * bytes are zero. `skip` is a multiple of 16 (RangeError otherwise). The room in front lets callers prepend a header (msg_key)
   * without another allocation or copy.
   */
  aes256Ctr(key: Uint8Array, iv: Uint8Array, input: Uint8Array, skip: number): Uint8Array;
  /** `base^exponent mod modulus` for the DH; returns the result as an integer. */
  modPow(base: bigint, exponent: bigint, modulus: bigint): bigint;
  /** Probabilistic primality test with error probability below 2^-80 for random and adversarial input. */
  isProbablePrime(n: bigint): boolean;
}
