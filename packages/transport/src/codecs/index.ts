/**
 * The codec registry: the framing rule of each codec (rule.ts), looked up by `FrameCryptor` by the codec's MIME
 * subtype when sealing and by the wire frame's format byte when opening. See docs/CODECS.md for the table.
 */

import { h264Rule } from './h264.js';
import { opaqueRule } from './opaque.js';
import { FrameFormat, type CodecRule } from './rule.js';
import { vp8Rule } from './vp8.js';

export { FrameFormat, type CodecRule } from './rule.js';

const BY_FORMAT: readonly CodecRule[] = [opaqueRule, vp8Rule, h264Rule];
const BY_NAME: Readonly<Record<string, CodecRule>> = { vp8: vp8Rule, h264: h264Rule };

/** The rule for a codec by MIME subtype, case-insensitive ('opus', 'VP8', 'video/H264', …); opaque when unknown. */
export function codecRuleFor(codec: string | undefined): CodecRule {
  const name = (codec ?? '').toLowerCase().replace(/^(audio|video)\//, '');
  return BY_NAME[name] ?? opaqueRule;
}

/** The rule for a wire frame's format number, or undefined when no such format exists. */
export function codecRuleForFormat(format: number): CodecRule | undefined {
  return BY_FORMAT[format];
}

/** The frame format used for a codec (by MIME subtype). */
export function frameFormatForCodec(codec: string | undefined): FrameFormat {
  return codecRuleFor(codec).format;
}

/** A wire frame taken apart: the codec rule its trailer names, the clear bytes, and the packet (unescaped). */
export interface SplitWireFrame {
  rule: CodecRule;
  clear: Uint8Array;
  packet: Uint8Array;
}

/**
 * Takes a wire frame `clear ‖ escaped(packet ‖ trailer)` apart, the trailer being `trailerBase | format` (calls and
 * rooms use different bases, so neither opens the other's frames). `undefined` for anything malformed; never throws.
 */
export function splitWireFrame(wire: Uint8Array, trailerBase: number, maxFrameBytes: number): SplitWireFrame | undefined {
  if (!(wire instanceof Uint8Array) || wire.length === 0 || wire.length > maxFrameBytes) return undefined;
  const trailer = wire[wire.length - 1]!;
  const rule = (trailer & 0xf0) === trailerBase ? codecRuleForFormat(trailer ^ trailerBase) : undefined;
  if (!rule) return undefined;
  const clearLength = rule.clearLength(wire);
  if (clearLength < 0 || clearLength > wire.length - 1) return undefined;
  const clear = wire.subarray(0, clearLength);
  // The trailer is escaped with the packet; it is never 0..3, so it stays the last byte.
  const packet = rule.unescape(wire.subarray(clearLength, wire.length - 1), clear);
  return packet === null ? undefined : { rule, clear, packet };
}
