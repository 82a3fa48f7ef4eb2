/**
 * Packet encryption of the calls spec (MTProto 2.0 KDF, AES-256-CTR):
 *
 *   msg_key_large = SHA256(substr(key, 88+x, 32) + decrypted_body)
 *   msg_key       = substr(msg_key_large, 8, 16)
 *   sha256_a      = SHA256(msg_key + substr(key, x, 36))
 *   sha256_b      = SHA256(substr(key, 40+x, 36) + msg_key)
 *   aes_key       = substr(sha256_a, 0, 8) + substr(sha256_b, 8, 16) + substr(sha256_a, 24, 8)
 *   aes_iv        = substr(sha256_b, 0, 4) + substr(sha256_a, 8, 8) + substr(sha256_b, 24, 4)
 *   packet_bytes  = msg_key + AES_CTR(decrypted_body, aes_key, aes_iv)
 */

import { defaultBackend, type CryptoBackend } from './backend/index.js';
import type { AsyncCryptoBackend } from './backend/webcrypto.js';
import { assertBytes, constantTimeEqual } from './bytes.js';
import { isChannelOffset, type ChannelOffset } from './channel.js';
import { DestroyedError } from './errors.js';

/** Length of the shared DH key. */
export const KEY_LENGTH = 256;
/** Length of msg_key, the packet header. */
export const MSG_KEY_LENGTH = 16;
/** Bytes a caller of `PacketCipher.encryptInRoom` reserves in front of the body. */
export const PACKET_ROOM = 32;

/** AES-256-CTR key and IV derived for one packet. */
export interface AesKeyIv {
  aesKey: Uint8Array;
  aesIv: Uint8Array;
}

function assertKeyAndOffset(key: Uint8Array, x: number): void {
  assertBytes(key, 'key', KEY_LENGTH);
  if (!isChannelOffset(x)) throw new RangeError(`x must be one of 0, 8, 128, 136; got ${String(x)}`);
}

/**
 * The packet cipher for one key and one x: holds copies of the three key slices the KDF reads, so the
 * per-packet work is only the hashing and the cipher. Create one per direction per channel and reuse it.
 */
export class PacketCipher {
  readonly x: ChannelOffset;
  readonly backend: CryptoBackend;
  /** substr(key, 88+x, 32): the msg_key prefix. */
  readonly #msgKeyPrefix: Uint8Array;
  /** msg_key ‖ substr(key, x, 36): the input of sha256_a, with msg_key written in per packet. */
  readonly #aInput: Uint8Array;
  /** substr(key, 40+x, 36) ‖ msg_key: the input of sha256_b, with msg_key written in per packet. */
  readonly #bInput: Uint8Array;
  #destroyed = false;

  constructor(key: Uint8Array, x: ChannelOffset, backend: CryptoBackend = defaultBackend) {
    assertKeyAndOffset(key, x);
    this.x = x;
    this.backend = backend;
    this.#msgKeyPrefix = new Uint8Array(key.subarray(88 + x, 88 + x + 32)); // a copy (Buffer#slice would be a view)
    this.#aInput = new Uint8Array(MSG_KEY_LENGTH + 36);
    this.#aInput.set(key.subarray(x, x + 36), MSG_KEY_LENGTH);
    this.#bInput = new Uint8Array(36 + MSG_KEY_LENGTH);
    this.#bInput.set(key.subarray(40 + x, 40 + x + 36), 0);
  }

