/**
 * Node backend on `node:crypto` (OpenSSL: AES-NI, SHA-NI). The module object is passed in so this file
 * never imports `node:crypto` itself and bundles cleanly for browsers.
 */

import type * as NodeCrypto from 'node:crypto';
import type { CryptoBackend } from './types.js';
import { modPowBigInt } from './bigint-math.js';
import { counterMinus } from './counter.js';
import { bigIntToBytes, bytesToBigInt } from '../bytes.js';

/** Inputs up to this size are hashed by copying into a scratch buffer and one `crypto.hash` call (fewer native crossings). */
const SCRATCH_HASH_LIMIT = 4096;

const ONE = new Uint8Array([1]);
const TWO = new Uint8Array([2]);

/** Builds the Node backend over the given `node:crypto` module. */
export function createNodeBackend(crypto: typeof NodeCrypto): CryptoBackend {
  const scratch = new Uint8Array(SCRATCH_HASH_LIMIT);
  const dhObjects = new Map<bigint, NodeCrypto.DiffieHellman>();
  const dhFor = (modulus: bigint, length: number): NodeCrypto.DiffieHellman => {
    let dh = dhObjects.get(modulus);
    if (!dh) {
      if (dhObjects.size >= 8) dhObjects.clear();
      dh = crypto.createDiffieHellman(bigIntToBytes(modulus, length), TWO);
      dhObjects.set(modulus, dh);
    }
    return dh;
  };
  const ivScratch = new Uint8Array(16);
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
    aes256Ctr(key, iv, input, skip) {
      if (skip % 16 !== 0 || skip < 0) throw new RangeError('aes256Ctr: skip must be a non-negative multiple of 16');
      if (input.length <= skip) return new Uint8Array(input.length);
      // Start the counter skip/16 blocks early and encrypt the whole input: the bytes after `skip` get
      // exactly the keystream from `iv`, and OpenSSL's one output buffer is the result (no copy).
      const start = skip === 0 ? iv : counterMinus(iv, skip / 16, ivScratch);
      const output = view(crypto.createCipheriv('aes-256-ctr', key, start).update(input));
      if (skip > 0) {
        output.fill(0, 0, skip);
        ivScratch.fill(0);
      }
      return output;
    },
    modPow(base, exponent, modulus) {
      // OpenSSL's DH computes base^exponent mod p ~5x faster than BigInt, via computeSecret (peer key = base,
      // private key = exponent). createDiffieHellman runs OpenSSL's DH_check on an unknown prime (~0.25 s), so
      // one object per modulus is kept. OpenSSL wants 1 < base < p-1, exponent > 0 and an odd modulus.
      const reduced = base % modulus;
      const bits = modulus.toString(2).length;
      if (reduced < 2n || reduced >= modulus - 1n || exponent < 1n || bits < 512 || bits > 10000 || (modulus & 1n) === 0n) {
        return modPowBigInt(base, exponent, modulus);
      }
      const length = Math.ceil(modulus.toString(16).length / 2);
      const dh = dhFor(modulus, length);
      const secret = bigIntToBytes(exponent, Math.ceil(exponent.toString(16).length / 2));
      try {
        dh.setPrivateKey(secret);
        return bytesToBigInt(dh.computeSecret(bigIntToBytes(reduced, length)));
      } catch {
        // OpenSSL refuses some results (e.g. a shared value of 1); the portable path computes them.
        return modPowBigInt(base, exponent, modulus);
      } finally {
        secret.fill(0);
        dh.setPrivateKey(ONE); // do not leave the exponent in the cached object
      }
    },
    isProbablePrime(n) {
      if (n < 2n) return false;
      return crypto.checkPrimeSync(n, { checks: 64 });
    },
  };
}
