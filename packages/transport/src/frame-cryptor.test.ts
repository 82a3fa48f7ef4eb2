import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { DestroyedError, bytesToHex, createWebCryptoBackend, hexToBytes, type AsyncCryptoBackend } from '@mtcall/crypto';
import { FrameCryptor, type MediaKind, type MediaStreamRef } from './frame-cryptor.js';
import { h264ClearLength, h264NalUnits } from './codecs/h264.js';

const key = new Uint8Array(randomBytes(256));
/** A call's streams: microphone, camera, screen share (mids as Chromium numbers its transceivers). */
const MIC: MediaStreamRef = { kind: 'audio', mid: '0' };
const CAMERA: MediaStreamRef = { kind: 'video', mid: '1' };
const SCREEN: MediaStreamRef = { kind: 'video', mid: '2' };
const streamOf = (kind: MediaKind) => (kind === 'audio' ? MIC : CAMERA);
const pair = () => ({ caller: new FrameCryptor(key, 'caller'), callee: new FrameCryptor(key, 'callee') });
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

  const stream = streamOf(kind);
  it('round-trips in both directions, and the payload is not in the clear', () => {
    const { caller, callee } = pair();
    for (const n of [1, 3, 10, 11, 160, 1200, 20000]) {
      const frame = frameOf(n);
      const wire = caller.encrypt(frame, stream, codec);
      const opened = callee.decrypt(wire, stream);
      expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
      const back = callee.encrypt(frame, stream, codec);
      const reopened = caller.decrypt(back, stream);
      expect(reopened.ok && bytesToHex(reopened.frame)).toBe(bytesToHex(frame));
      if (n >= 160) expect(Buffer.from(wire).includes(Buffer.from(frame.subarray(frame.length - 32)))).toBe(false);
    }
    expect(callee.stats.opened.frames).toBe(7);
    expect(callee.stats.dropped).toEqual({ auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0 });
  });

  it('drops replays, tampering, truncation and the other direction; never outputs altered bytes', () => {
    const { caller, callee } = pair();
    const frame = frameOf(500);
    const wire = caller.encrypt(frame, stream, codec);
    expect(caller.decrypt(wire, stream)).toEqual({ ok: false, reason: 'auth' }); // own direction never opens
    for (const at of [0, 1, 5, 0.5, -2]) {
      const fresh = frameOf(500);
      const genuine = caller.encrypt(fresh, stream, codec);
      const i = at < 0 ? genuine.length + at : at < 1 ? Math.floor(genuine.length * at) : at;
      const t = genuine.slice();
      t[i]! ^= 0x40;
      // Dropped, clear bytes included (every codec's clear bytes are authenticated), and the forgery burned nothing.
      expect(callee.decrypt(t, stream).ok, `a flip at ${i}`).toBe(false);
      expect(callee.decrypt(genuine, stream).ok, `genuine frame after a flip at ${i}`).toBe(true);
    }
    expect(callee.decrypt(wire.subarray(0, wire.length - 5), stream).ok).toBe(false);
    expect(callee.decrypt(wire, stream).ok).toBe(true);
    expect(callee.decrypt(wire, stream)).toEqual({ ok: false, reason: 'replay' });
  });
});

it('H.264 wire frames keep the NAL units the packetizer needs and contain no start code after the slice header', () => {
  const { caller, callee } = pair();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 2000 }).map((a) => a.map((b) => (b < 200 ? 0 : b))), (payload) => {
      const frame = h264Frame(payload);
      const wire = caller.encrypt(frame, CAMERA, 'H264');
      const clear = h264ClearLength(wire);
      // The same NAL units as the frame's up to its slice header (all SPS/PPS here), each behind a 4-byte start code.
      const units = (b: Uint8Array) => h264NalUnits(b)!.map((u) => bytesToHex(u));
      expect(units(wire.subarray(0, clear))).toEqual(units(frame.subarray(0, h264ClearLength(frame))));
      expect(clear).toBe(h264ClearLength(frame) + 1); // the PPS → slice start code 00 00 01 became 00 00 00 01
      expect(hasStartCode(wire, clear - 3)).toBe(false); // from the slice NAL header on
      expect(wire[wire.length - 1]).toBe(0xe2);
      const opened = callee.decrypt(wire, CAMERA);
      expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
    }),
    { numRuns: 200, seed: 12 },
  );
});