  /** msg_key: bytes 8..24 of SHA256(substr(key, 88+x, 32) ‖ body). */
  msgKey(body: Uint8Array): Uint8Array {
    return this.backend.sha256(this.#msgKeyPrefix, body).subarray(8, 24);
  }

  /** aes_key (32 bytes) and aes_iv (16 bytes) for a msg_key, composed exactly as the calls spec says. */
  aesKeyIv(msgKey: Uint8Array): AesKeyIv {
    this.#aInput.set(msgKey, 0);
    this.#bInput.set(msgKey, 36);
    const a = this.backend.sha256(this.#aInput);
    const b = this.backend.sha256(this.#bInput);
    const aesIv = new Uint8Array(16);
    aesIv.set(b.subarray(0, 4), 0);
    aesIv.set(a.subarray(8, 16), 4);
    aesIv.set(b.subarray(24, 28), 12);
    // aes_key = a[0..8] ‖ b[8..24] ‖ a[24..32]: built in place in a's fresh 32 bytes.
    a.set(b.subarray(8, 24), 8);
    b.fill(0);
    return { aesKey: a, aesIv };
  }

  /** `msg_key ‖ AES-256-CTR(body)`. */
  encrypt(body: Uint8Array): Uint8Array {
    const room = new Uint8Array(PACKET_ROOM + body.length);
    room.set(body, PACKET_ROOM);
    return this.encryptInRoom(room);
  }

  /**
   * Seals a body laid out behind `PACKET_ROOM` (32) reserved bytes: `room = reserved ‖ body`. The reserved
   * bytes are overwritten (they carry the msg_key prefix while hashing, then are wiped), so the body is hashed
   * and encrypted with no further copy. Returns a new packet `msg_key ‖ AES-256-CTR(body)`.
   */
  encryptInRoom(room: Uint8Array): Uint8Array {
    const msgKeyLarge = this.backend.sha256(this.#prepareRoom(room));
    const { aesKey, aesIv } = this.aesKeyIv(msgKeyLarge.subarray(8, 24));
    // Encrypt room[16..]: its first 16 bytes become msg_key, the rest is the encrypted body.
    const packet = this.backend.aes256Ctr(aesKey, aesIv, room.subarray(MSG_KEY_LENGTH), MSG_KEY_LENGTH);
    return this.#finishPacket(packet, room, msgKeyLarge, aesKey, aesIv);
  }

  /**
   * `encryptInRoom` with the body hash and the cipher on an asynchronous backend (Web Crypto): the same bytes,
   * faster for large bodies in browsers. `room` must not be shared with concurrent calls.
   */
  async encryptInRoomAsync(room: Uint8Array, async: AsyncCryptoBackend): Promise<Uint8Array> {
    const msgKeyLarge = await async.sha256(this.#prepareRoom(room));
    // destroy() may have run while we awaited: the key slices are zeros now, so nothing may be derived from them.
    this.#throwIfDestroyed(room, msgKeyLarge);
    const { aesKey, aesIv } = this.aesKeyIv(msgKeyLarge.subarray(8, 24));
    let packet: Uint8Array;
    try {
      packet = await async.aes256Ctr(aesKey, aesIv, room.subarray(MSG_KEY_LENGTH), MSG_KEY_LENGTH);
    } catch (error) {
      this.#finishPacket(new Uint8Array(MSG_KEY_LENGTH), room, msgKeyLarge, aesKey, aesIv);
      throw error;
    }
    // Sealed under the real key, but the call ended meanwhile: no packet may leave after the end.
    this.#throwIfDestroyed(room, msgKeyLarge, aesKey, aesIv, packet);
    return this.#finishPacket(packet, room, msgKeyLarge, aesKey, aesIv);
  }

  #prepareRoom(room: Uint8Array): Uint8Array {
    this.#throwIfDestroyed();
    room.set(this.#msgKeyPrefix, 0);
    return room;
  }

  /** After an await: when destroyed meanwhile, wipes `secrets` and throws `DestroyedError`. */
  #throwIfDestroyed(...secrets: Uint8Array[]): void {
    if (!this.#destroyed) return;
    for (const s of secrets) s.fill(0);
    throw new DestroyedError('packet cipher');
  }

  #finishPacket(packet: Uint8Array, room: Uint8Array, msgKeyLarge: Uint8Array, aesKey: Uint8Array, aesIv: Uint8Array): Uint8Array {
    packet.set(msgKeyLarge.subarray(8, 24), 0);
    room.fill(0, 0, PACKET_ROOM);
    msgKeyLarge.fill(0);
    aesKey.fill(0);
    aesIv.fill(0);
    return packet;
  }

  /**
   * The body of `packet`, or `null` when it is shorter than msg_key or its msg_key does not match the
   * decrypted body (compared in constant time). Never throws on any bytes.
   */
  decrypt(packet: Uint8Array): Uint8Array | null {
    if (this.#destroyed || !(packet instanceof Uint8Array) || packet.length < MSG_KEY_LENGTH) return null;
    const { aesKey, aesIv } = this.aesKeyIv(packet.subarray(0, MSG_KEY_LENGTH));
    const body = this.backend.aes256Ctr(aesKey, aesIv, packet, MSG_KEY_LENGTH).subarray(MSG_KEY_LENGTH);
    aesKey.fill(0);
    aesIv.fill(0);
    return this.#verify(packet, body, this.msgKey(body));
  }

  /** `decrypt` with the cipher and the body hash on an asynchronous backend (Web Crypto). Never rejects on any bytes. */
  async decryptAsync(packet: Uint8Array, async: AsyncCryptoBackend): Promise<Uint8Array | null> {
    if (this.#destroyed || !(packet instanceof Uint8Array) || packet.length < MSG_KEY_LENGTH) return null;
    const { aesKey, aesIv } = this.aesKeyIv(packet.subarray(0, MSG_KEY_LENGTH));
    let decrypted: Uint8Array;
    try {
      decrypted = await async.aes256Ctr(aesKey, aesIv, packet, MSG_KEY_LENGTH);
    } finally {
      aesKey.fill(0);
      aesIv.fill(0);
    }
    if (this.#destroyed) {
      decrypted.fill(0);
      return null;
    }
    // Hash prefix ‖ body in one call: the 16 zero bytes in front of the body make room for half the prefix,
    // so copy into a fresh buffer of exactly prefix ‖ body.
    const hashed = new Uint8Array(32 + decrypted.length - MSG_KEY_LENGTH);
    hashed.set(this.#msgKeyPrefix, 0);
    hashed.set(decrypted.subarray(MSG_KEY_LENGTH), 32);
    const msgKeyLarge = await async.sha256(hashed);
    hashed.fill(0);
    if (this.#destroyed) {
      decrypted.fill(0);
      return null;
    }
    return this.#verify(packet, decrypted.subarray(MSG_KEY_LENGTH), msgKeyLarge.subarray(8, 24));
  }

  /** The body when `computed` equals the packet's msg_key (constant time); otherwise wipes it and returns null. */
  #verify(packet: Uint8Array, body: Uint8Array, computed: Uint8Array): Uint8Array | null {
    if (!constantTimeEqual(computed, packet.subarray(0, MSG_KEY_LENGTH))) {
      body.fill(0);
      return null;
    }
    return body;
  }

  /** Overwrites the key slices this cipher holds; afterwards encrypting throws and decrypting returns null. */
  destroy(): void {
    this.#destroyed = true;
    this.#msgKeyPrefix.fill(0);
    this.#aInput.fill(0);
    this.#bInput.fill(0);
  }
}

/** msg_key (16 bytes): bytes 8..24 of SHA256(key[88+x .. 88+x+32] ‖ body). */
export function computeMsgKey(key: Uint8Array, x: ChannelOffset, body: Uint8Array, backend?: CryptoBackend): Uint8Array {
  const cipher = new PacketCipher(key, x, backend);
  try {
    return cipher.msgKey(body);
  } finally {
    cipher.destroy();
  }
}

/** The call (AES-CTR) variant of the MTProto 2.0 KDF: a 32-byte aes_key and a 16-byte aes_iv. */
export function deriveAesKeyIv(key: Uint8Array, msgKey: Uint8Array, x: ChannelOffset, backend?: CryptoBackend): AesKeyIv {
  assertBytes(msgKey, 'msgKey', MSG_KEY_LENGTH);
  const cipher = new PacketCipher(key, x, backend);
  try {
    return cipher.aesKeyIv(msgKey);
  } finally {
    cipher.destroy();
  }
}

/** `msg_key ‖ AES-256-CTR(body)` under key and x. */
export function encryptPacket(key: Uint8Array, x: ChannelOffset, body: Uint8Array, backend?: CryptoBackend): Uint8Array {
  assertBytes(body, 'body');
  const cipher = new PacketCipher(key, x, backend);
  try {
    return cipher.encrypt(body);
  } finally {
    cipher.destroy();
  }
}

/** The decrypted body, or `null` for a packet too short or failing the msg_key check. Never throws on packet bytes. */
export function decryptPacket(key: Uint8Array, x: ChannelOffset, packet: Uint8Array, backend?: CryptoBackend): Uint8Array | null {
  const cipher = new PacketCipher(key, x, backend);
  try {
    return cipher.decrypt(packet);
  } finally {
    cipher.destroy();
  }
}
