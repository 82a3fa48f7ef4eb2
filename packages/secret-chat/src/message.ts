/**
 * Encryption of one secret-chat message, MTProto 2.0 part II (the seed):
 *
 *   data      = length (4 bytes, little-endian, of the TL bytes) ‖ TL bytes ‖ padding (12..1024 random bytes,
 *               making the whole a multiple of 16)
 *   msg_key   = substr(SHA256(substr(key, 88+x, 32) ‖ data), 8, 16)                 (@mtcall/crypto computeMsgKey)
 *   aes_key, aes_iv from msg_key and key                                             (@mtcall/crypto deriveIgeKeyIv)
 *   packet    = key_fingerprint (8 bytes: the last 64 bits of SHA1(key)) ‖ msg_key ‖ AES-256-IGE(data)
 *
 * x = 0 for messages from the chat's originator, 8 for the other direction. Decryption runs every check and
 * returns a typed drop reason; it never throws on bad bytes.
 */

import { aes256IgeDecrypt, aes256IgeEncrypt, computeMsgKey, constantTimeEqual, deriveIgeKeyIv, randomBytes, sha1, wipe, type SecretChatOffset } from '@mtcall/crypto';
import { SecretChatError } from './errors.js';

/** Key fingerprint length on the wire. */
export const KEY_FINGERPRINT_LENGTH = 8;
/** msg_key length. */
export const SECRET_MSG_KEY_LENGTH = 16;
/** Fingerprint and msg_key in front of the ciphertext. */
export const PACKET_HEADER_LENGTH = KEY_FINGERPRINT_LENGTH + SECRET_MSG_KEY_LENGTH;
/** Padding bounds of MTProto 2.0. */
export const MIN_PADDING = 12;
/** Padding bounds of MTProto 2.0. */
export const MAX_PADDING = 1024;
/** The shortest valid packet: header and one block (4-byte length, empty body, 12 bytes of padding). */
export const MIN_PACKET_LENGTH = PACKET_HEADER_LENGTH + 16;

/** Why an incoming packet was not opened, one name per check. */
export const MESSAGE_DROP_REASONS = [
  'truncated', // shorter than fingerprint ‖ msg_key ‖ one block
  'not-block-aligned', // the ciphertext is not a multiple of 16 bytes
  'unknown-key', // the key fingerprint names no key this side holds
  'msg-key-mismatch', // msg_key does not match the decrypted data (wrong key, wrong direction, tampering)
  'bad-length', // the length prefix exceeds the data, or is not a multiple of 4 (TL is 4-byte aligned)
  'bad-padding', // fewer than 12 or more than 1024 padding bytes
] as const;

/** One of `MESSAGE_DROP_REASONS`. */
export type MessageDropReason = (typeof MESSAGE_DROP_REASONS)[number];

/** The 8 fingerprint bytes of a key as they lead every packet: bytes 12..20 of SHA1(key). */
export function keyFingerprintBytes(key: Uint8Array): Uint8Array {
  return sha1(key).slice(12, 20);
}

/** The fingerprint bytes as the TL `long` (little-endian signed) that `keyFingerprint` of @mtcall/crypto returns. */
export function fingerprintToLong(bytes: Uint8Array): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true);
}

/** A padding length for `bodyLength` TL bytes: the minimum (12..27) plus `extraBlocks` × 16, capped at 1024. */
export function paddingLength(bodyLength: number, extraBlocks = 0): number {
  const base = MIN_PADDING + ((16 - ((4 + bodyLength + MIN_PADDING) % 16)) % 16);
  let length = base + 16 * Math.max(0, Math.floor(extraBlocks));
  while (length > MAX_PADDING) length -= 16;
  return length;
}

/** Options of `encryptSecretMessage`. */
export interface EncryptMessageOptions {
  /** The padding bytes to use (tests and vectors); random when omitted. Must give a valid total length. */
  padding?: Uint8Array;
  /** Extra 16-byte padding blocks beyond the minimum when `padding` is omitted; random in 0..15 by default. */
  extraPaddingBlocks?: number;
}

/**
 * Encrypts `data` (already `length ‖ TL ‖ padding`, a multiple of 16) into `fingerprint ‖ msg_key ‖ IGE(data)`.
 * The low-level step under `encryptSecretMessage`, public so tests can build packets with bad lengths or padding.
 *
 * @throws RangeError when `data` is not a multiple of 16 bytes
 */