describe('H.264 clear bytes: only SPS, PPS, AUD and the slice header start, all authenticated', () => {
  const SPS = [0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8];
  const PPS = [0x68, 0xce, 0x3c, 0x80];
  const AUD = [0x09, 0xf0];
  const SEI = [0x06, 0x05, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x80]; // user data: must not stay clear
  const IDR = [0x65, 0x88, 0x84];
  // As an encoder may emit it: 3-byte start codes, an SEI between the parameter sets and the slice.
  const frame = new Uint8Array([0, 0, 1, ...AUD, 0, 0, 1, ...SPS, 0, 0, 1, ...PPS, 0, 0, 1, ...SEI, 0, 0, 1, ...IDR, ...randomBytes(600).map((b) => b | 4)]);
  const nalsOf = (bytes: Uint8Array) => h264NalUnits(bytes)!.map((n) => bytesToHex(n));
  /** The wire with its clear NAL units replaced (start codes 4 bytes, as libwebrtc's depacketizer writes them). */
  const withClear = (wire: Uint8Array, nals: number[][]) => {
    const clear = h264ClearLength(wire);
    return new Uint8Array([...nals.flatMap((n) => [0, 0, 0, 1, ...n]), ...wire.subarray(clear)]);
  };

  it('the clear part is AUD, SPS, PPS and the slice NAL header + 2 bytes; the SEI is only in the sealed frame', () => {
    const { caller, callee } = pair();
    const wire = caller.encrypt(frame, CAMERA, 'H264');
    expect(nalsOf(wire.subarray(0, h264ClearLength(wire)))).toEqual([AUD, SPS, PPS, IDR].map((n) => bytesToHex(new Uint8Array(n))));
    expect(Buffer.from(wire).includes(Buffer.from(SEI.slice(3)))).toBe(false);
    const opened = callee.decrypt(wire, CAMERA);
    expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame)); // the decoder gets the SEI, from the sealed frame
  });

  it('start codes of another length than the sender wrote (depacketizers rewrite them) still open, to the sealed original', () => {
    const { caller, callee } = pair();
    const wire = caller.encrypt(frame, CAMERA, 'H264');
    const threeByte = new Uint8Array([...[AUD, SPS, PPS].flatMap((n) => [0, 0, 1, ...n]), 0, 0, 1, ...wire.subarray(h264ClearLength(wire) - 3)]);
    const opened = callee.decrypt(threeByte, CAMERA);
    expect(opened.ok && bytesToHex(opened.frame)).toBe(bytesToHex(frame));
  });

  it.each([
    ['a changed SPS', [AUD, SPS.map((b, i) => (i === 3 ? 0x28 : b)), PPS, IDR]],
    ['a changed PPS', [AUD, SPS, PPS.map((b, i) => (i === 1 ? 0xcf : b)), IDR]],
    ['a changed slice header', [AUD, SPS, PPS, [0x65, 0x88, 0x85]]],
    ['a removed SPS', [AUD, PPS, IDR]],
    ['an added PPS', [AUD, SPS, PPS, [0x68, 0xee, 0x3c, 0x80], IDR]],
    ['reordered parameter sets', [AUD, PPS, SPS, IDR]],
    ['the SEI put back in the clear', [AUD, SPS, PPS, SEI, IDR]],
    ['SPS/PPS prepended (out-of-band parameter sets: mtcall never negotiates them)', [SPS, PPS, AUD, SPS, PPS, IDR]],
  ])('%s: dropped as clear-mismatch, and the genuine frame still opens', (_what, nals) => {
    const { caller, callee } = pair();
    const wire = caller.encrypt(frame, CAMERA, 'H264');
    expect(callee.decrypt(withClear(wire, nals), CAMERA)).toEqual({ ok: false, reason: 'clear-mismatch' });
    expect(callee.decrypt(wire, CAMERA).ok).toBe(true);
  });
});

it('a VP8 wire frame keeps the payload header the depacketizer reads', () => {
  const { caller } = pair();
  const key10 = hexToBytes('b0c6009d012a80023801') ; // key frame: tag + start code 9d 01 2a + 640x480
  const frame = new Uint8Array([...key10, ...randomBytes(300)]);
  const wire = caller.encrypt(frame, CAMERA, 'VP8');
  expect(bytesToHex(wire.subarray(0, 10))).toBe(bytesToHex(key10));
  const delta = new Uint8Array([0x31, 0x22, 0x00, ...randomBytes(200)]);
  expect(bytesToHex(caller.encrypt(delta, CAMERA, 'VP8').subarray(0, 3))).toBe('312200');
});

