/**
 * Key visualization of a secret chat (the seed, and "Perfect Forward Secrecy › Key Visualization"): the first 128
 * bits of SHA1 of the chat's original key followed by the first 160 bits of SHA256 of the key in use when the chat
 * was updated to layer 46 — the original key itself for chats created at layer ≥ 46, as every chat here is. Clients
 * draw these 36 bytes as an image or emoji for the users to compare. Unrelated to `key_fingerprint`.
 */

import { sha1, sha256 } from '@mtcall/crypto';

/** Length of the visualization bytes: 16 (SHA1) + 20 (SHA256). */
export const KEY_VISUALIZATION_LENGTH = 36;

/**
 * The 36 visualization bytes: SHA1(initialKey)[0..16] ‖ SHA256(layer46Key)[0..20].
 *
 * @param initialKey the key of the chat's first DH exchange
 * @param layer46Key the key in use when the chat reached layer 46 (defaults to `initialKey`)
 * @example
 * const bytes = keyVisualization(chat.initialKey);
 */
export function keyVisualization(initialKey: Uint8Array, layer46Key: Uint8Array = initialKey): Uint8Array {
  const out = new Uint8Array(KEY_VISUALIZATION_LENGTH);
  out.set(sha1(initialKey).subarray(0, 16), 0);
  out.set(sha256(layer46Key).subarray(0, 20), 16);
  return out;
}
