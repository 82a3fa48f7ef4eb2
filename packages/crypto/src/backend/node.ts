/**
 * Node backend on `node:crypto` (OpenSSL: AES-NI, SHA-NI). The module object is passed in so this file
 * never imports `node:crypto` itself and bundles cleanly for browsers.
 */

import type * as NodeCrypto from 'node:crypto';
import type { CryptoBackend } from './types.js';
import { modPowBigInt } from './bigint-math.js';
import { bigIntToBytes, bytesToBigInt } from '../bytes.js';

/** Inputs up to this size are hashed by copying into a scratch buffer and one `crypto.hash` call (fewer native crossings). */
const SCRATCH_HASH_LIMIT = 4096;

/** Builds the Node backend over the given `node:crypto` module. */
export function createNodeBackend(crypto: typeof NodeCrypto): CryptoBackend {
  const scratch = new Uint8Array(SCRATCH_HASH_LIMIT);
  const oneShot = typeof crypto.hash === 'function';

  /** Node returns Buffers; callers get plain Uint8Array views so results compare and serialize alike on every backend. */
  const view = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
  const hashOnce = (data: Uint8Array): Uint8Array =>
    view(oneShot ? crypto.hash('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest());

  return {
    name: 'node',
    sha256(a, b) {
      if (b === undefined) return hashOnce(a);
      const total = a.length + b.length;
      if (total <= SCRATCH_HASH_LIMIT) {
        scratch.set(a, 0);
        scratch.set(b, a.length);
        const digest = hashOnce(scratch.subarray(0, total));
        scratch.fill(0, 0, total); // the scratch may have held key material
        return digest;
      }
      return view(crypto.createHash('sha256').update(a).update(b).digest());
    },
    sha1(data) {
      return view(oneShot ? crypto.hash('sha1', data, 'buffer') : crypto.createHash('sha1').update(data).digest());
    },
    aes256Ctr(key, iv, input, output) {
      if (input.length === 0) return;
      const encrypted = crypto.createCipheriv('aes-256-ctr', key, iv).update(input);
      output.set(encrypted);
    },
    modPow(base, exponent, modulus) {
      // OpenSSL's DH does the exponentiation ~5x faster than BigInt; it wants 1 < base < modulus and exponent > 0.
      const reduced = base % modulus;
      if (reduced < 2n || exponent < 1n || modulus < 5n || (modulus & 1n) === 0n) {
        return modPowBigInt(base, exponent, modulus);
      }
      const length = Math.ceil(modulus.toString(16).length / 2);
      const dh = crypto.createDiffieHellman(bigIntToBytes(modulus, length), bigIntToBytes(reduced, length));
      const secret = bigIntToBytes(exponent, Math.ceil(exponent.toString(16).length / 2));
      dh.setPrivateKey(secret);
      const result = bytesToBigInt(dh.generateKeys());
      secret.fill(0);
      return result;
    },
    isProbablePrime(n) {
      if (n < 2n) return false;
      return crypto.checkPrimeSync(n, { checks: 64 });
    },
  };
}
