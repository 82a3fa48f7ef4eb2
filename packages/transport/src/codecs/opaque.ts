/**
 * Opaque frames: Opus, VP9, and any codec without a rule of its own. Nothing stays in the clear — the packetizers
 * of these codecs do not read the payload (VP9's payload descriptor is written by libwebrtc from encoder metadata,
 * not parsed from the frame). Also the fallback for frames too short for their codec's layout.
 */

import { FrameFormat, type CodecRule } from './rule.js';

const NONE = new Uint8Array(0);

export const opaqueRule: CodecRule = {
  format: FrameFormat.Opaque,
  clearPart: () => NONE,
  clearLength: () => 0,
  escape: (tail) => tail,
  unescape: (tail) => tail,
  clearMatches: (clear) => clear.length === 0,
};