export function encryptSecretPayload(key: Uint8Array, x: SecretChatOffset, data: Uint8Array): Uint8Array {
  if (data.length === 0 || data.length % 16 !== 0) throw new RangeError(`payload must be a non-empty multiple of 16 bytes, got ${data.length}`);
  const msgKey = computeMsgKey(key, x, data);
  const { aesKey, aesIv } = deriveIgeKeyIv(key, msgKey, x);
  const packet = new Uint8Array(PACKET_HEADER_LENGTH + data.length);
  packet.set(keyFingerprintBytes(key), 0);
  packet.set(msgKey, KEY_FINGERPRINT_LENGTH);
  packet.set(aes256IgeEncrypt(aesKey, aesIv, data), PACKET_HEADER_LENGTH);
  wipe(aesKey, aesIv);
  return packet;
}

/**
 * Encrypts the TL bytes of one message (a serialized `decryptedMessageLayer`) under the chat key.
 *
 * @param key the 256-byte chat key
 * @param x 0 when this side originated the chat, 8 otherwise
 * @param tl the serialized object
 * @returns `key_fingerprint ‖ msg_key ‖ AES-256-IGE(length ‖ tl ‖ padding)`
 * @throws SecretChatError `bad-padding` when the given padding does not make a valid message
 * @example
 * const packet = encryptSecretMessage(key, 0, serializeLayer(layer));
 */
export function encryptSecretMessage(key: Uint8Array, x: SecretChatOffset, tl: Uint8Array, options: EncryptMessageOptions = {}): Uint8Array {
  const padding = options.padding ?? randomBytes(paddingLength(tl.length, options.extraPaddingBlocks ?? randomBytes(1)[0]! % 16));
  if (padding.length < MIN_PADDING || padding.length > MAX_PADDING || (4 + tl.length + padding.length) % 16 !== 0) {
    throw new SecretChatError('bad-padding', `padding of ${padding.length} bytes is not 12..1024 or does not align ${tl.length} TL bytes to 16`);
  }
  const data = new Uint8Array(4 + tl.length + padding.length);
  new DataView(data.buffer).setUint32(0, tl.length, true);
  data.set(tl, 4);
  data.set(padding, 4 + tl.length);
  const packet = encryptSecretPayload(key, x, data);
  data.fill(0);
  return packet;
}

/** Result of `decryptSecretMessage`. */
export type DecryptMessageResult =
  | { ok: true; tl: Uint8Array; keyFingerprint: Uint8Array }
  | { ok: false; reason: MessageDropReason };

/** Finds the key a packet's fingerprint names; `undefined` when none. */
export type KeyLookup = (fingerprint: Uint8Array) => Uint8Array | undefined;

/**
 * Opens a packet: fingerprint → key, IGE decryption, msg_key recomputed over the whole decrypted data and compared
 * in constant time, then the length prefix and the padding (12..1024) checked. Never throws on any bytes.
 *
 * @param keys a key, or a lookup from the packet's 8 fingerprint bytes to a key (current and re-keying keys)
 * @param x the sender's x: 0 when the other side originated the chat, 8 otherwise
 * @returns the TL bytes and the fingerprint of the key that opened them, or the first check that failed
 */
export function decryptSecretMessage(keys: Uint8Array | KeyLookup, x: SecretChatOffset, packet: Uint8Array): DecryptMessageResult {
  if (!(packet instanceof Uint8Array) || packet.length < MIN_PACKET_LENGTH) return { ok: false, reason: 'truncated' };
  if ((packet.length - PACKET_HEADER_LENGTH) % 16 !== 0) return { ok: false, reason: 'not-block-aligned' };
  const fingerprint = packet.slice(0, KEY_FINGERPRINT_LENGTH);
  let key: Uint8Array | undefined;
  if (keys instanceof Uint8Array) key = constantTimeEqual(keyFingerprintBytes(keys), fingerprint) ? keys : undefined;
  else key = keys(fingerprint);
  if (key === undefined || key.length !== 256) return { ok: false, reason: 'unknown-key' };
  const msgKey = packet.subarray(KEY_FINGERPRINT_LENGTH, PACKET_HEADER_LENGTH);
  const { aesKey, aesIv } = deriveIgeKeyIv(key, msgKey, x);
  const data = aes256IgeDecrypt(aesKey, aesIv, packet.subarray(PACKET_HEADER_LENGTH));
  wipe(aesKey, aesIv);
  if (!constantTimeEqual(computeMsgKey(key, x, data), msgKey)) {
    data.fill(0);
    return { ok: false, reason: 'msg-key-mismatch' };
  }
  const length = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
  if (length > data.length - 4 || length % 4 !== 0) {
    data.fill(0);
    return { ok: false, reason: 'bad-length' };
  }
  const padding = data.length - 4 - length;
  if (padding < MIN_PADDING || padding > MAX_PADDING) {
    data.fill(0);
    return { ok: false, reason: 'bad-padding' };
  }
  const tl = data.slice(4, 4 + length);
  data.fill(0);
  return { ok: true, tl, keyFingerprint: fingerprint };
}
