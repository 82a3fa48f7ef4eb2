import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { bytesToHex, hexToBytes } from '@mtcall/crypto';
import { FrameCryptor, type MediaKind } from './frame-cryptor.js';
import { h264ClearLength } from './codecs.js';

const key = new Uint8Array(randomBytes(256));
const pair = () => ({ caller: new FrameCryptor(key, true), callee: new FrameCryptor(key, false) });
const hasStartCode = (d: Uint8Array, from = 0) => {
  for (let i = from; i + 2 < d.length; i++) if (d[i] === 0 && d[i + 1] === 0 && d[i + 2]! <= 2) return true;
  return false;
};
const h264Frame = (payload: Uint8Array) => new Uint8Array([0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, ...payload]);

describe.each([
  ['audio', 'opus'],
  ['video', 'VP8'],
  ['video', 'VP9'],
  ['video', 'AV1'],
  ['video', 'H264'],
] as [MediaKind, string][])('%s %s', (kind, codec) => {
  const frameOf = (n: number) => {
    const body = new Uint8Array(randomBytes(n));
    if (codec === 'H264') return h264Frame(body);
    if (codec === 'VP8' && n > 0) body[0] = body[0]! & 0xfe; // a key frame
    return body;
  };

  it('round-trips in both directions, and the payload is not in the clear', () => {
    const { caller, callee } = pair();
    for (const n of [1, 3, 10, 11, 160, 1200, 20000]) {
      const frame = frameOf(n);
      const wire = caller.encrypt(frame, kind, codec);
      const opened = callee.decrypt(wire, kind);
      expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
      const back = callee.encrypt(frame, kind, codec);
      const reopened = caller.decrypt(back, kind);
      expect(reopened.ok && bytesToHex(reopened.frame)).toBe(bytesToHex(frame));
      if (n >= 160) expect(Buffer.from(wire).includes(Buffer.from(frame.subarray(frame.length - 32)))).toBe(false);
    }
    expect(callee.stats.opened.frames).toBe(7);
    expect(callee.stats.dropped).toEqual({ auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0 });
  });

  it('drops replays, tampering (clear bytes included), truncation and the other direction', () => {
    const { caller, callee } = pair();
    const frame = frameOf(500);
    const wire = caller.encrypt(frame, kind, codec);
    expect(caller.decrypt(wire, kind)).toEqual({ ok: false, reason: 'auth' }); // own direction never opens
    const flips = [0, 1, 5, Math.floor(wire.length / 2), wire.length - 2];
    for (const i of flips) {
      const t = wire.slice();
      t[i]! ^= 0x40;
      expect(callee.decrypt(t, kind).ok, `flip at ${i} of ${wire.length}`).toBe(false);
    }
    expect(callee.decrypt(wire.subarray(0, wire.length - 5), kind).ok).toBe(false);
    expect(callee.decrypt(wire, kind).ok).toBe(true);
    expect(callee.decrypt(wire, kind)).toEqual({ ok: false, reason: 'replay' });
    expect(callee.stats.opened.frames).toBe(1);
  });
});

it('H.264 wire frames keep their NAL structure and contain no start code after the slice header', () => {
  const { caller, callee } = pair();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((a) => a.map((b) => (b < 200 ? 0 : b))), (payload) => {
      const frame = h264Frame(payload);
      const wire = caller.encrypt(frame, 'video', 'H264');
      const clear = h264ClearLength(frame);
      expect(h264ClearLength(wire)).toBe(clear);
      expect(bytesToHex(wire.subarray(0, clear))).toBe(bytesToHex(frame.subarray(0, clear)));
      expect(hasStartCode(wire, clear - 1)).toBe(false);
      expect(wire[wire.length - 1]).toBe(0xe2);
      const opened = callee.decrypt(wire, 'video');
      expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
    }),
    { numRuns: 200, seed: 12 },
  );
});

it('a VP8 wire frame keeps the payload header the depacketizer reads', () => {
  const { caller } = pair();
  const key10 = hexToBytes('b0c6009d012a80023801') ; // key frame: tag + start code 9d 01 2a + 640x480
  const frame = new Uint8Array([...key10, ...randomBytes(300)]);
  const wire = caller.encrypt(frame, 'video', 'VP8');
  expect(bytesToHex(wire.subarray(0, 10))).toBe(bytesToHex(key10));
  const delta = new Uint8Array([0x31, 0x22, 0x00, ...randomBytes(200)]);
  expect(bytesToHex(caller.encrypt(delta, 'video', 'VP8').subarray(0, 3))).toBe('312200');
});

it('audio and video share one seq counter but not a replay window; a frame fed to the other stream is dropped', () => {
  const { caller, callee } = pair();
  const audio = caller.encrypt(new Uint8Array([1, 2, 3]), 'audio', 'opus');
  const video = caller.encrypt(new Uint8Array(randomBytes(100)), 'video', 'VP9');
  expect(callee.decrypt(audio, 'video')).toEqual({ ok: false, reason: 'wrong-stream' });
  // 100 audio frames later, the first video frame still opens (its own window).
  const later = Array.from({ length: 100 }, () => caller.encrypt(new Uint8Array([9]), 'audio', 'opus'));
  for (const f of later) expect(callee.decrypt(f, 'audio').ok).toBe(true);
  expect(callee.decrypt(video, 'video').ok).toBe(true);
  expect(callee.decrypt(audio, 'audio').ok).toBe(false); // 100 seqs behind the audio window now
});

it('empty frames (DTX) pass through untouched; garbage never throws', () => {
  const { caller, callee } = pair();
  const empty = new Uint8Array(0);
  expect(caller.encrypt(empty, 'audio', 'opus')).toBe(empty);
  expect(callee.decrypt(empty, 'audio')).toEqual({ ok: true, frame: empty });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.constantFrom<MediaKind>('audio', 'video'), (bytes, kind) => {
      expect(callee.decrypt(bytes, kind).ok).toBe(false);
    }),
    { numRuns: 5000, seed: 3 },
  );
  const s = callee.stats;
  expect(s.opened.frames).toBe(0);
  expect(Object.values(s.dropped).reduce((a, b) => a + b, 0)).toBe(5000);
});

it('a wrong key decrypts nothing and counts auth drops', () => {
  const caller = new FrameCryptor(key, true);
  const stranger = new FrameCryptor(new Uint8Array(randomBytes(256)), false);
  for (let i = 0; i < 10; i++) expect(stranger.decrypt(caller.encrypt(new Uint8Array(randomBytes(50)), 'audio', 'opus'), 'audio').ok).toBe(false);
  expect(stranger.stats.dropped.auth).toBe(10);
});
