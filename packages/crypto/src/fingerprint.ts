/** Key fingerprint (implementation sanity check of the DH) and the four-emoji key visualization. */

import { assertBytes } from './bytes.js';
import { sha1, sha256 } from './hash.js';
import { EMOJI_TABLE } from './emoji-table.js';
import { KEY_LENGTH } from './packet.js';

export { EMOJI_TABLE } from './emoji-table.js';

/**
 * key_fingerprint: the lower 64 bits of SHA1(key) — bytes 12..20 of the digest read as a little-endian
 * signed 64-bit integer, the TL `long` TDLib (`calc_key_id`: `as<int64>(sha1 + 12)`), Telegram Desktop and
 * Telegram Android put in `phone.confirmCall`.
 */
export function keyFingerprint(key: Uint8Array): bigint {
  assertBytes(key, 'key', KEY_LENGTH);
  const digest = sha1(key);
  return new DataView(digest.buffer, digest.byteOffset + 12, 8).getBigInt64(0, true);
}

/**
 * Indices into `EMOJI_TABLE` of the call's four verification emoji: SHA256(key ‖ g_a) split into four
 * 8-byte chunks, each read as a big-endian uint64 with its top bit cleared, modulo 333 — as TDLib
 * (`get_emoji_fingerprints`), Telegram Desktop and Telegram Android compute them. `gA` is the caller's g_a.
 */
export function emojiIndices(key: Uint8Array, gA: Uint8Array): number[] {
  assertBytes(key, 'key', KEY_LENGTH);
  assertBytes(gA, 'gA', KEY_LENGTH); // g_a as the 256-byte big-endian value both sides hash alike
  const digest = sha256(key, gA);
  const view = new DataView(digest.buffer, digest.byteOffset, 32);
  const count = BigInt(EMOJI_TABLE.length);
  const indices: number[] = [];
  for (let i = 0; i < 4; i++) {
    indices.push(Number((view.getBigUint64(8 * i, false) & 0x7fffffffffffffffn) % count));
  }
  return indices;
}

/** The four verification emoji of a call (see `emojiIndices`). */
export function emojiFingerprint(key: Uint8Array, gA: Uint8Array): string[] {
  return emojiIndices(key, gA).map((i) => EMOJI_TABLE[i]!);
}
