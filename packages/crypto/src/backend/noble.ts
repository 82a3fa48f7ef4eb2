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
  aes256Ctr(key, iv, input, output) {
    if (input.length === 0) return;
    ctr(key, iv).encrypt(input, output);
  },
  modPow: modPowBigInt,
  isProbablePrime: (n) => isProbablePrimeBigInt(n),
};
