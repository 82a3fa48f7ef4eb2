/**
 * VP8 (RFC 7741): the payload header stays in the clear — 10 bytes of a key frame (frame tag, start code
 * 9d 01 2a, width and height: libwebrtc's depacketizer parses them) and 3 of a delta frame (the frame tag with the
 * key-frame bit). The depacketizer never rewrites them, so the receiver compares them byte for byte with the
 * sealed copy.
 */

import { FrameFormat, sameBytes, type CodecRule } from './rule.js';

/** Clear bytes of a VP8 frame from its first byte: 10 on key frames (P bit 0), 3 on delta frames. */
function clearBytes(first: number): number {
  return (first & 0x01) === 0 ? 10 : 3;
}

/** VP8: 10 clear bytes on key frames, 3 on delta frames; never more than the frame (0 for an empty one). */
export function vp8ClearLength(frame: Uint8Array): number {
  if (frame.length === 0) return 0;
  return Math.min(frame.length, clearBytes(frame[0]!));
}

export const vp8Rule: CodecRule = {
  format: FrameFormat.Vp8,
  clearPart(frame) {
    if (frame.length === 0) return null;
    const n = clearBytes(frame[0]!);
    return frame.length >= n ? frame.subarray(0, n) : null; // shorter (never seen in practice): sealed opaque
  },
  clearLength: (wire) => (wire.length === 0 ? -1 : clearBytes(wire[0]!)),
  escape: (tail) => tail,
  unescape: (tail) => tail,
  clearMatches: (clear, frame) => frame.length >= clear.length && sameBytes(clear, frame.subarray(0, clear.length)),
};
