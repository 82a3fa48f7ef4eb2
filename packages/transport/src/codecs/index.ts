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
