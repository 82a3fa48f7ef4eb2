/**
 * The cryptography of rooms (group calls, issue 13), on the project's primitives — see docs/GROUP-CALLS.md:
 *
 * - a group secret of 32 random bytes per epoch, chosen by the room's distributor and sent to each member over
 *   their pairwise channel (the three-message DH of the calls spec, sealed at x = 128/136);
 * - each sender's 256-byte media key: HKDF-SHA256(secret, salt "mtcall room v1", info "sender key" ‖ epoch ‖
 *   sender ‖ room id), used as the call key of the calls spec (x = 0) — so a frame opens only under the
 *   (epoch, sender) it was sealed for: relabelling it as another sender or epoch fails msg_key;
 * - the transcript of an epoch: the room, the epoch, the distributor and every member (number, user, device, and the
 *   hash of its pairwise key with the distributor);
 * - the room code: four emoji of SHA256("mtcall room code v1" ‖ SHA256(transcript) ‖ each member's nonce), where
 *   every member commits to its fresh nonce (SHA256 of it) before anyone reveals one.
 *
 * Independent vectors: test-vectors/room.py (Python hmac/hashlib) → test-vectors/room-vectors.json.
 */

import { assertBytes, concatBytes } from './bytes.js';
import { EMOJI_TABLE } from './emoji-table.js';
import { sha256 } from './hash.js';
import { KEY_LENGTH } from './packet.js';

/** Bytes of a group secret. */
export const GROUP_SECRET_LENGTH = 32;
/** Bytes of a room code nonce. */
export const ROOM_NONCE_LENGTH = 32;

const encoder = new TextEncoder();
const utf8 = (text: string) => encoder.encode(text);
const SALT = utf8('mtcall room v1');
const BLOCK = 64;

/** HMAC-SHA256 (RFC 2104) of the concatenation of `data`. */
export function hmacSha256(key: Uint8Array, ...data: readonly Uint8Array[]): Uint8Array {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? sha256(key) : key);
  const inner = new Uint8Array(BLOCK);
  const outer = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = k[i]! ^ 0x36;
    outer[i] = k[i]! ^ 0x5c;
  }
  const mac = sha256(outer, sha256(inner, ...data));
  k.fill(0);
  inner.fill(0);
  outer.fill(0);
  return mac;
}

/** HKDF-SHA256 (RFC 5869): `length` bytes (at most 8160) from `ikm`. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) throw new RangeError('hkdfSha256: length must be 1..8160');
  const prk = hmacSha256(salt.length > 0 ? salt : new Uint8Array(32), ikm);
  const out = new Uint8Array(length);
  let block: Uint8Array = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    const next = hmacSha256(prk, block, info, Uint8Array.of(i));
    block.fill(0);
    block = next;
    out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    offset += 32;
  }
  block.fill(0);
  prk.fill(0);
  return out;
}

function u32(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`expected a 32-bit unsigned integer, got ${value}`);
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** A length-prefixed UTF-8 string (1 length byte; ids are at most 64 ASCII characters). */
function lp(text: string): Uint8Array {
  const bytes = utf8(text);
  if (bytes.length > 255) throw new RangeError('a room id, user id or device id is at most 255 bytes');
  return concatBytes(Uint8Array.of(bytes.length), bytes);
}

/**
 * A sender's 256-byte media key for one epoch: HKDF-SHA256(ikm = group secret, salt = "mtcall room v1",
 * info = "sender key" ‖ u32 epoch ‖ u32 sender ‖ u8 len ‖ room id). Used like a call key, sealing at x = 0.
 */
export function roomSenderKey(secret: Uint8Array, roomId: string, epoch: number, sender: number): Uint8Array {
  assertBytes(secret, 'secret', GROUP_SECRET_LENGTH);
  return hkdfSha256(secret, SALT, concatBytes(utf8('sender key'), u32(epoch), u32(sender), lp(roomId)), KEY_LENGTH);
}

/**
 * What a member's entry in the transcript says about its pairwise key with the distributor:
 * SHA256("mtcall room pair v1" ‖ key ‖ g_a), g_a being the distributor's (the caller's) public value.
 */
