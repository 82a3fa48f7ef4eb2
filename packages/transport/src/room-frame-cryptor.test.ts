import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { bytesToHex, createWebCryptoBackend } from '@mtcall/crypto';
import { FrameCryptor } from './frame-cryptor.js';
import { RoomFrameCryptor, type RoomStreamRef } from './room-frame-cryptor.js';

const MIC: RoomStreamRef = { kind: 'audio', source: 'audio' };
const CAM: RoomStreamRef = { kind: 'video', source: 'video' };
const SCREEN: RoomStreamRef = { kind: 'video', source: 'screen' };
const secret = (n: number) => new Uint8Array(32).fill(n);
const vp8Key = (n: number) => {
  const f = new Uint8Array(randomBytes(n));
  f[0] = f[0]! & 0xfe;
  return f;
};
const contains = (haystack: Uint8Array, needle: Uint8Array) => bytesToHex(haystack).includes(bytesToHex(needle));

/** Members 1..n of room 'r', all at `epoch`. */
function room(n: number, epoch = 1): RoomFrameCryptor[] {
  return Array.from({ length: n }, (_, i) => {
    const c = new RoomFrameCryptor('r', i + 1, { asyncBackend: null });
    c.install(epoch, secret(epoch));
    c.switchTo(epoch);
    return c;
  });
}

describe('RoomFrameCryptor', () => {
  it('every member opens every other member\'s audio and video; the payload is not in the clear', () => {
    const members = room(3);
    for (const sender of members) {
      for (const [stream, codec, frame] of [[MIC, 'opus', new Uint8Array(randomBytes(120))], [CAM, 'VP8', vp8Key(3000)]] as const) {
        const wire = sender.encrypt(frame, stream, codec);
        expect(contains(wire, frame.subarray(10, 40))).toBe(false);
        for (const receiver of members) {
          if (receiver === sender) continue;
          const opened = receiver.decrypt(wire, stream, sender.self);
          expect(opened).toMatchObject({ ok: true, epoch: 1 });
          expect(bytesToHex((opened as { frame: Uint8Array }).frame)).toBe(bytesToHex(frame));
        }
      }
    }
    expect(members[0]!.stats.openedBySender).toEqual({ 2: 2, 3: 2 });
  });

  it('a frame relabelled as another sender or epoch does not open; a frame claimed for another sender is refused', () => {
    const [a, b, c] = room(3);
    c!.install(2, secret(2));
    const wire = a!.encrypt(new Uint8Array(randomBytes(100)), MIC, 'opus');
    // The SFU says this stream is b's: refused before opening.
    expect(c!.decrypt(wire, MIC, b!.self)).toEqual({ ok: false, reason: 'wrong-sender' });
    // Rewrite the clear sender field to b (and the stream owner accordingly): the key is b's, msg_key fails.
    const asB = wire.slice();
    new DataView(asB.buffer).setUint32(asB.length - 5, b!.self, false);
    expect(c!.decrypt(asB, MIC, b!.self)).toEqual({ ok: false, reason: 'auth' });
    // Relabel the epoch to 2 (installed at c): the epoch-2 key of a fails msg_key too.
    const as2 = wire.slice();
    new DataView(as2.buffer).setUint32(as2.length - 9, 2, false);
    expect(c!.decrypt(as2, MIC, a!.self)).toEqual({ ok: false, reason: 'auth' });
    // Another of a's streams, replays, a 1:1 call frame: refused by name.
    expect(c!.decrypt(wire, SCREEN, a!.self)).toEqual({ ok: false, reason: 'wrong-stream' });
    expect(c!.decrypt(wire, MIC, a!.self).ok).toBe(true);
    expect(c!.decrypt(wire, MIC, a!.self)).toEqual({ ok: false, reason: 'replay' });
    const call = new FrameCryptor(new Uint8Array(256), 'caller').encrypt(new Uint8Array(50), { kind: 'audio', mid: '0' }, 'opus');
    expect(c!.decrypt(call, MIC, a!.self)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('epochs: a rekey changes the key; the previous epoch opens until retired; a leaver opens nothing after the switch; a joiner nothing from before', () => {
    const [a, b, leaver] = room(3);
    const before = a!.encrypt(new Uint8Array(randomBytes(80)), MIC, 'opus');
    // Epoch 2 without the leaver.
    const joiner = new RoomFrameCryptor('r', 4, { asyncBackend: null });
    for (const m of [a!, b!, joiner]) m.install(2, secret(2));
    // b switched already, a has not: b opens a's epoch-1 frame (in flight) and a's epoch-2 frames alike.
    b!.switchTo(2);
    expect(b!.decrypt(before, MIC, a!.self)).toMatchObject({ ok: true, epoch: 1 });
    a!.switchTo(2);
    joiner.switchTo(2);
    const after = a!.encrypt(new Uint8Array(randomBytes(80)), MIC, 'opus');
    expect(b!.decrypt(after, MIC, a!.self)).toMatchObject({ ok: true, epoch: 2 });
    expect(joiner.decrypt(after, MIC, a!.self)).toMatchObject({ ok: true, epoch: 2 });
    // The leaver holds epoch 1 only: nothing sent after the switch opens for it.
    expect(leaver!.decrypt(after, MIC, a!.self)).toEqual({ ok: false, reason: 'unknown-epoch' });
    // Even handed the epoch-1 secret again under epoch number 2 it could not: the key is derived with the epoch.
    leaver!.install(2, secret(1));
    expect(leaver!.decrypt(after, MIC, a!.self)).toEqual({ ok: false, reason: 'auth' });
    // The joiner never held epoch 1.
    expect(joiner.decrypt(before, MIC, a!.self)).toEqual({ ok: false, reason: 'unknown-epoch' });
    // Retired: epoch 1 no longer opens.
    b!.retire(2);
    expect(b!.stats.epochs).toEqual([2]);
    expect(b!.decrypt(before, MIC, a!.self)).toEqual({ ok: false, reason: 'unknown-epoch' });
    // Never sealing with an old epoch: switching back is ignored.
    a!.switchTo(1);
    expect(a!.sendingEpoch).toBe(2);
  });

  it('Web Crypto and @noble give the same wire bytes and open each other', async () => {
    const sync = room(2);
    const asyncOnes = [0, 1].map((i) => {
      const c = new RoomFrameCryptor('r', i + 1, { asyncBackend: createWebCryptoBackend()!, asyncThreshold: 0 });
      c.install(1, secret(1));
      c.switchTo(1);
      return c;
    });
    const frame = vp8Key(5000);
    const a = sync[0]!.encrypt(frame, CAM, 'VP8');
    const b = await asyncOnes[0]!.encryptAsync(frame, CAM, 'VP8');
    expect(bytesToHex(a)).toBe(bytesToHex(b));
    expect(await asyncOnes[1]!.decryptAsync(a, CAM, 1)).toMatchObject({ ok: true });
  });

  it('garbage never throws', () => {
    const [a] = room(1);
    for (let i = 0; i < 2000; i++) {
      const junk = new Uint8Array(randomBytes(i % 64));
      if (junk.length > 0 && i % 3 === 0) junk[junk.length - 1] = 0xd0 | (i % 3);
      expect(() => a!.decrypt(junk, i % 2 ? CAM : MIC, 2)).not.toThrow();
    }
  });
});