it('audio and video share one seq counter but not a replay window; a frame fed to the other stream is dropped', () => {
  const { caller, callee } = pair();
  const audio = caller.encrypt(new Uint8Array([1, 2, 3]), MIC, 'opus');
  const video = caller.encrypt(new Uint8Array(randomBytes(100)), CAMERA, 'VP9');
  expect(callee.decrypt(audio, CAMERA)).toEqual({ ok: false, reason: 'wrong-stream' });
  // 100 audio frames later, the first video frame still opens (its own window).
  const later = Array.from({ length: 100 }, () => caller.encrypt(new Uint8Array([9]), MIC, 'opus'));
  for (const f of later) expect(callee.decrypt(f, MIC).ok).toBe(true);
  expect(callee.decrypt(video, CAMERA).ok).toBe(true);
  expect(callee.decrypt(audio, MIC).ok).toBe(false); // 100 seqs behind the audio window now
});

it('two video streams (camera, screen share): a frame of one does not open on the other; each has its own replay window', () => {
  const { caller, callee } = pair();
  for (const codec of ['VP8', 'VP9', 'H264']) {
    const frameOf = () => (codec === 'H264' ? h264Frame(new Uint8Array(randomBytes(300))) : new Uint8Array(randomBytes(300)));
    const camera = caller.encrypt(frameOf(), CAMERA, codec);
    const screen = caller.encrypt(frameOf(), SCREEN, codec);
    // Swapped: each frame offered to the other video track's receiver.
    expect(callee.decrypt(camera, SCREEN), codec).toEqual({ ok: false, reason: 'wrong-stream' });
    expect(callee.decrypt(screen, CAMERA), codec).toEqual({ ok: false, reason: 'wrong-stream' });
    // The refusals burned nothing: each opens on its own stream.
    expect(callee.decrypt(camera, CAMERA).ok, codec).toBe(true);
    expect(callee.decrypt(screen, SCREEN).ok, codec).toBe(true);
  }
  // 100 screen frames later, a camera frame sealed before them still opens: its stream's window is its own.
  const early = caller.encrypt(new Uint8Array(randomBytes(50)), CAMERA, 'VP9');
  for (let i = 0; i < 100; i++) expect(callee.decrypt(caller.encrypt(new Uint8Array(randomBytes(50)), SCREEN, 'VP9'), SCREEN).ok).toBe(true);
  expect(callee.decrypt(early, CAMERA).ok).toBe(true);
  expect(callee.stats.dropped['wrong-stream']).toBe(6);
  // A stream without a mid cannot seal (and nothing opens on it).
  expect(() => caller.encrypt(new Uint8Array(10), { kind: 'video', mid: '' }, 'VP9')).toThrow(RangeError);
  expect(callee.decrypt(early, { kind: 'video', mid: '' })).toEqual({ ok: false, reason: 'wrong-stream' });
});

it('empty (DTX) frames are sealed like any other: no empty frame on the wire, and an empty wire frame is dropped', () => {
  const { caller, callee } = pair();
  const empty = new Uint8Array(0);
  const wire = caller.encrypt(empty, MIC, 'opus');
  const other = caller.encrypt(new Uint8Array([0xfc, 0xff, 0xfe]), MIC, 'opus'); // a 3-byte Opus frame
  expect(wire.length).toBeGreaterThan(16);
  expect(wire.length).toBe(other.length - 3); // the same layout as any frame: only the length tells them apart
  expect(callee.decrypt(wire, MIC)).toEqual({ ok: true, frame: empty });
  expect(callee.decrypt(wire, MIC)).toEqual({ ok: false, reason: 'replay' });
  expect(callee.decrypt(empty, MIC)).toEqual({ ok: false, reason: 'malformed' }); // an injected empty frame is not DTX
  expect(caller.stats.empty).toBe(1);
  expect(callee.stats.empty).toBe(1);
});

