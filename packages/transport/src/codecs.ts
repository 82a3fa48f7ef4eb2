/**
 * What of an encoded frame stays in the clear so the browser's RTP packetizer and depacketizer keep working,
 * per codec. The clear bytes are also sealed inside the packet, so they are authenticated: the receiver
 * compares them with the decrypted frame and drops the frame on any difference.
 *
 * | codec | clear bytes | why |
 * |---|---|---|
 * | Opus, VP9, AV1, unknown | none | the packetizers do not read the payload (AV1/VP9 are described by RTP header extensions / descriptors libwebrtc writes from encoder metadata, not from the payload) |
 * | VP8 | 10 bytes of a key frame, 3 of a delta frame | the VP8 payload header (frame type bit, size) and, on key frames, the start code and dimensions the depacketizer parses |
 * | H.264 | every NAL unit before the first slice (type 1 or 5), the slice's NAL header and 2 bytes of its slice header, start codes included | the packetizer splits on Annex-B start codes and reads NAL headers; the receiver's SPS/PPS tracker parses first_mb_in_slice, slice_type and pic_parameter_set_id (Exp-Golomb, within 2 bytes for single-slice frames) and drops frames naming an unknown PPS; SPS/PPS stay readable as in LiveKit |
 *
 * For H.264 the encrypted tail is escaped with emulation-prevention bytes (0x03 after 00 00 when the next byte is
 * ≤ 3), so ciphertext can never form a start code; the receiver removes them before opening. The receiver's
 * depacketizer may rewrite the clear part (3- to 4-byte start codes, SPS/PPS inserted before an IDR), so for
 * H.264 the clear bytes only locate the ciphertext: the frame handed to the decoder is the sealed one.
 */

/** How a frame's clear part is laid out; written as the frame's last byte (`0xE0 | format`). */
export const FrameFormat = { Opaque: 0, Vp8: 1, H264: 2 } as const;
export type FrameFormat = (typeof FrameFormat)[keyof typeof FrameFormat];

/** The frame format used for a codec (by MIME subtype, case-insensitive: 'opus', 'VP8', 'video/H264', …). */
export function frameFormatForCodec(codec: string | undefined): FrameFormat {
  const name = (codec ?? '').toLowerCase().replace(/^(audio|video)\//, '');
  if (name === 'vp8') return FrameFormat.Vp8;
  if (name === 'h264') return FrameFormat.H264;
  return FrameFormat.Opaque;
}

/** VP8: 10 clear bytes on key frames (P bit of byte 0 is 0), 3 on delta frames; never more than the frame. */
export function vp8ClearLength(frame: Uint8Array): number {
  if (frame.length === 0) return 0;
  return Math.min(frame.length, (frame[0]! & 0x01) === 0 ? 10 : 3);
}

/** Bytes of the first slice NAL kept clear: its header and the start of the slice header. */
export const H264_SLICE_CLEAR_BYTES = 3;

/**
 * H.264 (Annex B): the length up to and including the first `H264_SLICE_CLEAR_BYTES` bytes of the first slice
 * NAL (type 1, non-IDR, or 5, IDR), or -1 when the frame has no slice long enough (then it is sealed opaque).
 */
export function h264ClearLength(frame: Uint8Array): number {
  let i = 0;
  while (i + 3 <= frame.length) {
    // Find the next start code 00 00 01 (a 4-byte 00 00 00 01 ends the same way).
    if (frame[i] === 0 && frame[i + 1] === 0 && frame[i + 2] === 1) {
      const header = i + 3;
      if (header >= frame.length) return -1;
      const type = frame[header]! & 0x1f;
      if (type === 1 || type === 5) return header + H264_SLICE_CLEAR_BYTES <= frame.length ? header + H264_SLICE_CLEAR_BYTES : -1;
      i = header + 1;
      continue;
    }
    i++;
  }
  return -1;
}

/** Zero bytes at the end of `bytes` (at most 2 matter). */
export function trailingZeros(bytes: Uint8Array): number {
  let n = 0;
  while (n < 2 && n < bytes.length && bytes[bytes.length - 1 - n] === 0) n++;
  return n;
}

/**
 * Inserts emulation-prevention bytes: after 00 00, a byte ≤ 3 gets 0x03 before it. `precedingZeros` is how many
 * zero bytes come right before `data` in the frame (the clear part's tail), so no start code forms across the seam.
 */
export function escapeEmulation(data: Uint8Array, precedingZeros = 0): Uint8Array {
  let zeros = precedingZeros;
  let extra = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (zeros >= 2 && b <= 3) {
      extra++;
      zeros = 0;
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (extra === 0) return data;
  const out = new Uint8Array(data.length + extra);
  let o = 0;
  zeros = precedingZeros;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (zeros >= 2 && b <= 3) {
      out[o++] = 3;
      zeros = 0;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out;
}

/** Removes emulation-prevention bytes (the 0x03 after 00 00); `null` when the input contains a start code or a stray 00 00 0x. */
export function unescapeEmulation(data: Uint8Array, precedingZeros = 0): Uint8Array | null {
  let zeros = precedingZeros;
  let removed = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (zeros >= 2) {
      if (b === 3) {
        removed++;
        zeros = 0;
        continue;
      }
      if (b <= 2) return null; // 00 00 00/01/02 cannot appear in escaped data
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (removed === 0) return data;
  const out = new Uint8Array(data.length - removed);
  let o = 0;
  zeros = precedingZeros;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out;
}
