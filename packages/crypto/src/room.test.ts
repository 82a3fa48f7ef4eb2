import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { bytesToHex, hexToBytes } from './bytes.js';
import { PacketOpener, PacketSealer } from './sealer.js';
import {
  emojiIndicesOfHash, encodeRoomTranscript, hkdfSha256, hmacSha256, roomCode, roomCodeCommitment, roomCodeHash, roomPairHash, roomSenderKey,
  type RoomTranscript,
} from './room.js';

// Independent vectors: test-vectors/room.py (Python hmac + hashlib, HKDF by hand from RFC 5869).
const v = JSON.parse(readFileSync(new URL('../test-vectors/room-vectors.json', import.meta.url), 'utf8'));
const hex = hexToBytes;

describe('room cryptography against the independent vectors (Python)', () => {
  it('HMAC-SHA256 (RFC 4231) and HKDF-SHA256 (RFC 5869 test case 1; empty salt and info)', () => {
    for (const t of v.hmac) expect(bytesToHex(hmacSha256(hex(t.key), hex(t.data)))).toBe(t.mac);
    expect(v.hkdf[0].okm).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    for (const t of v.hkdf) expect(bytesToHex(hkdfSha256(hex(t.ikm), hex(t.salt), hex(t.info), t.length))).toBe(t.okm);
  });

  it('sender keys: one 256-byte key per (room, epoch, sender)', () => {
    for (const t of v.senderKeys) expect(bytesToHex(roomSenderKey(hex(t.secret), t.roomId, t.epoch, t.sender))).toBe(t.key);
    const keys = new Set(v.senderKeys.map((t: { key: string }) => t.key));
    expect(keys.size).toBe(v.senderKeys.length);
  });

  it('pair hash, transcript, commitments and the room code', () => {
    expect(bytesToHex(roomPairHash(hex(v.pair.key), hex(v.pair.gA)))).toBe(v.pair.pairHash);
    const r = v.room;
    const transcript: RoomTranscript = {
      roomId: r.roomId, epoch: r.epoch, distributor: r.distributor,
      members: r.members.map((m: { memberId: number; userId: string; deviceId: string; pairHash: string }) => ({ ...m, pairHash: hex(m.pairHash) })),
    };
    expect(bytesToHex(encodeRoomTranscript(transcript))).toBe(r.transcript);
    const nonces = new Map<number, Uint8Array>(Object.entries(r.nonces as Record<string, string>).map(([k, n]) => [Number(k), hex(n)]));
    for (const [id, nonce] of nonces) expect(bytesToHex(roomCodeCommitment(r.roomId, r.epoch, id, nonce))).toBe(r.commitments[String(id)]);
    expect(bytesToHex(roomCodeHash(transcript, nonces))).toBe(r.codeHash);
    expect(roomCode(transcript, nonces).indices).toEqual(r.codeIndices);
    expect(emojiIndicesOfHash(hex(r.codeHash))).toEqual(r.codeIndices);
  });
});

describe('room cryptography: properties', () => {
  const secret = new Uint8Array(32).fill(9);
  it('a frame sealed under one (epoch, sender) key does not open under another', () => {
    const sealer = new PacketSealer(roomSenderKey(secret, 'r', 1, 1), { outgoing: true, channel: 'transport' });
    const packet = sealer.sealMessage(new Uint8Array([1, 2, 3]));
    const own = new PacketOpener(roomSenderKey(secret, 'r', 1, 1), { outgoing: false, channel: 'transport' });
    expect(own.open(packet).ok).toBe(true);
    for (const [epoch, sender] of [[1, 2], [2, 1]] as const) {
      const other = new PacketOpener(roomSenderKey(secret, 'r', epoch, sender), { outgoing: false, channel: 'transport' });
      expect(other.open(packet)).toMatchObject({ ok: false, reason: 'auth' });
    }
  });

  it('the transcript refuses duplicates and sorts by member; the code needs every nonce', () => {
    const m = (memberId: number) => ({ memberId, userId: 'u', deviceId: 'd', pairHash: new Uint8Array(32) });
    const t: RoomTranscript = { roomId: 'r', epoch: 1, distributor: 1, members: [m(2), m(1)] };
    expect(encodeRoomTranscript(t)).toEqual(encodeRoomTranscript({ ...t, members: [m(1), m(2)] }));
    expect(() => encodeRoomTranscript({ ...t, members: [m(1), m(1)] })).toThrow(RangeError);
    expect(() => roomCodeHash(t, new Map([[1, new Uint8Array(32)]]))).toThrow(/member 2/);
    // Changing anything — a member's pair hash, the epoch, a nonce — changes the code's hash.
    const nonces = new Map([[1, new Uint8Array(32)], [2, new Uint8Array(32).fill(1)]]);
    const base = bytesToHex(roomCodeHash(t, nonces));
    expect(bytesToHex(roomCodeHash({ ...t, epoch: 2 }, nonces))).not.toBe(base);
    expect(bytesToHex(roomCodeHash({ ...t, members: [m(1), { ...m(2), pairHash: new Uint8Array(32).fill(1) }] }, nonces))).not.toBe(base);
    expect(bytesToHex(roomCodeHash(t, new Map([...nonces, [2, new Uint8Array(32).fill(2)]])))).not.toBe(base);
  });
});
