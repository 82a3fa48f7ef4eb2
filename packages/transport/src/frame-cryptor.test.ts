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

  it('drops replays, tampering, truncation and the other direction; never outputs altered bytes', () => {
    const { caller, callee } = pair();
    const frame = frameOf(500);
    const wire = caller.encrypt(frame, kind, codec);
    expect(caller.decrypt(wire, kind)).toEqual({ ok: false, reason: 'auth' }); // own direction never opens
    for (const at of [0, 1, 5, 0.5, -2]) {
      const fresh = frameOf(500);
      const genuine = caller.encrypt(fresh, kind, codec);
      const i = at < 0 ? genuine.length + at : at < 1 ? Math.floor(genuine.length * at) : at;
      const t = genuine.slice();
      t[i]! ^= 0x40;
      const result = callee.decrypt(t, kind);
      // Either dropped, or (H.264's clear bytes only locate the ciphertext) the sealed original, never the altered bytes.
      if (result.ok) {
        expect(codec).toBe('H264');
        expect(i).toBeLessThan(h264ClearLength(fresh));
        expect(bytesToHex(result.frame)).toBe(bytesToHex(fresh));
      } else {
        expect(callee.decrypt(genuine, kind).ok, `genuine frame after a flip at ${i}`).toBe(true); // the forgery burned nothing
      }
    }
    expect(callee.decrypt(wire.subarray(0, wire.length - 5), kind).ok).toBe(false);
    expect(callee.decrypt(wire, kind).ok).toBe(true);
    expect(callee.decrypt(wire, kind)).toEqual({ ok: false, reason: 'replay' });
  });
});

it('H.264 wire frames keep their NAL structure and contain no start code after the slice header', () => {
  const { caller, callee } = pair();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 2000 }).map((a) => a.map((b) => (b < 200 ? 0 : b))), (payload) => {
      const frame = h264Frame(payload);
      const wire = caller.encrypt(frame, 'video', 'H264');
      const clear = h264ClearLength(frame);
      expect(h264ClearLength(wire)).toBe(clear);
      expect(bytesToHex(wire.subarray(0, clear))).toBe(bytesToHex(frame.subarray(0, clear)));
      expect(hasStartCode(wire, clear - 3)).toBe(false); // from the slice NAL header on
      expect(wire[wire.length - 1]).toBe(0xe2);
      const opened = callee.decrypt(wire, 'video');
      expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
    }),
    { numRuns: 200, seed: 12 },
  );
});

it('H.264: a depacketizer that rewrites the clear part (3→4-byte start code) does not break opening', () => {
  const { caller, callee } = pair();
  const frame = new Uint8Array([0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0x84, ...randomBytes(400)]);
  const wire = caller.encrypt(frame, 'video', 'H264');
  const rewritten = new Uint8Array([0, ...wire.subarray(0, 7), 0, ...wire.subarray(7, 12), 0, ...wire.subarray(12)]);
  const opened = callee.decrypt(rewritten, 'video');
  expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame)); // the sealed original, not the rewrite
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

describe('the asynchronous (Web Crypto) path for large frames', () => {
  it('produces the same wire bytes as the synchronous path and interoperates with it, for every codec format', async () => {
    for (const [kind, codec] of [['audio', 'opus'], ['video', 'VP8'], ['video', 'VP9'], ['video', 'H264']] as [MediaKind, string][]) {
      const sync = pair();
      const async = pair();
      for (const n of [0, 100, 511, 512, 1200, 5000, 70000]) {
        let frame = new Uint8Array(randomBytes(n));
        if (codec === 'H264' && n > 0) frame = h264Frame(frame);
        if (codec === 'VP8' && n > 0) frame[0] = frame[0]! & 0xfe;
        const a = sync.caller.encrypt(frame, kind, codec);
        const b = await async.caller.encryptAsync(frame, kind, codec);
        expect(bytesToHex(b), `${codec} ${n}`).toBe(bytesToHex(a));
        const viaAsync = await sync.callee.decryptAsync(a, kind);
        expect(viaAsync.ok && bytesToHex(viaAsync.frame)).toBe(bytesToHex(frame));
        const viaSync = async.callee.decrypt(b, kind);
        expect(viaSync.ok && bytesToHex(viaSync.frame)).toBe(bytesToHex(frame));
        if (n > 0) expect(await sync.callee.decryptAsync(a, kind)).toEqual({ ok: false, reason: 'replay' });
      }
    }
  });

  it('drops forged large frames as the synchronous path does, without burning the genuine seq', async () => {
    const { caller, callee } = pair();
    const frame = new Uint8Array(randomBytes(3000));
    frame[0] = frame[0]! & 0xfe;
    const wire = caller.encrypt(frame, 'video', 'VP8');
    const clearForged = wire.slice();
    clearForged[2]! ^= 1; // a clear VP8 header byte
    expect(await callee.decryptAsync(clearForged, 'video')).toEqual({ ok: false, reason: 'clear-mismatch' });
    const cipherForged = wire.slice();
    cipherForged[1500]! ^= 1;
    expect(await callee.decryptAsync(cipherForged, 'video')).toEqual({ ok: false, reason: 'auth' });
    expect((await callee.decryptAsync(wire, 'audio')).ok).toBe(false);
    expect((await callee.decryptAsync(wire, 'video')).ok).toBe(true);
  });
});
