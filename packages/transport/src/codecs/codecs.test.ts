import { expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameFormat, codecRuleFor, codecRuleForFormat, frameFormatForCodec } from './index.js';
import { escapeEmulation, h264ClearLength, h264NalUnits, unescapeEmulation } from './h264.js';
import { vp8ClearLength } from './vp8.js';

const hasStartCode = (d: Uint8Array) => {
  for (let i = 0; i + 2 < d.length; i++) if (d[i] === 0 && d[i + 1] === 0 && d[i + 2]! <= 2) return true;
  return false;
};

it('maps codecs to frame formats', () => {
  expect(frameFormatForCodec('VP8')).toBe(FrameFormat.Vp8);
  expect(frameFormatForCodec('video/H264')).toBe(FrameFormat.H264);
  expect(frameFormatForCodec('h264')).toBe(FrameFormat.H264);
  for (const c of ['opus', 'VP9', 'AV1', 'red', undefined, '']) expect(frameFormatForCodec(c)).toBe(FrameFormat.Opaque);
});

it('VP8 keeps 10 bytes of a key frame and 3 of a delta frame', () => {
  expect(vp8ClearLength(new Uint8Array(100).fill(0x10))).toBe(10); // P bit 0: key frame
  expect(vp8ClearLength(new Uint8Array(100).fill(0x11))).toBe(3);
  expect(vp8ClearLength(new Uint8Array(5))).toBe(5);
  expect(vp8ClearLength(new Uint8Array(0))).toBe(0);
});

it('the registry: one rule per format, looked up by codec name or wire format', () => {
  for (const format of [FrameFormat.Opaque, FrameFormat.Vp8, FrameFormat.H264]) expect(codecRuleForFormat(format)!.format).toBe(format);
  expect(codecRuleForFormat(3)).toBeUndefined();
  expect(codecRuleFor('video/VP8')).toBe(codecRuleForFormat(FrameFormat.Vp8));
});

it('H.264 NAL units: split on 3- and 4-byte start codes; bytes before the first start code are refused', () => {
  const hex = (units: Uint8Array[] | null) => units?.map((u) => Array.from(u));
  expect(hex(h264NalUnits(new Uint8Array([0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3])))).toEqual([[0x67, 1], [0x68, 2], [0x65, 3]]);
  expect(h264NalUnits(new Uint8Array([5, 0, 0, 1, 0x67]))).toBeNull();
  expect(h264NalUnits(new Uint8Array([0x67, 1]))).toBeNull();
});

it('H.264 wire frames: the clear length runs up to the first slice header byte', () => {
  const sps = [0, 0, 0, 1, 0x67, 1, 2, 3];
  const pps = [0, 0, 0, 1, 0x68, 4, 5];
  const idr = [0, 0, 1, 0x65, 9, 9, 9, 9];
  const frame = new Uint8Array([...sps, ...pps, ...idr]);
  expect(h264ClearLength(frame)).toBe(sps.length + pps.length + 3 + 3); // start code, NAL header, 2 slice-header bytes
  expect(h264ClearLength(new Uint8Array([0, 0, 0, 1, 0x41, 7, 7]))).toBe(7); // non-IDR slice
  expect(h264ClearLength(new Uint8Array([0, 0, 0, 1, 0x41, 7]))).toBe(-1); // slice too short to keep its header clear
  expect(h264ClearLength(new Uint8Array([0, 0, 0, 1, 0x67, 1, 2]))).toBe(-1); // no slice
  expect(h264ClearLength(new Uint8Array([1, 2, 3]))).toBe(-1);
  expect(h264ClearLength(new Uint8Array([0, 0, 1]))).toBe(-1);
});

it('escaping round-trips and never leaves a start code', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }).map((a) => a.map((b) => (b < 128 ? b % 4 : b))), (data) => {
      const escaped = escapeEmulation(data);
      expect(hasStartCode(escaped)).toBe(false);
      expect(Array.from(unescapeEmulation(escaped)!)).toEqual(Array.from(data));
    }),
    { numRuns: 3000, seed: 8 },
  );
  expect(Array.from(escapeEmulation(new Uint8Array([0, 0, 0, 0, 1, 0, 0, 3])))).toEqual([0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 3]);
  expect(unescapeEmulation(new Uint8Array([5, 0, 0, 1]))).toBeNull();
  // Across the seam with a clear part ending in 00 00: the first escaped byte is protected too.
  expect(Array.from(escapeEmulation(new Uint8Array([1, 7]), 2))).toEqual([3, 1, 7]);
  expect(Array.from(unescapeEmulation(new Uint8Array([3, 1, 7]), 2)!)).toEqual([1, 7]);
  expect(unescapeEmulation(new Uint8Array([1, 7]), 2)).toBeNull();
});
