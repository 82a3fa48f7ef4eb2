/** Pure-JS backend on @noble/hashes and @noble/ciphers: runs anywhere (browser workers, Deno, Node). */

import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { sha1 as nobleSha1 } from '@noble/hashes/legacy.js';
import { ctr } from '@noble/ciphers/aes.js';
import type { CryptoBackend } from './types.js';
import { isProbablePrimeBigInt, modPowBigInt } from './bigint-math.js';

/** The @noble backend. Stateless; safe to share. */
export const nobleBackend: CryptoBackend = {
  name: 'noble',
  sha256(a, b) {
    if (b === undefined) return nobleSha256(a);
    return nobleSha256.create().update(a).update(b).digest();
  },
  sha1(data) {
    return nobleSha1(data);
  },
  aes256Ctr(key, iv, input, skip) {
    if (skip % 16 !== 0 || skip < 0) throw new RangeError('aes256Ctr: skip must be a non-negative multiple of 16');
    const output = new Uint8Array(input.length);
    if (input.length > skip) ctr(key, iv).encrypt(input.subarray(skip), output.subarray(skip));
    return output;
  },
  modPow: modPowBigInt,
  isProbablePrime: (n) => isProbablePrimeBigInt(n),
};