it('garbage never throws', () => {
  const { callee } = pair();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.constantFrom(MIC, CAMERA, SCREEN), (bytes, stream) => {
      expect(callee.decrypt(bytes, stream).ok).toBe(false);
    }),
    { numRuns: 5000, seed: 3 },
  );
  const s = callee.stats;
  expect(s.opened.frames).toBe(0);
  expect(Object.values(s.dropped).reduce((a, b) => a + b, 0)).toBe(5000);
});

it('a wrong key decrypts nothing and counts auth drops', () => {
  const caller = new FrameCryptor(key, 'caller');
  const stranger = new FrameCryptor(new Uint8Array(randomBytes(256)), 'callee');
  for (let i = 0; i < 10; i++) expect(stranger.decrypt(caller.encrypt(new Uint8Array(randomBytes(50)), MIC, 'opus'), MIC).ok).toBe(false);
  expect(stranger.stats.dropped.auth).toBe(10);
});

describe('the asynchronous (Web Crypto) path for large frames', () => {
  it('produces the same wire bytes as the synchronous path and interoperates with it, for every codec format', async () => {
    for (const [kind, codec] of [['audio', 'opus'], ['video', 'VP8'], ['video', 'VP9'], ['video', 'H264']] as [MediaKind, string][]) {
      const sync = pair();
      const async = pair();
      for (const n of [0, 100, 511, 512, 1200, 2047, 2048, 5000, 70000]) {
        let frame = new Uint8Array(randomBytes(n));
        if (codec === 'H264' && n > 0) frame = h264Frame(frame);
        if (codec === 'VP8' && n > 0) frame[0] = frame[0]! & 0xfe;
        const stream = streamOf(kind);
        const a = sync.caller.encrypt(frame, stream, codec);
        const b = await async.caller.encryptAsync(frame, stream, codec);
        expect(bytesToHex(b), `${codec} ${n}`).toBe(bytesToHex(a));
        const viaAsync = await sync.callee.decryptAsync(a, stream);
        expect(viaAsync.ok && bytesToHex(viaAsync.frame)).toBe(bytesToHex(frame));
        const viaSync = async.callee.decrypt(b, stream);
        expect(viaSync.ok && bytesToHex(viaSync.frame)).toBe(bytesToHex(frame));
        expect(await sync.callee.decryptAsync(a, stream)).toEqual({ ok: false, reason: 'replay' });
      }
    }
  });

  it('drops forged large frames as the synchronous path does, without burning the genuine seq', async () => {
    const { caller, callee } = pair();
    const frame = new Uint8Array(randomBytes(3000));
    frame[0] = frame[0]! & 0xfe;
    const wire = caller.encrypt(frame, CAMERA, 'VP8');
    const clearForged = wire.slice();
    clearForged[2]! ^= 1; // a clear VP8 header byte
    expect(await callee.decryptAsync(clearForged, CAMERA)).toEqual({ ok: false, reason: 'clear-mismatch' });
    const cipherForged = wire.slice();
    cipherForged[1500]! ^= 1;
    expect(await callee.decryptAsync(cipherForged, CAMERA)).toEqual({ ok: false, reason: 'auth' });
    expect(await callee.decryptAsync(wire, SCREEN)).toEqual({ ok: false, reason: 'wrong-stream' });
    expect((await callee.decryptAsync(wire, MIC)).ok).toBe(false);
    expect((await callee.decryptAsync(wire, CAMERA)).ok).toBe(true);
  });

  it('a destroy while a frame is being sealed yields no frame: encryptAsync rejects with DestroyedError at every await', async () => {
    const webcrypto = createWebCryptoBackend()!;
    for (let point = 0; point < 2; point++) {
      let calls = 0;
      let cryptor: FrameCryptor | undefined;
      const interrupted: AsyncCryptoBackend = {
        name: 'interrupted',
        sha256(data) {
          const result = webcrypto.sha256(data);
          if (calls++ === point) cryptor!.destroy();
          return result;
        },
        aes256Ctr(k, iv, input, skip) {
          const result = webcrypto.aes256Ctr(k, iv, input, skip);
          if (calls++ === point) cryptor!.destroy();
          return result;
        },
      };
      cryptor = new FrameCryptor(key, 'caller', { asyncBackend: interrupted });
      await expect(cryptor.encryptAsync(new Uint8Array(randomBytes(3000)), CAMERA, 'VP9')).rejects.toBeInstanceOf(DestroyedError);
      expect(cryptor.stats.sealed.frames).toBe(0);
    }
  });
});
