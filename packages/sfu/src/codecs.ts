/**
 * The codecs a room's router offers. Opus for audio; VP8 and H.264 (constrained baseline, packetization-mode 1)
 * for video — the codecs whose clear bytes the frame encryption keeps (docs/CODECS.md), so mediasoup can still find
 * key frames in sealed frames. VP9 and AV1 are not offered (AV1's packetizer needs OBUs sealed frames do not keep).
 */

import type { types as ms } from 'mediasoup';

export const ROOM_MEDIA_CODECS: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video', mimeType: 'video/H264', clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];
