/**
 * What one codec needs of a sealed frame: which bytes stay in the clear for the browser's RTP packetizer and
 * depacketizer, how the sealed part is escaped so the packetizer never mistakes it for codec syntax, and how the
 * receiver checks the clear bytes against the sealed frame. One module per codec (opaque.ts, vp8.ts, h264.ts);
 * `FrameCryptor` looks the rule up in the registry (index.ts) and never branches on a codec itself.
 * The table of all codecs is in docs/CODECS.md.
 */

/** How a frame's clear part is laid out; written as the wire frame's last byte (`0xE0 | format`). */
export const FrameFormat = { Opaque: 0, Vp8: 1, H264: 2 } as const;
export type FrameFormat = (typeof FrameFormat)[keyof typeof FrameFormat];

/** One codec's framing rules. Every function is total: no input makes it throw. */
export interface CodecRule {
  /** The layout this rule writes and reads. */
  readonly format: FrameFormat;
  /**
   * The clear part to put in front of the sealed frame when sending `frame` (not necessarily a prefix of it: H.264
   * keeps only the NAL units the packetizer needs), or `null` when this frame cannot have the layout — it is then
   * sealed opaque (all bytes sealed, none clear).
   */
  clearPart(frame: Uint8Array): Uint8Array | null;
  /** The length of the clear part at the front of a received wire frame, or -1 when there is none of this layout. */
  clearLength(wire: Uint8Array): number;
  /** The sealed tail as put on the wire after `clear` (escaped so it never forms codec syntax), and back (`null`: malformed). */
  escape(tail: Uint8Array, clear: Uint8Array): Uint8Array;
  unescape(tail: Uint8Array, clear: Uint8Array): Uint8Array | null;
  /**
   * Whether the received clear bytes are the ones the sender derived from `frame` (the authenticated, sealed frame),
   * up to what the receiving depacketizer legitimately rewrites. False drops the frame as `clear-mismatch`.
   */
  clearMatches(clear: Uint8Array, frame: Uint8Array): boolean;
}

/** Byte equality (not constant time: clear bytes are public). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
