/** Portable BigInt number theory for the DH: used by the noble backend and as the Node backend's fallback for edge inputs. */

import { randomBytes, bytesToBigInt } from '../bytes.js';

/** Square-and-multiply `base^exponent mod modulus` (modulus > 0, exponent >= 0). */
export function modPowBigInt(base: bigint, exponent: bigint, modulus: bigint): bigint {
  if (modulus <= 0n) throw new RangeError('modPow: modulus must be positive');
  if (exponent < 0n) throw new RangeError('modPow: exponent must be non-negative');
  if (modulus === 1n) return 0n;
  let result = 1n;
  let b = ((base % modulus) + modulus) % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

const SMALL_PRIMES: readonly number[] = (() => {
  const primes: number[] = [];
  for (let n = 2; primes.length < 256; n++) {
    if (primes.every((q) => n % q !== 0)) primes.push(n);
  }
  return primes;
})();

/** A uniformly random integer in [2, n - 2] (n > 4). */
function randomWitness(n: bigint): bigint {
  const byteLength = Math.ceil(n.toString(16).length / 2) + 8; // 64 extra bits make the modulo bias negligible
  return (bytesToBigInt(randomBytes(byteLength)) % (n - 3n)) + 2n;
}

/**
 * Miller–Rabin with trial division by the first 256 primes and `rounds` random bases
 * (error probability at most 4^-rounds for any input, adversarial ones included).
 */
export function isProbablePrimeBigInt(n: bigint, rounds = 40): boolean {
  if (n < 2n) return false;
  for (const q of SMALL_PRIMES) {
    const big = BigInt(q);
    if (n === big) return true;
    if (n % big === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  witnessLoop: for (let i = 0; i < rounds; i++) {
    let x = modPowBigInt(randomWitness(n), d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let r = 1; r < s; r++) {
      x = (x * x) % n;
      if (x === n - 1n) continue witnessLoop;
      if (x === 1n) return false;
    }
    return false;
  }
  return true;
}
