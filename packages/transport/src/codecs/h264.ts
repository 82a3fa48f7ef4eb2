/**
 * H.264 (Annex B, RFC 6184 packetization). libwebrtc's packetizer splits a frame on start codes and sends each NAL
 * unit (single, STAP-A or FU-A); the receiver's depacketizer and SPS/PPS tracker read NAL headers, SPS and PPS (to
 * know which parameter sets exist) and the start of each slice header (first_mb_in_slice, slice_type,
 * pic_parameter_set_id) and refuse IDR frames naming an unknown PPS. So the clear part keeps exactly that:
 *
 *   clear = ( 00 00 00 01 ‖ NAL )*   for each SPS (7), PPS (8) and AUD (9) before the first slice, in order
 *         ‖ 00 00 00 01 ‖ the first slice's NAL header and 2 bytes of its slice header     (slice: type 1 or 5)
 *
 * Every other NAL unit (SEI included) and everything after those 3 bytes is only in the sealed frame; the frame the
 * decoder gets is always the sealed one. The sealed tail is escaped with emulation-prevention bytes (0x03 after
 * 00 00 when the next byte is ≤ 3), so ciphertext never forms a start code; the receiver removes them before opening.
 *
 * What the receiving side legitimately rewrites, from libwebrtc (modules/video_coding/h264_sps_pps_tracker.cc,
 * modules/rtp_rtcp/source/video_rtp_depacketizer_h264.cc, common_video/h264/sps_vui_rewriter.cc):
 * - every start code becomes the 4-byte 00 00 00 01 (the tracker writes its own in front of each NAL unit);
 * - an SPS whose VUI is not already "no frame buffering" is rewritten (kIncoming). The sending libwebrtc rewrites
 *   every outgoing SPS to that form before the encoded transform sees it (FrameEncodeMetadataWriter, kOutgoing, which
 *   also strips AUDs), so what our sender seals is what our receiver gets;
 * - SPS/PPS given out of band (sprop-parameter-sets in the SDP) are prepended to IDR frames. mtcall's SDP has none.
 * So the receiver compares the clear NAL units with those it derives from the sealed frame, byte for byte, ignoring
 * only start-code lengths: a changed, added, removed or reordered SPS, PPS, AUD or slice header drops the frame
 * (`clear-mismatch`).
 */

import { FrameFormat, sameBytes, type CodecRule } from './rule.js';

/** Bytes of the first slice NAL kept clear: its header and the start of the slice header. */
export const H264_SLICE_CLEAR_BYTES = 3;

const START_CODE = [0, 0, 0, 1] as const;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;
const isSlice = (type: number) => type === 1 || type === 5;
const keptBeforeSlice = (type: number) => type === NAL_SPS || type === NAL_PPS || type === NAL_AUD;

/**
 * The NAL units of an Annex-B byte string, as views without their start codes; `null` when bytes precede the first
 * start code. A zero byte right before 00 00 01 belongs to the start code (00 00 00 01), as in libwebrtc.
 */
export function h264NalUnits(data: Uint8Array): Uint8Array[] | null {
  const starts: { codeAt: number; nalAt: number }[] = [];
  for (let i = 0; i + 3 <= data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      starts.push({ codeAt: i > 0 && data[i - 1] === 0 ? i - 1 : i, nalAt: i + 3 });
      i += 2;
    }
  }
  if (starts.length === 0 || starts[0]!.codeAt !== 0) return null;
  return starts.map((s, k) => data.subarray(s.nalAt, k + 1 < starts.length ? starts[k + 1]!.codeAt : data.length));
}

/**
 * The length of a wire frame's clear part: up to and including the first `H264_SLICE_CLEAR_BYTES` bytes of the first
 * slice NAL (type 1, non-IDR, or 5, IDR), or -1 when the frame has no slice long enough.
 */
export function h264ClearLength(frame: Uint8Array): number {
  let i = 0;
  while (i + 3 <= frame.length) {
    // Find the next start code 00 00 01 (a 4-byte 00 00 00 01 ends the same way).
    if (frame[i] === 0 && frame[i + 1] === 0 && frame[i + 2] === 1) {
      const header = i + 3;
      if (header >= frame.length) return -1;
      const type = frame[header]! & 0x1f;
      if (isSlice(type)) return header + H264_SLICE_CLEAR_BYTES <= frame.length ? header + H264_SLICE_CLEAR_BYTES : -1;
      i = header + 1;
      continue;
    }
    i++;
  }
  return -1;
}

/**
 * The NAL units of `frame` that go in the clear, in order: its SPS, PPS and AUD before the first slice, then the
 * first `H264_SLICE_CLEAR_BYTES` bytes of that slice. `null` when the frame has no such slice (it is sealed opaque).
 */
function clearUnits(frame: Uint8Array): Uint8Array[] | null {
  const units = h264NalUnits(frame);
  if (!units) return null;
  const kept: Uint8Array[] = [];
  for (const unit of units) {
    if (unit.length === 0) continue;
    const type = unit[0]! & 0x1f;
    if (isSlice(type)) {
      if (unit.length < H264_SLICE_CLEAR_BYTES) return null;
      kept.push(unit.subarray(0, H264_SLICE_CLEAR_BYTES));
      return kept;
    }
    if (keptBeforeSlice(type)) kept.push(unit);
  }
  return null;
}

/** NAL units joined with 4-byte start codes. */
function annexB(units: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const u of units) length += START_CODE.length + u.length;
  const out = new Uint8Array(length);
  let o = 0;
  for (const u of units) {
    out.set(START_CODE, o);
    out.set(u, o + START_CODE.length);
    o += START_CODE.length + u.length;
  }
  return out;
}

export const h264Rule: CodecRule = {
  format: FrameFormat.H264,
  clearPart(frame) {
    const units = clearUnits(frame);
    return units ? annexB(units) : null;
  },
  clearLength: h264ClearLength,
  escape: (tail, clear) => escapeEmulation(tail, trailingZeros(clear)),
  unescape: (tail, clear) => unescapeEmulation(tail, trailingZeros(clear)),
  clearMatches(clear, frame) {
    const expected = clearUnits(frame);
    const received = h264NalUnits(clear);
    if (!expected || !received || expected.length !== received.length) return false;
    for (let i = 0; i < expected.length; i++) if (!sameBytes(expected[i]!, received[i]!)) return false;
    return true;
  },
};

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
