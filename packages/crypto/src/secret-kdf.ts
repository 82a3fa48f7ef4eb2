/**
 * The MTProto 2.0 key derivation for AES-256-IGE, as secret chats use it (the seed's "MTProto 2.0, part II"):
 *
 *   msg_key  = substr(SHA256(substr(key, 88+x, 32) ‖ plaintext ‖ random_padding), 8, 16)   (`computeMsgKey`)
 *   sha256_a = SHA256(msg_key ‖ substr(key, x, 36))
 *   sha256_b = SHA256(substr(key, 40+x, 36) ‖ msg_key)
 *   aes_key  = substr(sha256_a, 0, 8) ‖ substr(sha256_b, 8, 16) ‖ substr(sha256_a, 24, 8)
 *   aes_iv   = substr(sha256_b, 0, 8) ‖ substr(sha256_a, 8, 16) ‖ substr(sha256_b, 24, 8)
 *
 * x = 0 for messages from the chat's originator, 8 for the other direction. Unlike the calls' CTR variant
 * (`deriveAesKeyIv`, a 16-byte IV of 4 + 8 + 4 bytes), the IV here is 32 bytes for IGE.
 */

import { assertBytes } from './bytes.js';
import { sha256 } from './hash.js';
import { KEY_LENGTH, MSG_KEY_LENGTH, type AesKeyIv } from './packet.js';

/** The two x values of secret chats: 0 for the originator's messages, 8 for the other side's. */
export type SecretChatOffset = 0 | 8;

/**
 * aes_key (32 bytes) and aes_iv (32 bytes, y_0 ‖ x_0 for `aes256IgeEncrypt`) for one secret-chat message.
 *
 * @param key the 256-byte shared key
 * @param msgKey the message's 16-byte msg_key
 * @param x 0 (originator → other side) or 8 (the other direction)
 * @throws TypeError / RangeError for a wrong length or x
 * @example
 * const { aesKey, aesIv } = deriveIgeKeyIv(key, msgKey, 0);
 */
export function deriveIgeKeyIv(key: Uint8Array, msgKey: Uint8Array, x: SecretChatOffset): AesKeyIv {
  assertBytes(key, 'key', KEY_LENGTH);
  assertBytes(msgKey, 'msgKey', MSG_KEY_LENGTH);
  if (x !== 0 && x !== 8) throw new RangeError(`x must be 0 or 8 for secret chats; got ${String(x)}`);
  const a = sha256(msgKey, key.subarray(x, x + 36));
  const b = sha256(key.subarray(40 + x, 40 + x + 36), msgKey);
  const aesKey = new Uint8Array(32);
  aesKey.set(a.subarray(0, 8), 0);
  aesKey.set(b.subarray(8, 24), 8);
  aesKey.set(a.subarray(24, 32), 24);
  const aesIv = new Uint8Array(32);
  aesIv.set(b.subarray(0, 8), 0);
  aesIv.set(a.subarray(8, 24), 8);
  aesIv.set(b.subarray(24, 32), 24);
  a.fill(0);
  b.fill(0);
  return { aesKey, aesIv };
}
