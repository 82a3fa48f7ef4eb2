/** Published 2048-bit safe-prime groups that pass `checkDhConfig`. */

import { hexToBytes } from './bytes.js';

/** A DH group: a 2048-bit safe prime p (big-endian, 256 bytes) and a generator g. */
export interface DhGroup {
  /** Short identifier, e.g. for a server's config version. */
  name: string;
  p: Uint8Array;
  g: number;
}

/**
 * The prime Telegram's servers return from messages.getDhConfig (TDLib `td/telegram/DhCache.cpp`
 * built_in_good_prime; Telegram Desktop `GoodPrime[]`), with g = 3 as in TDLib's `test/secret.cpp`.
 */
export const TELEGRAM_DH_GROUP: DhGroup = Object.freeze({
  name: 'telegram-2048',
  p: hexToBytes(
    'c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4db' +
      'fa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64' +
      '2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b41' +
      '0dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4' +
      'e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf' +
      '6f4fadf034b10403119cd8e3b92fcc5b',
  ),
  g: 3,
});

/** RFC 3526 group 14 (2048-bit MODP), g = 2 (p ≡ 7 mod 8, so 2 is a quadratic residue). */
export const RFC3526_GROUP_14: DhGroup = Object.freeze({
  name: 'rfc3526-2048',
  p: hexToBytes(
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
      'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
      'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
      '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
      'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
      '15728E5A8AACAA68FFFFFFFFFFFFFFFF',
  ),
  g: 2,
});