export function roomPairHash(pairKey: Uint8Array, gA: Uint8Array): Uint8Array {
  assertBytes(pairKey, 'pairKey', KEY_LENGTH);
  assertBytes(gA, 'gA', KEY_LENGTH);
  return sha256(utf8('mtcall room pair v1'), pairKey, gA);
}

/** One member of an epoch's transcript. The distributor's own `pairHash` is 32 zero bytes (it has no pair with itself). */
export interface RoomTranscriptMember {
  memberId: number;
  userId: string;
  deviceId: string;
  pairHash: Uint8Array;
}

/** Who holds an epoch's group secret, as the distributor sends it with the secret. */
export interface RoomTranscript {
  roomId: string;
  epoch: number;
  distributor: number;
  members: readonly RoomTranscriptMember[];
}

/**
 * The transcript's bytes: "mtcall room transcript v1" ‖ lp(room) ‖ u32 epoch ‖ u32 distributor ‖ u8 count ‖ per
 * member in ascending member number: u32 member ‖ lp(user) ‖ lp(device) ‖ pairHash (32). Throws on duplicates.
 */
export function encodeRoomTranscript(t: RoomTranscript): Uint8Array {
  const members = [...t.members].sort((a, b) => a.memberId - b.memberId);
  if (members.length < 1 || members.length > 255) throw new RangeError('a transcript lists 1..255 members');
  for (let i = 1; i < members.length; i++) if (members[i]!.memberId === members[i - 1]!.memberId) throw new RangeError('duplicate member in a transcript');
  const parts: Uint8Array[] = [utf8('mtcall room transcript v1'), lp(t.roomId), u32(t.epoch), u32(t.distributor), Uint8Array.of(members.length)];
  for (const m of members) {
    assertBytes(m.pairHash, 'pairHash', 32);
    parts.push(u32(m.memberId), lp(m.userId), lp(m.deviceId), m.pairHash);
  }
  return concatBytes(...parts);
}

/** The commitment a member publishes before any nonce is revealed: SHA256("mtcall room commit v1" ‖ lp(room) ‖ u32 epoch ‖ u32 member ‖ nonce). */
export function roomCodeCommitment(roomId: string, epoch: number, memberId: number, nonce: Uint8Array): Uint8Array {
  assertBytes(nonce, 'nonce', ROOM_NONCE_LENGTH);
  return sha256(utf8('mtcall room commit v1'), lp(roomId), u32(epoch), u32(memberId), nonce);
}

/**
 * The room code's hash: SHA256("mtcall room code v1" ‖ SHA256(transcript) ‖ the members' nonces in ascending member
 * number). `nonces` maps each member of the transcript to its revealed nonce; every member must have one.
 */
export function roomCodeHash(transcript: RoomTranscript, nonces: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const ordered = [...transcript.members].map((m) => m.memberId).sort((a, b) => a - b);
  const parts: Uint8Array[] = [utf8('mtcall room code v1'), sha256(encodeRoomTranscript(transcript))];
  for (const id of ordered) {
    const nonce = nonces.get(id);
    if (!nonce) throw new RangeError(`no nonce for member ${id}`);
    assertBytes(nonce, 'nonce', ROOM_NONCE_LENGTH);
    parts.push(nonce);
  }
  return sha256(...parts);
}

/** Four indices into EMOJI_TABLE from a 32-byte hash, by the calls' rule (big-endian uint64, top bit cleared, mod 333). */
export function emojiIndicesOfHash(hash: Uint8Array): number[] {
  assertBytes(hash, 'hash', 32);
  const view = new DataView(hash.buffer, hash.byteOffset, 32);
  const count = BigInt(EMOJI_TABLE.length);
  return [0, 1, 2, 3].map((i) => Number((view.getBigUint64(8 * i, false) & 0x7fffffffffffffffn) % count));
}

/** The room code: four emoji of `roomCodeHash`. */
export function roomCode(transcript: RoomTranscript, nonces: ReadonlyMap<number, Uint8Array>): { emoji: string[]; indices: number[] } {
  const indices = emojiIndicesOfHash(roomCodeHash(transcript, nonces));
  return { indices, emoji: indices.map((i) => EMOJI_TABLE[i]!) };
}
